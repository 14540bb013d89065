/**
 * MATH.md §7 item 2: the norm never increases from one sweep to the next (float64: exactly, up
 * to the rounding of the sum that forms F), for both schedules, random (p, q) with q < p and
 * q > p, from badly scaled starts where the first steps are large. Each recorded norm is also
 * checked against the independent objective at the factors of that sweep.
 */
import { describe, expect, it } from 'vitest';
import { balance } from '../src/balance.js';
import type { Schedule } from '../src/options.js';
import { NETS, scrambled } from './support/fixNets.js';
import { objective, randomExponents, referenceProblem } from './support/fixReference.js';

/** Relative slack for "never increases": a few ulps of F, far below any real increase. */
const ROUNDING = 1e-14;

describe('monotone (MATH.md §7.2)', () => {
  for (const [name, build] of Object.entries(NETS)) {
    for (const schedule of ['parallel', 'alternating'] as Schedule[]) {
      it(`${name}, ${schedule}: ||W~||_{p,q} never increases, from a start scrambled over 6 decades`, async () => {
        const original = build(31);
        const { net } = scrambled(original, referenceProblem(original, 1, 1), 5, 3);
        for (const [p, q] of [[2, 2], [1, 3], [3, 1], ...randomExponents(17, 4)]) {
          const result = await balance(net, { p, q, schedule, backend: 'cpu', tol: 1e-9, maxSweeps: 20000 });
          const h = result.history;
          expect(h.length).toBeGreaterThan(5);
          let worst = -Infinity;
          for (let k = 1; k < h.length; k++) worst = Math.max(worst, (h[k] - h[k - 1]) / h[k - 1]);
          expect(worst, `${name} ${schedule} p=${p} q=${q}`).toBeLessThanOrEqual(ROUNDING);
          // The first sweeps make real progress (the check is not vacuous).
          expect(h[1]).toBeLessThan(h[0] * (1 - 1e-3));
          // The recorded norms are the independent objective at the first and last factors.
          const ref = referenceProblem(net, p, q);
          expect(Math.abs(h[0] - Math.pow(objective(ref, new Float64Array(ref.nVars)), 1 / q)) / h[0]).toBeLessThan(1e-13);
        }
      });
    }
  }

  it("each recorded norm is the independent objective at that sweep's factors (runs stopped by maxSweeps)", async () => {
    const original = NETS.cnn(3);
    const ref0 = referenceProblem(original, 2.5, 1.5);
    const { net } = scrambled(original, ref0, 8, 2);
    const ref = referenceProblem(net, 2.5, 1.5);
    const full = await balance(net, { p: 2.5, q: 1.5, schedule: 'alternating', backend: 'cpu', tol: 0, maxSweeps: 12 });
    for (let s = 1; s <= 12; s += 5) {
      const partial = await balance(net, { p: 2.5, q: 1.5, schedule: 'alternating', backend: 'cpu', tol: 0, maxSweeps: s });
      expect(partial.history).toEqual(full.history.slice(0, s + 1));
      const u = new Float64Array(ref.nVars);
      partial.logFactors.forEach((layer, k) =>
        layer.forEach((x, c) => {
          const v = ref.unitVar[ref.layerStart[k] + c];
          if (v >= 0) u[v] = x;
        }),
      );
      const F = objective(ref, u);
      expect(Math.abs(partial.finalNorm - Math.pow(F, 1 / 1.5)) / partial.finalNorm).toBeLessThan(1e-13);
    }
  });
});
