import { logAdd } from '../../math/powers.js';
import type { WeightRange } from '../../network/finite.js';
import { foldWeightRange } from '../../network/finite.js';
import { Arena } from '../../network/rescale.js';
import type { Problem } from '../../problem/problem.js';
import type { PowerKernels, PowerPrecision } from './kernels.js';
import { logColumnPass, logPowerMatrix, logRowPass } from './logPasses.js';

/**
 * The block sums of a sweep in logarithms, whatever the arithmetic underneath:
 * `lS[i] = log sum_j P[i,j] exp(lx[col j])` over a block's rows and
 * `lC[c] = log sum_i exp(ly[row i]) P[i,c]` over its columns (`c = g * cols + j`), with `lx`, `ly`
 * per global unit and `-Infinity` for `log 0`. A method returns `false` when its arithmetic
 * cannot give the sums to float64 precision (the engine then moves to the log arithmetic).
 */
export interface BlockSums {
  /** `linear`: float64 `P` and vectors scaled per pass (fast); `log`: `log P` and log-sum-exp (any range). */
  readonly kind: 'linear' | 'log';
  rows(k: number, lx: Float64Array, lS: Float64Array): boolean;
  columns(k: number, ly: Float64Array, lC: Float64Array): boolean;
  /** Both at once (one read of `P`). */
  fused(k: number, lx: Float64Array, ly: Float64Array, lS: Float64Array, lC: Float64Array): boolean;
  /**
   * The row sums `lS`, then the column sums `lC` weighted by each row's own
   * `log y = (r - 1) log rho + log alpha`, `log rho = log alpha + logAdd(logBias, lS)`
   * ({@link logColumnWeight}; `la = log alpha` and `logBias` per global unit): the sums of
   * `rows` then `columns` when block `k` alone writes its rows' units. One read of `P` on the
   * linear kernels.
   */
  rowsColumns(k: number, lx: Float64Array, la: Float64Array, logBias: Float64Array, lS: Float64Array, lC: Float64Array): boolean;
  dispose(): void;
  /** Dispose, handing over the memory that held `P` (or `log P`) for reuse. */
  release(): Arena;
}

/**
 * The natural log of the largest entry of `P` that the linear arithmetic accepts, and minus that
 * of the smallest non-zero one: float64 (up to 1.8e308), float32 (up to 3.4e38, normal from 1.2e-38).
 */
const LINEAR_LOG_RANGE: Record<PowerPrecision, number> = { float64: 600, float32: 80 };

/**
 * A sum below this (but possibly not zero) may have lost terms to underflow beyond float64
 * rounding: every term below 2^-1022 is at most `n * 2.3e-308` in all, against a sum of 1e-280.
 */
const TINY_SUM = 1e-280;

/**
 * The smallest non-zero and the largest `|w|` over the problem's weights: as `compileProblem`
 * read them with the validation, else one read here.
 */
export function weightRange(problem: Problem): WeightRange {
  if (problem.weightRange) return { ...problem.weightRange };
  const range = { smallest: Infinity, largest: 0 };
  for (const b of problem.blocks) foldWeightRange(b.weight, range);
  return range;
}

/** Whether every non-zero entry of `P` (weights times `scale`, to the power `p`, taps summed) lies within the linear range of `precision`. */
export function fitsLinear(problem: Problem, scale: number, range: { smallest: number; largest: number }, precision: PowerPrecision): boolean {
  if (range.largest === 0) return true;
  const taps = Math.max(1, ...problem.blocks.map((b) => b.taps));
  const high = problem.p * Math.log(range.largest * scale) + Math.log(taps);
  const low = problem.p * Math.log(range.smallest * scale);
  return high <= LINEAR_LOG_RANGE[precision] && low >= -LINEAR_LOG_RANGE[precision];
}

/**
 * A row's column weight from its own log row sum: `(r - 1) log rho + log alpha` with
 * `log rho = log alpha + logAdd(logBias, lS)`, `-Infinity` when `rho = 0` (the engines' row
 * finish, for a unit whose incoming weights are one block's).
 */
