import { logAdd, positivePow } from '../math/powers.js';
import type { Problem } from '../problem/problem.js';
import { soleWriters } from '../problem/problem.js';
import type { CoarseRows } from './coarseRows.js';
import type { CoarseSpace } from './coarseSpace.js';
import type { CoarseLayout, StatisticsArrays } from './coarseStatistics.js';
import { CoarseStatistics } from './coarseStatistics.js';

export type { CoarseLayout } from './coarseStatistics.js';
export { coarseLayout } from './coarseStatistics.js';

/**
 * The passes over `P` in logarithms, as the CPU engine runs them (its `BlockSums`, linear or
 * log-sum-exp, whichever the range needs): `lS[i] = log sum_j P[i,j] exp(lx[col j])` over block
 * `k`'s rows, `lC[c] = log sum_i exp(ly[row i]) P[i,c]` over its columns (`c = g * cols + j`),
 * `-Infinity` for `log 0`.
 */
export interface LogPasses {
  rows(k: number, lx: Float64Array, lS: Float64Array): unknown;
  columns(k: number, ly: Float64Array, lC: Float64Array): unknown;
  fused(k: number, lx: Float64Array, ly: Float64Array, lS: Float64Array, lC: Float64Array): unknown;
  /**
   * `rows`, then `columns` with each row's `log y` from its own row sum, in one read (block `k`
   * alone writes its rows' units; `la = log alpha`, `logBias` per unit). Absent: a read each.
   */
  rowsColumns?: (k: number, lx: Float64Array, la: Float64Array, logBias: Float64Array, lS: Float64Array, lC: Float64Array) => unknown;
  /**
   * The same passes on linear vectors and sums while the arithmetic underneath is linear
   * (`null` or absent otherwise): no logarithm or exponential per unit.
   */
  linear?(): LinearPasses | null;
}

/**
 * The passes over `P` without logarithms: `S[i] = sum_j P[i,j] x[col j]` over block `k`'s rows,
 * `C[unit] = sum_i y[row i] P[i,c]` over its columns (indexed by global unit), from finite
 * non-negative `x`, `y` per global unit. A pass returns `false` when a sum lost precision: the
 * log passes then take over (and move the engine to logarithms if they must).
 */
export interface LinearPasses {
  rows(k: number, x: Float64Array, S: Float64Array): boolean;
  columns(k: number, y: Float64Array, C: Float64Array): boolean;
  fused(k: number, x: Float64Array, y: Float64Array, S: Float64Array, C: Float64Array): boolean;
  /**
   * `rows`, then `columns` with each row's `y = alpha^r (bias + S)^(r - 1)` from its own row sum,
   * in one read (as {@link LogPasses.rowsColumns}; `la = log alpha` and the linear `bias` per unit).
   */
  rowsColumns?: (k: number, x: Float64Array, la: Float64Array, bias: Float64Array, S: Float64Array, C: Float64Array) => boolean;
}

/**
 * Thrown when a per-unit quantity of the accelerated schedule (kept in linear float64 between
 * passes) leaves the range where float64 holds it exactly: the engine then continues with the
 * paper's parallel step, in its log-safe arithmetic, from the factors before the sweep.
 */
export class StatisticsRangeError extends Error {}

/** `|log x|` beyond this leaves the linear statistics (float64 holds 1e-308 to 1e308; a margin for sums and shifts). */
const LOG_RANGE = 640;
const SMALLEST = Math.exp(-LOG_RANGE);
const LARGEST = Math.exp(LOG_RANGE);

/** Whether a linear statistic is 0 or inside the range where its logarithm is at most {@link LOG_RANGE}. */
function linearInRange(x: number): boolean {
  return x === 0 || (x >= SMALLEST && x <= LARGEST);
}

/** `exp(l)`, `0` for `l = -Infinity`; throws {@link StatisticsRangeError} outside the linear range. */
function expInRange(l: number): number {
  if (l === -Infinity) return 0;
  if (!(Math.abs(l) <= LOG_RANGE)) throw new StatisticsRangeError(`a statistic exp(${l}) is outside the linear float64 range`);
  return Math.exp(l);
}

