import { coarseRunWords } from '../../../shaders/coarseSolve.wgsl.js';
import type { AcceleratedTables } from './acceleratedTables.js';

/**
 * The gathers that replace scatters in a coarse solve by conjugate gradients on the GPU (past
 * `MAX_COARSE_GROUPS` groups; WGSL has no float atomics). The CPU's solve (`coarseCg.ts`) adds
 * per-list accumulators to the groups of the list's parts, each row's own term to its group, and
 * each row's entries to per-list accumulators; on the GPU each target is one invocation that
 * reads its sources through one of these CSR arrays (`n + 1` starts, then the entries):
 *
 * - `groupParts`: per group, the parts `t` (indices into `space.partGroup`) of that group; `partPair[t]` is the pair (list) of part `t`;
 * - `groupRuns`: per group, the runs of rows whose row group it is;
 * - `pairReaders`: per pair, the `(run, slot)` of every run reading it in a slot, as `run * slots + slot`.
 *
 * Every part of a shifted group, every run with a row group and every slot of every run appears
 * exactly once. Not yet read by a kernel: the GPU's accelerated schedule still stops at
 * `MAX_COARSE_GROUPS` groups (bench/README.md, "The accelerated schedule on WebGPU").
 */
export interface CoarseGather {
  groupParts: Uint32Array;
  partPair: Uint32Array;
  groupRuns: Uint32Array;
  pairReaders: Uint32Array;
}

/** Lists as one CSR array: `lists.length + 1` starts, then the entries. */
function csr(lists: number[][]): Uint32Array {
  const out = new Uint32Array(lists.length + 1 + lists.reduce((n, l) => n + l.length, 0));
  let at = lists.length + 1;
  lists.forEach((list, k) => {
    out[k + 1] = out[k] + list.length;
    out.set(list, at);
    at += list.length;
  });
  return out;
}

/** The gathers of {@link CoarseGather} for the tables' coarse space and runs. */
export function coarseGather(tables: AcceleratedTables): CoarseGather {
  const { space, solveTable, nRuns, slots, nPairs } = tables;
  const groupParts: number[][] = Array.from({ length: space.nGroups }, () => []);
  const partPair = new Uint32Array(space.partGroup.length);
  for (let pair = 0; pair < nPairs; pair++)
    for (let t = space.partStart[pair]; t < space.partStart[pair + 1]; t++) {
      partPair[t] = pair;
      if (space.partGroup[t] >= 0) groupParts[space.partGroup[t]].push(t);
    }
  const groupRuns: number[][] = Array.from({ length: space.nGroups }, () => []);
  const pairReaders: number[][] = Array.from({ length: nPairs }, () => []);
  const words = coarseRunWords(slots);
  for (let run = 0; run < nRuns; run++) {
    const group = solveTable[run * words + 2];
    if (group > 0) groupRuns[group - 1].push(run);
    for (let s = 0; s < solveTable[run * words + 3]; s++) pairReaders[solveTable[run * words + 4 + s]].push(run * slots + s);
  }
  return { groupParts: csr(groupParts), partPair, groupRuns: csr(groupRuns), pairReaders: csr(pairReaders) };
}
