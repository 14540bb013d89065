/**
 * The gathers a GPU solve by conjugate gradients would read in place of scatters
 * (`coarseGather.ts`), without a GPU, on every net of the pass-count figures including the
 * depthwise nets past `MAX_COARSE_GROUPS` groups: a sum over each group's parts equals the
 * scatter of the same values from the parts, each part's pair holds it, every run with a row
 * group is listed once under it, and every slot of every run once under the pair it reads.
 */
import { describe, expect, it } from 'vitest';
import { coarseRunWords } from '../shaders/coarseSolve.wgsl.js';
import { acceleratedTables } from '../src/engines/webgpu/acceleratedTables.js';
import { coarseGather } from '../src/engines/webgpu/coarseGather.js';
import { segmentBlocks } from '../src/engines/webgpu/layout.js';
import { compileProblem } from '../src/problem/compile.js';
import { MAX_COARSE_GROUPS } from '../src/schedule/coarseSpace.js';
import { CONV_NETS, NETS } from './support/fixNets.js';

/** The entries of list `k` of a CSR array. */
function entries(csr: Uint32Array, n: number, k: number): number[] {
  return Array.from(csr.subarray(n + 1 + csr[k], n + 1 + csr[k + 1]));
}

describe('the gathers of a coarse solve by conjugate gradients on the GPU', () => {
  const nets = { ...NETS, ...CONV_NETS };
  delete (nets as Record<string, unknown>)['depthwise-1024'];
  for (const [name, build] of Object.entries(nets)) {
    it(`${name}: parts, runs and slots, each once, under the group or pair they add to`, () => {
      const problem = compileProblem(build(1), { p: 2, q: 2 });
      const tables = acceleratedTables(problem, segmentBlocks(problem, 4096), 1 << 30, Number.POSITIVE_INFINITY);
      const { space, solveTable, nRuns, slots, nPairs } = tables;
      if (name.startsWith('depthwise-')) expect(space.nGroups).toBeGreaterThan(MAX_COARSE_GROUPS);
      const { groupParts, partPair, groupRuns, pairReaders } = coarseGather(tables);
      const G = space.nGroups;

      // A scatter from the parts and the gather over each group's parts agree.
      const values = Float64Array.from(space.partGroup, (_, t) => Math.sin(t + 1));
      const scattered = new Float64Array(G);
      space.partGroup.forEach((g, t) => {
        if (g >= 0) scattered[g] += values[t];
      });
      const gathered = Float64Array.from({ length: G }, (_, g) => entries(groupParts, G, g).reduce((s, t) => s + values[t], 0));
      expect(Array.from(gathered)).toEqual(Array.from(scattered));
      expect(groupParts[G]).toBe(space.partGroup.filter((g) => g >= 0).length);
      for (let g = 0; g < G; g++) for (const t of entries(groupParts, G, g)) expect(space.partGroup[t]).toBe(g);
      partPair.forEach((pair, t) => {
        expect(t).toBeGreaterThanOrEqual(space.partStart[pair]);
        expect(t).toBeLessThan(space.partStart[pair + 1]);
      });

      const words = coarseRunWords(slots);
      const runs = Array.from({ length: nRuns }, (_, run) => solveTable.subarray(run * words, (run + 1) * words));
      const listed = new Array(nRuns).fill(0);
      for (let g = 0; g < G; g++)
        for (const run of entries(groupRuns, G, g)) {
          expect(runs[run][2]).toBe(g + 1);
          listed[run]++;
        }
      expect(listed).toEqual(runs.map((run) => (run[2] > 0 ? 1 : 0)));

      const slotSeen = new Set<number>();
      for (let pair = 0; pair < nPairs; pair++)
        for (const code of entries(pairReaders, nPairs, pair)) {
          const [run, slot] = [Math.floor(code / slots), code % slots];
          expect(slot).toBeLessThan(runs[run][3]);
          expect(runs[run][4 + slot]).toBe(pair);
          slotSeen.add(code);
        }
      expect(slotSeen.size).toBe(runs.reduce((n, run) => n + run[3], 0));
      expect(pairReaders[nPairs]).toBe(slotSeen.size);
    });
  }
});