export function logColumnWeight(lS: number, la: number, logBias: number, r: number): number {
  const l = logAdd(logBias, lS);
  return l === -Infinity ? -Infinity : (r - 1) * (l + la) + la;
}

/** The vectors of {@link BlockSums.rowsColumns} (`ly`: scratch per global unit for its two-read form). */
interface RowColumnVectors {
  lx: Float64Array;
  la: Float64Array;
  logBias: Float64Array;
  lS: Float64Array;
  lC: Float64Array;
  ly: Float64Array;
}

/** {@link BlockSums.rowsColumns} as a row pass, the weights, then a column pass (two reads of `P`). */
function rowsThenColumns(sums: BlockSums, problem: Problem, k: number, { lx, la, logBias, lS, lC, ly }: RowColumnVectors): boolean {
  if (!sums.rows(k, lx, lS)) return false;
  const b = problem.blocks[k];
  for (let i = 0; i < b.rows; i++) {
    const u = b.rowUnit0 + i;
    ly[u] = logColumnWeight(lS[i], la[u], logBias[u], problem.r);
  }
  return sums.columns(k, ly, lC);
}

/** Fill `out[c]` for `c` in `[start, end)` with `exp(l[c] - m)`, `m` the largest `l[c]` there; returns `m`. */
function scaledExp(l: Float64Array, start: number, end: number, out: Float64Array): number {
  let m = -Infinity;
  for (let c = start; c < end; c++) if (l[c] > m) m = l[c];
  if (m === -Infinity) out.fill(0, start, end);
  else for (let c = start; c < end; c++) out[c] = Math.exp(l[c] - m);
  return m;
}

/**
 * Fill `out[c]` for `c` in `[start, end)` with `v[c] * 2^-e`, `2^e` the power of two at or above
 * the largest `v[c]` there (so the largest is in (1/2, 1], as {@link scaledExp} leaves it, and the
 * scaling is exact); returns `2^e`, the factor that takes the pass's sums back (0 when every
 * `v[c]` is 0). `v` holds finite non-negative values.
 */
function scaledCopy(v: Float64Array, start: number, end: number, out: Float64Array): number {
  let m = 0;
  for (let c = start; c < end; c++) if (v[c] > m) m = v[c];
  if (m === 0) {
    out.fill(0, start, end);
    return 0;
  }
  let scale = 2 ** Math.ceil(Math.log2(m));
  if (m > scale) scale *= 2;
  const inverse = 1 / scale;
  for (let c = start; c < end; c++) out[c] = v[c] * inverse;
  return scale;
}

/**
 * `P` built once (float32 or float64, JS or WebAssembly SIMD kernels); each pass scales its
 * vector to a largest entry of 1, sums in float64 and checks its sums.
 */
export class LinearBlockSums implements BlockSums {
  readonly kind = 'linear' as const;
  /** Per block, rows then columns: 0 not looked at, 1 all of `P` zero there, 2 some entry non-zero. */
  private readonly mass: Int8Array[];
  /** `log y` per global unit when a row-then-column pass falls back to two passes. */
  private weights: Float64Array | null = null;

  constructor(
    private readonly problem: Problem,
    readonly kernels: PowerKernels,
  ) {
    this.mass = problem.blocks.map((b) => new Int8Array(b.rows + b.cols * b.groups));
  }

  rows(k: number, lx: Float64Array, lS: Float64Array): boolean {
    const b = this.problem.blocks[k];
    const m = scaledExp(lx, b.colUnit0, b.colUnit0 + b.cols * b.groups, this.kernels.x);
    this.kernels.rowPass(k);
    return this.logRows(k, m, lS) || this.again(() => this.rows(k, lx, lS));
  }

  columns(k: number, ly: Float64Array, lC: Float64Array): boolean {
    const b = this.problem.blocks[k];
    const m = scaledExp(ly, b.rowUnit0, b.rowUnit0 + b.rows, this.kernels.y);
    this.kernels.C.fill(0, b.colUnit0, b.colUnit0 + b.cols * b.groups);
    this.kernels.columnPass(k);
    return this.logColumns(k, m, lC) || this.again(() => this.columns(k, ly, lC));
  }

