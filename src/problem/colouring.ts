import type { Problem } from './problem.js';
import { BlockIndex } from './problem.js';

/**
 * Greedy colouring of the variable graph: two variables are adjacent when a weight block joins
 * a unit of one to a unit of the other. Variables of one colour can be updated together by the
 * alternating schedule (MATH.md §4). Works for any DAG; an MLP gets two colours (odd and even
 * hidden layers). Adjacency is walked through each unit's own blocks, never stored, so memory stays O(units + blocks)
 * and time O(edges + units log layers).
 */
export function colourVariables(problem: Pick<Problem, 'nUnits' | 'nVars' | 'unitVar' | 'blocks' | 'layerUnit0'>): { varClass: Int32Array; nClasses: number } {
  const { nUnits, nVars, unitVar, blocks } = problem;
  const index = new BlockIndex(problem.layerUnit0, blocks);
  // Members of each variable, as CSR.
  const start = new Int32Array(nVars + 1);
  for (let u = 0; u < nUnits; u++) if (unitVar[u] >= 0) start[unitVar[u] + 1]++;
  for (let v = 0; v < nVars; v++) start[v + 1] += start[v];
  const members = new Int32Array(start[nVars]);
  const fill = start.slice(0, nVars);
  for (let u = 0; u < nUnits; u++) if (unitVar[u] >= 0) members[fill[unitVar[u]]++] = u;

  const varClass = new Int32Array(nVars).fill(-1);
  const seen = new Int32Array(64).fill(-1); // seen[c] = v when colour c is taken by a neighbour of v
  let nClasses = 0;
  let taken: Int32Array = seen;
  const mark = (w: number, v: number): void => {
    if (w < 0 || w === v) return;
    const c = varClass[w];
    if (c >= 0) taken[c] = v;
  };
  for (let v = 0; v < nVars; v++) {
    if (nClasses + 1 > taken.length) {
      const grown = new Int32Array(taken.length * 2).fill(-1);
      grown.set(taken);
      taken = grown;
    }
    for (let m = start[v]; m < start[v + 1]; m++) {
      const u = members[m];
      for (const b of index.writersOf(u)) {
        if (u < b.rowUnit0 || u >= b.rowUnit0 + b.rows) continue;
        const g = Math.floor((u - b.rowUnit0) / (b.rows / b.groups));
        const c0 = b.colUnit0 + g * b.cols;
        for (let j = 0; j < b.cols; j++) mark(unitVar[c0 + j], v);
      }
      for (const b of index.readersOf(u)) {
        if (u < b.colUnit0 || u >= b.colUnit0 + b.cols * b.groups) continue;
        const rowsPerGroup = b.rows / b.groups;
        const r0 = b.rowUnit0 + Math.floor((u - b.colUnit0) / b.cols) * rowsPerGroup;
        for (let i = 0; i < rowsPerGroup; i++) mark(unitVar[r0 + i], v);
      }
    }
    let c = 0;
    while (taken[c] === v) c++;
    varClass[v] = c;
    nClasses = Math.max(nClasses, c + 1);
  }
  return { varClass, nClasses };
}
