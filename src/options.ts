import { WeightBalanceError } from './errors.js';

/**
 * How the hidden units are updated in one sweep: `accelerated` (the default: the paper's update
 * with a coarse correction and a safeguarded longer step, several times fewer passes over `P`;
 * CPU engine), `parallel` (the paper's update of every unit at once) or `alternating` (one
 * colour class of non-adjacent units at a time).
 */
export type Schedule = 'accelerated' | 'parallel' | 'alternating';

/** Every schedule, the default first. */
export const SCHEDULES: readonly Schedule[] = ['accelerated', 'parallel', 'alternating'];

/** Where the arithmetic runs. `auto` prefers WebGPU and falls back to the CPU. */
export type Backend = 'auto' | 'cpu' | 'webgpu';

/** The exponents of the entrywise `l_{p,q}` norm. */
export interface NormExponents {
  /** Exponent inside each row (incoming weights of a unit), `p > 0`. */
  p: number;
  /** Exponent across rows, `q > 0` (`Infinity` only for {@link lpqNorm}). */
  q: number;
  /** Count biases as weights from a constant unit that is never rescaled (default false). */
  includeBiases?: boolean;
}

function fail(message: string): never {
  throw new WeightBalanceError(message);
}

/**
 * Check `p` and `q`: finite and positive (`q = Infinity` allowed when `allowInfiniteQ`).
 * One check serves every engine, the norm and the flows.
 */
export function validateExponents(p: unknown, q: unknown, allowInfiniteQ = false): asserts p is number {
  if (typeof p !== 'number' || !Number.isFinite(p) || !(p > 0)) fail(`p must be a finite number > 0, got ${String(p)}`);
  if (typeof q !== 'number' || Number.isNaN(q) || !(q > 0)) fail(`q must be a number > 0, got ${String(q)}`);
  if (!Number.isFinite(q) && !allowInfiniteQ) fail(`q must be finite here, got ${String(q)} (the max-norm is only evaluated, not minimised)`);
}

/**
 * The exponent `eta` of the multiplicative update (MATH.md §4):
 * parallel `1/(4q)` for `q >= p`, `1/(2(p+q))` for `q < p`; alternating twice that. The
 * accelerated schedule's safe step is the parallel one.
 */
export function updateExponent(p: number, q: number, schedule: Schedule): number {
  const parallel = q >= p ? 1 / (4 * q) : 1 / (2 * (p + q));
  return schedule === 'alternating' ? 2 * parallel : parallel;
}