  fused(k: number, lx: Float64Array, ly: Float64Array, lS: Float64Array, lC: Float64Array): boolean {
    const b = this.problem.blocks[k];
    const mx = scaledExp(lx, b.colUnit0, b.colUnit0 + b.cols * b.groups, this.kernels.x);
    const my = scaledExp(ly, b.rowUnit0, b.rowUnit0 + b.rows, this.kernels.y);
    this.kernels.C.fill(0, b.colUnit0, b.colUnit0 + b.cols * b.groups);
    this.kernels.fusedPass(k);
    return (this.logRows(k, mx, lS) && this.logColumns(k, my, lC)) || this.again(() => this.fused(k, lx, ly, lS, lC));
  }

  /**
   * One read of `P` ({@link PowerKernels.rowColumnPass}): `x` scaled as for `rows`; per row
   * `A = exp((r - 1)(log alpha + m) + log alpha - shift)` (`m` the scale of `x`, `shift` the
   * largest exponent, so `A <= 1`) and `B = exp(logBias - m)`, so that the kernel's
   * `A (S + B)^(r - 1)` is `y` over `exp(shift)`. Where the weights or sums leave what the
   * checks accept, the same sums from a row pass and a column pass.
   */
  rowsColumns(k: number, lx: Float64Array, la: Float64Array, logBias: Float64Array, lS: Float64Array, lC: Float64Array): boolean {
    const b = this.problem.blocks[k];
    const kernels = this.kernels;
    const e = this.problem.r - 1;
    const mx = scaledExp(lx, b.colUnit0, b.colUnit0 + b.cols * b.groups, kernels.x);
    const w = kernels.w;
    let shift = -Infinity;
    for (let u = b.rowUnit0; u < b.rowUnit0 + b.rows; u++) shift = Math.max(shift, e * (la[u] + mx) + la[u]);
    let staged = Number.isFinite(shift);
    for (let u = b.rowUnit0; u < b.rowUnit0 + b.rows && staged; u++) {
      w[2 * u] = Math.exp(e * (la[u] + mx) + la[u] - shift);
      w[2 * u + 1] = Math.exp(logBias[u] - mx);
      staged = w[2 * u + 1] < Infinity;
    }
    if (staged) {
      kernels.C.fill(0, b.colUnit0, b.colUnit0 + b.cols * b.groups);
      kernels.rowColumnPass(k);
      if (this.logRows(k, mx, lS) && this.logColumns(k, shift, lC)) return true;
    }
    this.weights ??= new Float64Array(this.problem.nUnits);
    return rowsThenColumns(this, this.problem, k, { lx, la, logBias, lS, lC, ly: this.weights });
  }

  /**
   * The sums of a pass without logarithms: `S[i] = sum_j P[i,j] x[col j]` for block `k`'s rows,
   * from `x` per global unit (finite, non-negative): the vector is scaled by a power of two for the
   * kernels and the sums scaled back (exact), with the checks of {@link rows}; `false` when a sum
   * lost precision (the log passes then decide: they move the engine to logarithms).
   */
  linearRows(k: number, x: Float64Array, S: Float64Array): boolean {
    const b = this.problem.blocks[k];
    const sx = scaledCopy(x, b.colUnit0, b.colUnit0 + b.cols * b.groups, this.kernels.x);
    this.kernels.rowPass(k);
    return this.linearRowSums(k, sx, S) || this.again(() => this.linearRows(k, x, S));
  }

  /** `C[col c] = sum_i y[row i] P[i,c]` over block `k`'s columns, indexed by global unit (see {@link linearRows}). */
  linearColumns(k: number, y: Float64Array, C: Float64Array): boolean {
    const b = this.problem.blocks[k];
    const sy = scaledCopy(y, b.rowUnit0, b.rowUnit0 + b.rows, this.kernels.y);
    this.kernels.C.fill(0, b.colUnit0, b.colUnit0 + b.cols * b.groups);
    this.kernels.columnPass(k);
    return this.linearColumnSums(k, sy, C) || this.again(() => this.linearColumns(k, y, C));
  }

