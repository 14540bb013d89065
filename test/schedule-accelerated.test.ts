/**
 * The accelerated schedule (src/schedule/): safe (the history never rises, on random nets,
 * random exponents and badly scaled weights), right (the paper's minimum), and fast (a pass
 * count on a deep net that the paper's update cannot meet). Issue 10.
 */
import { describe, expect, it, vi } from 'vitest';
import { balance } from '../src/balance.js';
import { LogBlockSums } from '../src/engines/cpu/blockSums.js';
import { CpuEngine } from '../src/engines/cpu/cpuEngine.js';
import { largestWeight, powerOfTwoScale } from '../src/math/powers.js';
import { logBiasMass } from '../src/math/statistics.js';
import { mlp, sequential } from '../src/network/builders.js';
import { updateExponent } from '../src/options.js';
import { compileProblem } from '../src/problem/compile.js';
import { AcceleratedSchedule } from '../src/schedule/accelerated.js';
import { StatisticsRangeError } from '../src/schedule/blockStatistics.js';
import { coarseSpace } from '../src/schedule/coarseSpace.js';
import { NETS, scrambled } from './support/fixNets.js';
import { maxLogImbalance, referenceProblem, uniformStream, varFactors, weightDistance } from './support/fixReference.js';

describe('accelerated schedule: the history never rises', () => {
  it('random nets, random (p, q) in [0.5, 32] (q < p included), weights rescaled over 12 decades', async () => {
    const next = uniformStream(2026);
    const names = Object.keys(NETS);
    let qBelowP = 0;
    for (let trial = 0; trial < 12; trial++) {
      const name = names[trial % names.length];
      const p = 0.5 + 31.5 * next() ** 2;
      const q = 0.5 + 31.5 * next() ** 2;
      if (q < p) qBelowP++;
      const base = NETS[name](100 + trial);
      // Factors 10^U(-6, 6): the same function with its weights spread over 12 more decades.
      const { net } = scrambled(base, referenceProblem(base, p, q), 300 + trial, 6);
      const result = await balance(net, { p, q, schedule: 'accelerated', backend: 'cpu', tol: 1e-9, maxSweeps: 400 });
      const label = `${name} p=${p.toFixed(2)} q=${q.toFixed(2)}`;
      for (let s = 1; s < result.history.length; s++) {
        expect(result.history[s], `${label} sweep ${s}`).toBeLessThanOrEqual(result.history[s - 1] * (1 + 1e-12));
      }
      expect(result.finalNorm, label).toBeLessThan(result.initialNorm);
    }
    expect(qBelowP).toBeGreaterThan(0);
    expect(qBelowP).toBeLessThan(12);
  });

  it("a long step far too long is caught: the sweep falls back to the paper's step, F never rises, and the run still converges", () => {
    for (const name of ['mlp', 'residual', 'cnn']) {
      for (const [p, q] of [
        [2, 2],
        [1, 3],
      ]) {
        const problem = compileProblem(NETS[name](7), { p, q });
        const scale = powerOfTwoScale(largestWeight(problem.blocks, false));
        const sums = new LogBlockSums(problem, scale);
        // Ten times the paper's exponent: overshoots from the first sweep.
        const schedule = new AcceleratedSchedule(problem, sums, logBiasMass(problem, scale), undefined, 10 * updateExponent(p, q, 'parallel'));
        const perEvaluation = schedule.passes;
        let F = schedule.current().F;
        let fallbacks = 0;
        let sweeps = 0;
        for (; sweeps < 3000 && schedule.current().maxLogImbalance > 1e-8; sweeps++) {
          const record = schedule.sweep(1e-8);
          expect(record.F, `${name} p=${p} q=${q} sweep ${sweeps + 1}`).toBeLessThanOrEqual(F * (1 + 1e-12));
          if (record.passes > perEvaluation * 1.5) fallbacks++;
          F = record.F;
        }
        expect(schedule.current().maxLogImbalance, `${name} p=${p} q=${q}`).toBeLessThanOrEqual(1e-8);
        expect(fallbacks, `${name} p=${p} q=${q}`).toBeGreaterThan(0);
      }
    }
  });
});

