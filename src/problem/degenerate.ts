import type { BlockLayers, ProblemBlock } from './problem.js';
import { BlockIndex, layeredBlocks } from './problem.js';

/**
 * The tie groups whose factor has no minimiser (MATH.md §4, "Degenerate units"). A fixed group
 * (factor 1: inputs, outputs, non-homogeneous or explicitly fixed units) is where weight mass
 * comes from and goes to; an included non-zero bias is mass entering its row's group. A free
 * group is *live* when it is reachable from the fixed groups (or a bias) through non-zero
 * weights and reaches the fixed groups through non-zero weights. Every other free group belongs
 * to a set that no non-zero weight enters from outside (or none leaves), so the factor that set
 * shares can move forever without raising the norm: it is *dead*. A single dead unit is the
 * smallest such set; a dead cycle through a tie group (a residual block with a dead chain) is
 * one that each group alone would not reveal.
 *
 * Layered blocks without tie groups (an MLP, a plain CNN) take one sweep over the blocks each
 * way ({@link layeredDeadUnits}); any other problem two searches over groups. Each reads the weights row by row (in memory order): a reached
 * column is handed to its blocks, and a block then tests each row not yet reached against the
 * reached columns it has been handed (forwards), or each row that reaches the sinks against the
 * columns not yet known to (backwards). Each (row, column) edge is tested at most once per
 * search, and a row stops at its first non-zero weight: time O(weights + units log layers) at
 * worst, O(units) on a dense network; memory O(units + blocks x columns).
 *
 * @param layerUnit0 the first global unit of each layer.
 * @param root the root of each global unit's tie group.
 * @param fixedRoot 1 at the root of each fixed group.
 * @returns 1 at the root of each dead free group (0 elsewhere, fixed groups included).
 */
export function deadGroups(
  blocks: readonly ProblemBlock[],
  layerUnit0: Int32Array,
  root: Int32Array,
  fixedRoot: Uint8Array,
  includeBiases: boolean,
): Uint8Array {
  const layers = layeredBlocks(blocks, layerUnit0, root.length);
  if (layers && root.every((g, u) => g === u)) return layeredDeadUnits(blocks, layers, fixedRoot, includeBiases);
  return searchDeadGroups(blocks, layerUnit0, root, fixedRoot, includeBiases);
}

/** {@link deadGroups} on any problem: the two searches over groups. */
export function searchDeadGroups(
  blocks: readonly ProblemBlock[],
  layerUnit0: Int32Array,
  root: Int32Array,
  fixedRoot: Uint8Array,
  includeBiases: boolean,
): Uint8Array {
  const nUnits = root.length;
  const sources: number[] = [];
  const sinks: number[] = [];
  for (let u = 0; u < nUnits; u++) {
    if (root[u] === u && fixedRoot[u]) {
      sources.push(u);
      sinks.push(u);
    }
  }
  if (includeBiases) {
    for (const b of blocks) {
      if (!b.bias) continue;
      for (let i = 0; i < b.rows; i++) if (b.bias[i] !== 0) sources.push(root[b.rowUnit0 + i]);
    }
  }
  const index = new BlockIndex(layerUnit0, blocks);
  const members = groupMembers(root);
  const reached = search(
    members,
    root,
    sources,
    blocks.length,
    (u, hand) => {
      for (const b of index.readersOf(u)) hand(b, u - b.colUnit0);
    },
    (b, columns, seen, visit) => reachRows(b, columns, seen, visit, root),
  );
  const open = new OpenColumns(blocks);
  const reaching = search(
    members,
    root,
    sinks,
    blocks.length,
    (u, hand) => {
      for (const b of index.writersOf(u)) hand(b, u - b.rowUnit0);
    },
    (b, rows, seen, visit) => reachColumns(b, rows, seen, visit, root, open),
  );
  const dead = new Uint8Array(nUnits);
  for (let u = 0; u < nUnits; u++) {
    if (root[u] === u && !fixedRoot[u] && (!reached[u] || !reaching[u])) dead[u] = 1;
  }
  return dead;
}

