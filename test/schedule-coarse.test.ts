/**
 * The coarse space of the accelerated schedule (src/schedule/coarseSpace.ts): layers split along
 * the convolution groups of grouped and depthwise convolutions, merged in runs beyond the solve's
 * size; a coarse model whose gradient is exact where it estimates a row's split; and the pass
 * count it buys on CNNs and residual nets with ties (issue 10: at most 1/3 of the paper's update).
 */
import { describe, expect, it } from 'vitest';
import { balance } from '../src/balance.js';
import { LogBlockSums } from '../src/engines/cpu/blockSums.js';
import { largestWeight, powerOfTwoScale } from '../src/math/powers.js';
import { logBiasMass } from '../src/math/statistics.js';
import { mlp } from '../src/network/builders.js';
import type { Network } from '../src/network/types.js';
import { compileProblem } from '../src/problem/compile.js';
import type { Problem } from '../src/problem/problem.js';
import { BlockStatistics, coarseLayout } from '../src/schedule/blockStatistics.js';
import { rowLogShifts } from '../src/schedule/coarse.js';
import { coarseSpace, MAX_COARSE_GROUPS } from '../src/schedule/coarseSpace.js';
import { CONV_NETS, NETS, wideDepthwiseNet } from './support/fixNets.js';
import { uniformStream } from './support/fixReference.js';

/** The groups of the units of layer `k`, in unit order. */
function layerGroups(problem: Problem, unitGroup: Int32Array, k: number): number[] {
  const end = k + 1 < problem.layerUnit0.length ? problem.layerUnit0[k + 1] : problem.nUnits;
  return Array.from(unitGroup.subarray(problem.layerUnit0[k], end));
}

describe('the coarse space', () => {
  it("splits cnn()'s layers along its grouped (2 groups) and depthwise (16) convolutions; a dense layer stays whole", () => {
    const problem = compileProblem(NETS.cnn(1), { p: 2, q: 2 });
    const space = coarseSpace(problem);
    const distinct = (k: number): number => new Set(layerGroups(problem, space.unitGroup, k)).size;
    // Layer 1 (8 channels) is read by the grouped conv: two branches of 4 channels.
    const first = layerGroups(problem, space.unitGroup, 1);
    expect(first.slice(0, 4).every((g) => g === first[0])).toBe(true);
    expect(first.slice(4).every((g) => g === first[4])).toBe(true);
    expect(first[0]).not.toBe(first[4]);
    // Layers 2 and 3 (16 channels) are read and written by the depthwise conv: a group per channel.
    expect([distinct(2), distinct(3)]).toEqual([16, 16]);
    expect(distinct(4)).toBe(1);
    expect(layerGroups(problem, space.unitGroup, 0).every((g) => g === -1)).toBe(true);
    expect(space.nGroups).toBe(2 + 16 + 16 + 1);
    expect(space.merged).toBe(false);
    // The dense block reading layer 3 reads 16 groups in its one convolution group.
    const dense = problem.blocks.findIndex((b) => b.colUnit0 === problem.layerUnit0[3]);
    const pair = space.groupBase[dense];
    expect(space.partStart[pair + 1] - space.partStart[pair]).toBe(16);
    expect(space.exact).toBe(false);
  });

  it('keeps one group per hidden layer on an MLP, exact for p = q', () => {
    const problem = compileProblem(mlp([5, 6, 7, 8, 3], { seed: 1, dtype: 'float64' }), { p: 2, q: 2 });
    const space = coarseSpace(problem);
    expect(space.nGroups).toBe(3);
    for (const k of [1, 2, 3]) expect(new Set(layerGroups(problem, space.unitGroup, k))).toEqual(new Set([k - 1]));
    expect(space.exact).toBe(true);
  });

  it(`merges neighbouring depthwise channels in runs when a group per channel would exceed ${MAX_COARSE_GROUPS} groups`, () => {
    const problem = compileProblem(wideDepthwiseNet(1, 96), { p: 2, q: 2 });
    const space = coarseSpace(problem);
    expect(space.merged).toBe(true);
    expect(space.nGroups).toBeLessThanOrEqual(MAX_COARSE_GROUPS);
    for (const k of [1, 2]) {
      const groups = layerGroups(problem, space.unitGroup, k);
      const runs = new Set(groups).size;
      expect(runs).toBeGreaterThan(1);
      expect(runs).toBeLessThan(96);
      // Runs of neighbours: the group changes only where a new run starts.
      let changes = 0;
      for (let c = 1; c < groups.length; c++) if (groups[c] !== groups[c - 1]) changes++;
      expect(changes).toBe(runs - 1);
    }
    // With 48 channels every channel has its own group.
    expect(coarseSpace(compileProblem(wideDepthwiseNet(1, 48), { p: 2, q: 2 })).merged).toBe(false);
  });
});