describe('accelerated schedule: the same minimum', () => {
  it("reaches the paper's parallel update's weights from a badly scaled start, and meets tol on the independently computed imbalance", async () => {
    for (const [name, build] of Object.entries(NETS)) {
      const base = build(61);
      for (const [p, q] of [
        [2, 2],
        [1, 2],
        [3, 1.5],
      ]) {
        const { net } = scrambled(base, referenceProblem(base, p, q), 62, 4);
        const common = { p, q, backend: 'cpu', tol: 1e-11, maxSweeps: 200000 } as const;
        const paper = await balance(net, { ...common, schedule: 'parallel' });
        const fast = await balance(net, { ...common, schedule: 'accelerated' });
        const label = `${name} p=${p} q=${q}`;
        expect(paper.converged && fast.converged, label).toBe(true);
        expect(weightDistance(fast.network, paper.network), label).toBeLessThan(1e-8);
        expect(Math.abs(fast.finalNorm / paper.finalNorm - 1), label).toBeLessThan(1e-12);
        const ref = referenceProblem(net, p, q);
        expect(maxLogImbalance(ref, varFactors(ref, fast.logFactors)), label).toBeLessThanOrEqual(1e-11 * (1 + 1e-3));
      }
    }
  });
});

describe('accelerated schedule: passes over P', () => {
  it("a deep MLP (8 hidden layers) reaches tol 1e-6 in at most 30 passes for (2, 2), (1, 2), (3, 1.5); the paper's update needs more than 3x that", async () => {
    const net = mlp([24, 40, 36, 32, 32, 28, 24, 20, 16, 6], { seed: 5, dtype: 'float64' });
    for (const [p, q] of [
      [2, 2],
      [1, 2],
      [3, 1.5],
    ]) {
      const common = { p, q, backend: 'cpu', tol: 1e-6, maxSweeps: 100000 } as const;
      const fast = await balance(net, { ...common, schedule: 'accelerated' });
      const paper = await balance(net, { ...common, schedule: 'parallel' });
      expect(fast.converged && paper.converged).toBe(true);
      expect(fast.passes, `accelerated p=${p} q=${q}`).toBeLessThanOrEqual(30);
      expect(paper.passes, `paper p=${p} q=${q}`).toBeGreaterThan(90);
    }
  });

  it('counts passes: a sweep of the parallel schedule on an MLP reads P once for every (p, q) on the CPU (p != q: the row-then-column passes), twice less the input block without them', async () => {
    const net = mlp([12, 20, 16, 4], { seed: 3, dtype: 'float64' });
    const pEqualQ = await balance(net, { p: 2, q: 2, schedule: 'parallel', backend: 'cpu', tol: 0, maxSweeps: 5 });
    expect(pEqualQ.passes).toBeCloseTo(5, 12);
    const other = await balance(net, { p: 1, q: 2, schedule: 'parallel', backend: 'cpu', tol: 0, maxSweeps: 5 });
    expect(other.passes).toBeCloseTo(5, 12);
    const problem = compileProblem(net, { p: 1, q: 2 });
    const [twice] = await new CpuEngine(problem, { schedule: 'parallel', chainPasses: false }).sweeps(1, 0);
    const entries = [12 * 20, 20 * 16, 16 * 4];
    const total = entries.reduce((a, b) => a + b, 0);
    expect(twice.passes).toBeCloseTo(1 + (total - entries[0]) / total, 12);
  });
});

