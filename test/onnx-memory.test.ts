/**
 * One copy of the weights: the ONNX reader gives the network float32 arrays of its own (never
 * float64 for a float32 file, never a view of the caller's bytes), keeps only the bytes around
 * the weight data for the writer (so the caller may drop or reuse the file's bytes), and the
 * writer returns float32 weights stored `[out, in...]` as views of the balanced network's arrays.
 * The peak-memory figures themselves are in bench/README.md (`npm run zoo`).
 */
import { describe, expect, it } from 'vitest';
import { balance, readOnnx, writeOnnx, writeOnnxFiles } from '../src/index.js';
import { writeOnnxParts } from '../src/io/onnx/index.js';
import { Random } from '../src/network/random.js';
import { model, node, randn, relativeError, runOrt, tensor, valueInfo } from './onnx/build.js';

/** Gemm (transB 1, raw), MatMul (transposed), Conv + BatchNormalization (folded) and a float_data weight. */
function mixedModel(): Uint8Array {
  const rng = new Random(11);
  const bn = (name: string, n: number, low: number) =>
    tensor(
      name,
      [n],
      Float32Array.from({ length: n }, () => low + rng.uniform()),
    );
  return model({
    input: [valueInfo('x', ['N', 2, 5, 5])],
    output: [valueInfo('y', ['N', 3])],
    initializer: [
      tensor('conv.weight', [4, 2, 3, 3], randn(rng, [4, 2, 3, 3], 0.5, 1.5)),
      bn('bn.scale', 4, 0.5),
      bn('bn.bias', 4, -0.5),
      bn('bn.mean', 4, -0.5),
      bn('bn.var', 4, 0.5),
      tensor('fc1.weight', [6, 36], randn(rng, [6, 36], 0.5, 1.5)),
      tensor('fc1.bias', [6], randn(rng, [6], 0.2)),
      tensor('fc2.weight', [6, 5], randn(rng, [6, 5], 0.5, 1.5)),
      tensor('fc3.weight', [3, 5], randn(rng, [3, 5], 0.5, 1.5), { storage: 'typed' }),
    ],
    node: [
      node('Conv', ['x', 'conv.weight'], ['c'], { kernel_shape: [3, 3] }),
      node('BatchNormalization', ['c', 'bn.scale', 'bn.bias', 'bn.mean', 'bn.var'], ['n']),
      node('Relu', ['n'], ['r']),
      node('Flatten', ['r'], ['f']),
      node('Gemm', ['f', 'fc1.weight', 'fc1.bias'], ['h1'], { transB: 1 }),
      node('Relu', ['h1'], ['a1']),
      node('MatMul', ['a1', 'fc2.weight'], ['h2']),
      node('Relu', ['h2'], ['a2']),
      node('Gemm', ['a2', 'fc3.weight'], ['y'], { transB: 1 }),
    ],
  });
}

