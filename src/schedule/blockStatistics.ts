import { logAdd } from '../math/powers.js';
import type { Problem } from '../problem/problem.js';
import type { CoarseRows } from './coarse.js';
import { rowRatios } from './coarse.js';
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
 * blocks whose columns hold a variable. `passes` counts the entries of `P` read, in units of
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
  /** Scratch of the coarse rows and of a shift (allocated on first use). */
  private coarse: { mass: Float64Array; fixedShare: Float64Array; shares: Float64Array } | null = null;
  private ratio: Float64Array | null = null;
  private yFactor: Float64Array | null = null;
  /** What one evaluation reads, in units of all of `P`. */
  private readonly evaluationCost: number;
  /** Blocks whose columns hold a variable (the others' column sums are never used). */
  private readonly columnBlocks: number[];

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
    const entries = (list: number[]): number => list.reduce((sum, k) => sum + blocks[k].rows * blocks[k].cols, 0);
    const all = blocks.map((_, k) => k);
    this.evaluationCost = (entries(all) + (problem.r === 1 ? 0 : entries(this.columnBlocks))) / (entries(all) || 1);
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
      const a = Math.exp(la);
      alpha[unit] = a;
      invAlpha[unit] = 1 / a;
    }
    if (r === 1) {
      // y = alpha when p = q: one read of P gives both sums.
      for (let k = 0; k < blocks.length; k++) if (!linear.fused(k, invAlpha, alpha, S[k], C[k])) return false;
      return this.linearRows();
    }
    for (let k = 0; k < blocks.length; k++) if (!linear.rows(k, invAlpha, S[k])) return false;
    if (!this.linearRows()) return false;
    for (const k of this.columnBlocks) if (!linear.columns(k, this.y, C[k])) return false;
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
      const power = r === 1 || value === 0 ? 1 : Math.pow(value, r - 1);
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
      blocks.forEach((_, k) => sums.rows(k, lx, lS[k]));
      this.rowsFromSums();
      this.finishRows();
      for (const k of this.columnBlocks) {
        sums.columns(k, ly, lC[k]);
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
    const { problem } = this;
    const fraction = this.pairFractions(space);
    const scratch = (this.coarse ??= {
      mass: new Float64Array(problem.nUnits),
      fixedShare: new Float64Array(problem.nUnits),
      shares: new Float64Array(layout.groups.length),
    });
    const { mass, fixedShare } = scratch;
    if (scratch.shares.length !== layout.groups.length) scratch.shares = new Float64Array(layout.groups.length);
    const shares = scratch.shares;
    mass.set(this.bias);
    fixedShare.set(this.bias);
    problem.blocks.forEach((b, k) => {
      const perGroup = b.rows / b.groups;
      for (let i = 0; i < b.rows; i++) {
        const unit = b.rowUnit0 + i;
        const S = this.S[k][i];
        mass[unit] += S;
        const pair = space.groupBase[k] + Math.floor(i / perGroup);
        let slot = layout.slot[k][i];
        for (let t = space.partStart[pair]; t < space.partStart[pair + 1]; t++) {
          if (space.partGroup[t] < 0) fixedShare[unit] += S * fraction[t];
          else shares[slot++] = S * fraction[t];
        }
      }
    });
    for (let unit = 0; unit < problem.nUnits; unit++) {
      const m = mass[unit];
      if (!(m > 0)) continue;
      fixedShare[unit] /= m;
      for (let t = layout.start[unit]; t < layout.start[unit + 1]; t++) shares[t] /= m;
    }
    return { term: this.term, rowGroup: space.unitGroup, fixedShare, start: layout.start, groups: layout.groups, shares };
  }

  /**
   * Move to the log factors shifted by `c` per group, updating every statistic from the last pass
   * (exact when `space.exact`; otherwise `In` and `Out` are only estimates until the next evaluation).
   * `rows` are the coarse rows of the statistics before the shift.
   */
  shift(space: CoarseSpace, rows: CoarseRows, c: Float64Array): void {
    const { problem } = this;
    const { p, r, blocks, nUnits } = problem;
    const fraction = this.pairFractions(space);
    // Per group: the factor of its units' alpha, and of their columns' 1/alpha.
    const rise = Float64Array.from(c, (x) => Math.exp(p * x));
    const fall = Float64Array.from(c, (x) => Math.exp(-p * x));
    const groupRise = (g: number): number => (g >= 0 ? rise[g] : 1);
    const groupFall = (g: number): number => (g >= 0 ? fall[g] : 1);
    const ratio = rowRatios(rows, c, p, (this.ratio ??= new Float64Array(nUnits)));
    // y = rho^(r-1) alpha moves by yFactor per row; a column sum by the mean over the rows reading it.
    const yFactor = (this.yFactor ??= new Float64Array(nUnits));
    for (let unit = 0; unit < nUnits; unit++) yFactor[unit] = (r === 1 ? 1 : Math.pow(ratio[unit], r - 1)) * groupRise(space.unitGroup[unit]);
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
        for (let t = space.partStart[pair]; t < space.partStart[pair + 1]; t++) scale += fraction[t] * groupFall(space.partGroup[t]);
        S[i] *= scale;
      }
    });
    for (let unit = 0; unit < nUnits; unit++) {
      const g = space.unitGroup[unit];
      this.alpha[unit] *= groupRise(g);
      this.invAlpha[unit] *= groupFall(g);
      this.rho[unit] *= ratio[unit];
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
    blocks.forEach((b, k) => {
      for (let g = 0; g < b.groups; g++) {
        const pair = groupBase[k] + g;
        const t0 = partStart[pair];
        const n = partStart[pair + 1] - t0;
        if (n === 1) continue;
        fraction.fill(0, t0, t0 + n);
        let total = 0;
        for (let unit = b.colUnit0 + g * b.cols; unit < b.colUnit0 + (g + 1) * b.cols; unit++) {
          const w = this.C[k][unit] * this.invAlpha[unit];
          let t = t0;
          while (partGroup[t] !== space.unitGroup[unit]) t++;
          fraction[t] += w;
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
      term[unit] = value > 0 ? (r === 1 ? value : Math.pow(value, r)) : 0;
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

/** Where each block's row shares go in the coarse rows' CSR (fixed per problem). */
export interface CoarseLayout {
  start: Int32Array;
  groups: Int32Array;
  /** `slot[k][i]`: the first CSR index of block `k`'s shares of its row `i`, one per shifted group its columns hold. */
  slot: Int32Array[];
}

/** The CSR layout of the coarse rows: one share per (row, incoming block, shifted group of the columns it reads). */
export function coarseLayout(problem: Problem, space: CoarseSpace): CoarseLayout {
  const shifted = (pair: number): number[] => {
    const groups: number[] = [];
    for (let t = space.partStart[pair]; t < space.partStart[pair + 1]; t++) if (space.partGroup[t] >= 0) groups.push(space.partGroup[t]);
    return groups;
  };
  const pairOf = (k: number, i: number): number => {
    const b = problem.blocks[k];
    return space.groupBase[k] + Math.floor(i / (b.rows / b.groups));
  };
  const count = new Int32Array(problem.nUnits + 1);
  problem.blocks.forEach((b, k) => {
    for (let i = 0; i < b.rows; i++) count[b.rowUnit0 + i + 1] += shifted(pairOf(k, i)).length;
  });
  for (let unit = 0; unit < problem.nUnits; unit++) count[unit + 1] += count[unit];
  const start = count;
  const fill = start.slice(0, problem.nUnits);
  const groups = new Int32Array(start[problem.nUnits]);
  const slot = problem.blocks.map((b, k) =>
    Int32Array.from({ length: b.rows }, (_, i) => {
      const first = fill[b.rowUnit0 + i];
      for (const g of shifted(pairOf(k, i))) groups[fill[b.rowUnit0 + i]++] = g;
      return first;
    }),
  );
  return { start, groups, slot };
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