  /** Both (one read of `P`). */
  linearFused(k: number, x: Float64Array, y: Float64Array, S: Float64Array, C: Float64Array): boolean {
    const b = this.problem.blocks[k];
    const sx = scaledCopy(x, b.colUnit0, b.colUnit0 + b.cols * b.groups, this.kernels.x);
    const sy = scaledCopy(y, b.rowUnit0, b.rowUnit0 + b.rows, this.kernels.y);
    this.kernels.C.fill(0, b.colUnit0, b.colUnit0 + b.cols * b.groups);
    this.kernels.fusedPass(k);
    return (this.linearRowSums(k, sx, S) && this.linearColumnSums(k, sy, C)) || this.again(() => this.linearFused(k, x, y, S, C));
  }

  /**
   * {@link rowsColumns} without logarithms (one read of `P`): `x` scaled as for
   * {@link linearRows} (by `sx`), per row `A = exp(r log alpha + (r - 1) log sx - shift)`
   * (`shift` the largest exponent, so `A <= 1`) and `B = bias / sx`, so that the kernel's
   * `A (S + B)^(r - 1)` is `y = alpha^r (bias + S)^(r - 1)` over `exp(shift)`; `false` where the
   * weights or the sums leave what the checks accept (the log passes then decide).
   */
  linearRowsColumns(k: number, x: Float64Array, la: Float64Array, bias: Float64Array, S: Float64Array, C: Float64Array): boolean {
    const b = this.problem.blocks[k];
    const { kernels } = this;
    const { r } = this.problem;
    const sx = scaledCopy(x, b.colUnit0, b.colUnit0 + b.cols * b.groups, kernels.x);
    if (!(sx > 0)) return false;
    const lsx = (r - 1) * Math.log(sx);
    const w = kernels.w;
    let shift = -Infinity;
    for (let u = b.rowUnit0; u < b.rowUnit0 + b.rows; u++) shift = Math.max(shift, r * la[u] + lsx);
    const scale = Math.exp(shift);
    if (!(scale > 0 && scale < Infinity)) return false;
    for (let u = b.rowUnit0; u < b.rowUnit0 + b.rows; u++) {
      w[2 * u] = Math.exp(r * la[u] + lsx - shift);
      w[2 * u + 1] = bias[u] / sx;
      if (!(w[2 * u + 1] < Infinity)) return false;
    }
    kernels.C.fill(0, b.colUnit0, b.colUnit0 + b.cols * b.groups);
    kernels.rowColumnPass(k);
    return this.linearRowSums(k, sx, S) && this.linearColumnSums(k, scale, C);
  }

  dispose(): void {
    this.kernels.dispose();
  }

  /**
   * After a sum the kernels could not give to their precision: with blocked float32 sums, add in
   * float64 from now on and run the pass again; with float64 sums, `false` (logarithms needed).
   */
  private again(pass: () => boolean): boolean {
    if (this.kernels.sums === 'float64') return false;
    this.kernels.useFloat64Sums();
    return pass();
  }

  release(): Arena {
    return this.kernels.release();
  }

  private logRows(k: number, m: number, lS: Float64Array): boolean {
    const S = this.kernels.S;
    const tiny = Math.max(TINY_SUM, this.kernels.smallestSum(k, 'rows'));
    for (let i = 0; i < lS.length; i++) {
      const v = S[i];
      if (!(v >= tiny) && !this.sumHolds(k, i, v, tiny, true)) return false;
      lS[i] = v > 0 ? m + Math.log(v) : -Infinity;
    }
    return true;
  }

  private logColumns(k: number, m: number, lC: Float64Array): boolean {
    const b = this.problem.blocks[k];
    const C = this.kernels.C;
    const tiny = Math.max(TINY_SUM, this.kernels.smallestSum(k, 'columns'));
    for (let c = 0; c < lC.length; c++) {
      const v = C[b.colUnit0 + c];
      if (v === Infinity || (!(v >= tiny) && !this.sumHolds(k, b.rows + c, v, tiny, m > -Infinity))) return false;
      lC[c] = v > 0 ? m + Math.log(v) : -Infinity;
    }
    return true;
  }