/**
 * `In`, `Out` and `F` at given log factors, kept **per block** (row sums `S[k]` and column sums
 * `C[k]` of each block) so that a coarse shift (groups of units scaled, see `coarseSpace.ts`)
 * updates them without reading `P` again. The passes run in the engine's log-safe arithmetic
 * ({@link LogPasses}); the per-unit statistics are linear float64, checked to lie well inside
 * its range ({@link StatisticsRangeError} otherwise). One evaluation reads `P` once for `p = q`
 * (the fused pass) and otherwise once for the row sums plus once for the column sums of the
 * blocks whose columns hold a variable, but once in all for such a block that alone writes its
 * rows' units (`rowsColumns`: a row's weight needs only its own sum). `passes` counts the entries of `P` read, in units of
 * all of `P`.
 */
export class BlockStatistics implements StatisticsArrays {
  readonly alpha: Float64Array;
  readonly invAlpha: Float64Array;
  /** Row sums `sum_j P[i,j] / alpha[j]` per block. */
  readonly S: Float64Array[];
  /** Column sums `sum_i y[i] P[i,j]` per block, indexed by global unit. */
  readonly C: Float64Array[];
  /** `rho` per unit (zero for inputs). */
  readonly rho: Float64Array;
  /** `rho^r` per unit: its term of `F` (and of `In`). */
  readonly term: Float64Array;
  readonly In: Float64Array;
  readonly Out: Float64Array;
  F = 0;
  /** Reads of `P`, in units of all of `P`. */
  passes = 0;
  /** The bias mass per unit, linear. */
  readonly bias: Float64Array;
  /** Per unit: `-log alpha` (the rows' column vector) and `log y = (r - 1) log rho + log alpha`. */
  private readonly lx: Float64Array;
  private readonly ly: Float64Array;
  private readonly la: Float64Array;
  /** Per unit: `y = rho^(r - 1) alpha`, the column pass's vector (linear evaluations). */
  private readonly y: Float64Array;
  private readonly lS: Float64Array[];
  private readonly lC: Float64Array[];
  /** The coarse model's rows and shifts of these statistics. */
  private readonly coarse = new CoarseStatistics(this);
  /** What one evaluation reads, in units of all of `P`. */
  private readonly evaluationCost: number;
  /** Blocks whose columns hold a variable (the others' column sums are never used). */
  readonly columnBlocks: number[];
  /** Per block: its rows and columns in one read (`rowsColumns`) when `p != q` — a column block that alone writes its rows' units. */
  private readonly chained: boolean[];

  constructor(
    readonly problem: Problem,
    private readonly sums: LogPasses,
    private readonly logBias: Float64Array,
  ) {
    const { nUnits, nVars, blocks } = problem;
    this.alpha = new Float64Array(nUnits);
    this.invAlpha = new Float64Array(nUnits);
    this.S = blocks.map((b) => new Float64Array(b.rows));
    this.C = blocks.map(() => new Float64Array(nUnits));
    this.lS = blocks.map((b) => new Float64Array(b.rows));
    this.lC = blocks.map((b) => new Float64Array(b.cols * b.groups));
    this.rho = new Float64Array(nUnits);
    this.term = new Float64Array(nUnits);
    this.y = new Float64Array(nUnits);
    this.lx = new Float64Array(nUnits);
    this.ly = new Float64Array(nUnits);
    this.la = new Float64Array(nUnits);
    this.In = new Float64Array(nVars);
    this.Out = new Float64Array(nVars);
    this.bias = Float64Array.from(logBias, expInRange);
    this.columnBlocks = blocks.flatMap((b, k) => {
      for (let c = b.colUnit0; c < b.colUnit0 + b.cols * b.groups; c++) if (problem.unitVar[c] >= 0) return [k];
      return [];
    });
    const sole = soleWriters(problem);
    const columnBlock = new Set(this.columnBlocks);
    this.chained = blocks.map((_, k) => sums.rowsColumns !== undefined && problem.r !== 1 && sole[k] && columnBlock.has(k));
    const entries = (list: number[]): number => list.reduce((sum, k) => sum + blocks[k].rows * blocks[k].cols, 0);
    const all = blocks.map((_, k) => k);
    const secondReads = problem.r === 1 ? [] : this.columnBlocks.filter((k) => !this.chained[k]);
    this.evaluationCost = (entries(all) + entries(secondReads)) / (entries(all) || 1);
  }

