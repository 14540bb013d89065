/**
 * The gather the GPU's solve by conjugate gradients reads in place of a scatter
 * (`coarseGather.ts`), on every net of the pass-count figures including the depthwise nets past
 * `MAX_COARSE_GROUPS` groups: a sum over each group's parts equals the scatter of the same values
 * from the parts, every part of a shifted group is listed once under its own group, and each
 * part's pair holds it.
 */
import { describe, expect, it } from 'vitest';
import { coarseGather } from '../src/engines/webgpu/coarseGather.js';
import { compileProblem } from '../src/problem/compile.js';
import { coarseSpace, MAX_COARSE_GROUPS } from '../src/schedule/coarseSpace.js';
import { CONV_NETS, NETS } from './support/fixNets.js';

describe('the group -> parts gather of the GPU coarse solve by conjugate gradients', () => {
  for (const [name, build] of Object.entries({ ...NETS, ...CONV_NETS })) {
    it(`${name}: each shifted part once, under its group, with its pair`, () => {
      const space = coarseSpace(compileProblem(build(1), { p: 2, q: 2 }));
      if (name.startsWith('depthwise-')) expect(space.nGroups).toBeGreaterThan(MAX_COARSE_GROUPS);
      const { groupParts, partPair } = coarseGather(space);
      const G = space.nGroups;
      const parts = (g: number) => Array.from(groupParts.subarray(G + 1 + groupParts[g], G + 1 + groupParts[g + 1]));
      const values = Float64Array.from(space.partGroup, (_, t) => Math.sin(t + 1));
      const scattered = new Float64Array(G);
      space.partGroup.forEach((g, t) => {
        if (g >= 0) scattered[g] += values[t];
      });
      const gathered = Float64Array.from({ length: G }, (_, g) => parts(g).reduce((s, t) => s + values[t], 0));
      expect(Array.from(gathered)).toEqual(Array.from(scattered));
      expect(groupParts[G]).toBe(space.partGroup.filter((g) => g >= 0).length);
      expect(groupParts).toHaveLength(G + 1 + groupParts[G]);
      for (let g = 0; g < G; g++) for (const t of parts(g)) expect(space.partGroup[t]).toBe(g);
      partPair.forEach((pair, t) => {
        expect(t).toBeGreaterThanOrEqual(space.partStart[pair]);
        expect(t).toBeLessThan(space.partStart[pair + 1]);
      });
    });
  }
});
