/**
 * Validation once per run (issue 11 point 4): the CLI's reader checks a file's structure and
 * leaves its values to `balance()`, which reads them once (with their range); `balance()` checks
 * the balanced values as it writes them; the writer then reads none to check them. Every read of
 * values to check them goes through `network/finite.ts`, which this file counts. Every refusal
 * (a non-finite weight or bias in the file, a balanced weight beyond float32) still names the
 * problem, and neither the caller's data nor the file is touched.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { balance } from '../src/balance.js';
import { wasmRangeFold } from '../src/engines/cpu/wasm/wasmKernels.js';
import { WeightBalanceError } from '../src/errors.js';
import { readOnnx } from '../src/io/onnx/index.js';
import { readSafetensors, safetensorsParts, writeSafetensors } from '../src/io/safetensors.js';
import { mlp } from '../src/network/builders.js';
import { foldWeightRange } from '../src/network/finite.js';
import { Random } from '../src/network/random.js';
import { rescale } from '../src/network/rescale.js';
import type { Network, WeightArray } from '../src/network/types.js';
import { model, node, randn, tensor, valueInfo } from './onnx/build.js';
import { runCli } from './support/runCli.js';

/** The arrays each value-reading function of `network/finite.ts` was given, in order, and their values when read (the CLI balances in place: the arrays hold the balanced values afterwards). */
const reads = vi.hoisted(() => ({ fold: [] as unknown[], finite: [] as unknown[], values: new Map<unknown, number[]>() }));

vi.mock('../src/network/finite.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../src/network/finite.js')>();
  return {
    ...actual,
    foldWeightRange: (w: WeightArray, ...rest: [{ smallest: number; largest: number }, import('../src/network/finite.js').RangeFold?]) => {
      reads.fold.push(w);
      reads.values.set(w, Array.from(w));
      return actual.foldWeightRange(w, ...rest);
    },
    firstNonFinite: (a: WeightArray) => {
      reads.finite.push(a);
      reads.values.set(a, Array.from(a));
      return actual.firstNonFinite(a);
    },
  };
});

let dir: string;
const at = (name: string): string => join(dir, name);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wb-values-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  reads.fold.length = 0;
  reads.finite.length = 0;
});

/** A float32 MLP with non-zero biases. */
function netWithBiases(): Network {
  return mlp([6, 8, 5, 3], { seed: 3, biasScale: 0.1 });
}

/**
 * A hidden unit with four incoming weights and one outgoing weight of 3e38: balanced (p = q = 2)
 * the outgoing one becomes 3e38 * sqrt(2), beyond the largest float32 (3.4e38).
 */
function overflowingNet(): Network {
  return {
    layers: [
      { name: 'in', shape: [4], activation: 'identity' },
      { name: 'hidden', shape: [1], activation: 'relu' },
      { name: 'out', shape: [1], activation: 'identity' },
    ],
    blocks: [
      { kind: 'dense', name: '0', from: 0, to: 1, shape: [1, 4], weight: new Float32Array(4).fill(3e38), bias: null },
      { kind: 'dense', name: '1', from: 1, to: 2, shape: [1, 1], weight: Float32Array.of(3e38), bias: null },
    ],
  };
}

/** Where `needle` starts in `haystack`. */
function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  throw new Error('tensor not found in the file');
}

/** The bytes of a safetensors file of `net` with entry `entry` of block `k`'s weight (or bias) set to `value`. */
function fileWith(net: Network, k: number, what: 'weight' | 'bias', entry: number, value: number): Uint8Array {
  // Written valid, then patched in the file: the writer refuses a non-finite value.
  const clean = writeSafetensors(net);
  const target = (what === 'weight' ? net.blocks[k].weight : net.blocks[k].bias) as Float32Array;
  const header = Number(new DataView(clean.buffer).getBigUint64(0, true));
  const offset = indexOf(clean.subarray(8 + header), new Uint8Array(target.buffer, target.byteOffset, target.byteLength));
  const patched = clean.slice();
  new DataView(patched.buffer).setFloat32(8 + header + offset + 4 * entry, value, true);
  const read = readSafetensors(patched, { checkValues: false }).blocks[k];
  expect((what === 'weight' ? read.weight : read.bias)?.[entry]).toBe(value);
  return patched;
}