  /**
   * Evaluate at the log factors `u` (one per variable): in linear arithmetic while the engine's
   * passes are linear and every statistic fits (one exponential per unit), else through the log
   * passes.
   */
  evaluate(u: Float64Array): void {
    const linear = this.sums.linear?.() ?? null;
    if (!linear || !this.linearEvaluate(u, linear)) this.logEvaluate(u);
    this.passes += this.evaluationCost;
    this.finishColumns();
  }

  /** The evaluation without logarithms; `false` (nothing to keep) when a statistic would leave the linear range or a pass its precision. */
  private linearEvaluate(u: Float64Array, linear: LinearPasses): boolean {
    const { unitVar, p, r, blocks, nUnits } = this.problem;
    const { alpha, invAlpha, S, C } = this;
    for (let unit = 0; unit < nUnits; unit++) {
      const v = unitVar[unit];
      const la = v >= 0 ? p * u[v] : 0;
      if (!(Math.abs(la) <= LOG_RANGE)) return false;
      this.la[unit] = la;
      const a = Math.exp(la);
      alpha[unit] = a;
      invAlpha[unit] = 1 / a;
    }
    if (r === 1) {
      // y = alpha when p = q: one read of P gives both sums.
      for (let k = 0; k < blocks.length; k++) if (!linear.fused(k, invAlpha, alpha, S[k], C[k])) return false;
      return this.linearRows();
    }
    // A column block writing its rows alone: its rows then its columns in one read of P.
    const { chained, la, bias } = this;
    const { rowsColumns } = linear;
    for (let k = 0; k < blocks.length; k++) {
      if (chained[k] ? !rowsColumns?.(k, invAlpha, la, bias, S[k], C[k]) : !linear.rows(k, invAlpha, S[k])) return false;
    }
    if (!this.linearRows()) return false;
    for (const k of this.columnBlocks) if (!chained[k] && !linear.columns(k, this.y, C[k])) return false;
    return true;
  }

  /** `rho`, its terms, `y`, `In` and `F` from the linear row sums; `false` when one leaves the linear range. */
  private linearRows(): boolean {
    const { blocks, r, nUnits } = this.problem;
    const { rho, alpha, term, y } = this;
    rho.set(this.bias);
    for (let k = 0; k < blocks.length; k++) {
      const S = this.S[k];
      const unit0 = blocks[k].rowUnit0;
      for (let i = 0; i < S.length; i++) {
        if (!linearInRange(S[i])) return false;
        rho[unit0 + i] += S[i];
      }
    }
    for (let unit = 0; unit < nUnits; unit++) {
      const value = rho[unit] * alpha[unit];
      // rho^(r - 1): one power per unit gives y and the term rho^r.
      const power = r === 1 || value === 0 ? 1 : positivePow(value, r - 1);
      rho[unit] = value;
      term[unit] = value * power;
      y[unit] = value === 0 ? 0 : power * alpha[unit];
      if (!linearInRange(value) || !linearInRange(y[unit])) return false;
    }
    this.sumRows();
    return true;
  }

  /** The evaluation through the log passes (any range of the passes; the statistics checked into the linear range). */
  private logEvaluate(u: Float64Array): void {
    const { problem, sums, lx, ly, lS, lC } = this;
    const { unitVar, p, r, blocks } = problem;
    for (let unit = 0; unit < problem.nUnits; unit++) {
      const v = unitVar[unit];
      const la = v >= 0 ? p * u[v] : 0;
      this.la[unit] = la;
      lx[unit] = -la;
      this.alpha[unit] = expInRange(la);
      this.invAlpha[unit] = expInRange(-la);
    }
    if (r === 1) {
      blocks.forEach((_, k) => sums.fused(k, lx, this.la, lS[k], lC[k]));
      this.rowsFromSums();
      this.finishRows();
      for (const k of this.columnBlocks) this.columnsFromSums(k);
    } else {
      const { chained } = this;
      blocks.forEach((_, k) => (chained[k] ? sums.rowsColumns?.(k, lx, this.la, this.logBias, lS[k], lC[k]) : sums.rows(k, lx, lS[k])));
      this.rowsFromSums();
      this.finishRows();
      for (const k of this.columnBlocks) {
        if (!chained[k]) sums.columns(k, ly, lC[k]);
        this.columnsFromSums(k);
      }
    }
  }

  /** The largest `|log(Out/In)|` over the variables. */
  maxLogImbalance(): number {
    return maxLogRatio(this.Out, this.In);
  }

