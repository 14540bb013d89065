/**
 * ONNX bad input: every refusal is a WeightBalanceError whose message names the problem (and
 * the node, the input or the initializer), and the caller's bytes are never modified.
 */
import { describe, expect, it } from 'vitest';
import { balance, lpqNorm, mlp, readOnnx, WeightBalanceError, writeOnnx, writeOnnxFiles } from '../src/index.js';
import { initializerLayouts } from '../src/io/onnx/wire.js';
import { Random } from '../src/network/random.js';
import { int64Tensor, model, node, randn, relativeError, runOrt, tensor, valueInfo } from './onnx/build.js';
import { refusal } from './support/refusal.js';

function mlpModel(options: { sharedWeight?: boolean; external?: boolean } = {}): { bytes: Uint8Array; w1: Float32Array } {
  const rng = new Random(11);
  const w1 = randn(rng, [6, 4], 0.5, 1.5);
  const w1Tensor = options.external
    ? {
        name: 'w1',
        dims: [6, 4],
        dataType: 1,
        dataLocation: 1,
        externalData: [
          { key: 'location', value: 'weights.bin' },
          { key: 'offset', value: '16' },
          { key: 'length', value: String(w1.byteLength) },
        ],
      }
    : tensor('w1', [6, 4], w1);
  const bytes = model({
    input: [valueInfo('x', ['N', 4])],
    output: [valueInfo('y', ['N', 4])],
    initializer: [w1Tensor, tensor('w2', [6, 6], randn(rng, [6, 6], 0.5, 1.5)), tensor('w3', [4, 6], randn(rng, [4, 6], 0.5, 1.5))],
    node: [
      node('Gemm', ['x', 'w1'], ['z1'], { transB: 1 }, 'fc1'),
      node('Relu', ['z1'], ['a1']),
      node('Gemm', ['a1', 'w2'], ['z2'], { transB: 1 }, 'fc2'),
      node('Relu', ['z2'], ['a2']),
      node('Gemm', ['a2', options.sharedWeight ? 'w2' : 'w3'], ['y'], { transB: options.sharedWeight ? 0 : 1 }, 'fc3'),
    ],
  });
  return { bytes, w1 };
}

