import type { Problem, ProblemBlock } from '../problem/problem.js';

/**
 * The coarse space of the accelerated schedule: one shift `c[g]` of the log factors per *group*
 * of units. Adding `c[g]` to every variable of group `g` scales a whole part of the net at once;
 * these are the slow directions of the unit-by-unit update (they set how the norm is shared
 * between layers and branches, and the deeper the net, the more unit steps they take). `F`
 * restricted to these shifts depends only on per-row, per-block sums the last pass over `P`
 * already produced, so the best shift is found by a small Newton solve and costs no pass over `P`.
 *
 * A group is a layer (with its tie partners), split along the convolution groups of the grouped
 * and depthwise convolutions that read or write it: each channel of a depthwise convolution's
 * layers, each branch of a grouped one, wants its own shift (see `partition`; a space of more than
 * {@link MAX_COARSE_GROUPS} groups is solved by conjugate gradients). A group takes part only if
 * every one of its units is a variable (a group holding a fixed or frozen unit, the inputs, the
 * outputs: shift 0).
 *
 * The columns of one convolution group of a block (the inputs one output row reads) may fall in
 * several groups when a dense or plain block reads a split layer; the pairs `(block, convolution
 * group)` list them: pair `groupBase[k] + g` of block `k` has the groups
 * `partGroup[partStart[pair] .. partStart[pair + 1]]` (`-1` for the unshifted columns).
 */
export interface CoarseSpace {
  nGroups: number;
  /** Group of each global unit, or -1 (not shifted). */
  unitGroup: Int32Array;
  /** First pair of each block (length: blocks + 1); block `k`'s convolution group `g` is pair `groupBase[k] + g`. */
  groupBase: Int32Array;
  /** Per pair, where its groups start in `partGroup` (length: pairs + 1). */
  partStart: Int32Array;
  /** The distinct groups of each pair's columns, in order of first column (-1: unshifted columns). */
  partGroup: Int32Array;
  /**
   * Whether `In`, `Out` and `F` after any shift follow exactly from the last pass: every pair's
   * columns lie in one group, the rows of every pair that reads a variable move by one shift,
   * and, for `p != q`, every row's incoming mass moves by one shift (no row sums two groups or an
   * included bias). Otherwise the model's row shares are estimated from the column sums, and
   * the schedule checks the shift with its next evaluation.
   */
  exact: boolean;
}

/**
 * The largest space the coarse Newton solve takes densely (its cost is cubic in the groups): up to
 * here a Cholesky solve (and the GPU engine's bound on the spaces it solves), beyond it conjugate
 * gradients on Hessian-vector products (`coarseCg.ts`), linear in the rows' shares. The space is
 * never made coarser: merging chains or channels to fit a dense solve leaves their relative
 * shifts to the unit steps, which are slow on them (bench/README.md, "Time to balance").
 */
export const MAX_COARSE_GROUPS = 128;

/** Union-find over the global units. */
class Partition {
  readonly parent: Int32Array;
  constructor(n: number) {
    this.parent = new Int32Array(n);
    for (let k = 0; k < n; k++) this.parent[k] = k;
  }
  find(x: number): number {
    const { parent } = this;
    while (parent[x] !== x) x = parent[x] = parent[parent[x]];
    return x;
  }
  union(a: number, b: number): void {
    this.parent[this.find(a)] = this.find(b);
  }
}

/** The units of convolution group `g` of block `b`, as columns (`'cols'`) or rows. */
function groupUnits(b: ProblemBlock, g: number, side: 'cols' | 'rows'): [number, number] {
  if (side === 'cols') return [b.colUnit0 + g * b.cols, b.colUnit0 + (g + 1) * b.cols];
  const perGroup = b.rows / b.groups;
  return [b.rowUnit0 + g * perGroup, b.rowUnit0 + (g + 1) * perGroup];
}

/**
 * The partition of the units into groups: two units of a layer are together when every grouped
 * block reading or writing the layer puts them in one convolution group (a layer no grouped
 * block touches is one group; a depthwise convolution splits both its layers into channels,
 * whose channels then shift independently). Tie partners are together.
 */
