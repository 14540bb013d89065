/**
 * MATH.md §7 items 3 and 4: the fix reaches the global minimum of the convex problem in
 * `u = log a` (checked against an independent Newton minimiser written from the weights), and
 * at convergence every unit is balanced, to the precision the stopping rule implies.
 */
import { describe, expect, it } from 'vitest';
import { balance } from '../src/balance.js';
import { lpqNorm } from '../src/math/norm.js';
import { balanceReport } from '../src/math/report.js';
import type { Schedule } from '../src/options.js';
import { updateExponent } from '../src/options.js';
import { NETS } from './support/fixNets.js';
import { inOut, maxLogImbalance, newtonMinimise, objective, randomExponents, referenceProblem, varFactors } from './support/fixReference.js';

const SCHEDULES: Schedule[] = ['parallel', 'alternating'];
const PAIRS: [number, number][] = [[2, 2], [1, 1], [1, 2], [2, 1], ...randomExponents(2023, 4)];

describe('global minimum (MATH.md §7.3)', () => {
  for (const [name, build] of Object.entries(NETS)) {
    it(`${name}: the final norm equals an independent Newton minimiser's, for integer and random (p, q), q < p and q > p`, async () => {
      const net = build(11);
      for (const [k, [p, q]] of PAIRS.entries()) {
        const includeBiases = k % 2 === 1;
        const ref = referenceProblem(net, p, q, includeBiases);
        const newton = newtonMinimise(ref);
        // Newton has converged: the gradient q (In - Out) vanishes at its point.
        expect(maxLogImbalance(ref, newton.u)).toBeLessThan(1e-9);
        const schedule = SCHEDULES[k % 2];
        const result = await balance(net, { p, q, includeBiases, schedule, backend: 'cpu', tol: 1e-10, maxSweeps: 50000 });
        expect(result.converged).toBe(true);
        const target = Math.pow(newton.F, 1 / q);
        expect(Math.abs(result.finalNorm - target) / target, `${name} p=${p} q=${q} ${schedule}`).toBeLessThan(1e-8);
        // The library's history means the independent objective: at the start and at the end.
        expect(Math.abs(result.initialNorm - Math.pow(objective(ref, new Float64Array(ref.nVars)), 1 / q)) / target).toBeLessThan(1e-13);
        const u = varFactors(ref, result.logFactors);
        expect(Math.abs(result.finalNorm - Math.pow(objective(ref, u), 1 / q)) / target).toBeLessThan(1e-12);
        // The minimiser is unique: the factors agree too (loosely: F is flat at the minimum).
        let du = 0;
        for (let v = 0; v < ref.nVars; v++) du = Math.max(du, Math.abs(u[v] - newton.u[v]));
        expect(du, `${name} p=${p} q=${q}`).toBeLessThan(1e-5);
        // The returned network's norm, recomputed from its (float64) weights.
        expect(Math.abs(lpqNorm(result.network, p, q, { includeBiases }) - target) / target).toBeLessThan(1e-8);
      }
    });
  }
});

