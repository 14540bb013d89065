/**
 * The final rescale as a row-scaled copy (issue 11 point 4): `w_ij * exp(U_i) * exp(-U_j)` with
 * one exponential per unit, placed in memory handed over (the CPU engine's `P` once a run is
 * over) — equal bit for bit to `rescale`, every entry written, nothing overlapping, the input
 * untouched.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { balance } from '../src/balance.js';
import { CpuEngine } from '../src/engines/cpu/cpuEngine.js';
import { WasmArena } from '../src/engines/cpu/wasm/wasmArena.js';
import { NetworkValueError } from '../src/errors.js';
import { mlp, sequential } from '../src/network/builders.js';
import { Arena, rescale, rescaledCopy } from '../src/network/rescale.js';
import type { Network, WeightArray } from '../src/network/types.js';
import { unitCount } from '../src/network/types.js';
import { compileProblem } from '../src/problem/compile.js';
import { cnnNet, groupedSplitNet, residualNet } from './support/fixNets.js';
import { uniformStream } from './support/fixReference.js';

/** Random log factors (zero on the input and output layers), up to `size` in magnitude. */
function logFactorsFor(net: Network, seed: number, size = 3): Float64Array[] {
  const rand = uniformStream(seed);
  const last = net.layers.length - 1;
  return net.layers.map((layer, k) => Float64Array.from({ length: unitCount(layer) }, () => (k === 0 || k === last ? 0 : size * (2 * rand() - 1))));
}

/** A CNN whose dense head reads a feature map (taps = positions), with grouped convolutions. */
function flattenNet(dtype: 'float32' | 'float64'): Network {
  return sequential(
    [2, 5, 5],
    [
      { type: 'conv', channels: 4, kernel: 3, padding: 1 },
      { type: 'conv', channels: 4, kernel: 3, groups: 2 },
      { type: 'dense', units: 3 },
    ],
    { seed: 4, dtype, biasScale: 0.2 },
  );
}

function arrays(net: Network): WeightArray[] {
  return net.blocks.flatMap((b) => (b.bias ? [b.weight, b.bias] : [b.weight]));
}

function sameBits(a: WeightArray, b: WeightArray): boolean {
  return a.constructor === b.constructor && a.length === b.length && a.every((x, i) => Object.is(x, b[i]));
}

describe('the row-scaled copy into memory handed over', () => {
  const nets: Array<[string, (dtype: 'float32' | 'float64') => Network]> = [
    ['residual MLP', (dtype) => residualNet(1, dtype)],
    ['CNN', (dtype) => cnnNet(2, dtype)],
    ['grouped split', (dtype) => groupedSplitNet({ seed: 3, dtype })],
    ['conv + flatten', flattenNet],
  ];
  for (const [name, make] of nets) {
    for (const dtype of ['float32', 'float64'] as const) {
      it(`${name}, ${dtype}: equal bit for bit to rescale, in the arena, disjoint, input untouched`, () => {
        const net = make(dtype);
        const before = arrays(net).map((a) => a.slice());
        const U = logFactorsFor(net, 11);
        const expected = rescale(net, U);
        const bytes = arrays(net).reduce((s, a) => s + Math.ceil(a.byteLength / 8) * 8, 0);
        // Two buffers full of NaN (what P leaves behind is garbage): every entry must be written.
        const buffers = [new ArrayBuffer(Math.ceil(bytes / 16) * 8 + 64), new ArrayBuffer(bytes)];
        for (const buffer of buffers) new Float64Array(buffer).fill(Number.NaN);
        const got = rescaledCopy(net, U, new Arena(buffers));
        arrays(got).forEach((a, k) => expect(sameBits(a, arrays(expected)[k]), `array ${k}`).toBe(true));
        arrays(net).forEach((a, k) => expect(sameBits(a, before[k]), `input array ${k}`).toBe(true));
        // Placed in the handed-over buffers, without overlap.
        const spans = arrays(got).map((a) => ({ buffer: buffers.indexOf(a.buffer as ArrayBuffer), begin: a.byteOffset, end: a.byteOffset + a.byteLength }));
        expect(spans.every((s) => s.buffer >= 0)).toBe(true);
        for (const s of spans) for (const t of spans) if (s !== t && s.buffer === t.buffer) expect(s.end <= t.begin || t.end <= s.begin).toBe(true);
      });
    }
  }

  it('where the arena has no room, new arrays; factors beyond e^350 take one exponential per edge', () => {
    const net = residualNet(5, 'float64');
    const U = logFactorsFor(net, 12);
    U[2][0] = 400;
    const got = rescaledCopy(net, U, new Arena([new ArrayBuffer(16)]));
    arrays(got).forEach((a, k) => {
      expect(a.byteLength > 16 ? a.buffer.byteLength : 0).toBe(a.byteLength > 16 ? a.byteLength : 0);
      expect(sameBits(a, arrays(rescale(net, U))[k])).toBe(true);
    });
  });

  it('rescaledCopy checks the log factors as rescale does', () => {
    const net = residualNet(6);
    const U = logFactorsFor(net, 13);
    U[1][0] = Number.NaN;
    expect(() => rescaledCopy(net, U)).toThrow(/log factor of layer 1 unit 0 is not finite/);
    expect(() => rescaledCopy(net, U.slice(1))).toThrow(/log factors for/);
  });
});

