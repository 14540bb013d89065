/**
 * `balance(net, { inPlace: true })`: the caller gives up the network's arrays, the balanced
 * values are written over them (issue 11 point 4: no second copy of the weights). The result
 * holds the input's arrays with the same values as a run that copies; where writing in place is
 * not sure to fit (`rescaledInPlace` returns `null`) the copy's values are written over them; a
 * run that fails or is cancelled leaves them as they were; a bad value of the option is refused.
 */
import { describe, expect, it } from 'vitest';
import { balance } from '../src/balance.js';
import { weightMemoryOf } from '../src/engines/cpu/wasm/memory.js';
import { BalanceAbortedError } from '../src/errors.js';
import { mlp } from '../src/network/builders.js';
import { rescaledCopy, rescaledInPlace } from '../src/network/rescale.js';
import type { Network } from '../src/network/types.js';
import { residualNet } from './support/fixNets.js';
import { inWeightMemory } from './support/weightMemory.js';

/** Every array of the network, in block order. */
function arrays(net: Network): (Float32Array | Float64Array)[] {
  return net.blocks.flatMap((b) => (b.bias ? [b.weight, b.bias] : [b.weight]));
}

describe('balance with inPlace', () => {
  const cases: [string, () => Promise<Network> | Network, number, number][] = [
    ['a float32 MLP with biases (2, 2)', () => mlp([30, 50, 40, 10], { seed: 4, dtype: 'float32' }), 2, 2],
    ['a float64 residual net (1, 2)', () => residualNet(5), 1, 2],
    ['float32 weights in a weight buffer (2, 2)', () => inWeightMemory(mlp([300, 400, 10], { seed: 4, dtype: 'float32' })), 2, 2],
  ];
  for (const [name, make, p, q] of cases)
    it(`${name}: the result holds the input's arrays, with the values of a run that copies`, async () => {
      const net = await make();
      const copy = await balance(net, { p, q, backend: 'cpu' });
      const own = arrays(net);
      const before = own.map((a) => a.slice());
      const memory = weightMemoryOf(net.blocks[0].weight);
      const size = memory?.buffer.byteLength ?? 0;
      const result = await balance(net, { p, q, backend: 'cpu', inPlace: true });
      const mine = arrays(result.network);
      expect(mine.length).toBe(own.length);
      mine.forEach((a, k) => {
        expect(a).toBe(own[k]);
        expect(a).toEqual(arrays(copy.network)[k]);
      });
      expect(result.finalNorm).toBe(copy.finalNorm);
      expect(own.some((a, k) => a.some((v, e) => v !== before[k][e]))).toBe(true);
      // Weights read in place and rescaled in place: their memory grew by one page of the kernels' vectors (P, or a copy, would be 480 KB).
      if (memory) expect(memory.buffer.byteLength - size).toBeLessThanOrEqual(65536);
    });

  it('a cancelled run leaves the arrays as they were', async () => {
    const net = mlp([30, 50, 40, 10], { seed: 4, dtype: 'float32' });
    const before = arrays(net).map((a) => a.slice());
    const controller = new AbortController();
    const run = balance(net, {
      p: 2,
      q: 2,
      backend: 'cpu',
      tol: 0,
      maxSweeps: 200,
      inPlace: true,
      signal: controller.signal,
      onSweep: (s) => s.sweep === 3 && controller.abort(),
    });
    await expect(run).rejects.toBeInstanceOf(BalanceAbortedError);
    arrays(net).forEach((a, k) => expect(a).toEqual(before[k]));
  });

  it('where the factors leave what one exponential per unit can hold, the copy is written over the input', async () => {
    // A unit whose incoming weights are 1e-200 and outgoing 1e200: its log factor is about 460.
    const net = mlp([2, 2, 2], { seed: 1, dtype: 'float64' });
    net.blocks[0].weight.set([1e-200, 2e-200, 3e-200, 1e-200]);
    net.blocks[1].weight.set([1e200, 2e200, 1e200, 3e200]);
    const copy = await balance(net, { p: 1, q: 1, backend: 'cpu' });
    expect(Math.max(...copy.logFactors[1].map(Math.abs))).toBeGreaterThan(350);
    const own = arrays(net);
    const result = await balance(net, { p: 1, q: 1, backend: 'cpu', inPlace: true });
    arrays(result.network).forEach((a, k) => {
      expect(a).toBe(own[k]);
      expect(a).toEqual(arrays(copy.network)[k]);
    });
  });

  it('refuses arrays that share memory (one array in two blocks, overlapping views) by name, before any work', async () => {
    const net = mlp([4, 4, 4], { seed: 2, dtype: 'float32' });
    const tied = { ...net, blocks: [net.blocks[0], { ...net.blocks[1], weight: net.blocks[0].weight }] };
    await expect(balance(tied, { p: 2, q: 2, backend: 'cpu', inPlace: true })).rejects.toThrow(
      /inPlace needs every weight and bias array to be its own, but block 0 \('0'\) weight and block 1 \('2'\) weight share memory/,
    );
    const memory = new Float32Array(40);
    const overlapping = {
      ...net,
      blocks: [
        { ...net.blocks[0], weight: memory.subarray(0, 16), bias: null },
        { ...net.blocks[1], weight: memory.subarray(12, 28), bias: null },
      ],
    };
    const before = memory.slice();
    await expect(balance(overlapping, { p: 2, q: 2, backend: 'cpu', inPlace: true })).rejects.toThrow(/block 0 .* weight and block 1 .* weight share memory/);
    expect(memory).toEqual(before);
    // Adjacent views of one buffer are each their own.
    const adjacent = { ...overlapping, blocks: [overlapping.blocks[0], { ...overlapping.blocks[1], weight: memory.subarray(16, 32) }] };
    memory.set(net.blocks[0].weight, 0);
    memory.set(net.blocks[1].weight, 16);
    await expect(balance(adjacent, { p: 2, q: 2, backend: 'cpu', inPlace: true })).resolves.toMatchObject({ converged: true });
  });

  it('refuses a value that is not true or false', async () => {
    await expect(balance(mlp([3, 4, 2]), { p: 2, q: 2, inPlace: 1 as never })).rejects.toThrow(/inPlace must be true or false, got 1/);
  });
});

describe('rescaledInPlace', () => {
  it('writes nothing and returns null where a value might not fit float32; else the copy, in the same arrays', () => {
    const net = mlp([3, 4, 2], { seed: 0, dtype: 'float32' });
    const before = arrays(net).map((a) => a.slice());
    const big = net.layers.map((l, k) => new Float64Array(l.shape[0]).fill(k === 1 ? 90 : 0)); // e^90 > float32's largest (3.4e38 = e^88.7)
    expect(rescaledInPlace(net, big, 1)).toBeNull();
    arrays(net).forEach((a, k) => expect(a).toEqual(before[k]));
    const small = net.layers.map((l, k) => new Float64Array(l.shape[0]).map((_, c) => (k === 1 ? 0.1 * c - 0.2 : 0)));
    const copy = rescaledCopy(net, small);
    const own = arrays(net);
    const result = rescaledInPlace(net, small, Math.max(...net.blocks.flatMap((b) => Array.from(b.weight, Math.abs))));
    expect(result).not.toBeNull();
    arrays(result as Network).forEach((a, k) => {
      expect(a).toBe(own[k]);
      expect(a).toEqual(arrays(copy)[k]);
    });
  });
});
