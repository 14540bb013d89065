import { columnPass, fusedPass, rowPass } from '../math/passes.js';
import type { Problem } from '../problem/problem.js';
import type { CoarseRows, CoarseSpace } from './coarse.js';
import { rowLogShifts } from './coarse.js';

/**
 * `In`, `Out` and `F` at given log factors, in float64, kept **per block** (row sums `S[k]` and
 * column sums `C[k]` of each block) so that a coarse shift (whole layers scaled, see
 * `coarse.ts`) updates them without reading `P` again. One evaluation reads `P` once for
 * `p = q` (the fused pass) and otherwise once for the row sums plus once for the column sums of
 * the blocks whose columns hold a variable. `passes` counts the entries of `P` read, in units of
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
  private readonly y: Float64Array;
  private readonly total: number;
  /** Blocks whose columns hold a variable (the others' column sums are never used). */
  private readonly columnBlocks: number[];

  constructor(private readonly problem: Problem, private readonly P: Float64Array[], private readonly bias: Float64Array) {
    const { nUnits, nVars, blocks } = problem;
    this.alpha = new Float64Array(nUnits);
    this.invAlpha = new Float64Array(nUnits);
    this.S = blocks.map((b) => new Float64Array(b.rows));
    this.C = blocks.map(() => new Float64Array(nUnits));
    this.rho = new Float64Array(nUnits);
    this.y = new Float64Array(nUnits);
    this.In = new Float64Array(nVars);
    this.Out = new Float64Array(nVars);
    this.total = P.reduce((sum, x) => sum + x.length, 0) || 1;
    this.columnBlocks = blocks.flatMap((b, k) => {
      for (let c = b.colUnit0; c < b.colUnit0 + b.cols * b.groups; c++) if (problem.unitVar[c] >= 0) return [k];
      return [];
    });
  }

  /** Evaluate at the log factors `u` (one per variable). */
  evaluate(u: Float64Array): void {
    const { problem, P } = this;
    const { unitVar, p, r, blocks } = problem;
    for (let unit = 0; unit < problem.nUnits; unit++) {
      const v = unitVar[unit];
      const a = v >= 0 ? Math.exp(p * u[v]) : 1;
      this.alpha[unit] = a;
      this.invAlpha[unit] = 1 / a;
    }
    for (const C of this.C) C.fill(0);
    if (r === 1) {
      blocks.forEach((b, k) => fusedPass(b, P[k], this.invAlpha, this.alpha, this.S[k], this.C[k]));
      this.count(blocks.map((_, k) => k));
      this.finishRows();
    } else {
      blocks.forEach((b, k) => rowPass(b, P[k], this.invAlpha, this.S[k]));
      this.count(blocks.map((_, k) => k));
      this.finishRows();
      for (const k of this.columnBlocks) columnPass(blocks[k], P[k], this.y, this.C[k]);
      this.count(this.columnBlocks);
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
    const term = new Float64Array(problem.nUnits);
    const fixedShare = new Float64Array(problem.nUnits);
    const shares = new Float64Array(layout.groups.length);
    const { r } = problem;
    for (let unit = 0; unit < problem.nUnits; unit++) {
      const value = this.rho[unit];
      term[unit] = value > 0 ? (r === 1 ? value : Math.pow(value, r)) : 0;
    }
    const mass = new Float64Array(problem.nUnits);
    mass.set(this.bias);
    problem.blocks.forEach((b, k) => {
      for (let i = 0; i < b.rows; i++) mass[b.rowUnit0 + i] += this.S[k][i];
    });
    fixedShare.set(this.bias);
    problem.blocks.forEach((b, k) => {
      const g = space.blockColGroup[k];
      for (let i = 0; i < b.rows; i++) {
        const unit = b.rowUnit0 + i;
        if (g < 0) fixedShare[unit] += this.S[k][i];
        else shares[layout.slot[k][i]] = this.S[k][i];
      }
    });
    for (let unit = 0; unit < problem.nUnits; unit++) {
      const m = mass[unit];
      if (!(m > 0)) continue;
      fixedShare[unit] /= m;
      for (let t = layout.start[unit]; t < layout.start[unit + 1]; t++) shares[t] /= m;
    }
    return { term, rowGroup: space.unitGroup, fixedShare, start: layout.start, groups: layout.groups, shares };
  }

  /**
   * Move to the log factors shifted by `c` per group, updating every statistic from the last pass
   * (exact when `space.exact`; otherwise `In` and `Out` are only estimates until the next evaluation).
   */
  shift(space: CoarseSpace, rows: CoarseRows, c: Float64Array): void {
    const { problem } = this;
    const { p, r } = problem;
    const logShift = rowLogShifts(rows, c, p);
    const groupScale = (g: number): number => (g >= 0 ? Math.exp(p * c[g]) : 1);
    for (let unit = 0; unit < problem.nUnits; unit++) {
      const s = groupScale(space.unitGroup[unit]);
      this.alpha[unit] *= s;
      this.invAlpha[unit] /= s;
      this.rho[unit] *= Math.exp(logShift[unit]);
    }
    problem.blocks.forEach((b, k) => {
      const column = 1 / groupScale(space.blockColGroup[k]);
      const S = this.S[k];
      for (let i = 0; i < b.rows; i++) S[i] *= column;
      // y = rho^(r-1) alpha of the block's rows: one factor for all of them when the model is
      // exact (then every row of the block moves by its own shift against this block's columns).
      const rowShiftOfBlock = p * ((space.blockRowGroup[k] >= 0 ? c[space.blockRowGroup[k]] : 0) - (space.blockColGroup[k] >= 0 ? c[space.blockColGroup[k]] : 0));
      const rowFactor = Math.exp((r - 1) * rowShiftOfBlock) * groupScale(space.blockRowGroup[k]);
      const C = this.C[k];
      for (let c0 = b.colUnit0; c0 < b.colUnit0 + b.cols * b.groups; c0++) C[c0] *= rowFactor;
    });
    this.finishRows(false);
    this.finishColumns();
  }

  private count(blockIndices: number[]): void {
    let entries = 0;
    for (const k of blockIndices) entries += this.P[k].length;
    this.passes += entries / this.total;
  }

  /** `rho`, `In`, `F` and the column weights `y` from the row sums (or, with `fromSums` false, from `rho` as it is). */
  private finishRows(fromSums = true): void {
    const { blocks, unitVar, r, nUnits } = this.problem;
    const rho = this.rho;
    if (fromSums) {
      rho.set(this.bias);
      blocks.forEach((b, k) => {
        const S = this.S[k];
        for (let i = 0; i < b.rows; i++) rho[b.rowUnit0 + i] += S[i];
      });
      for (let unit = 0; unit < nUnits; unit++) rho[unit] *= this.alpha[unit];
    }
    this.In.fill(0);
    let F = 0;
    for (let unit = 0; unit < nUnits; unit++) {
      const value = rho[unit];
      const term = value > 0 ? (r === 1 ? value : Math.pow(value, r)) : 0;
      F += term;
      this.y[unit] = value > 0 ? (r === 1 ? 1 : Math.pow(value, r - 1)) * this.alpha[unit] : 0;
      const v = unitVar[unit];
      if (v >= 0) this.In[v] += term;
    }
    this.F = F;
  }

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
  }
}

