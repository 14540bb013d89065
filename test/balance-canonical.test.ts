/**
 * MATH.md §7 items 5 and 6: the balanced network is canonical (a network rescaled by random
 * factors over several orders of magnitude balances to the same weights, because the minimiser
 * is unique), and the parallel and alternating schedules reach the same weights, the
 * alternating one in fewer sweeps.
 */
import { describe, expect, it } from 'vitest';
import { balance } from '../src/balance.js';
import { mlp } from '../src/network/builders.js';
import { compileProblem } from '../src/problem/compile.js';
import { NETS, scrambled } from './support/fixNets.js';
import { inOut, randomExponents, referenceProblem, varFactors, weightDistance } from './support/fixReference.js';

const TOL = 1e-11;

describe('canonical (MATH.md §7.5)', () => {
  for (const [name, build] of Object.entries(NETS)) {
    it(`${name}: pre-rescaled by factors over 8 decades, it balances to the same weights`, async () => {
      const net = build(41);
      for (const [k, [p, q]] of [[2, 2], ...randomExponents(41, 3)].entries()) {
        const includeBiases = k === 1;
        const ref = referenceProblem(net, p, q, includeBiases);
        const { net: moved } = scrambled(net, ref, 100 + k, 4);
        // The rescaled network really is different.
        expect(weightDistance(net, moved)).toBeGreaterThan(1);
        const options = { p, q, includeBiases, backend: 'cpu', tol: TOL, maxSweeps: 100000, schedule: 'alternating' } as const;
        const a = await balance(net, options);
        const b = await balance(moved, options);
        expect(a.converged && b.converged).toBe(true);
        expect(weightDistance(a.network, b.network), `${name} p=${p} q=${q}`).toBeLessThan(1e-7);
        expect(Math.abs(a.finalNorm - b.finalNorm) / a.finalNorm).toBeLessThan(1e-12);
      }
    });
  }
});

describe('schedules agree (MATH.md §7.6)', () => {
  for (const [name, build] of Object.entries(NETS)) {
    it(`${name}: parallel, alternating and accelerated reach the same weights`, async () => {
      const net = build(51);
      for (const [p, q] of [[1, 1], [2, 4], ...randomExponents(51, 2)]) {
        const common = { p, q, backend: 'cpu', tol: TOL, maxSweeps: 100000 } as const;
        const parallel = await balance(net, { ...common, schedule: 'parallel' });
        const alternating = await balance(net, { ...common, schedule: 'alternating' });
        const accelerated = await balance(net, { ...common, schedule: 'accelerated' });
        expect(parallel.converged && alternating.converged && accelerated.converged).toBe(true);
        expect(weightDistance(parallel.network, alternating.network), `${name} p=${p} q=${q}`).toBeLessThan(1e-7);
        expect(weightDistance(parallel.network, accelerated.network), `${name} p=${p} q=${q} accelerated`).toBeLessThan(1e-7);
        expect(accelerated.passes, `${name} p=${p} q=${q}`).toBeLessThan(parallel.passes);
        expect(alternating.sweeps).toBeLessThan(parallel.sweeps);
      }
    });
  }

  it('for p = q each alternating class step is the exact minimiser over its class: after a sweep, the last class is balanced to rounding', async () => {
    for (const name of ['mlp', 'cnn', 'dag']) {
      const net = NETS[name](61);
      const problem = compileProblem(net, { p: 1, q: 1 });
      const last = problem.nClasses - 1;
      /** Largest |log(Out/In)| (independent) in the last class and in the others, after two sweeps. */
      const imbalances = async (p: number, q: number): Promise<{ lastClass: number; others: number }> => {
        const ref = referenceProblem(net, p, q);
        const result = await balance(net, { p, q, schedule: 'alternating', backend: 'cpu', tol: 0, maxSweeps: 2 });
        const { In, Out } = inOut(ref, varFactors(ref, result.logFactors));
        let lastClass = 0;
        let others = 0;
        for (let unit = 0; unit < ref.nUnits; unit++) {
          const v = ref.unitVar[unit];
          if (v < 0) continue;
          const imbalance = Math.abs(Math.log(Out[v] / In[v]));
          if (problem.varClass[problem.unitVar[unit]] === last) lastClass = Math.max(lastClass, imbalance);
          else others = Math.max(others, imbalance);
        }
        return { lastClass, others };
      };
      for (const p of [1, 2, 3.3]) {
        const { lastClass, others } = await imbalances(p, p);
        expect(lastClass, `${name} p=q=${p}`).toBeLessThan(1e-13);
        expect(others).toBeGreaterThan(1e-6); // the other classes moved since their step
      }
      // For p != q a class step is a majorisation step, not the exact minimiser.
      expect((await imbalances(1, 2)).lastClass).toBeGreaterThan(1e-6);
      expect((await imbalances(2.5, 1.5)).lastClass).toBeGreaterThan(1e-6);
    }
  });

  it('on MLPs the alternating schedule needs at least 2x (3x on average) fewer sweeps to come within 1e-6 of the minimum (MATH.md: about 4x; measured 3.8x)', async () => {
    const ratios: number[] = [];
    for (const [seed, sizes] of [
      [1, [30, 60, 40, 10]],
      [2, [30, 50, 40, 30, 20, 10]],
      [3, [20, 40, 30, 30, 20, 20, 10, 5]],
    ] as const) {
      const net = mlp([...sizes], { seed, dtype: 'float64' });
      expect(compileProblem(net, { p: 2, q: 2 }).nClasses).toBe(2);
      for (const [p, q] of [
        [1, 1],
        [2, 2],
        [1, 2],
        [2, 1],
        [2, 4],
        [4, 4],
      ]) {
        const common = { p, q, backend: 'cpu', tol: 1e-12, maxSweeps: 100000 } as const;
        const parallel = await balance(net, { ...common, schedule: 'parallel' });
        const alternating = await balance(net, { ...common, schedule: 'alternating' });
        const best = Math.min(parallel.finalNorm, alternating.finalNorm);
        const within = (h: number[]): number => h.findIndex((x) => (x - best) / (h[0] - best) < 1e-6);
        const sp = within(parallel.history);
        const sa = within(alternating.history);
        expect(sp).toBeGreaterThan(0);
        expect(sa).toBeGreaterThan(0);
        ratios.push(sp / sa);
      }
    }
    // A conservative property of the measured speed-up (mean 3.8x, range 2.7x-4.1x here).
    expect(Math.min(...ratios)).toBeGreaterThanOrEqual(2);
    const mean = ratios.reduce((a, b) => a + b, 0) / ratios.length;
    expect(mean).toBeGreaterThan(3);
    console.log(
      `alternating vs parallel sweeps to a relative gap of 1e-6: mean ${mean.toFixed(2)}x, range ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}x`,
    );
  });
});