  /** The coarse model's rows at the current statistics (see `CoarseRows`); valid until the next evaluation or shift. */
  coarseRows(space: CoarseSpace, layout: CoarseLayout): CoarseRows {
    return this.coarse.rows(space, layout);
  }

  /**
   * Move to the log factors shifted by `c` per group, updating every statistic from the last pass
   * (exact when `space.exact`; otherwise `In` and `Out` are only estimates until the next evaluation).
   * `rows` are the coarse rows of the statistics before the shift.
   */
  shift(space: CoarseSpace, rows: CoarseRows, c: Float64Array): void {
    this.coarse.shift(space, rows, c);
    this.finishRows();
    this.finishColumns();
  }

  /** `rho` from the log row sums (in logarithms, then checked into the linear range), linear `S`, and `log y` for the column pass. */
  private rowsFromSums(): void {
    const { blocks, r, nUnits } = this.problem;
    const lrho = this.logBias.slice();
    blocks.forEach((b, k) => {
      const lS = this.lS[k];
      const S = this.S[k];
      for (let i = 0; i < b.rows; i++) {
        S[i] = expInRange(lS[i]);
        lrho[b.rowUnit0 + i] = logAdd(lrho[b.rowUnit0 + i], lS[i]);
      }
    });
    for (let unit = 0; unit < nUnits; unit++) {
      const l = lrho[unit] === -Infinity ? -Infinity : lrho[unit] + this.la[unit];
      this.rho[unit] = expInRange(l);
      this.ly[unit] = l === -Infinity ? -Infinity : (r - 1) * l + this.la[unit];
    }
  }

  /** Linear column sums of block `k` (indexed by global unit) from its log column sums. */
  private columnsFromSums(k: number): void {
    const b = this.problem.blocks[k];
    const lC = this.lC[k];
    const C = this.C[k];
    for (let c = 0; c < lC.length; c++) C[b.colUnit0 + c] = expInRange(lC[c]);
  }

  /** The terms `rho^r`, `In` and `F` from `rho`. */
  private finishRows(): void {
    const { r, nUnits } = this.problem;
    const { rho, term } = this;
    for (let unit = 0; unit < nUnits; unit++) {
      const value = rho[unit];
      term[unit] = value > 0 ? positivePow(value, r) : 0;
    }
    this.sumRows();
  }

  /** `In` and `F` from the terms. */
  private sumRows(): void {
    const { unitVar, nUnits } = this.problem;
    const { term, In } = this;
    In.fill(0);
    let F = 0;
    for (let unit = 0; unit < nUnits; unit++) {
      F += term[unit];
      const v = unitVar[unit];
      if (v >= 0) In[v] += term[unit];
    }
    this.F = F;
  }

  /** `Out` from the column sums; then every `In`, `Out` and `F` is checked to lie in the linear range. */
  private finishColumns(): void {
    const { unitVar } = this.problem;
    this.Out.fill(0);
    for (const k of this.columnBlocks) {
      const b = this.problem.blocks[k];
      const C = this.C[k];
      for (let unit = b.colUnit0; unit < b.colUnit0 + b.cols * b.groups; unit++) {
        const v = unitVar[unit];
        if (v >= 0) this.Out[v] += C[unit] * this.invAlpha[unit];
      }
    }
    const inRange = (x: number): boolean => x >= SMALLEST && x <= LARGEST;
    let fits = inRange(this.F);
    for (let v = 0; v < this.In.length && fits; v++) fits = inRange(this.In[v]) && inRange(this.Out[v]);
    if (!fits) throw new StatisticsRangeError('In, Out or F left the linear float64 range');
  }
}

/**
 * `max_v |log(a[v] / b[v])|` with two logarithms in all (the logarithm is monotone, so the largest
 * `|log|` is at the largest or the smallest ratio); `Infinity` when a ratio is not a number.
 */
export function maxLogRatio(a: Float64Array, b: Float64Array): number {
  let high = 1;
  let low = 1;
  for (let v = 0; v < a.length; v++) {
    const ratio = a[v] / b[v];
    if (ratio > high) high = ratio;
    else if (ratio < low) low = ratio;
    else if (Number.isNaN(ratio)) return Infinity;
  }
  return Math.max(Math.log(high), -Math.log(low));
}