/** Where each block's row shares go in the coarse rows' CSR (fixed per problem). */
export interface CoarseLayout {
  start: Int32Array;
  groups: Int32Array;
  /** `slot[k][i]`: the CSR index of block `k`'s share of its row `i` (-1: a fixed column group). */
  slot: Int32Array[];
}

/** The CSR layout of the coarse rows: one share per (row, incoming block reading a shifted group). */
export function coarseLayout(problem: Problem, space: CoarseSpace): CoarseLayout {
  const count = new Int32Array(problem.nUnits + 1);
  problem.blocks.forEach((b, k) => {
    if (space.blockColGroup[k] < 0) return;
    for (let i = 0; i < b.rows; i++) count[b.rowUnit0 + i + 1]++;
  });
  for (let unit = 0; unit < problem.nUnits; unit++) count[unit + 1] += count[unit];
  const start = count;
  const fill = start.slice(0, problem.nUnits);
  const groups = new Int32Array(start[problem.nUnits]);
  const slot = problem.blocks.map((b, k) => {
    const g = space.blockColGroup[k];
    return Int32Array.from({ length: b.rows }, (_, i) => {
      if (g < 0) return -1;
      const t = fill[b.rowUnit0 + i]++;
      groups[t] = g;
      return t;
    });
  });
  return { start, groups, slot };
}
