import { logAdd } from '../math/powers.js';
import type { Problem } from '../problem/problem.js';
import { soleWriters } from '../problem/problem.js';
import { rowLogShifts } from './coarse.js';
import type { CoarseRows } from './coarseRows.js';
import type { CoarseSpace } from './coarseSpace.js';

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
export class BlockStatistics {
  readonly alpha: Float64Array;
  readonly invAlpha: Float64Array;
  /** Row sums `sum_j P[i,j] / alpha[j]` per block. */
  readonly S: Float64Array[];
  /** Column sums `sum_i y[i] P[i,j]` per block, indexed by global unit. */
  readonly C: Float64Array[];
  /** `rho` per unit (zero for inputs). */
  readonly rho: Float64Array;
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
  private readonly lS: Float64Array[];
  private readonly lC: Float64Array[];
  private readonly total: number;
  /** Blocks whose columns hold a variable (the others' column sums are never used). */
  private readonly columnBlocks: number[];
  /** Per block: its rows and columns in one read (`rowsColumns`) when `p != q` — a column block that alone writes its rows' units. */
  private readonly chained: boolean[];

  constructor(
    private readonly problem: Problem,
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
    this.lx = new Float64Array(nUnits);
    this.ly = new Float64Array(nUnits);
    this.la = new Float64Array(nUnits);
    this.In = new Float64Array(nVars);
    this.Out = new Float64Array(nVars);
    this.bias = Float64Array.from(logBias, expInRange);
    this.total = blocks.reduce((sum, b) => sum + b.rows * b.cols, 0) || 1;
    this.columnBlocks = blocks.flatMap((b, k) => {
      for (let c = b.colUnit0; c < b.colUnit0 + b.cols * b.groups; c++) if (problem.unitVar[c] >= 0) return [k];
      return [];
    });
    const sole = soleWriters(problem);
    const columnBlock = new Set(this.columnBlocks);
    this.chained = blocks.map((_, k) => sums.rowsColumns !== undefined && problem.r !== 1 && sole[k] && columnBlock.has(k));
  }