describe('accelerated schedule on the CPU engine: the range of its linear statistics', () => {
  it("where they would leave float64 (p = q = 32, weights 1e-11 apart), the engine takes the paper's parallel step in its log-safe arithmetic, sweep for sweep", async () => {
    const net = sequential(
      [1],
      [
        { type: 'dense', units: 2 },
        { type: 'dense', units: 1 },
      ],
      { seed: 0, dtype: 'float64' },
    );
    net.blocks[0].weight.set([1, 1]);
    net.blocks[1].weight.set([1, 1e-11]); // |1e-11|^32 = 1e-352: a column sum far below float64's normal range
    const problem = compileProblem(net, { p: 32, q: 32 });
    const accelerated = new CpuEngine(problem, { schedule: 'accelerated' });
    const paper = new CpuEngine(problem, { schedule: 'parallel' });
    const [a, b] = [await accelerated.sweeps(20, -1), await paper.sweeps(20, -1)];
    expect(a.length).toBe(20);
    a.forEach((record, s) => {
      expect(record.F, `sweep ${s}`).toBe(b[s].F);
      expect(record.passes, `sweep ${s}`).toBe(b[s].passes);
      expect(Number.isFinite(record.maxLogImbalance), `sweep ${s}`).toBe(true);
    });
    // And the run through balance(): finite, converged, the 1e-11 path balanced to (1e-11)^(1/2) per weight.
    const result = await balance(net, { p: 32, q: 32, backend: 'cpu', tol: 1e-9 });
    expect(result.schedule).toBe('accelerated');
    expect(result.converged).toBe(true);
    expect(Math.abs(result.finalNorm / Math.pow(2, 1 / 32) - 1)).toBeLessThan(1e-9);
  });

  it("a sweep whose statistics leave the range mid-run: the engine continues with the paper's step from the factors before that sweep", async () => {
    const problem = compileProblem(mlp([8, 12, 10, 3], { seed: 4, dtype: 'float64' }), { p: 2, q: 3 });
    const engine = new CpuEngine(problem, { schedule: 'accelerated' });
    await engine.sweeps(2, -1);
    const before = await engine.logFactors();
    const sweep = vi.spyOn(AcceleratedSchedule.prototype, 'sweep').mockImplementationOnce(() => {
      throw new StatisticsRangeError('forced');
    });
    try {
      const after = await engine.sweeps(5, -1);
      const paper = await new CpuEngine(problem, { schedule: 'parallel', initial: before }).sweeps(5, -1);
      expect(after.length).toBe(5);
      after.forEach((record, s) => {
        expect(record.F, `sweep ${s}`).toBe(paper[s].F);
        expect(record.maxLogImbalance, `sweep ${s}`).toBe(paper[s].maxLogImbalance);
      });
      expect(sweep).toHaveBeenCalledTimes(1); // the accelerated schedule is not asked again
    } finally {
      sweep.mockRestore();
    }
  });

  it("where they fit, it is the accelerated schedule, not the fallback: fewer passes to tol than the paper's step on the same engine", async () => {
    const problem = compileProblem(mlp([16, 24, 20, 16, 4], { seed: 9, dtype: 'float64' }), { p: 2, q: 2 });
    const passesToTol = async (schedule: 'accelerated' | 'parallel'): Promise<number> => {
      const records = await new CpuEngine(problem, { schedule }).sweeps(100000, 1e-8);
      expect(records[records.length - 1].maxLogImbalance).toBeLessThanOrEqual(1e-8);
      return records.reduce((n, r) => n + r.passes, 0);
    };
    expect(await passesToTol('accelerated')).toBeLessThan((await passesToTol('parallel')) / 3);
  });
});

describe('the coarse space', () => {
  it('groups the layers joined by ties, leaves layers with fixed or frozen units out, and is exact for p = q', () => {
    const residual = compileProblem(NETS.residual(1), { p: 2, q: 3 });
    const space = coarseSpace(residual);
    // Layers 1, 2, 3, 4 are joined by skips and explicit ties: one group.
    const groupOf = (layer: number): number => space.unitGroup[residual.layerUnit0[layer]];
    expect(groupOf(0)).toBe(-1);
    expect(groupOf(1)).toBeGreaterThanOrEqual(0);
    expect([groupOf(2), groupOf(3), groupOf(4)]).toEqual([groupOf(1), groupOf(1), groupOf(1)]);
    expect(groupOf(5)).toBe(-1);
    expect(coarseSpace(compileProblem(NETS.residual(1), { p: 2, q: 2 })).exact).toBe(true);
    const net = mlp([5, 6, 7, 3], { seed: 1, dtype: 'float64' });
    net.layers[2] = { ...net.layers[2], fixed: [0] };
    const mixed = coarseSpace(compileProblem(net, { p: 2, q: 2 }));
    expect(mixed.nGroups).toBe(1);
    expect(mixed.unitGroup[compileProblem(net, { p: 2, q: 2 }).layerUnit0[2] + 3]).toBe(-1);
  });
});
