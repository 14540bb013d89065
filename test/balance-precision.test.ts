/**
 * Issue 11.3 and 11.4 on the CPU: the precision of P that ran is in the result (float32 when
 * `tol >= 1e-5`, float64 below, as the reference), float32 P reaches the float64 result within
 * its rounding, the phases of a run are reported, and the host rescaling (one exponential per
 * unit) equals the per-edge formula, also for factors beyond the float64 range of one exponential.
 */
import { describe, expect, it } from 'vitest';
import { balance } from '../src/balance.js';
import { lpqNorm } from '../src/math/norm.js';
import { mlp } from '../src/network/builders.js';
import { rescale } from '../src/network/rescale.js';
import { mlpNet } from './support/fixNets.js';

describe('the precision of P on the CPU, and the phases of a run', () => {
  it('float32 P for tol >= 1e-5, float64 below; both reach the same norm within float32 rounding', async () => {
    const net = mlp([12, 30, 20, 4], { seed: 3 });
    const coarse = await balance(net, { p: 2, q: 2, backend: 'cpu', tol: 1e-5 });
    const fine = await balance(net, { p: 2, q: 2, backend: 'cpu', tol: 1e-9 });
    expect([coarse.precision, fine.precision]).toEqual(['float32', 'float64']);
    expect(Math.abs(coarse.finalNorm / fine.finalNorm - 1)).toBeLessThan(1e-6);
    expect(Math.abs(coarse.finalNorm / lpqNorm(coarse.network, 2, 2) - 1)).toBeLessThan(1e-6);
    for (const r of [coarse, fine]) {
      const { setupMs, sweepsMs, rescaleMs } = r.phases;
      for (const ms of [setupMs, sweepsMs, rescaleMs]) expect(ms).toBeGreaterThanOrEqual(0);
      expect(setupMs + sweepsMs + rescaleMs).toBeLessThanOrEqual(r.ms + 1e-6);
    }
  });

  it('the host rescaling with one exponential per unit equals exp(U_i - U_j) per weight; huge factors too', () => {
    const net = mlpNet(2);
    // Hidden log factors of about `offset` (600: beyond what one exponential per unit may take, so the per-edge path).
    const per = (offset: number): Float64Array[] =>
      net.layers.map((l, k) =>
        Float64Array.from({ length: l.shape[0] }, (_, c) => (k === 0 || k === net.layers.length - 1 ? 0 : offset + 3 * Math.sin(3 * k + c))),
      );
    for (const scale of [0, 600]) {
      const U = per(scale);
      const out = rescale(net, U);
      net.blocks.forEach((b, k) => {
        const cols = b.shape[1];
        for (let e = 0; e < b.weight.length; e++) {
          const expected = b.weight[e] * Math.exp(U[b.to][Math.floor(e / cols)] - U[b.from][e % cols]);
          const got = out.blocks[k].weight[e];
          expect(Math.abs(got - expected), `scale ${scale}, block ${k}, entry ${e}`).toBeLessThanOrEqual(4 * Number.EPSILON * Math.abs(expected));
        }
      });
    }
  });
});
