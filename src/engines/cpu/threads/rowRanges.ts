/** How the passes over one block's `P` are cut by rows into chunks for the threads. */

/**
 * Split `rows` rows into at most `parts` contiguous ranges of near-equal size, each a multiple
 * of 4 rows but the last (the kernels walk four rows at a time), none smaller than `minRows`
 * (fewer ranges then); returns the `parts + 1` boundaries or fewer.
 */
export function rowRanges(rows: number, parts: number, minRows: number): number[] {
  const count = Math.max(1, Math.min(parts, Math.floor(rows / Math.max(1, minRows))));
  const bounds = [0];
  for (let t = 1; t < count; t++) bounds.push(Math.min(rows, Math.round((rows * t) / count / 4) * 4));
  bounds.push(rows);
  return bounds.filter((b, k) => k === 0 || b > bounds[k - 1]);
}
