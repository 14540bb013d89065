import type { ProblemBlock } from './problem.js';
import { BlockIndex } from './problem.js';

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
 * Two breadth-first searches over groups, each visiting every group's members once and every
 * weight entry at most once: time O(weights + units log layers), memory O(units + blocks).
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
  const nUnits = root.length;
  const members = groupMembers(root);
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
  const fromSources = search(members, root, sources, (u, visit) => {
    for (const b of index.readersOf(u)) forEachSuccessor(b, u, (row) => visit(root[row]));
  });
  const toSinks = search(members, root, sinks, (u, visit) => {
    for (const b of index.writersOf(u)) forEachPredecessor(b, u, (col) => visit(root[col]));
  });
  const dead = new Uint8Array(nUnits);
  for (let u = 0; u < nUnits; u++) {
    if (root[u] === u && !fixedRoot[u] && (!fromSources[u] || !toSinks[u])) dead[u] = 1;
  }
  return dead;
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

/** Breadth-first search over groups from `seeds`; `expand(u, visit)` visits the neighbours of unit `u`. */
function search(
  members: { start: Int32Array; units: Int32Array },
  root: Int32Array,
  seeds: readonly number[],
  expand: (unit: number, visit: (group: number) => void) => void,
): Uint8Array {
  const seen = new Uint8Array(root.length);
  const queue = new Int32Array(root.length);
  let tail = 0;
  const visit = (group: number): void => {
    if (seen[group]) return;
    seen[group] = 1;
    queue[tail++] = group;
  };
  for (const g of seeds) visit(g);
  for (let head = 0; head < tail; head++) {
    const g = queue[head];
    for (let m = members.start[g]; m < members.start[g + 1]; m++) expand(members.units[m], visit);
  }
  return seen;
}

/** Whether any tap of the edge from column `j` to row `i` of a block is non-zero. */
function nonZero(b: ProblemBlock, i: number, j: number): boolean {
  const start = (i * b.cols + j) * b.taps;
  for (let t = 0; t < b.taps; t++) if (b.weight[start + t] !== 0) return true;
  return false;
}

/** The row units that column unit `unit` of block `b` feeds through a non-zero weight. */
function forEachSuccessor(b: ProblemBlock, unit: number, f: (row: number) => void): void {
  const c = unit - b.colUnit0;
  if (c < 0 || c >= b.cols * b.groups) return;
  const rowsPerGroup = b.rows / b.groups;
  const g = Math.floor(c / b.cols);
  const j = c - g * b.cols;
  for (let i = g * rowsPerGroup; i < (g + 1) * rowsPerGroup; i++) if (nonZero(b, i, j)) f(b.rowUnit0 + i);
}

/** The column units that feed row unit `unit` of block `b` through a non-zero weight. */
function forEachPredecessor(b: ProblemBlock, unit: number, f: (col: number) => void): void {
  const i = unit - b.rowUnit0;
  if (i < 0 || i >= b.rows) return;
  const colBase = b.colUnit0 + Math.floor(i / (b.rows / b.groups)) * b.cols;
  for (let j = 0; j < b.cols; j++) if (nonZero(b, i, j)) f(colBase + j);
}