/** `F` of the coarse model at shift `c`, and the true `F` evaluated (one pass) at the shifted factors. */
function modelAndTrue(net: Network, p: number, q: number, seed: number) {
  const problem = compileProblem(net, { p, q });
  const scale = powerOfTwoScale(largestWeight(problem.blocks, false));
  const statistics = (): BlockStatistics => new BlockStatistics(problem, new LogBlockSums(problem, scale), logBiasMass(problem, scale));
  const space = coarseSpace(problem);
  const next = uniformStream(seed);
  const u = Float64Array.from({ length: problem.nVars }, () => next() - 0.5);
  const base = statistics();
  base.evaluate(u);
  const rows = base.coarseRows(space, coarseLayout(problem, space));
  const groupOfVar = new Int32Array(problem.nVars).fill(-1);
  for (let unit = 0; unit < problem.nUnits; unit++) if (problem.unitVar[unit] >= 0) groupOfVar[problem.unitVar[unit]] = space.unitGroup[unit];
  const shifted = statistics();
  return {
    space,
    model: (c: Float64Array): number => rowLogShifts(rows, c, p).reduce((F, l, i) => F + rows.term[i] * Math.exp(problem.r * l), 0),
    actual: (c: Float64Array): number => {
      shifted.evaluate(u.map((x, v) => x + (groupOfVar[v] >= 0 ? c[groupOfVar[v]] : 0)));
      return shifted.F;
    },
  };
}

describe('the coarse model', () => {
  it("has the true gradient of F where it estimates a row's split over several groups (cnn, depthwise, q != p, biases)", () => {
    for (const [net, p, q] of [
      [NETS.cnn(3), 2, 2],
      [NETS.cnn(3), 1, 2],
      [CONV_NETS.depthwise(2), 3, 1.5],
    ] as const) {
      const { space, model, actual } = modelAndTrue(net, p, q, 5);
      expect(space.exact).toBe(false);
      const h = 1e-5;
      const F = actual(new Float64Array(space.nGroups));
      expect(Math.abs(model(new Float64Array(space.nGroups)) / F - 1)).toBeLessThan(1e-12);
      let largest = 0;
      for (let g = 0; g < space.nGroups; g++) {
        const plus = new Float64Array(space.nGroups);
        plus[g] = h;
        const minus = new Float64Array(space.nGroups);
        minus[g] = -h;
        const modelSlope = (model(plus) - model(minus)) / (2 * h);
        const trueSlope = (actual(plus) - actual(minus)) / (2 * h);
        largest = Math.max(largest, Math.abs(trueSlope));
        expect(Math.abs(modelSlope - trueSlope), `p=${p} q=${q} group ${g}`).toBeLessThan(1e-7 * F);
      }
      expect(largest).toBeGreaterThan(1e-3 * F); // the slopes are not all zero
    }
  });

  it('is F itself, at any shift, where the space is exact (an MLP, p = q)', () => {
    const { space, model, actual } = modelAndTrue(mlp([6, 9, 8, 7, 3], { seed: 4, dtype: 'float64' }), 2, 2, 9);
    expect(space.exact).toBe(true);
    const next = uniformStream(11);
    const c = Float64Array.from({ length: space.nGroups }, () => 2 * next() - 1);
    expect(Math.abs(model(c) / actual(c) - 1)).toBeLessThan(1e-12);
  });
});

describe('passes over P on CNNs and residual nets with ties (issue 10: at most 1/3 of the paper)', () => {
  const nets: Record<string, (seed: number) => Network> = {
    cnn: CONV_NETS.cnn,
    'conv-residual': CONV_NETS['conv-residual'],
    residual: (seed) => NETS.residual(seed),
    depthwise: CONV_NETS.depthwise,
    'inverted-residual': CONV_NETS['inverted-residual'],
  };
  for (const [name, build] of Object.entries(nets))
    it(`${name}: seeds 1-5, (2, 2), (1, 2), (3, 1.5), tol 1e-6: accelerated passes <= 1/3 of the paper's parallel update's`, async () => {
      for (let seed = 1; seed <= 5; seed++)
        for (const [p, q] of [
          [2, 2],
          [1, 2],
          [3, 1.5],
        ]) {
          const common = { p, q, backend: 'cpu', tol: 1e-6, maxSweeps: 100000 } as const;
          const fast = await balance(build(seed), { ...common, schedule: 'accelerated' });
          const paper = await balance(build(seed), { ...common, schedule: 'parallel' });
          expect(fast.converged && paper.converged).toBe(true);
          expect(fast.passes / paper.passes, `${name} seed ${seed} p=${p} q=${q}`).toBeLessThanOrEqual(1 / 3);
        }
    });
});