describe('ONNX bad input', () => {
  it('files that are not ONNX: empty, random bytes, text, JSON, ZIP (PyTorch), safetensors', () => {
    const rng = new Random(1);
    const random = Uint8Array.from({ length: 4096 }, () => Math.floor(rng.uniform() * 256));
    const text = new TextEncoder().encode('hello, this is not a model\n');
    const json = new TextEncoder().encode('{"layers": []}');
    const zip = Uint8Array.from([0x50, 0x4b, 0x03, 0x04, 1, 2, 3, 4, 5, 6]);
    const header = new TextEncoder().encode('{"__metadata__":{}}');
    const safetensors = new Uint8Array(8 + header.length);
    new DataView(safetensors.buffer).setUint32(0, header.length, true);
    safetensors.set(header, 8);
    expect(refusal(() => readOnnx(new Uint8Array(0)))).toMatch(/not an ONNX model: the file is empty/);
    expect(refusal(() => readOnnx(random))).toMatch(/not (a valid|an) ONNX model/);
    expect(refusal(() => readOnnx(text))).toMatch(/not (a valid|an) ONNX model/);
    expect(refusal(() => readOnnx(json))).toMatch(/JSON/);
    expect(refusal(() => readOnnx(zip))).toMatch(/ZIP archive/);
    expect(refusal(() => readOnnx(safetensors))).toMatch(/safetensors/);
  });

  it('a truncated file, at several lengths', () => {
    const { bytes } = mlpModel();
    for (const fraction of [0.2, 0.5, 0.9, 0.99]) {
      const cut = bytes.subarray(0, Math.floor(bytes.length * fraction));
      expect(refusal(() => readOnnx(cut))).toMatch(/truncated/);
    }
  });

  it('external data: refused when missing or short, balanced and written back when given', async () => {
    const { bytes, w1 } = mlpModel({ external: true });
    const message = refusal(() => readOnnx(bytes));
    expect(message).toContain("'w1'");
    expect(message).toContain("'weights.bin'");
    const file = new Uint8Array(16 + w1.byteLength + 8);
    file.set(new Uint8Array(w1.buffer), 16);
    expect(refusal(() => readOnnx(bytes, { externalData: { 'weights.bin': file.subarray(0, 40) } }))).toMatch(/w1.*does not fit in 'weights.bin'.*truncated/);
    const fileCopy = file.slice();
    const onnx = readOnnx(bytes, { externalData: { 'weights.bin': file } });
    expect(Array.from(onnx.network.blocks[0].weight)).toEqual(Array.from(w1));
    const result = await balance(onnx.network, { p: 2, q: 2, backend: 'cpu', tol: 1e-10 });
    expect(refusal(() => writeOnnx(onnx, result.network))).toMatch(/writeOnnxFiles/);
    const files = writeOnnxFiles(onnx, result.network);
    expect(Object.keys(files.externalData)).toEqual(['weights.bin']);
    expect(Array.from(file)).toEqual(Array.from(fileCopy)); // the caller's buffer is untouched
    const written = files.externalData['weights.bin'];
    expect(Array.from(written.subarray(0, 16))).toEqual(Array.from(file.subarray(0, 16)));
    expect(Array.from(written.subarray(16 + w1.byteLength))).toEqual(Array.from(file.subarray(16 + w1.byteLength)));
    const again = readOnnx(files.model, { externalData: files.externalData });
    expect(Math.abs(lpqNorm(again.network, 2, 2) / result.finalNorm - 1)).toBeLessThan(1e-5);
    expect(result.finalNorm).toBeLessThan(result.initialNorm * 0.95);
  });

  it('dynamic shapes it cannot resolve: a symbolic input dimension, a Reshape to a computed shape', () => {
    const rng = new Random(2);
    const conv = (input: object): Uint8Array =>
      model({
        input: [input],
        output: [valueInfo('y', ['N', 3])],
        initializer: [
          tensor('c.w', [2, 3, 3, 3], randn(rng, [2, 3, 3, 3])),
          tensor('fc.w', [3, 72], randn(rng, [3, 72])),
          int64Tensor('minus1', [-1]),
          int64Tensor('zero', [0]),
          int64Tensor('one', [1]),
        ],
        node: [
          node('Conv', ['x', 'c.w'], ['z'], { pads: [1, 1, 1, 1] }),
          node('Relu', ['z'], ['a']),
          node('Shape', ['a'], ['s']),
          node('Slice', ['s', 'zero', 'one'], ['n']),
          node('Concat', ['n', 'minus1'], ['target'], { axis: 0 }),
          node('Reshape', ['a', 'target'], ['f'], {}, 'the_reshape'),
          node('Gemm', ['f', 'fc.w'], ['y'], { transB: 1 }),
        ],
      });
    const symbolic = refusal(() => readOnnx(conv(valueInfo('x', ['N', 3, 'height', 6]))));
    expect(symbolic).toMatch(/input 'x'.*dimension 2 is dynamic \('height'\)/);
    const computed = refusal(() => readOnnx(conv(valueInfo('x', ['N', 3, 6, 6]))));
    expect(computed).toMatch(/'the_reshape' \(Reshape\).*computed at run time/);
  });

  it('an unknown op that changes the shape is refused, naming the node', () => {
    const rng = new Random(3);
    const bytes = model({
      input: [valueInfo('x', ['N', 2, 4, 4])],
      output: [valueInfo('y', ['N', 2])],
      initializer: [tensor('c.w', [2, 2, 1, 1], randn(rng, [2, 2, 1, 1])), tensor('fc.w', [2, 32], randn(rng, [2, 32]))],
      node: [
        node('Conv', ['x', 'c.w'], ['z']),
        node('Transpose', ['z'], ['t'], { perm: [0, 1, 3, 2] }, 'the_transpose'),
        node('Flatten', ['t'], ['f']),
        node('Gemm', ['f', 'fc.w'], ['y'], { transB: 1 }),
      ],
    });
    expect(refusal(() => readOnnx(bytes))).toMatch(/'the_transpose' \(Transpose\).*not supported/);
  });

  it('a weight shared by two nodes, asymmetric padding, two outputs, an unsorted graph', () => {
    expect(refusal(() => readOnnx(mlpModel({ sharedWeight: true }).bytes))).toMatch(/initializer 'w2'.*shared weights/);
    const rng = new Random(4);
    const convNet = (pads: number[]): Uint8Array =>
      model({
        input: [valueInfo('x', ['N', 2, 5, 5])],
        output: [valueInfo('y', ['N', 2, 5, 5])],
        initializer: [tensor('c.w', [2, 2, 3, 3], randn(rng, [2, 2, 3, 3]))],
        node: [node('Conv', ['x', 'c.w'], ['y'], { pads }, 'the_conv')],
      });
    expect(() => readOnnx(convNet([1, 1, 1, 1]))).not.toThrow();
    expect(refusal(() => readOnnx(convNet([1, 1, 0, 0])))).toMatch(/'the_conv' \(Conv\).*pads \[1,1,0,0\] are not symmetric/);
    const pooled = (op: string, pads: number[]): Uint8Array =>
      model({
        input: [valueInfo('x', ['N', 2, 5, 5])],
        output: [valueInfo('y', ['N', 2, 3, 3])],
        initializer: [tensor('c.w', [2, 2, 3, 3], randn(rng, [2, 2, 3, 3]))],
        node: [node('Conv', ['x', 'c.w'], ['z'], { pads: [1, 1, 1, 1] }), node(op, ['z'], ['y'], { kernel_shape: [3, 3], strides: [2, 2], pads }, 'the_pool')],
      });
    expect(() => readOnnx(pooled('MaxPool', [1, 1, 1, 1]))).not.toThrow();
    expect(readOnnx(pooled('AveragePool', [1, 1, 1, 1])).network.layers[1].pool).toEqual({ kind: 'avg', size: [3, 3], stride: [2, 2], padding: [1, 1] });
    expect(refusal(() => readOnnx(pooled('AveragePool', [0, 1, 0, 0])))).toMatch(/'the_pool' \(AveragePool\).*padded pooling/);
    expect(refusal(() => readOnnx(pooled('MaxPool', [0, 0, 1, 1])))).toMatch(/'the_pool' \(MaxPool\).*padded pooling/);
    const twoOutputs = model({
      input: [valueInfo('x', ['N', 2])],
      output: [valueInfo('y', ['N', 2]), valueInfo('z', ['N', 2])],
      initializer: [tensor('w', [2, 2], [1, 2, 3, 4])],
      node: [node('Gemm', ['x', 'w'], ['y']), node('Relu', ['y'], ['z'])],
    });
    expect(refusal(() => readOnnx(twoOutputs))).toMatch(/2 outputs/);
    const unsorted = model({
      input: [valueInfo('x', ['N', 2])],
      output: [valueInfo('y', ['N', 2])],
      initializer: [tensor('w', [2, 2], [1, 2, 3, 4]), tensor('v', [2, 2], [1, 2, 3, 4])],
      node: [node('Gemm', ['a', 'v'], ['y'], {}, 'late'), node('Gemm', ['x', 'w'], ['z']), node('Relu', ['z'], ['a'])],
    });
    expect(refusal(() => readOnnx(unsorted))).toMatch(/'late' \(Gemm\) reads 'a'.*topologically sorted/);
  });

  it("writeOnnx refuses a network of another structure; reading and writing never modify the caller's bytes", async () => {
    const { bytes } = mlpModel();
    const before = bytes.slice();
    const onnx = readOnnx(bytes);
    expect(refusal(() => writeOnnx(onnx, mlp([4, 6, 4], { seed: 1 })))).toMatch(/2 blocks, the ONNX model 3/);
    expect(refusal(() => writeOnnx(onnx, mlp([4, 5, 6, 4], { seed: 1 })))).toMatch(/block 0 .* does not match/);
    const result = await balance(onnx.network, { p: 1, q: 3, backend: 'cpu', tol: 1e-10 });
    const written = writeOnnx(onnx, result.network);
    expect(Array.from(bytes)).toEqual(Array.from(before));
    // A Node Buffer (whose slice() shares memory) is not written through either.
    const buffer = Buffer.from(bytes);
    const fromBuffer = readOnnx(buffer);
    writeOnnx(fromBuffer, (await balance(fromBuffer.network, { p: 2, q: 2, backend: 'cpu' })).network);
    expect(buffer.equals(Buffer.from(before))).toBe(true);
    const x = Float32Array.from({ length: 8 }, (_, k) => Math.cos(k));
    expect(relativeError(await runOrt(bytes, x, [2, 4]), await runOrt(written, x, [2, 4]))).toBeLessThan(1e-5);
  });
});

