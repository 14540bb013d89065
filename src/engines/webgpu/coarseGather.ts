import type { CoarseSpace } from '../../schedule/coarseSpace.js';

/**
 * The gather that replaces a scatter in the GPU's coarse solve by conjugate gradients
 * (`shaders/coarseNewtonCg.ts`; WGSL has no float atomics): the CPU (`coarseCg.ts`) adds each
 * pair's accumulators to the groups of the pair's parts; on the GPU each group is one invocation
 * that reads its parts through `groupParts`, a CSR array (`nGroups + 1` starts, then the part
 * indices `t` into `space.partGroup`), and finds each part's pair in `partPair[t]`. Every part of
 * a shifted group appears exactly once, under its group.
 */
export interface CoarseGather {
  groupParts: Uint32Array;
  partPair: Uint32Array;
}

/** The gather of {@link CoarseGather} for a coarse space. */
export function coarseGather(space: CoarseSpace): CoarseGather {
  const counts = new Uint32Array(space.nGroups + 1);
  for (const g of space.partGroup) if (g >= 0) counts[g + 1]++;
  for (let g = 0; g < space.nGroups; g++) counts[g + 1] += counts[g];
  const groupParts = new Uint32Array(space.nGroups + 1 + counts[space.nGroups]);
  groupParts.set(counts);
  const next = counts.slice(0, space.nGroups);
  const partPair = new Uint32Array(space.partGroup.length);
  for (let pair = 0; pair + 1 < space.partStart.length; pair++)
    for (let t = space.partStart[pair]; t < space.partStart[pair + 1]; t++) {
      partPair[t] = pair;
      const g = space.partGroup[t];
      if (g >= 0) groupParts[space.nGroups + 1 + next[g]++] = t;
    }
  return { groupParts, partPair };
}