  /** Evaluate at the log factors `u` (one per variable). */
  evaluate(u: Float64Array): void {
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
      // y = alpha when p = q: one read of P gives both sums.
      blocks.forEach((_, k) => sums.fused(k, lx, this.la, lS[k], lC[k]));
      this.count(blocks.map((_, k) => k));
      this.rowsFromSums();
      this.finishRows();
      for (const k of this.columnBlocks) this.columnsFromSums(k);
    } else {
      // A column block writing its rows alone: its rows then its columns in one read of P.
      const { chained } = this;
      blocks.forEach((_, k) => (chained[k] ? sums.rowsColumns?.(k, lx, this.la, this.logBias, lS[k], lC[k]) : sums.rows(k, lx, lS[k])));
      this.count(blocks.map((_, k) => k));
      this.rowsFromSums();
      this.finishRows();
      const rest = this.columnBlocks.filter((k) => !chained[k]);
      for (const k of rest) sums.columns(k, ly, lC[k]);
      for (const k of this.columnBlocks) this.columnsFromSums(k);
      this.count(rest);
    }
    this.finishColumns();
  }

  /** The largest `|log(Out/In)|` over the variables. */
  maxLogImbalance(): number {
    let worst = 0;
    for (let v = 0; v < this.In.length; v++) worst = Math.max(worst, Math.abs(Math.log(this.Out[v] / this.In[v])));
    return Number.isNaN(worst) ? Infinity : worst;
  }

  /** The coarse model's rows at the current statistics (see `CoarseRows`). */
  coarseRows(space: CoarseSpace, layout: CoarseLayout): CoarseRows {
    const { problem } = this;
    const { r } = problem;
    const term = Float64Array.from(this.rho, (value) => (value > 0 ? (r === 1 ? value : Math.pow(value, r)) : 0));
    const fraction = this.pairFractions(space);
    const mass = this.bias.slice();
    const fixedShare = this.bias.slice();
    const coef = new Float64Array(layout.list.length);
    const fractions = new Float64Array(layout.groups.length);
    for (let t = 0; t < fractions.length; t++) fractions[t] = fraction[layout.part[t]];
    problem.blocks.forEach((b, k) => {
      const perGroup = b.rows / b.groups;
      for (let i = 0; i < b.rows; i++) {
        const unit = b.rowUnit0 + i;
        const S = this.S[k][i];
        mass[unit] += S;
        const unshifted = layout.unshifted[space.groupBase[k] + Math.floor(i / perGroup)];
        if (unshifted >= 0) fixedShare[unit] += S * fraction[unshifted];
        const e = layout.entry[k][i];
        if (e >= 0) coef[e] = S;
      }
    });
    for (let unit = 0; unit < problem.nUnits; unit++) if (mass[unit] > 0) fixedShare[unit] /= mass[unit];
    const { start, list, listStart, groups } = layout;
    return { term, rowGroup: space.unitGroup, mass, fixedShare, start, list, coef, listStart, groups, fractions };
  }

  /**
   * Move to the log factors shifted by `c` per group, updating every statistic from the last pass
   * (exact when `space.exact`; otherwise `In` and `Out` are only estimates until the next evaluation).
   */
  shift(space: CoarseSpace, rows: CoarseRows, c: Float64Array): void {
    const { problem } = this;
    const { p, r, blocks } = problem;
    const fraction = this.pairFractions(space);
    const logShift = rowLogShifts(rows, c, p);
    const shiftOf = (g: number): number => (g >= 0 ? c[g] : 0);
    // y = rho^(r-1) alpha moves by yFactor per row; a column sum by the mean over the rows reading it.
    const yFactor = Float64Array.from(logShift, (l, unit) => Math.exp((r - 1) * l + p * shiftOf(space.unitGroup[unit])));
    const columnFactor = new Float64Array(space.groupBase[blocks.length]);
    for (const k of this.columnBlocks) {
      for (let g = 0; g < blocks[k].groups; g++) columnFactor[space.groupBase[k] + g] = this.meanRowFactor(k, g, yFactor);
    }
    blocks.forEach((b, k) => {
      const perGroup = b.rows / b.groups;
      const S = this.S[k];
      for (let i = 0; i < b.rows; i++) {
        const pair = space.groupBase[k] + Math.floor(i / perGroup);
        let scale = 0;
        for (let t = space.partStart[pair]; t < space.partStart[pair + 1]; t++) scale += fraction[t] * Math.exp(-p * shiftOf(space.partGroup[t]));
        S[i] *= scale;
      }
    });
    for (let unit = 0; unit < problem.nUnits; unit++) {
      const s = Math.exp(p * shiftOf(space.unitGroup[unit]));
      this.alpha[unit] *= s;
      this.invAlpha[unit] /= s;
      this.rho[unit] *= Math.exp(logShift[unit]);
    }
    for (const k of this.columnBlocks) {
      const b = blocks[k];
      const C = this.C[k];
      for (let j = 0; j < b.cols * b.groups; j++) C[b.colUnit0 + j] *= columnFactor[space.groupBase[k] + Math.floor(j / b.cols)];
    }
    this.finishRows();
    this.finishColumns();
  }

  /**
   * How each pair's row sums split over the groups of its columns (indexed like
   * `space.partGroup`): 1 for a pair whose columns lie in one group; otherwise the shares of the
   * pair's column sums `C / alpha`, the row-weighted mean split, which the model takes for every row.
   */
  private pairFractions(space: CoarseSpace): Float64Array {
    const { blocks } = this.problem;
    const { groupBase, partStart, partGroup } = space;
    const fraction = new Float64Array(partGroup.length).fill(1);
    // Where each group (index + 1; 0: the unshifted columns) sits among the current pair's parts.
    const part = new Int32Array(space.nGroups + 1);
    blocks.forEach((b, k) => {
      for (let g = 0; g < b.groups; g++) {
        const pair = groupBase[k] + g;
        const t0 = partStart[pair];
        const n = partStart[pair + 1] - t0;
        if (n === 1) continue;
        fraction.fill(0, t0, t0 + n);
        for (let t = t0; t < t0 + n; t++) part[partGroup[t] + 1] = t;
        let total = 0;
        for (let unit = b.colUnit0 + g * b.cols; unit < b.colUnit0 + (g + 1) * b.cols; unit++) {
          const w = this.C[k][unit] * this.invAlpha[unit];
          fraction[part[space.unitGroup[unit] + 1]] += w;
          total += w;
        }
        for (let t = t0; t < t0 + n; t++) fraction[t] = total > 0 ? fraction[t] / total : 1 / n;
      }
    });
    return fraction;
  }

  /** The mean of `factor` over the rows of convolution group `g` of block `k`, weighted by their share `y * S` of its column sums. */
  private meanRowFactor(k: number, g: number, factor: Float64Array): number {
    const b = this.problem.blocks[k];
    const { r } = this.problem;
    const perGroup = b.rows / b.groups;
    const first = b.rowUnit0 + g * perGroup;
    let uniform = true;
    for (let unit = first + 1; unit < first + perGroup && uniform; unit++) uniform = factor[unit] === factor[first];
    if (uniform) return factor[first];
    // Weights in logarithms, relative to the largest, so that no product over- or underflows.
    const lw = Float64Array.from({ length: perGroup }, (_, i) => {
      const unit = first + i;
      return (r - 1) * Math.log(this.rho[unit]) + Math.log(this.alpha[unit]) + Math.log(this.S[k][g * perGroup + i]);
    });
    let top = -Infinity;
    for (const l of lw) if (l > top) top = l;
    if (!(top > -Infinity)) return factor[first];
    let sum = 0;
    let weighted = 0;
    lw.forEach((l, i) => {
      const w = Number.isNaN(l) ? 0 : Math.exp(l - top);
      sum += w;
      weighted += w * factor[first + i];
    });
    return weighted / sum;
  }

  private count(blockIndices: number[]): void {
    let entries = 0;
    for (const k of blockIndices) entries += this.problem.blocks[k].rows * this.problem.blocks[k].cols;
    this.passes += entries / this.total;
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

  /** `In` and `F` from `rho`. */
  private finishRows(): void {
    const { unitVar, r, nUnits } = this.problem;
    const rho = this.rho;
    this.In.fill(0);
    let F = 0;
    for (let unit = 0; unit < nUnits; unit++) {
      const value = rho[unit];
      const term = value > 0 ? (r === 1 ? value : Math.pow(value, r)) : 0;
      F += term;
      const v = unitVar[unit];
      if (v >= 0) this.In[v] += term;
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

/** The static structure of the coarse rows (`CoarseRows`): their entries and the lists they read (fixed per problem). */
export interface CoarseLayout {
  /** Per row, its entries (CSR), one per block writing it whose columns hold a shifted group. */
  start: Int32Array;
  /** Per entry, its list: the pair (block, convolution group) it reads. */
  list: Int32Array;
  /** `entry[k][i]`: the entry of block `k`'s row `i`, or -1 (its columns hold no shifted group). */
  entry: Int32Array[];
  /** Per pair (a list), its shifted parts (CSR): their groups, and where each is in `space.partGroup`. */
  listStart: Int32Array;
  groups: Int32Array;
  part: Int32Array;
  /** Per pair, where its unshifted part is in `space.partGroup`, or -1. */
  unshifted: Int32Array;
}

/** The layout of the coarse rows: an entry per (row, incoming block reading a shifted group), a list per pair. */
export function coarseLayout(problem: Problem, space: CoarseSpace): CoarseLayout {
  const { groupBase, partStart, partGroup } = space;
  const nPairs = groupBase[problem.blocks.length];
  const listStart = new Int32Array(nPairs + 1);
  const unshifted = new Int32Array(nPairs).fill(-1);
  const groups: number[] = [];
  const part: number[] = [];
  for (let pair = 0; pair < nPairs; pair++) {
    for (let t = partStart[pair]; t < partStart[pair + 1]; t++) {
      if (partGroup[t] < 0) unshifted[pair] = t;
      else {
        groups.push(partGroup[t]);
        part.push(t);
      }
    }
    listStart[pair + 1] = groups.length;
  }
  const pairOf = (k: number, i: number): number => {
    const b = problem.blocks[k];
    return groupBase[k] + Math.floor(i / (b.rows / b.groups));
  };
  const reads = (k: number, i: number): boolean => listStart[pairOf(k, i) + 1] > listStart[pairOf(k, i)];
  const start = new Int32Array(problem.nUnits + 1);
  problem.blocks.forEach((b, k) => {
    for (let i = 0; i < b.rows; i++) if (reads(k, i)) start[b.rowUnit0 + i + 1]++;
  });
  for (let unit = 0; unit < problem.nUnits; unit++) start[unit + 1] += start[unit];
  const fill = start.slice(0, problem.nUnits);
  const list = new Int32Array(start[problem.nUnits]);
  const entry = problem.blocks.map((b, k) =>
    Int32Array.from({ length: b.rows }, (_, i) => {
      if (!reads(k, i)) return -1;
      const e = fill[b.rowUnit0 + i]++;
      list[e] = pairOf(k, i);
      return e;
    }),
  );
  return { start, list, entry, listStart, groups: Int32Array.from(groups), part: Int32Array.from(part), unshifted };
}