function partition(problem: Problem): Partition {
  const { nUnits, layerUnit0, unitVar, blocks } = problem;
  const sets = new Partition(nUnits);
  const grouped = blocks.filter((block) => block.groups > 1);
  // Per unit, the convolution group it falls in for each grouped block touching its layer (none: no key).
  const key = grouped.length > 0 ? Array.from({ length: nUnits }, () => '') : null;
  for (const b of grouped)
    for (let g = 0; g < b.groups; g++)
      for (const side of ['cols', 'rows'] as const) {
        const [start, end] = groupUnits(b, g, side);
        for (let unit = start; unit < end; unit++) (key as string[])[unit] += `${b.index}${side[0]}${g} `;
      }
  for (let k = 0; k < layerUnit0.length; k++) {
    const end = k + 1 < layerUnit0.length ? layerUnit0[k + 1] : nUnits;
    // Each unit joins the layer's first with its key (a star: finds stay short).
    const first = new Map<string, number>();
    for (let unit = layerUnit0[k]; unit < end; unit++) {
      const unitKey = key?.[unit] ?? '';
      const other = first.get(unitKey);
      if (other === undefined) first.set(unitKey, unit);
      else sets.union(other, unit);
    }
  }
  const firstUnit = new Int32Array(problem.nVars).fill(-1);
  for (let unit = 0; unit < nUnits; unit++) {
    const v = unitVar[unit];
    if (v < 0) continue;
    if (firstUnit[v] < 0) firstUnit[v] = unit;
    else sets.union(firstUnit[v], unit);
  }
  return sets;
}

/** Number the sets of `sets` holding only variables; every other unit gets -1. */
function groupsOf(problem: Problem, sets: Partition): { nGroups: number; unitGroup: Int32Array } {
  const { nUnits, unitVar } = problem;
  const complete = new Uint8Array(nUnits).fill(1);
  for (let unit = 0; unit < nUnits; unit++) if (unitVar[unit] < 0) complete[sets.find(unit)] = 0;
  const number = new Int32Array(nUnits).fill(-1);
  let nGroups = 0;
  const unitGroup = new Int32Array(nUnits).fill(-1);
  for (let unit = 0; unit < nUnits; unit++) {
    const root = sets.find(unit);
    if (!complete[root]) continue;
    if (number[root] < 0) number[root] = nGroups++;
    unitGroup[unit] = number[root];
  }
  return { nGroups, unitGroup };
}

/** The pairs (block, convolution group) and the distinct groups of their columns. */
function pairsOf(problem: Problem, unitGroup: Int32Array): Pick<CoarseSpace, 'groupBase' | 'partStart' | 'partGroup'> {
  const { blocks } = problem;
  const groupBase = new Int32Array(blocks.length + 1);
  blocks.forEach((b, k) => {
    groupBase[k + 1] = groupBase[k] + b.groups;
  });
  const partStart = new Int32Array(groupBase[blocks.length] + 1);
  const parts: number[] = [];
  blocks.forEach((b, k) => {
    for (let g = 0; g < b.groups; g++) {
      const [start, end] = groupUnits(b, g, 'cols');
      const distinct: number[] = [];
      for (let unit = start; unit < end; unit++) if (!distinct.includes(unitGroup[unit])) distinct.push(unitGroup[unit]);
      parts.push(...distinct);
      partStart[groupBase[k] + g + 1] = parts.length;
    }
  });
  return { groupBase, partStart, partGroup: Int32Array.from(parts) };
}

/** Whether the model is exact (see {@link CoarseSpace.exact}). */
function isExact(problem: Problem, space: Omit<CoarseSpace, 'exact'>): boolean {
  const { blocks, unitVar, r, includeBiases } = problem;
  const { unitGroup, groupBase, partStart, partGroup } = space;
  // The group each row's incoming mass is read from (-2: none yet, -3: several or a bias).
  const reads = new Int32Array(problem.nUnits).fill(-2);
  for (const [k, b] of blocks.entries()) {
    const hasBias = includeBiases && (b.bias?.some((x) => x !== 0) ?? false);
    for (let g = 0; g < b.groups; g++) {
      const pair = groupBase[k] + g;
      if (partStart[pair + 1] - partStart[pair] > 1) return false;
      const [start, end] = groupUnits(b, g, 'rows');
      const [c0, c1] = groupUnits(b, g, 'cols');
      let readsVariable = false;
      for (let unit = c0; unit < c1 && !readsVariable; unit++) readsVariable = unitVar[unit] >= 0;
      for (let unit = start; unit < end; unit++) {
        if (readsVariable && unitGroup[unit] !== unitGroup[start]) return false;
        const read = hasBias ? -3 : partGroup[partStart[pair]];
        reads[unit] = reads[unit] === -2 || reads[unit] === read ? read : -3;
      }
    }
  }
  return r === 1 || !reads.includes(-3);
}

/** The coarse space of a problem (see {@link CoarseSpace}): every convolution group of every layer on its own. */
export function coarseSpace(problem: Problem): CoarseSpace {
  const groups = groupsOf(problem, partition(problem));
  const space = { ...groups, ...pairsOf(problem, groups.unitGroup) };
  return { ...space, exact: isExact(problem, space) };
}