describe('the CLI reads the values once per run', () => {
  it('balance -o: each weight read once (validation and range), each bias once, no output value read to check it', async () => {
    const net = netWithBiases();
    await writeFile(at('net.safetensors'), writeSafetensors(net));
    reads.fold.length = 0;
    reads.finite.length = 0;
    const run = await runCli(['balance', at('net.safetensors'), '-o', at('out.safetensors'), '--backend', 'cpu', '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(reads.fold).toHaveLength(net.blocks.length);
    expect(reads.finite).toHaveLength(net.blocks.filter((b) => b.bias).length);
    const all = [...reads.fold, ...reads.finite];
    expect(new Set(all).size).toBe(all.length); // no array read twice
    // The arrays read held the file's values, never the balanced ones written.
    const inputValues = net.blocks.flatMap((b) => [b.weight, ...(b.bias ? [b.bias] : [])]).map((a) => Array.from(a));
    for (const a of all) expect(inputValues).toContainEqual(reads.values.get(a));
    const balanced = readSafetensors(new Uint8Array(await readFile(at('out.safetensors'))));
    expect(Array.from(balanced.blocks[0].weight)).not.toEqual(Array.from(net.blocks[0].weight));
  });

  it('balance -o on an ONNX file: each weight read once to check it, as for safetensors', async () => {
    const rng = new Random(5);
    const bytes = model({
      input: [valueInfo('x', ['N', 4])],
      output: [valueInfo('y', ['N', 3])],
      initializer: [tensor('w1', [7, 4], randn(rng, [7, 4])), tensor('b1', [7], randn(rng, [7], 0.1)), tensor('w2', [3, 7], randn(rng, [3, 7]))],
      node: [node('Gemm', ['x', 'w1', 'b1'], ['z1'], { transB: 1 }), node('Relu', ['z1'], ['a1']), node('Gemm', ['a1', 'w2'], ['y'], { transB: 1 })],
    });
    await writeFile(at('net.onnx'), bytes);
    const run = await runCli(['balance', at('net.onnx'), '-o', at('out.onnx'), '--backend', 'cpu', '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(reads.fold).toHaveLength(2);
    expect(new Set(reads.fold).size).toBe(2);
    // readOnnx as a library call still checks them (and a reader told not to, does not).
    reads.fold.length = 0;
    readOnnx(bytes);
    expect(reads.fold).toHaveLength(2);
    readOnnx(bytes, { checkValues: false });
    expect(reads.fold).toHaveLength(2);
    // A NaN weight is still refused, by balance(), with the file and block named; no output.
    const w2 = randn(rng, [3, 7]);
    w2[4] = Number.NaN;
    const nan = model({
      input: [valueInfo('x', ['N', 4])],
      output: [valueInfo('y', ['N', 3])],
      initializer: [tensor('w1', [7, 4], randn(rng, [7, 4])), tensor('w2', [3, 7], w2)],
      node: [node('Gemm', ['x', 'w1'], ['z1'], { transB: 1 }), node('Relu', ['z1'], ['a1']), node('Gemm', ['a1', 'w2'], ['y'], { transB: 1 })],
    });
    await writeFile(at('nan.onnx'), nan);
    const refused = await runCli(['balance', at('nan.onnx'), '-o', at('nan-out.onnx'), '--backend', 'cpu']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/nan\.onnx'.*block 1.*weight entry 4 is not finite \(NaN\)/);
    expect(await readdir(dir)).not.toContain('nan-out.onnx');
  });

  it('the counter sees the checks the CLI leaves out: a default read and write read every value again', () => {
    const net = netWithBiases();
    const bytes = writeSafetensors(net);
    reads.fold.length = 0;
    reads.finite.length = 0;
    const read = readSafetensors(bytes);
    expect(reads.fold).toHaveLength(net.blocks.length);
    safetensorsParts(read);
    expect(reads.fold).toHaveLength(2 * net.blocks.length);
    reads.fold.length = 0;
    reads.finite.length = 0;
    safetensorsParts(readSafetensors(bytes, { checkValues: false }), { checkValues: false });
    expect(reads.fold.length + reads.finite.length).toBe(0);
  });

  it('a NaN weight or an infinite bias in the file: refused with the file, block and entry named, no output file, the file untouched', async () => {
    const net = netWithBiases();
    const cases: Array<[string, Uint8Array, RegExp]> = [
      [
        'nan-weight.safetensors',
        fileWith(net, 1, 'weight', 7, Number.NaN),
        /'.*nan-weight\.safetensors': block 1 \('2'\): weight entry 7 is not finite \(NaN\)/,
      ],
      ['inf-bias.safetensors', fileWith(net, 2, 'bias', 1, -Infinity), /'.*inf-bias\.safetensors': block 2 \('4'\): bias entry 1 is not finite \(-Infinity\)/],
    ];
    for (const [name, bytes, message] of cases) {
      await writeFile(at(name), bytes);
      const run = await runCli(['balance', at(name), '-o', at(`out-${name}`), '--backend', 'cpu']);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(message);
      expect(new Uint8Array(await readFile(at(name)))).toEqual(bytes);
      expect((await readdir(dir)).filter((f) => f.includes(`out-${name}`))).toEqual([]);
    }
  });

  it('a balanced weight beyond float32: refused by balance() as it is written, named, no output file', async () => {
    await writeFile(at('big.safetensors'), writeSafetensors(overflowingNet()));
    const run = await runCli(['balance', at('big.safetensors'), '-o', at('big-out.safetensors'), '--backend', 'cpu']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /'.*big\.safetensors': the rescaled network does not fit float32: block 1 \('1'\): weight entry 0 \(3\.\d+e\+38\) times exp\(0\.346\d*\) is beyond the largest float32 number/,
    );
    expect((await readdir(dir)).filter((f) => f.includes('big-out'))).toEqual([]);
  });
});

describe('balance() and rescale() never return a non-finite value', () => {
  it('balance refuses a balanced weight beyond float32, leaving the input as it was', async () => {
    const net = overflowingNet();
    const before = structuredClone(net);
    await expect(balance(net, { p: 2, q: 2, backend: 'cpu' })).rejects.toThrow(WeightBalanceError);
    await expect(balance(net, { p: 2, q: 2, backend: 'cpu' })).rejects.toThrow(/block 1 \('1'\): weight entry 0 .* beyond the largest float32 number/);
    expect(net).toEqual(before);
  });

  it('rescale refuses a weight or a bias that leaves float32, and rescales one that stays within it', () => {
    const net = overflowingNet();
    expect(() => rescale(net, [new Float64Array(4), Float64Array.of(-0.35), new Float64Array(1)])).toThrow(/block 1 \('1'\): weight entry 0/);
    expect(() => rescale(net, [new Float64Array(4), Float64Array.of(-0.1), new Float64Array(1)])).not.toThrow();
    // Biases far larger than the weights: a factor of e^21 takes a bias past float32, not a weight.
    const small = mlp([2, 3, 1], { seed: 1 });
    const withBias: Network = { ...small, blocks: [{ ...small.blocks[0], bias: new Float32Array(3).fill(1e30) }, small.blocks[1]] };
    const factors = [new Float64Array(2), Float64Array.of(0, 21, 0), new Float64Array(1)];
    expect(() => rescale(withBias, factors)).toThrow(/does not fit float32: block 0 \('0'\): bias entry 1 \(1\.\d+e\+30\) times exp\(21\.0+\)/);
    factors[1][1] = 10;
    expect((rescale(withBias, factors).blocks[0].bias?.[1] ?? 0) / (Math.fround(1e30) * Math.exp(10))).toBeCloseTo(1, 6);
  });
});

describe('validation reads the values with the WebAssembly SIMD kernel where a run has it', () => {
  /** Uniform in (-1, 1) with about one zero in eight, from a fixed seed. */
  function values(n: number, seed: number, wide: boolean): WeightArray {
    const out = wide ? new Float64Array(n) : new Float32Array(n);
    let s = seed;
    for (let i = 0; i < n; i++) {
      s = (s * 1103515245 + 12345) % 2147483648;
      out[i] = s % 8 === 0 ? 0 : (s / 2147483648) * 2 - 1;
    }
    return out;
  }

  it('the same range and first non-finite entry as the JS loop, across its chunks, float32 and float64 in one range', () => {
    const fold = wasmRangeFold();
    expect(fold).not.toBeNull();
    for (const n of [0, 1, 7, 8, 9, 65536, 65536 * 2 + 13]) {
      for (const wide of [false, true]) {
        const w = values(n, n + (wide ? 1 : 2), wide);
        if (n > 20) {
          w[3] = -0; // a zero with its sign bit: not the smallest non-zero
          w[n - 5] = wide ? 5e-324 : 1.401298464324817e-45; // the smallest subnormal, in the vector loop's tail for some n
        }
        // A float64 range carried into a float32 array's fold stays float64 (no rounding to float32).
        const start = { smallest: 1 / 3, largest: 1 / 7 };
        const js = { ...start };
        const simd = { ...start };
        expect(foldWeightRange(w, simd, fold ?? undefined)).toBe(foldWeightRange(w, js));
        expect(simd).toEqual(js);
        for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
          if (n === 0) continue;
          const at = Math.floor(n * 0.7);
          const v = w.slice();
          v[at] = bad;
          if (at + 3 < n) v[at + 3] = bad;
          expect(foldWeightRange(v, { smallest: Infinity, largest: 0 }, fold ?? undefined), `n ${n}, ${bad}`).toBe(at);
        }
      }
    }
  });

  it('balance() refuses a NaN weight read by the kernel, naming the block and entry', async () => {
    const net = mlp([5, 70000, 3], { seed: 4 }); // a block beyond one chunk of the kernel's copy
    const weight = net.blocks[0].weight;
    weight[66000] = Number.NaN;
    await expect(balance(net, { p: 2, q: 2, backend: 'cpu' })).rejects.toThrow(/block 0 \('0'\): weight entry 66000 is not finite \(NaN\)/);
    expect(Number.isNaN(weight[66000]) && weight[65999] === net.blocks[0].weight[65999]).toBe(true);
  });
});