describe('the memory the CPU engine hands over', () => {
  for (const kernels of ['js', 'wasm'] as const) {
    for (const precision of ['float32', 'float64'] as const) {
      it(`${kernels} kernels, ${precision} P: release() hands over at least P's bytes, and the copy placed there equals rescale`, () => {
        const net = cnnNet(8, 'float32');
        const problem = compileProblem(net, { p: 2, q: 2 });
        const engine = new CpuEngine(problem, { schedule: 'parallel', precision, kernels });
        const pBytes = problem.blocks.reduce((s, b) => s + b.rows * b.cols * (precision === 'float32' ? 4 : 8), 0);
        const arena = engine.release();
        const { buffers } = arena;
        expect(buffers.reduce((s, b) => s + b.byteLength, 0)).toBeGreaterThanOrEqual(pBytes);
        const U = logFactorsFor(net, 14);
        const got = rescaledCopy(net, U, arena);
        arrays(got).forEach((a, k) => expect(sameBits(a, arrays(rescale(net, U))[k]), `array ${k}`).toBe(true));
        expect(arrays(got).some((a) => buffers.includes(a.buffer as ArrayBuffer))).toBe(true);
        engine.dispose(); // after release: harmless
      });
    }
  }

  it('balance: the result equals rescale by its log factors, placed in memory that held P, sharing nothing with the input', async () => {
    for (const dtype of ['float32', 'float64'] as const) {
      const net = cnnNet(9, dtype);
      const before = arrays(net).map((a) => a.slice());
      const result = await balance(net, { p: 2, q: 2, backend: 'cpu', tol: 1e-6 });
      const expected = rescale(net, result.logFactors);
      arrays(result.network).forEach((a, k) => expect(sameBits(a, arrays(expected)[k]), `${dtype} array ${k}`).toBe(true));
      arrays(net).forEach((a, k) => expect(sameBits(a, before[k])).toBe(true));
      const inputBuffers = new Set(arrays(net).map((a) => a.buffer));
      expect(arrays(result.network).some((a) => inputBuffers.has(a.buffer))).toBe(false);
      expect(arrays(result.network).filter((a) => a.buffer.byteLength !== a.byteLength).length).toBeGreaterThan(0);
    }
  });
});

describe('the float32 rescale in WebAssembly SIMD, in place in the memory that held P', () => {
  afterEach(() => vi.restoreAllMocks());

  /** The WebAssembly engine's arena for `net` (float32 `P`). */
  function wasmArena(net: Network): Arena {
    const engine = new CpuEngine(compileProblem(net, { p: 2, q: 2 }), { schedule: 'parallel', precision: 'float32', kernels: 'wasm' });
    const arena = engine.release();
    expect(arena).toBeInstanceOf(WasmArena);
    return arena;
  }

  // Widths that are not multiples of 4 exercise the kernel's tail; biases are placed there too.
  const net = (): Network => mlp([7, 13, 6, 9, 5], { seed: 21, dtype: 'float32', biasScale: 0.3 });

  it('dense float32 blocks: the SIMD kernel (not the JS loop) writes them, equal bit for bit to rescale, in the memory, input untouched', () => {
    const input = net();
    const before = arrays(input).map((a) => a.slice());
    const arena = wasmArena(input);
    const js = vi.spyOn(Arena.prototype, 'scaleRows32');
    const U = logFactorsFor(input, 22);
    const got = rescaledCopy(input, U, arena);
    expect(js).not.toHaveBeenCalled();
    const expected = rescale(input, U);
    arrays(got).forEach((a, k) => expect(sameBits(a, arrays(expected)[k]), `array ${k}`).toBe(true));
    arrays(got).forEach((a) => expect(a.buffer).toBe(arena.buffers[0]));
    arrays(input).forEach((a, k) => expect(sameBits(a, before[k]), `input array ${k}`).toBe(true));
  });

  it('grouped 1 x 1 convolutions (one tap, a column offset per group) take the kernel too, with the same result', () => {
    const input = sequential(
      [4, 3, 3],
      [
        { type: 'conv', channels: 6, kernel: 1, groups: 2 },
        { type: 'conv', channels: 10, kernel: 1, groups: 2 },
        { type: 'dense', units: 3 },
      ],
      { seed: 27, dtype: 'float32', biasScale: 0.2 },
    );
    const arena = wasmArena(input);
    const js = vi.spyOn(Arena.prototype, 'scaleRows32');
    const U = logFactorsFor(input, 28);
    const got = rescaledCopy(input, U, arena);
    expect(js).toHaveBeenCalledTimes(1); // the dense head reads 9 positions per unit: the JS loop
    arrays(got).forEach((a, k) => expect(sameBits(a, arrays(rescale(input, U))[k]), `array ${k}`).toBe(true));
  });

  it('a value beyond float32 is refused as it is written, naming the block, the entry and the factor', () => {
    const input = net();
    const before = arrays(input).map((a) => a.slice());
    const U = logFactorsFor(input, 23);
    U[2][4] = 100; // e^100 > 3.4e38 / |w| for every weight into unit 4 of layer 2
    const arena = wasmArena(input);
    expect(() => rescaledCopy(input, U, arena)).toThrow(NetworkValueError);
    expect(() => rescaledCopy(input, U, wasmArena(input))).toThrow(
      /does not fit float32: block 1 \('2'\): weight entry 52 \(.+\) times exp\(\d+\.\d+\) is beyond the largest float32 number/,
    );
    expect(() => rescale(input, U)).toThrow(/block 1 \('2'\): weight entry 52 /);
    arrays(input).forEach((a, k) => expect(sameBits(a, before[k]), `input array ${k}`).toBe(true));
  });

  it('convolutions (taps > 1) and float64 blocks take the JS loops, with the same result', () => {
    for (const input of [cnnNet(24, 'float32'), mlp([5, 8, 3], { seed: 25, dtype: 'float64' })]) {
      const U = logFactorsFor(input, 26);
      const got = rescaledCopy(input, U, wasmArena(input));
      arrays(got).forEach((a, k) => expect(sameBits(a, arrays(rescale(input, U))[k]), `array ${k}`).toBe(true));
    }
  });
});
