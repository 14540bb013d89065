/**
 * Issue 14 point 1: the float64 CPU engine at large exponents and wide weight ranges. The
 * reproducers of the issue: no `converged: true` with a non-finite imbalance, `finalNorm` equal
 * to `lpqNorm` of the returned network, and the minimum that the exact reference (Newton on the
 * log-factor problem) finds.
 */
import { describe, expect, it } from 'vitest';
import { balance } from '../src/balance.js';
import { fitsLinear, weightRange } from '../src/engines/cpu/blockSums.js';
import { CpuEngine } from '../src/engines/cpu/cpuEngine.js';
import { lpqNorm } from '../src/math/norm.js';
import { powerOfTwoScale } from '../src/math/powers.js';
import { sequential } from '../src/network/builders.js';
import type { Network } from '../src/network/types.js';
import { compileProblem } from '../src/problem/compile.js';
import { mlpNet } from './support/fixNets.js';

/** A float64 ReLU MLP of the given sizes with the given row-major weights and zero biases. */
function denseNet(sizes: number[], weights: number[][]): Network {
  const net = sequential(
    [sizes[0]],
    sizes.slice(1).map((units) => ({ type: 'dense' as const, units })),
    { seed: 0, dtype: 'float64' },
  );
  weights.forEach((w, k) => net.blocks[k].weight.set(w));
  return net;
}

function relative(a: number, b: number): number {
  return Math.abs(a - b) / Math.abs(b);
}

describe('CPU engine: exponents up to 32 over wide weight ranges (issue 14.1)', () => {
  it('[1,2,1], W1 = [1, 1e-11], p = q = 32: converges to the balanced norm with a finite imbalance', async () => {
    const net = denseNet(
      [1, 2, 1],
      [
        [1, 1],
        [1, 1e-11],
      ],
    );
    const result = await balance(net, { p: 32, q: 32, backend: 'cpu', tol: 1e-9 });
    expect(Number.isFinite(result.maxLogImbalance)).toBe(true);
    expect(result.converged).toBe(true);
    expect(result.maxLogImbalance).toBeLessThan(1e-6);
    // The 1e-11 path balances to (1e-11)^(1/2) per weight: the norm is that of the first path alone, plus almost nothing.
    expect(relative(result.finalNorm, Math.pow(2, 1 / 32))).toBeLessThan(1e-9);
    expect(relative(result.finalNorm, lpqNorm(result.network, 32, 32))).toBeLessThan(1e-12);
  });

  it('[1,2,1,1], p = 28, q = 1: monotone, converged, at the norm the GPU reaches', async () => {
    const net = denseNet([1, 2, 1, 1], [[8e4, 5e4], [4e4, 7e-7], [20]]);
    const result = await balance(net, { p: 28, q: 1, backend: 'cpu', tol: 1e-9, maxSweeps: 100000 });
    expect(result.converged).toBe(true);
    expect(Number.isFinite(result.maxLogImbalance)).toBe(true);
    expect(relative(result.finalNorm, 12000)).toBeLessThan(1e-3);
    expect(relative(result.finalNorm, lpqNorm(result.network, 28, 1))).toBeLessThan(1e-12);
  });

  it('lpqNorm, p = 32, q = 0.5, a row of 1e-11 weights next to a row of ones', () => {
    const net = denseNet(
      [3, 2, 1],
      [
        [1, 1, 1, 1e-11, 1e-11, 1e-11],
        [1, 1],
      ],
    );
    // rows: 3^(1/32), 3^(1/32) * 1e-11, and the output row 2^(1/32); q = 0.5 sums their square roots.
    const rows = [Math.pow(3, 1 / 32), Math.pow(3, 1 / 32) * 1e-11, Math.pow(2, 1 / 32)];
    const expected = Math.pow(
      rows.reduce((s, x) => s + Math.sqrt(x), 0),
      2,
    );
    expect(relative(lpqNorm(net, 32, 0.5), expected)).toBeLessThan(1e-14);
  });

  it('a run that starts in linear float64 moves to logarithms when a sum would underflow, and agrees with the log engine', async () => {
    // p = 1, q = 32: P spans only 9 decades (linear), but y = rho^(r - 1) alpha spans 31 x 9.
    const net = denseNet(
      [1, 2, 2, 1],
      [
        [1, 1e-9],
        [1, 0, 0, 1e-9],
        [1, 1],
      ],
    );
    for (const schedule of ['parallel', 'alternating'] as const) {
      const problem = compileProblem(net, { p: 1, q: 32 });
      // P fits float64: the engine starts linear; the set-up's column pass (In and Out are current
      // from the start, for the stopping rule on the imbalance) is the first sum that underflows.
      const range = weightRange(problem);
      expect(fitsLinear(problem, powerOfTwoScale(range.largest), range, 'float64')).toBe(true);
      const fast = new CpuEngine(problem, { schedule });
      const exact = new CpuEngine(problem, { schedule, arithmetic: 'log' });
      const a = await fast.sweeps(200, 0);
      const b = await exact.sweeps(200, 0);
      expect(fast.arithmetic).toBe('log');
      a.forEach((record, s) => expect(relative(record.F, b[s].F)).toBeLessThan(1e-12));
      const [ea, eb] = [await fast.evaluate(), await exact.evaluate()];
      expect(Number.isFinite(ea.maxLogImbalance)).toBe(true);
      expect(Math.abs(ea.maxLogImbalance - eb.maxLogImbalance)).toBeLessThan(1e-9);
    }
  });

  it('on an ordinary net the fast linear arithmetic runs and matches the log one', async () => {
    const problem = compileProblem(mlpNet(3), { p: 2.5, q: 1.5, includeBiases: true });
    const fast = new CpuEngine(problem, { schedule: 'parallel' });
    const exact = new CpuEngine(problem, { schedule: 'parallel', arithmetic: 'log' });
    const [a, b] = [await fast.sweeps(50, 0), await exact.sweeps(50, 0)];
    expect(fast.arithmetic).toBe('linear');
    a.forEach((record, s) => expect(relative(record.F, b[s].F)).toBeLessThan(1e-13));
  });
});
