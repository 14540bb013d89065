import type { Problem } from '../problem/problem.js';
import { rowLogShifts } from './coarse.js';
import type { CoarseRows } from './coarseRows.js';
import type { CoarseSpace } from './coarseSpace.js';

/** The linear statistics that the coarse model reads and a coarse shift moves (those of `BlockStatistics`). */
export interface StatisticsArrays {
  readonly problem: Problem;
  readonly alpha: Float64Array;
  readonly invAlpha: Float64Array;
  /** Row sums per block. */
  readonly S: readonly Float64Array[];
  /** Column sums per block, indexed by global unit. */
  readonly C: readonly Float64Array[];
  readonly rho: Float64Array;
  /** `rho^r` per unit. */
  readonly term: Float64Array;
  /** The bias mass per unit, linear. */
  readonly bias: Float64Array;
  /** Blocks whose columns hold a variable. */
  readonly columnBlocks: readonly number[];
}

/**
 * The coarse model read from the block statistics (its rows: how each row's mass splits over
 * the groups of the coarse space) and a coarse shift applied to them without a pass over `P`;
 * its scratch is allocated once.
 */
export class CoarseStatistics {
  private scratch: { mass: Float64Array; fixedShare: Float64Array; coef: Float64Array; fractions: Float64Array } | null = null;

  constructor(private readonly stats: StatisticsArrays) {}

  /** The coarse model's rows at the current statistics (see `CoarseRows`); valid until the next call. */
  rows(space: CoarseSpace, layout: CoarseLayout): CoarseRows {
    const { problem } = this.stats;
    const fraction = this.pairFractions(space);
    let scratch = this.scratch;
    if (!scratch || scratch.coef.length !== layout.list.length || scratch.fractions.length !== layout.groups.length) {
      scratch = this.scratch = {
        mass: new Float64Array(problem.nUnits),
        fixedShare: new Float64Array(problem.nUnits),
        coef: new Float64Array(layout.list.length),
        fractions: new Float64Array(layout.groups.length),
      };
    }
    const { mass, fixedShare, coef, fractions } = scratch;
    for (let t = 0; t < fractions.length; t++) fractions[t] = fraction[layout.part[t]];
    mass.set(this.stats.bias);
    fixedShare.set(this.stats.bias);
    problem.blocks.forEach((b, k) => {
      const perGroup = b.rows / b.groups;
      for (let i = 0; i < b.rows; i++) {
        const unit = b.rowUnit0 + i;
        const S = this.stats.S[k][i];
        mass[unit] += S;
        const unshifted = layout.unshifted[space.groupBase[k] + Math.floor(i / perGroup)];
        if (unshifted >= 0) fixedShare[unit] += S * fraction[unshifted];
        const e = layout.entry[k][i];
        if (e >= 0) coef[e] = S;
      }
    });
    for (let unit = 0; unit < problem.nUnits; unit++) if (mass[unit] > 0) fixedShare[unit] /= mass[unit];
    const { start, list, listStart, groups } = layout;
    return { term: this.stats.term, rowGroup: space.unitGroup, mass, fixedShare, start, list, coef, listStart, groups, fractions };
  }

  /**
   * Move `alpha`, `1/alpha`, `rho`, `S` and `C` to the log factors shifted by `c` per group, from
   * the last pass (`rows`: the coarse rows before the shift); the owner then sums `In`, `Out`, `F`.
   */
  shift(space: CoarseSpace, rows: CoarseRows, c: Float64Array): void {
    const { problem } = this.stats;
    const { p, r, blocks, nUnits } = problem;
    const fraction = this.pairFractions(space);
    // Per group: the factor of its units' alpha, and of their columns' 1/alpha.
    const rise = Float64Array.from(c, (x) => Math.exp(p * x));
    const fall = Float64Array.from(c, (x) => Math.exp(-p * x));
    const groupRise = (g: number): number => (g >= 0 ? rise[g] : 1);
    const groupFall = (g: number): number => (g >= 0 ? fall[g] : 1);
    const logShift = rowLogShifts(rows, c, p);
    // y = rho^(r-1) alpha moves by yFactor per row; a column sum by the mean over the rows reading it.
    const yFactor = Float64Array.from(logShift, (l, unit) => Math.exp((r - 1) * l + p * (space.unitGroup[unit] >= 0 ? c[space.unitGroup[unit]] : 0)));
    const columnFactor = new Float64Array(space.groupBase[blocks.length]);
    for (const k of this.stats.columnBlocks) {
      for (let g = 0; g < blocks[k].groups; g++) columnFactor[space.groupBase[k] + g] = this.meanRowFactor(k, g, yFactor);
    }
    blocks.forEach((b, k) => {
      const perGroup = b.rows / b.groups;
      const S = this.stats.S[k];
      for (let i = 0; i < b.rows; i++) {
        const pair = space.groupBase[k] + Math.floor(i / perGroup);
        let scale = 0;
        for (let t = space.partStart[pair]; t < space.partStart[pair + 1]; t++) scale += fraction[t] * groupFall(space.partGroup[t]);
        S[i] *= scale;
      }
    });
    for (let unit = 0; unit < nUnits; unit++) {
      const g = space.unitGroup[unit];
      this.stats.alpha[unit] *= groupRise(g);
      this.stats.invAlpha[unit] *= groupFall(g);
      this.stats.rho[unit] *= Math.exp(logShift[unit]);
    }
    for (const k of this.stats.columnBlocks) {
      const b = blocks[k];
      const C = this.stats.C[k];
      for (let j = 0; j < b.cols * b.groups; j++) C[b.colUnit0 + j] *= columnFactor[space.groupBase[k] + Math.floor(j / b.cols)];
    }
  }

  /**
   * How each pair's row sums split over the groups of its columns (indexed like
   * `space.partGroup`): 1 for a pair whose columns lie in one group; otherwise the shares of the
   * pair's column sums `C / alpha`, the row-weighted mean split, which the model takes for every row.
   */
  private pairFractions(space: CoarseSpace): Float64Array {
    const { blocks } = this.stats.problem;
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
          const w = this.stats.C[k][unit] * this.stats.invAlpha[unit];
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
    const b = this.stats.problem.blocks[k];
    const { r } = this.stats.problem;
    const perGroup = b.rows / b.groups;
    const first = b.rowUnit0 + g * perGroup;
    let uniform = true;
    for (let unit = first + 1; unit < first + perGroup && uniform; unit++) uniform = factor[unit] === factor[first];
    if (uniform) return factor[first];
    // Weights in logarithms, relative to the largest, so that no product over- or underflows.
    const lw = Float64Array.from({ length: perGroup }, (_, i) => {
      const unit = first + i;
      return (r - 1) * Math.log(this.stats.rho[unit]) + Math.log(this.stats.alpha[unit]) + Math.log(this.stats.S[k][g * perGroup + i]);
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
