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

/** Each block's row (output) and column (input) layer, indices into `layerUnit0`. */
export interface BlockLayers {
  readonly rowLayer: Int32Array;
  readonly colLayer: Int32Array;
}

/**
 * The layers of each block when the blocks are *layered*: each joins the whole of one layer to
 * the whole of a later one with one conv group (an MLP, a CNN without grouped convolutions, a
 * DAG of such blocks), else `null`. Then every unit of a layer has the same neighbours (all the
 * units of the layers its blocks join it to), and the blocks taken in layer order are in
 * topological order: the per-unit walks of the colouring and the dead-set search have layer-wise
 * answers (`colouring.ts`, `degenerate.ts`). O(blocks log layers).
 */
export function layeredBlocks(blocks: readonly ProblemBlock[], layerUnit0: Int32Array, nUnits: number): BlockLayers | null {
  const size = (layer: number): number => (layer + 1 < layerUnit0.length ? layerUnit0[layer + 1] : nUnits) - layerUnit0[layer];
  const rowLayer = new Int32Array(blocks.length);
  const colLayer = new Int32Array(blocks.length);
  for (let k = 0; k < blocks.length; k++) {
    const b = blocks[k];
    const to = unitRef(layerUnit0, b.rowUnit0);
    const from = unitRef(layerUnit0, b.colUnit0);
    if (b.groups !== 1 || to.unit !== 0 || from.unit !== 0 || from.layer >= to.layer) return null;
    if (b.rows !== size(to.layer) || b.cols !== size(from.layer)) return null;
    rowLayer[k] = to.layer;
    colLayer[k] = from.layer;
  }
  return { rowLayer, colLayer };
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
