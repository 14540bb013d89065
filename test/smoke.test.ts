import { describe, expect, it } from 'vitest';
import { balance, mlp, lpqNorm, forward, cnn, balanceReport } from '../src/index.js';

describe('smoke', () => {
  it('balances an MLP', async () => {
    const net = mlp([20, 50, 30, 5], { seed: 1 });
    for (const schedule of ['parallel', 'alternating'] as const) {
      for (const [p, q] of [[2, 2], [1, 2], [2, 1], [1.5, 3.7]]) {
        const res = await balance(net, { p, q, schedule, backend: 'cpu', tol: 1e-9, maxSweeps: 20000 });
        console.log(schedule, p, q, res.sweeps, res.history[0], res.finalNorm, res.maxLogImbalance, lpqNorm(res.network, p, q));
        const x = Float64Array.from({ length: 20 }, (_, i) => Math.sin(i));
        const a = forward(net, x), b = forward(res.network, x);
        expect(Math.max(...a.map((v, i) => Math.abs(v - b[i])))).toBeLessThan(1e-4);
      }
    }
  });
  it('balances a CNN', async () => {
    const net = cnn({ seed: 2 });
    const res = await balance(net, { p: 2, q: 2, backend: 'cpu', tol: 1e-9 });
    console.log(res.sweeps, res.history[0], res.finalNorm, balanceReport(res.network, { p: 2, q: 2 }).maxLogImbalance);
  });
});