/**
 * {@link deadGroups} where the structure allows it: layered blocks ({@link layeredBlocks}) and no
 * tie groups (each unit its own group). The blocks taken by their row layer, ascending, are in
 * topological order, so one forward sweep over them finds the units reached from the sources
 * (a free row is reached when a non-zero weight joins it to a reached column of its block), and
 * one backward sweep, by column layer descending, those reaching the sinks (a free column reaches
 * them when a non-zero weight joins it to a reaching row). Each row (column) stops at its first
 * such weight, and each edge is tested at most once per sweep: the same sets as the searches,
 * without their per-unit queues, block look-ups and batches.
 */
function layeredDeadUnits(blocks: readonly ProblemBlock[], layers: BlockLayers, fixedRoot: Uint8Array, includeBiases: boolean): Uint8Array {
  const nUnits = fixedRoot.length;
  const reached = fixedRoot.slice();
  if (includeBiases) {
    for (const b of blocks) {
      if (!b.bias) continue;
      for (let i = 0; i < b.rows; i++) if (b.bias[i] !== 0) reached[b.rowUnit0 + i] = 1;
    }
  }
  const order = blocks.map((_, k) => k);
  order.sort((a, c) => layers.rowLayer[a] - layers.rowLayer[c] || a - c);
  for (const k of order) {
    const b = blocks[k];
    spread(reached, b.colUnit0, b.cols, b.rowUnit0, b.rows, (i, j) => nonZero(b, i, j));
  }
  const reaching = fixedRoot.slice();
  order.sort((a, c) => layers.colLayer[c] - layers.colLayer[a] || a - c);
  for (const k of order) {
    const b = blocks[k];
    spread(reaching, b.rowUnit0, b.rows, b.colUnit0, b.cols, (j, i) => nonZero(b, i, j));
  }
  const dead = new Uint8Array(nUnits);
  for (let u = 0; u < nUnits; u++) if (!fixedRoot[u] && (!reached[u] || !reaching[u])) dead[u] = 1;
  return dead;
}

/**
 * Set the flag of each unit `to0 + t` (`t < toCount`) not yet set that an edge joins to a unit
 * `from0 + f` (`f < fromCount`) whose flag is set (`edge(t, f)`: whether a non-zero weight does),
 * stopping at the first such edge. The two ranges are disjoint (two layers).
 */
function spread(flags: Uint8Array, from0: number, fromCount: number, to0: number, toCount: number, edge: (t: number, f: number) => boolean): void {
  const from = marked(flags, from0, fromCount);
  if (from.length === 0) return;
  for (let t = 0; t < toCount; t++) {
    if (flags[to0 + t]) continue;
    for (const f of from) {
      if (edge(t, f)) {
        flags[to0 + t] = 1;
        break;
      }
    }
  }
}

/** The local indices `0 <= m < count` with `flags[unit0 + m]` set, ascending. */
function marked(flags: Uint8Array, unit0: number, count: number): Int32Array {
  let n = 0;
  for (let m = 0; m < count; m++) n += flags[unit0 + m];
  const list = new Int32Array(n);
  n = 0;
  for (let m = 0; m < count; m++) if (flags[unit0 + m]) list[n++] = m;
  return list;
}

/** The members of each group, as CSR over the roots: `units[start[g] .. start[g + 1])`. */
function groupMembers(root: Int32Array): { start: Int32Array; units: Int32Array } {
  const n = root.length;
  const start = new Int32Array(n + 1);
  for (let u = 0; u < n; u++) start[root[u] + 1]++;
  for (let g = 0; g < n; g++) start[g + 1] += start[g];
  const units = new Int32Array(n);
  const fill = start.slice(0, n);
  for (let u = 0; u < n; u++) units[fill[root[u]]++] = u;
  return { start, units };
}

/** Visit a group (by its root): a no-op when it was seen. */
type Visit = (group: number) => void;

/**
 * Expand a block from the units handed to it since its last expansion (local indices, sorted
 * ascending: columns forwards, rows backwards), visiting the groups they reach through it.
 */
type ExpandBlock = (b: ProblemBlock, handed: Int32Array, seen: Uint8Array, visit: Visit) => void;

/**
 * A search over groups from `seeds`. A visited group hands each member to the blocks that
 * `handTo` names (with the member's local index there); a block with handed units is expanded
 * in one batch, row by row, by `expand`. Returns 1 at each group reached.
 */