  /**
   * Whether the kernels' sum `v` of row `e` (or column `e - rows`) of block `k` holds to their
   * precision: at least `tiny`, or zero where `P` is zero (or the vector is: `vector` false).
   */
  private sumHolds(k: number, e: number, v: number, tiny: number, vector: boolean): boolean {
    return v >= tiny || (v === 0 && !(vector && this.hasMass(k, e)));
  }

  private linearRowSums(k: number, scale: number, S: Float64Array): boolean {
    const sums = this.kernels.S;
    const tiny = Math.max(TINY_SUM, this.kernels.smallestSum(k, 'rows'));
    for (let i = 0; i < S.length; i++) {
      const v = sums[i];
      if (!(v >= tiny) && !this.sumHolds(k, i, v, tiny, true)) return false;
      S[i] = v * scale;
    }
    return true;
  }

  private linearColumnSums(k: number, scale: number, C: Float64Array): boolean {
    const b = this.problem.blocks[k];
    const sums = this.kernels.C;
    const tiny = Math.max(TINY_SUM, this.kernels.smallestSum(k, 'columns'));
    for (let unit = b.colUnit0; unit < b.colUnit0 + b.cols * b.groups; unit++) {
      const v = sums[unit];
      if (v === Infinity || (!(v >= tiny) && !this.sumHolds(k, b.rows + unit - b.colUnit0, v, tiny, scale > 0))) return false;
      C[unit] = v * scale;
    }
    return true;
  }

  /** Whether row `e` (for `e < rows`) or column `e - rows` of block `k` has a non-zero entry of `P` (looked at once). */
  private hasMass(k: number, e: number): boolean {
    const flags = this.mass[k];
    if (flags[e] === 0) {
      const { rows, cols, groups } = this.problem.blocks[k];
      let any = false;
      if (e < rows) {
        for (let j = 0; j < cols && !any; j++) any = this.kernels.entry(k, e * cols + j) !== 0;
      } else {
        const g = Math.floor((e - rows) / cols);
        const j = (e - rows) % cols;
        const rowsPerGroup = rows / groups;
        for (let i = g * rowsPerGroup; i < (g + 1) * rowsPerGroup && !any; i++) any = this.kernels.entry(k, i * cols + j) !== 0;
      }
      flags[e] = any ? 2 : 1;
    }
    return flags[e] === 2;
  }
}

/** `log P` built once; log-sum-exp passes (one `exp` per entry): exact for any range. */
export class LogBlockSums implements BlockSums {
  readonly kind = 'log' as const;
  private L: Float64Array[];
  private weights: Float64Array | null = null;

  constructor(
    private readonly problem: Problem,
    scale: number,
  ) {
    this.L = problem.blocks.map((b) => logPowerMatrix(b, problem.p, scale));
  }

  rows(k: number, lx: Float64Array, lS: Float64Array): boolean {
    logRowPass(this.problem.blocks[k], this.L[k], lx, lS);
    return true;
  }

  columns(k: number, ly: Float64Array, lC: Float64Array): boolean {
    logColumnPass(this.problem.blocks[k], this.L[k], ly, lC);
    return true;
  }

  fused(k: number, lx: Float64Array, ly: Float64Array, lS: Float64Array, lC: Float64Array): boolean {
    return this.rows(k, lx, lS) && this.columns(k, ly, lC);
  }

  /** A row pass, the weights, and a column pass (the log-sum-exp passes read `log P` twice). */
  rowsColumns(k: number, lx: Float64Array, la: Float64Array, logBias: Float64Array, lS: Float64Array, lC: Float64Array): boolean {
    this.weights ??= new Float64Array(this.problem.nUnits);
    return rowsThenColumns(this, this.problem, k, { lx, la, logBias, lS, lC, ly: this.weights });
  }

  dispose(): void {
    this.L = [];
  }

  release(): Arena {
    const buffers = this.L.map((L) => L.buffer as ArrayBuffer);
    this.dispose();
    return new Arena(buffers);
  }
}
