/** The longest message a {@link WeightBalanceError} carries; longer ones are cut. */
export const MAX_MESSAGE_CHARS = 1000;

/**
 * Errors thrown for bad input. Every refusal happens before any work, so the caller's network
 * and files are left exactly as they were.
 */
export class WeightBalanceError extends Error {
  constructor(message: string) {
    // Bounded: a message quoting names or values from a hostile file never grows with the file.
    super(message.length > MAX_MESSAGE_CHARS ? `${message.slice(0, MAX_MESSAGE_CHARS - 1)}…` : message);
    this.name = 'WeightBalanceError';
  }
}

/**
 * A {@link WeightBalanceError} about a network's values (a weight that is not finite, or one
 * that leaves its precision once rescaled), so that a caller that read the network from a file
 * can name the file, as the reader would have (the CLI leaves the values to `balance()`).
 */
export class NetworkValueError extends WeightBalanceError {}

/** Thrown when a run is cancelled through its `AbortSignal`. */
export class BalanceAbortedError extends Error {
  constructor(message = 'balance was aborted') {
    super(message);
    this.name = 'AbortError';
  }
}

/** The longest rendering of a value that {@link describeValue} puts into a message. */
const DESCRIBE_MAX_CHARS = 80;

/**
 * A short, bounded rendering of any value for an error message (JSON-like, at most 3 levels and
 * 8 entries deep, cut to 80 characters). Never recurses without bound, so a hostile value
 * (5,000 nested arrays from a file) cannot overflow the stack or make the message huge.
 */
export function describeValue(value: unknown): string {
  const text = render(value, 3);
  return text.length > DESCRIBE_MAX_CHARS ? `${text.slice(0, DESCRIBE_MAX_CHARS - 1)}…` : text;
}

function render(value: unknown, depth: number): string {
  if (value === undefined) return 'undefined';
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value !== 'object') return typeof value;
  if (depth === 0) return Array.isArray(value) ? '[…]' : '{…}';
  if (Array.isArray(value) || ArrayBuffer.isView(value)) {
    const list = value as ArrayLike<unknown>;
    const items = Array.from({ length: Math.min(list.length, 8) }, (_, k) => render(list[k], depth - 1));
    return `[${items.join(',')}${list.length > 8 ? ',…' : ''}]`;
  }
  const keys = Object.keys(value).slice(0, 9);
  const items = keys.slice(0, 8).map((k) => `${JSON.stringify(k.slice(0, 40))}:${render((value as Record<string, unknown>)[k], depth - 1)}`);
  return `{${items.join(',')}${keys.length > 8 ? ',…' : ''}}`;
}

/**
 * The refusal of a network whose `l_{p,q}` norm leaves the float64 range at these exponents:
 * each row's sum of `|w|^p` is raised to `q/p`, so a tiny `p` overflows any weights.
 */
export function normOverflowError(norm: number, p: number, q: number): WeightBalanceError {
  return new WeightBalanceError(
    `the l_{p,q} norm of this network is ${norm} in float64 at p = ${p}, q = ${q} (each row's sum of |w|^p is raised to the power q/p = ${(q / p).toPrecision(3)}): ` +
      'p or q is too small for these weights; use larger exponents',
  );
}