function search(
  members: { start: Int32Array; units: Int32Array },
  root: Int32Array,
  seeds: readonly number[],
  nBlocks: number,
  handTo: (unit: number, hand: (b: ProblemBlock, local: number) => void) => void,
  expand: ExpandBlock,
): Uint8Array {
  const seen = new Uint8Array(root.length);
  const queue = new Int32Array(root.length);
  let head = 0;
  let tail = 0;
  const visit: Visit = (group) => {
    if (seen[group]) return;
    seen[group] = 1;
    queue[tail++] = group;
  };
  const handed: number[][] = Array.from({ length: nBlocks }, () => []);
  const ready: ProblemBlock[] = [];
  const hand = (b: ProblemBlock, local: number): void => {
    const list = handed[b.index];
    if (list.length === 0) ready.push(b);
    list.push(local);
  };
  for (const g of seeds) visit(g);
  while (head < tail || ready.length > 0) {
    for (; head < tail; head++) {
      const g = queue[head];
      for (let m = members.start[g]; m < members.start[g + 1]; m++) handTo(members.units[m], hand);
    }
    const b = ready.pop();
    if (!b) continue;
    const units = Int32Array.from(handed[b.index]).sort();
    handed[b.index] = [];
    expand(b, units, seen, visit);
  }
  return seen;
}

/** Whether any tap of the edge from column `j` (within its conv group) to row `i` of a block is non-zero. */
function nonZero(b: ProblemBlock, i: number, j: number): boolean {
  const start = (i * b.cols + j) * b.taps;
  for (let t = 0; t < b.taps; t++) if (b.weight[start + t] !== 0) return true;
  return false;
}

/** Forwards: each row not yet reached is reached if a non-zero weight joins it to a handed column (`c = g * cols + j`). */
function reachRows(b: ProblemBlock, columns: Int32Array, seen: Uint8Array, visit: Visit, root: Int32Array): void {
  const rowsPerGroup = b.rows / b.groups;
  for (let k = 0; k < columns.length; ) {
    const g = Math.floor(columns[k] / b.cols);
    let end = k;
    while (end < columns.length && Math.floor(columns[end] / b.cols) === g) end++;
    const c0 = g * b.cols;
    for (let i = g * rowsPerGroup; i < (g + 1) * rowsPerGroup; i++) {
      const row = root[b.rowUnit0 + i];
      if (seen[row]) continue;
      for (let m = k; m < end; m++) {
        if (nonZero(b, i, columns[m] - c0)) {
          visit(row);
          break;
        }
      }
    }
    k = end;
  }
}

/**
 * Per block and conv group, the columns (`j` within the group) not yet known to reach the sinks,
 * in ascending order: a column leaves its list once it is seen, so that no (row, column) edge is
 * tested twice by the backward search.
 */
class OpenColumns {
  private readonly lists: (Int32Array | null)[];
  private readonly counts: (Int32Array | null)[];

  constructor(blocks: readonly ProblemBlock[]) {
    this.lists = blocks.map(() => null);
    this.counts = blocks.map(() => null);
  }

  /** The block's lists (`list[g * cols + m]`, `m < count[g]`), made on first use. */
  of(b: ProblemBlock): { list: Int32Array; count: Int32Array } {
    let list = this.lists[b.index];
    let count = this.counts[b.index];
    if (!list || !count) {
      list = new Int32Array(b.cols * b.groups).map((_, c) => c % b.cols);
      count = new Int32Array(b.groups).fill(b.cols);
      this.lists[b.index] = list;
      this.counts[b.index] = count;
    }
    return { list, count };
  }
}

/** Backwards: each open column of a handed row's conv group reaches the sinks if a non-zero weight joins it to that row. */
function reachColumns(b: ProblemBlock, rows: Int32Array, seen: Uint8Array, visit: Visit, root: Int32Array, open: OpenColumns): void {
  const { list, count } = open.of(b);
  const rowsPerGroup = b.rows / b.groups;
  for (const i of rows) {
    const g = Math.floor(i / rowsPerGroup);
    const base = g * b.cols;
    let kept = 0;
    for (let m = 0; m < count[g]; m++) {
      const j = list[base + m];
      const col = root[b.colUnit0 + base + j];
      if (seen[col]) continue;
      if (nonZero(b, i, j)) {
        visit(col);
        continue;
      }
      list[base + kept++] = j;
    }
    count[g] = kept;
  }
}