describe('ONNX reader under corrupted bytes', () => {
  it('random byte flips and cuts never escape as anything but a WeightBalanceError', () => {
    const { bytes } = mlpModel();
    // Structure bytes (everything but the weights' numbers), where corruption matters most.
    const data = new Uint8Array(bytes.length);
    for (const layout of initializerLayouts(bytes)) if (layout.raw) data.fill(1, layout.raw.offset, layout.raw.offset + layout.raw.length);
    const structure = [...data.keys()].filter((k) => data[k] === 0);
    const rng = new Random(99);
    let refused = 0;
    let accepted = 0;
    for (let trial = 0; trial < 600; trial++) {
      const copy = bytes.slice();
      const flips = 1 + Math.floor(rng.uniform() * 4);
      for (let f = 0; f < flips; f++) copy[structure[Math.floor(rng.uniform() * structure.length)]] = Math.floor(rng.uniform() * 256);
      const cut = rng.uniform() < 0.3 ? copy.subarray(0, Math.floor(rng.uniform() * copy.length)) : copy;
      try {
        const onnx = readOnnx(cut);
        // Whatever was accepted writes back byte for byte when nothing was rescaled.
        expect(Buffer.from(writeOnnx(onnx, onnx.network)).equals(Buffer.from(cut))).toBe(true);
        accepted++;
      } catch (error) {
        if (!(error instanceof WeightBalanceError)) throw new Error(`trial ${trial}: ${String(error)}`);
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(200);
    expect(accepted).toBeGreaterThan(10);
  });
});
