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

/** An engine: where the arithmetic of a run happens (the CPU or a WebGPU device). */
export type EngineKind = 'cpu' | 'webgpu';

/** The backend a caller asks for: an engine, or `auto`, which prefers WebGPU and falls back to the CPU. */
export type Backend = 'auto' | EngineKind;

/**
 * The kernels a run's passes over `P` ran on (`BalanceResult.kernels`): `webgpu`; on the CPU
 * `wasm-relaxed-simd`, `wasm-simd`, `js` or `log`.
 */
export type BalanceKernels = 'webgpu' | 'wasm-relaxed-simd' | 'wasm-simd' | 'js' | 'log';

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

/** The edit distance between two words (insertions, deletions, substitutions). */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}

/** The known word closest to `word`, when it is close enough to be a likely typo; else `null`. */
export function closestWord(word: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let distance = Infinity;
  for (const candidate of known) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < distance) {
      best = candidate;
      distance = d;
    }
  }
  return best !== null && distance <= Math.max(2, Math.floor(best.length / 3)) ? best : null;
}

/**
 * Refuse option keys that `what` does not know, by name (a misspelt `maxSweep` would otherwise be
 * silently ignored), suggesting the closest known key. Keys whose value is `undefined` count as absent.
 */
export function refuseUnknownKeys(options: object, known: readonly string[], what: string): void {
  const unknown = Object.keys(options).filter((key) => !known.includes(key) && (options as Record<string, unknown>)[key] !== undefined);
  if (unknown.length === 0) return;
  const described = unknown.map((key) => {
    const near = closestWord(key, known);
    return near ? `'${key}' (did you mean '${near}'?)` : `'${key}'`;
  });
  fail(`${what}: unknown option${unknown.length > 1 ? 's' : ''} ${described.join(', ')}; known: ${known.join(', ')}`);
}
