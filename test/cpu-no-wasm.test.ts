/**
 * Where WebAssembly SIMD is missing (a module with SIMD does not validate), the CPU engine runs on
 * its JS kernels: validation reads the values in JS, the rescale is the JS loop into the memory
 * that held `P`, with the same results and refusals as with the kernels (issue 11 point 4).
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { balance } from '../src/balance.js';
import { prepareWasmKernels, wasmRangeFold } from '../src/engines/cpu/wasm/wasmKernels.js';
import { NetworkValueError } from '../src/errors.js';
import { mlp } from '../src/network/builders.js';
import { rescale } from '../src/network/rescale.js';
import type { WeightArray } from '../src/network/types.js';

// This file runs in a worker of its own: the kernels are compiled (or not) here for the first time.
beforeAll(() => {
  vi.spyOn(WebAssembly, 'validate').mockReturnValue(false);
});
afterAll(() => vi.restoreAllMocks());

const sameBits = (a: WeightArray, b: WeightArray): boolean => a.length === b.length && a.every((x, i) => Object.is(x, b[i]));

describe('the CPU engine without WebAssembly SIMD', () => {
  it('no kernels, no SIMD range fold', async () => {
    expect(await prepareWasmKernels()).toBe(false);
    expect(wasmRangeFold()).toBeNull();
  });

  it('balance: the JS kernels, the result equal bit for bit to rescale, placed in the memory that held P, the input untouched', async () => {
    const net = mlp([7, 13, 6, 9, 5], { seed: 31, biasScale: 0.3 });
    const before = net.blocks.map((b) => b.weight.slice());
    const result = await balance(net, { p: 2, q: 2, backend: 'cpu', threads: 2 });
    expect(result.threads).toBe(1);
    const expected = rescale(net, result.logFactors);
    result.network.blocks.forEach((b, k) => {
      expect(sameBits(b.weight, expected.blocks[k].weight), `block ${k}`).toBe(true);
      expect(b.weight.buffer.byteLength).toBeGreaterThanOrEqual(b.weight.byteLength);
    });
    expect(result.network.blocks.some((b) => b.weight.buffer.byteLength > b.weight.byteLength || b.bias?.buffer === b.weight.buffer)).toBe(true);
    net.blocks.forEach((b, k) => expect(sameBits(b.weight, before[k])).toBe(true));
  });

  it('a NaN weight is refused by the JS validation, naming the block and entry', async () => {
    const net = mlp([5, 8, 3], { seed: 32 });
    net.blocks[1].weight[7] = Number.NaN;
    await expect(balance(net, { p: 2, q: 2, backend: 'cpu' })).rejects.toThrow(NetworkValueError);
    await expect(balance(net, { p: 2, q: 2, backend: 'cpu' })).rejects.toThrow(/block 1 \('2'\): weight entry 7 is not finite \(NaN\)/);
  });
});
