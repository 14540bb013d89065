/**
 * balance() and rescale() own their results: a result shares no object with the caller's
 * network, and each checks what it is given (the network, the log factors, the callback).
 */
import { describe, expect, it } from 'vitest';
import { balance } from '../src/balance.js';
import { cnn, mlp } from '../src/network/builders.js';
import { rescale } from '../src/network/rescale.js';
import { residualNet } from './support/fixNets.js';
import { refusal } from './support/refusal.js';

/** Every object or array reachable from `value` except typed arrays (which rescale replaces). */
function structure(value: unknown, seen = new Set<object>()): Set<object> {
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value) || seen.has(value)) return seen;
  seen.add(value);
  for (const v of Object.values(value)) structure(v, seen);
  return seen;
}

describe("a result shares no object with the caller's network", () => {
  it('balance and rescale return new layers, shapes, pools, skips, fixed lists, strides, paddings, storage and ties', async () => {
    const residual = residualNet(3);
    residual.layers[2].fixed = [1];
    const conv = cnn({ seed: 2 });
    conv.blocks[0].storage = { weight: 'bfloat16' };
    for (const net of [residual, conv]) {
      const before = structuredClone(net);
      const result = await balance(net, { p: 2, q: 2, backend: 'cpu', maxSweeps: 3 });
      const zero = net.layers.map((l) => new Float64Array(l.shape[0]));
      for (const out of [result.network, rescale(net, zero)]) {
        const mine = structure(net);
        const shared = [...structure(out)].filter((o) => mine.has(o));
        expect(shared).toEqual([]);
        // Writing through the result leaves the input as it was.
        out.layers[1].shape[0] = 999;
        out.blocks[0].shape[0] = 999;
        if (out.ties) out.ties[0][0].unit = 999;
      }
      expect(net).toEqual(before);
    }
  });
});

describe('rescale and balance check what they are given', () => {
  it('rescale refuses an invalid network and missing log factors by name', () => {
    const net = mlp([3, 4, 2], { seed: 0 });
    const zero = net.layers.map((l) => new Float64Array(l.shape[0]));
    const broken = structuredClone(net);
    broken.blocks[1].weight = new Float32Array(7); // shape [2, 4] needs 8
    expect(refusal(() => rescale(broken, zero))).toMatch(/block 1.*7 entries/);
    const holes = [zero[0], undefined, zero[2]] as unknown as Float64Array[];
    expect(refusal(() => rescale(net, holes))).toMatch(/layer 1/);
  });

  it('balance refuses an onSweep that is not a function before any sweep', async () => {
    const net = mlp([3, 4, 2], { seed: 0 });
    await expect(balance(net, { p: 2, q: 2, backend: 'cpu', onSweep: 5 as never })).rejects.toThrow(/onSweep must be a function/);
  });
});
