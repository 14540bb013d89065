/**
 * Float32 weights read in place (issue 11 point 4): a network whose weights lie in a
 * `weightBuffer` is balanced for p = 2 or 1 with no `P` beside it. The kernels read the weights
 * where they lie, squaring each (or taking its magnitude) as it is read, and give the same sums
 * bit for bit as kernels on a stored `P` of the same (unscaled) values, on blocks of every width and row count around the
 * kernels' steps (and split into row ranges, to reassociation); the weight memory grows by the vectors only.
 * `balance` on such a network equals the run on an ordinary copy; blocks that cannot be read in
 * place (p = 3, float64 weights, taps) get their `P` built as before.
 */
import { describe, expect, it } from 'vitest';
import { balance } from '../src/balance.js';
import { weightMemoryOf } from '../src/engines/cpu/wasm/memory.js';
import { WasmKernels, weightsInPlace } from '../src/engines/cpu/wasm/wasmKernels.js';
import { weightBuffer } from '../src/engines/cpu/wasm/weightBuffer.js';
import { mlp } from '../src/network/builders.js';
import { compileProblem } from '../src/problem/compile.js';
import { compare, splitDifference } from './support/kernelCompare.js';
import { inWeightMemory } from './support/weightMemory.js';

const COLUMNS = [1, 2, 3, 4, 5, 7, 8, 9, 17];
const ROWS = [1, 3, 4, 5, 8, 9];

describe('kernels reading float32 weights in place', () => {
  it('are available here (Node has shared WebAssembly memory)', async () => {
    expect(await weightBuffer(16)).toBeInstanceOf(Uint8Array);
  });

  it('give the stored squares (p = 2) and magnitudes (p = 1) bit for bit, every pass, whole and split by rows', async () => {
    for (const cols of COLUMNS)
      for (const rows of ROWS) {
        const plain = mlp([cols, rows, 3], { seed: rows * 100 + cols, dtype: 'float32' });
        const net = await inWeightMemory(plain, 4);
        for (const [p, q] of [
          [2, 2],
          [2, 3],
          [1, 2],
        ]) {
          const problem = compileProblem(net, { p, q });
          const reference = compileProblem(plain, { p, q });
          expect(weightsInPlace(problem, 'float32', 1, 'float64')).not.toBeNull();
          const inPlace = new WasmKernels(problem, 'float32', 1);
          const stored = new WasmKernels(reference, 'float32', 1);
          expect(inPlace.inPlace).toEqual([true, true]);
          expect(stored.inPlace).toEqual([false, false]);
          const where = `${rows} x ${cols}, (${p}, ${q})`;
          expect(compare(problem, inPlace, stored, rows + cols), where).toBe(0);
          expect(splitDifference(problem, inPlace, 7), where).toBeLessThanOrEqual(1e-14);
          inPlace.dispose();
          stored.dispose();
        }
      }
  });

  it('grow the weights memory by the vectors only: not by P (1 MiB of weights, one page of vectors)', async () => {
    const net = await inWeightMemory(mlp([512, 512, 10], { seed: 5, dtype: 'float32' }));
    const problem = compileProblem(net, { p: 2, q: 2 });
    const memory = weightsInPlace(problem, 'float32', 1, 'float64')?.memory as WebAssembly.Memory;
    const before = memory.buffer.byteLength;
    const kernels = new WasmKernels(problem, 'float32', 1);
    const grown = memory.buffer.byteLength - before;
    expect(kernels.inPlace).toEqual([true, true]);
    expect(grown).toBeGreaterThan(0);
    expect(grown).toBeLessThanOrEqual(65536); // P would be 1 MiB
    kernels.dispose();
  });

  it('are not used where P is not the squares or magnitudes of float32 weights: p = 3, float64 P, a scale, blocked float32 sums, weights elsewhere', async () => {
    const net = await inWeightMemory(mlp([6, 5, 3], { seed: 1, dtype: 'float32' }));
    expect(weightsInPlace(compileProblem(net, { p: 3, q: 1.5 }), 'float32', 1, 'float64')).toBeNull();
    const problem = compileProblem(net, { p: 2, q: 2 });
    expect(weightsInPlace(problem, 'float64', 1, 'float64')).toBeNull();
    expect(weightsInPlace(problem, 'float32', 2, 'float64')).toBeNull();
    expect(weightsInPlace(problem, 'float32', 1, 'blocked32')).toBeNull();
    expect(weightsInPlace(compileProblem(mlp([6, 5, 3], { seed: 1, dtype: 'float32' }), { p: 2, q: 2 }), 'float32', 1, 'float64')).toBeNull();
  });
});

describe('balance on weights in a weight buffer', () => {
  for (const [p, q] of [
    [2, 2],
    [2, 3],
    [1, 2],
    [3, 1.5],
  ])
    it(`(${p}, ${q}): the run on an ordinary copy, to float64 rounding, and the weights are left as they were`, async () => {
      const plain = mlp([40, 64, 48, 33, 10], { seed: 7, dtype: 'float32' });
      const net = await inWeightMemory(plain, 8);
      const before = net.blocks.map((b) => b.weight.slice());
      const memory = weightMemoryOf(net.blocks[0].weight) as WebAssembly.Memory;
      const size = memory.buffer.byteLength;
      const options = { p, q, backend: 'cpu' as const, tol: 1e-4 };
      const [a, b] = [await balance(net, options), await balance(plain, options)];
      // Read in place (p = 2 or 1): the kernels' vectors were added to the weights' memory; else P has a memory of its own.
      expect(memory.buffer.byteLength > size).toBe(p <= 2);
      expect(a.precision).toBe('float32');
      expect(a.sweeps).toBe(b.sweeps);
      expect(Math.abs(a.finalNorm - b.finalNorm)).toBeLessThanOrEqual(1e-12 * b.finalNorm);
      a.network.blocks.forEach((block, k) => {
        const other = b.network.blocks[k].weight;
        for (let e = 0; e < other.length; e++) expect(Math.abs(block.weight[e] - other[e])).toBeLessThanOrEqual(2 ** -22 * Math.abs(other[e]));
      });
      net.blocks.forEach((block, k) => expect(block.weight).toEqual(before[k]));
      a.history.forEach((norm, s) => {
        if (s > 0) expect(norm).toBeLessThanOrEqual(a.history[s - 1] * (1 + 1e-6));
      });
    });

  it('on worker threads: the one-thread run on an ordinary copy', async () => {
    const plain = mlp([256, 2048, 512, 10], { seed: 3, dtype: 'float32' });
    const net = await inWeightMemory(plain);
    const memory = weightMemoryOf(net.blocks[0].weight) as WebAssembly.Memory;
    const size = memory.buffer.byteLength;
    const options = { p: 2, q: 2, backend: 'cpu' as const, tol: 1e-4 };
    const threaded = await balance(net, { ...options, threads: 2 });
    const alone = await balance(plain, { ...options, threads: 1 });
    expect(threaded.threads).toBe(2);
    expect(memory.buffer.byteLength - size).toBeGreaterThan(0);
    expect(memory.buffer.byteLength - size).toBeLessThan(plain.blocks[0].weight.byteLength);
    expect(threaded.sweeps).toBe(alone.sweeps);
    expect(Math.abs(threaded.finalNorm - alone.finalNorm)).toBeLessThanOrEqual(1e-12 * alone.finalNorm);
  });
});