describe('balanced at convergence (MATH.md §7.4)', () => {
  for (const [name, build] of Object.entries(NETS)) {
    for (const schedule of SCHEDULES) {
      it(`${name}, ${schedule}: max |log(Out/In)| <= tol / eta, and the report agrees with an independent In/Out`, async () => {
        const net = build(5);
        for (const [p, q] of [
          [2, 2],
          [1.3, 2.9],
          [3.1, 1.7],
        ] as const) {
          const tol = 1e-9;
          const result = await balance(net, { p, q, schedule, backend: 'cpu', tol, maxSweeps: 50000 });
          expect(result.converged).toBe(true);
          // The stopping rule bounds the factor change eta |log(Out/In)| of the last sweep, so the
          // imbalance before it was below tol / eta; the last step only shrinks it further here
          // (measured over 5 nets x 10 (p, q) x 2 schedules: at most 0.92 tol / eta).
          const eta = updateExponent(p, q, schedule);
          const ref = referenceProblem(net, p, q);
          const u = varFactors(ref, result.logFactors);
          const independent = maxLogImbalance(ref, u);
          expect(independent, `${name} ${schedule} p=${p} q=${q}`).toBeLessThanOrEqual(tol / eta);
          expect(Math.abs(result.maxLogImbalance - independent)).toBeLessThan(1e-11);
          // Before balancing the same nets are far from balance.
          expect(maxLogImbalance(ref, new Float64Array(ref.nVars))).toBeGreaterThan(1e3 * (tol / eta));
          // balanceReport on the returned network: per-unit In and Out equal the independent ones.
          const report = balanceReport(result.network, { p, q });
          const { In, Out } = inOut(ref, u);
          expect(Math.abs(report.maxLogImbalance - independent)).toBeLessThan(1e-9);
          for (let k = 0; k < net.layers.length; k++) {
            for (let c = 0; c < report.In[k].length; c++) {
              const v = ref.unitVar[ref.layerStart[k] + c];
              if (v < 0) {
                expect(report.In[k][c]).toBeNaN();
                continue;
              }
              expect(Math.abs(report.In[k][c] - In[v]) / In[v]).toBeLessThan(1e-12);
              expect(Math.abs(report.Out[k][c] - Out[v]) / Out[v]).toBeLessThan(1e-12);
            }
          }
        }
      });
    }
  }

  it('stopping rule (MATH.md §4): every schedule stops at the first sweep whose imbalance max |log(Out/In)|, computed independently, is <= tol', async () => {
    for (const [name, build] of Object.entries(NETS)) {
      const net = build(9);
      for (const [p, q] of [
        [2, 2],
        [1.6, 2.9],
        [3.2, 1.1],
      ]) {
        for (const schedule of ['accelerated', 'parallel', 'alternating'] as const) {
          const tol = 1e-7;
          const label = `${name} p=${p} q=${q} ${schedule}`;
          const ref = referenceProblem(net, p, q);
          const full = await balance(net, { p, q, schedule, backend: 'cpu', tol });
          const n = full.sweeps;
          expect(n, label).toBeGreaterThan(1);
          expect(full.converged).toBe(true);
          expect(maxLogImbalance(ref, varFactors(ref, full.logFactors)), label).toBeLessThanOrEqual(tol * (1 + 1e-6));
          // The same run cut short one sweep earlier had not met tol.
          const before = await balance(net, { p, q, schedule, backend: 'cpu', tol: 0, maxSweeps: n - 1 });
          expect(maxLogImbalance(ref, varFactors(ref, before.logFactors)), label).toBeGreaterThan(tol);
          expect(before.converged).toBe(false);
        }
      }
    }
  });

  it('with tol = 0 the run goes to maxSweeps and is reported as not converged', async () => {
    const net = NETS.mlp(3);
    const result = await balance(net, { p: 2, q: 2, backend: 'cpu', tol: 0, maxSweeps: 7 });
    expect(result.sweeps).toBe(7);
    expect(result.converged).toBe(false);
    expect(result.history).toHaveLength(8);
  });

  it('maxSweeps = 0 returns the input weights and the initial imbalance', async () => {
    const net = NETS.mlp(3);
    const result = await balance(net, { p: 2, q: 3, backend: 'cpu', maxSweeps: 0 });
    const ref = referenceProblem(net, 2, 3);
    expect(result.sweeps).toBe(0);
    expect(result.history).toEqual([result.initialNorm]);
    expect(result.network.blocks.map((b) => Array.from(b.weight))).toEqual(net.blocks.map((b) => Array.from(b.weight)));
    // The default tol (1e-4) runs the CPU engine on float32 P (entries rounded to 2^-24 relative).
    const bound = result.precision === 'float32' ? 1e-6 : 1e-12;
    expect(Math.abs(result.maxLogImbalance - maxLogImbalance(ref, new Float64Array(ref.nVars)))).toBeLessThan(bound);
  });
});