describe('ONNX memory: one copy of the weights', () => {
  it('the network holds float32 arrays of its own; scribbling over the caller bytes after reading changes nothing written', async () => {
    const bytes = mixedModel();
    const onnx = readOnnx(bytes);
    for (const b of onnx.network.blocks) {
      expect(b.weight).toBeInstanceOf(Float32Array);
      expect(b.weight.buffer).not.toBe(bytes.buffer);
    }
    // What the writer keeps is the file less the raw weight data it rewrites (conv 4x2x3x3, the
    // folded BatchNormalization's B 4, fc1 6x36 + 6, fc2 6x5; fc3's float_data stays in the kept bytes).
    const rewritten = 4 * (72 + 4 + 216 + 6 + 30);
    const kept = onnx.source.files.flatMap((f) => f.kept).reduce((n, k) => n + k.bytes.length, 0);
    expect(kept).toBe(bytes.length - rewritten);
    const result = await balance(onnx.network, { p: 2, q: 2, backend: 'cpu', tol: 1e-8 });
    const expected = writeOnnx(readOnnx(mixedModel()), result.network);
    const original = bytes.slice();
    bytes.fill(0xab); // the reader kept nothing of these bytes
    const written = writeOnnx(onnx, result.network);
    expect(written).toEqual(expected);
    // And it is still the model's function (the scribbled bytes would not even decode).
    const rng = new Random(3);
    const x = Float32Array.from({ length: 2 * 50 }, () => rng.normal());
    expect(relativeError(await runOrt(original, x, [2, 2, 5, 5]), await runOrt(written, x, [2, 2, 5, 5]))).toBeLessThan(1e-5);
  });

  it("the writer's parts: a float32 [out, in] weight is the balanced network's own array, a transposed or folded one a new array", async () => {
    const onnx = readOnnx(mixedModel());
    const net = (await balance(onnx.network, { p: 2, q: 2, backend: 'cpu', tol: 1e-8 })).network;
    const parts = [...writeOnnxParts(onnx.source, net).model];
    // The same bytes, not only the same buffer: after a CPU run the balanced arrays may share one buffer (P's memory).
    const shares = (k: number): boolean => {
      const w = net.blocks[k].weight;
      return parts.some((part) => part.buffer === w.buffer && part.byteOffset === w.byteOffset && part.byteLength === w.byteLength);
    };
    const byName = (name: string): number => net.blocks.findIndex((b) => b.name === name);
    expect(shares(byName('fc1'))).toBe(true); // Gemm transB = 1, raw float32: no copy
    expect(shares(byName('fc2'))).toBe(false); // MatMul: stored [in, out]
    expect(shares(byName('conv'))).toBe(false); // BatchNormalization folded: row / s
    expect(shares(byName('fc3'))).toBe(false); // float_data: patched into a copy of the kept bytes
    // The parts never are the network's arrays reinterpreted in another layout: joined, they are writeOnnx's file.
    const joined = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      joined.set(p, at);
      at += p.length;
    }
    expect(joined).toEqual(writeOnnx(onnx, net));
  });

  it('a MatMul weight larger than the read chunk (1 MiB) is transposed exactly, whatever the alignment of its bytes', () => {
    const rng = new Random(6);
    const w = randn(rng, [600, 500]); // stored [in, out]: 1.2 MB, two chunks of stored rows
    for (const name of ['w', 'w.x', 'w.xy', 'w.xyz']) {
      // Names of different lengths move the raw data to every offset modulo 4.
      const bytes = model({
        input: [valueInfo('x', ['N', 600])],
        output: [valueInfo('y', ['N', 500])],
        initializer: [tensor(name, [600, 500], w)],
        node: [node('MatMul', ['x', name], ['y'])],
      });
      const weight = readOnnx(bytes).network.blocks[0].weight;
      expect(weight).toBeInstanceOf(Float32Array);
      let worst = 0;
      for (let i = 0; i < 500; i++) for (let j = 0; j < 600; j++) worst = Math.max(worst, Math.abs(weight[i * 600 + j] - w[j * 500 + i]));
      expect(worst).toBe(0);
    }
  });

  it('external data: the files given are not kept either; unchanged bytes of a data file survive', async () => {
    const rng = new Random(4);
    const w1 = randn(rng, [5, 3], 0.5, 1.5);
    const w2 = randn(rng, [2, 5], 0.5, 1.5);
    const data = new Uint8Array(8 + w1.byteLength + w2.byteLength + 8);
    data.set(new TextEncoder().encode('preamble'), 0);
    data.set(new Uint8Array(w1.buffer), 8);
    data.set(new Uint8Array(w2.buffer), 8 + w1.byteLength);
    data.set(new TextEncoder().encode('trailer!'), data.length - 8);
    const external = (name: string, dims: number[], offset: number, length: number) => ({
      name,
      dims,
      dataType: 1,
      dataLocation: 1,
      externalData: [
        { key: 'location', value: 'w.bin' },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(length) },
      ],
    });
    const bytes = model({
      input: [valueInfo('x', ['N', 3])],
      output: [valueInfo('y', ['N', 2])],
      initializer: [external('w1', [5, 3], 8, w1.byteLength), external('w2', [2, 5], 8 + w1.byteLength, w2.byteLength)],
      node: [node('Gemm', ['x', 'w1'], ['h'], { transB: 1 }), node('Relu', ['h'], ['a']), node('Gemm', ['a', 'w2'], ['y'], { transB: 1 })],
    });
    const onnx = readOnnx(bytes, { externalData: { 'w.bin': data } });
    const net = (await balance(onnx.network, { p: 2, q: 2, backend: 'cpu', tol: 1e-8 })).network;
    const expected = writeOnnxFiles(readOnnx(bytes, { externalData: { 'w.bin': data.slice() } }), net);
    const originalData = data.slice();
    data.fill(0);
    bytes.fill(0);
    const files = writeOnnxFiles(onnx, net);
    expect(files).toEqual(expected);
    const out = files.externalData['w.bin'];
    expect(new TextDecoder().decode(out.subarray(0, 8))).toBe('preamble');
    expect(new TextDecoder().decode(out.subarray(out.length - 8))).toBe('trailer!');
    expect(out.subarray(8, out.length - 8)).not.toEqual(originalData.subarray(8, out.length - 8)); // the weights were rewritten
  });
});
