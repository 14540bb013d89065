import type { Problem, ProblemBlock } from './problem.js';
import { BlockIndex, layeredBlocks } from './problem.js';

/**
 * The colours taken so far on each side of each block's conv groups: a unit's neighbours
 * through a block are all the units of the other side of its conv group, so the colours among
 * them are kept per (block, group, side) as variables are coloured, never walked edge by edge.
 */
class SideColours {
  private readonly rows: Set<number>[][];
  private readonly columns: Set<number>[][];

  constructor(blocks: readonly ProblemBlock[]) {
    this.rows = blocks.map((b) => Array.from({ length: b.groups }, () => new Set<number>()));
    this.columns = blocks.map((b) => Array.from({ length: b.groups }, () => new Set<number>()));
  }

  /** The conv group of unit `u` as a row of `b`, or -1 when it is not one. */
  static rowGroup(b: ProblemBlock, u: number): number {
    return u < b.rowUnit0 || u >= b.rowUnit0 + b.rows ? -1 : Math.floor((u - b.rowUnit0) / (b.rows / b.groups));
  }

  /** The conv group of unit `u` as a column of `b`, or -1 when it is not one. */
  static columnGroup(b: ProblemBlock, u: number): number {
    return u < b.colUnit0 || u >= b.colUnit0 + b.cols * b.groups ? -1 : Math.floor((u - b.colUnit0) / b.cols);
  }

  /** The colours among the columns of row unit `u`'s group (`row`) or the rows of column unit `u`'s group. */
  facing(b: ProblemBlock, side: 'row' | 'column', g: number): Set<number> {
    return side === 'row' ? this.columns[b.index][g] : this.rows[b.index][g];
  }

  /** Record colour `c` on unit `u`'s side of its group. */
  add(b: ProblemBlock, side: 'row' | 'column', g: number, c: number): void {
    (side === 'row' ? this.rows : this.columns)[b.index][g].add(c);
  }
}

/**
 * Greedy colouring of the variable graph: two variables are adjacent when a weight block joins
 * a unit of one to a unit of the other. Variables of one colour can be updated together by the
 * alternating schedule (MATH.md §4). Works for any DAG; an MLP gets two colours (odd and even
 * hidden layers). A unit's neighbours through a block are the whole other side of its conv
 * group, so the colours there are kept per (block, group, side) ({@link SideColours}): time
 * O(units x blocks per unit x colours + units log layers), memory O(units + blocks x groups x
 * colours), whatever the number of weights. Each variable takes the smallest colour none of its
 * neighbours has (a variable is never its own neighbour).
 */
export function colourVariables(problem: ColouringInput): { varClass: Int32Array; nClasses: number } {
  return layerColours(problem) ?? unitColours(problem);
}

/** What the colouring reads of a problem. */
type ColouringInput = Pick<Problem, 'nUnits' | 'nVars' | 'unitVar' | 'blocks' | 'layerUnit0'>;

/**
 * The greedy colouring of {@link colourVariables} layer by layer, where the structure gives it:
 * layered blocks ({@link layeredBlocks}) and one unit per variable, numbered in unit order. The
 * variables of a layer are then coloured one after the other with the same neighbours' colours
 * (those of the earlier layers its blocks read; the later layers are not coloured yet, and no
 * block joins a layer to itself), so each takes the colour the first one takes: the smallest
 * none of its input layers has. `null` where the blocks or variables are not so. Time
 * O(units + blocks x layers), no walk per unit.
 */
export function layerColours(problem: ColouringInput): { varClass: Int32Array; nClasses: number } | null {
  const { nUnits, nVars, unitVar, blocks, layerUnit0 } = problem;
  const layers = layeredBlocks(blocks, layerUnit0, nUnits);
  if (!layers) return null;
  // One unit per variable, in unit order: variable v is the v-th unit that has one.
  let next = 0;
  for (let u = 0; u < nUnits; u++) {
    if (unitVar[u] < 0) continue;
    if (unitVar[u] !== next) return null;
    next++;
  }
  if (next !== nVars) return null;
  const nLayers = layerUnit0.length;
  const colour = new Int32Array(nLayers).fill(-1);
  const varClass = new Int32Array(nVars);
  let nClasses = 0;
  for (let layer = 0; layer < nLayers; layer++) {
    const end = layer + 1 < nLayers ? layerUnit0[layer + 1] : nUnits;
    let first = layerUnit0[layer];
    while (first < end && unitVar[first] < 0) first++;
    if (first === end) continue;
    const taken = new Set<number>();
    for (let k = 0; k < blocks.length; k++) if (layers.rowLayer[k] === layer && colour[layers.colLayer[k]] >= 0) taken.add(colour[layers.colLayer[k]]);
    let c = 0;
    while (taken.has(c)) c++;
    colour[layer] = c;
    nClasses = Math.max(nClasses, c + 1);
    for (let u = first; u < end; u++) if (unitVar[u] >= 0) varClass[unitVar[u]] = c;
  }
  return { varClass, nClasses };
}

/** The greedy colouring of {@link colourVariables}, variable by variable (any problem). */
export function unitColours(problem: ColouringInput): { varClass: Int32Array; nClasses: number } {
  const { nUnits, nVars, unitVar, blocks } = problem;
  const index = new BlockIndex(problem.layerUnit0, blocks);
  // Members of each variable, as CSR.
  const start = new Int32Array(nVars + 1);
  for (let u = 0; u < nUnits; u++) if (unitVar[u] >= 0) start[unitVar[u] + 1]++;
  for (let v = 0; v < nVars; v++) start[v + 1] += start[v];
  const members = new Int32Array(start[nVars]);
  const fill = start.slice(0, nVars);
  for (let u = 0; u < nUnits; u++) if (unitVar[u] >= 0) members[fill[unitVar[u]]++] = u;

  const sides = new SideColours(blocks);
  /** Each (block, side, group) a unit sits on: its writers as a row, its readers as a column. */
  const placesOf = (u: number, f: (b: ProblemBlock, side: 'row' | 'column', g: number) => void): void => {
    for (const b of index.writersOf(u)) {
      const g = SideColours.rowGroup(b, u);
      if (g >= 0) f(b, 'row', g);
    }
    for (const b of index.readersOf(u)) {
      const g = SideColours.columnGroup(b, u);
      if (g >= 0) f(b, 'column', g);
    }
  };
  const varClass = new Int32Array(nVars).fill(-1);
  let nClasses = 0;
  for (let v = 0; v < nVars; v++) {
    const taken = new Set<number>();
    for (let m = start[v]; m < start[v + 1]; m++) {
      placesOf(members[m], (b, side, g) => {
        for (const c of sides.facing(b, side, g)) taken.add(c);
      });
    }
    let c = 0;
    while (taken.has(c)) c++;
    varClass[v] = c;
    nClasses = Math.max(nClasses, c + 1);
    for (let m = start[v]; m < start[v + 1]; m++) placesOf(members[m], (b, side, g) => sides.add(b, side, g, c));
  }
  return { varClass, nClasses };
}
