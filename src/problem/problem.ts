import type { WeightRange } from '../network/finite.js';
import type { UnitRef, WeightArray } from '../network/types.js';

/**
 * One weight block seen as edges between units. Weight entry
 * `weight[(i * cols + j) * taps + t]` is tap `t` of the edge from column unit
 * `colUnit0 + g * cols + j` to row unit `rowUnit0 + i`, where `g = floor(i / (rows / groups))`.
 * For a convolution the taps are the kernel entries; for a dense block reading a feature map
 * they are the spatial positions of one channel; otherwise `taps = 1`.
 */
export interface ProblemBlock {
  /** Index of the block in `network.blocks`. */
  index: number;
  label: string;
  rows: number;
  /** Columns per group (input units that one row reads). */
  cols: number;
  groups: number;
  taps: number;
  rowUnit0: number;
  colUnit0: number;
  weight: WeightArray;
  bias: WeightArray | null;
}

/**
 * Everything a sweep needs, as plain arrays: the seam between the mathematics and the engines.
 * Units are numbered globally, layer by layer. Rescalable units (after ties, minus fixed and
 * degenerate ones) are grouped into *variables*, each with one log factor.
 */
export interface Problem {
  p: number;
  q: number;
  /** `q / p`. */
  r: number;
  includeBiases: boolean;
  nUnits: number;
  /** First global unit of each layer. */
  layerUnit0: Int32Array;
  /** Variable of each unit, or -1 for a fixed or frozen unit. */
  unitVar: Int32Array;
  nVars: number;
  /** Colour of each variable: no edge joins two variables of one colour. */
  varClass: Int32Array;
  nClasses: number;
  blocks: ProblemBlock[];
  /**
   * The smallest non-zero and the largest `|w|` over the blocks' weights, read with their
   * validation by `compileProblem` (absent: not known, read the weights).
   */
  weightRange?: WeightRange;
  /**
   * Rescalable units frozen at factor 1, in unit order: their tie group is degenerate (MATH.md §4),
   * not reachable from a fixed unit (or a bias) or not reaching one through non-zero weights.
   */
  frozen: UnitRef[];
}

/** The layer and index of a global unit, from the first global unit of each layer. */
export function unitRef(offsets: Int32Array, unit: number): UnitRef {
  let lo = 0;
  let hi = offsets.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (offsets[mid] <= unit) lo = mid;
    else hi = mid - 1;
  }
  return { layer: lo, unit: unit - offsets[lo] };
}

/**
 * Per block: whether it alone writes its rows' units (no other block has the same row layer), so
 * that a row's `rho` is its own row sum and bias (the row-then-column passes of the CPU engine).
 */
export function soleWriters(problem: Pick<Problem, 'blocks'>): boolean[] {
  const writers = new Map<number, number>();
  for (const b of problem.blocks) writers.set(b.rowUnit0, (writers.get(b.rowUnit0) ?? 0) + 1);
  return problem.blocks.map((b) => writers.get(b.rowUnit0) === 1);
}

/**
 * The blocks by the layers they read and write: from a global unit, the blocks whose columns
 * (or rows) include it, in O(log layers). Lets a walk over units visit only their own blocks.
 */
export class BlockIndex {
  private readonly reading = new Map<number, ProblemBlock[]>();
  private readonly writing = new Map<number, ProblemBlock[]>();

  constructor(
    private readonly layerUnit0: Int32Array,
    blocks: readonly ProblemBlock[],
  ) {
    for (const b of blocks) {
      BlockIndex.add(this.reading, b.colUnit0, b);
      BlockIndex.add(this.writing, b.rowUnit0, b);
    }
  }

  /** The blocks reading the layer of global unit `unit` (it is one of their column units). */
  readersOf(unit: number): readonly ProblemBlock[] {
    return this.reading.get(this.layerStart(unit)) ?? [];
  }

  /** The blocks writing the layer of global unit `unit` (it is one of their row units). */
  writersOf(unit: number): readonly ProblemBlock[] {
    return this.writing.get(this.layerStart(unit)) ?? [];
  }

  private layerStart(unit: number): number {
    return this.layerUnit0[unitRef(this.layerUnit0, unit).layer];
  }

  private static add(map: Map<number, ProblemBlock[]>, key: number, b: ProblemBlock): void {
    const list = map.get(key);
    if (list) list.push(b);
    else map.set(key, [b]);
  }
}
