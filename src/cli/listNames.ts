/** Names quoted and joined for a report line: the first 10, then a count of the rest. */
export function listNames(names: readonly string[]): string {
  const shown = names.slice(0, 10).map((n) => `'${n}'`).join(', ');
  return names.length > 10 ? `${shown} and ${names.length - 10} more` : shown;
}
