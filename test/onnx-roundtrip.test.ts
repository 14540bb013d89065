/**
 * ONNX import/export: models built in code are read, balanced by the CPU engine, written back,
 * and run with onnxruntime before and after. The written model must compute the same outputs
 * (1e-5 relative), hold weights at the minimum norm, and differ from the original file only
 * inside the initializers' data bytes.
 */

import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { balance, forward, lpqNorm, readOnnx, writeOnnx } from '../src/index.js';
import { float16ToNumber, numberToFloat16 } from '../src/io/halfFloat.js';
import { Random } from '../src/network/random.js';
import { DOUBLE, int64Tensor, model, node, randn, relativeError, runOrt, tensor, valueInfo } from './onnx/build.js';

import { roundTrip } from './onnx/roundTrip.js';

describe('ONNX round trip through onnxruntime', () => {
  it('MLP of Gemm nodes (transB 0 and 1, alpha, beta, raw_data and float_data)', async () => {
    const rng = new Random(1);
    const bytes = model({
      input: [valueInfo('x', ['N', 6])],
      output: [valueInfo('y', ['N', 4])],
      initializer: [
        tensor('w1', [8, 6], randn(rng, [8, 6], 0.5, 1.5)),
        tensor('b1', [8], randn(rng, [8], 0.3, 1.5), { storage: 'typed' }),
        tensor('w2', [8, 7], randn(rng, [8, 7], 0.5, 1.5), { storage: 'typed' }),
        tensor('b2', [1, 7], randn(rng, [7], 0.3)),
        tensor('w3', [4, 7], randn(rng, [4, 7], 0.5, 1.5)),
        tensor('b3', [4], randn(rng, [4], 0.3)),
      ],
      node: [
        node('Gemm', ['x', 'w1', 'b1'], ['h1'], { transB: 1 }),
        node('Relu', ['h1'], ['a1']),
        node('Gemm', ['a1', 'w2', 'b2'], ['h2'], { alpha: { float: 0.5 }, beta: { float: 2 } }),
        node('Relu', ['h2'], ['a2']),
        node('Gemm', ['a2', 'w3', 'b3'], ['y'], { transB: 1 }),
      ],
    });
    const r = await roundTrip(bytes, [6]);
    expect(r.fixedOps).toEqual([]);
  });

  it('MLP of MatMul + Add with LeakyRelu, a weight passed through Identity; double weights', async () => {
    const rng = new Random(2);
    const bytes = model({
      input: [valueInfo('x', ['N', 5])],
      output: [valueInfo('y', ['N', 3])],
      initializer: [
        tensor('w1', [5, 9], randn(rng, [5, 9], 0.5, 1.5)),
        tensor('b1', [9], randn(rng, [9], 0.2)),
        tensor('w2', [9, 6], randn(rng, [9, 6], 0.5, 1.5)),
        tensor('b2', [6], randn(rng, [6], 0.2)),
        tensor('w3', [6, 3], randn(rng, [6, 3], 0.5, 1.5)),
      ],
      node: [
        node('Identity', ['w1'], ['w1.alias']),
        node('MatMul', ['x', 'w1.alias'], ['m1']),
        node('Add', ['m1', 'b1'], ['h1']),
        node('LeakyRelu', ['h1'], ['a1'], { alpha: { float: 0.1 } }),
        node('MatMul', ['a1', 'w2'], ['m2']),
        node('Add', ['b2', 'm2'], ['h2']),
        node('Relu', ['h2'], ['a2']),
        node('MatMul', ['a2', 'w3'], ['y']),
      ],
    });
    await roundTrip(bytes, [5]);
    // float64 initializers stay float64 (and keep their storage).
    const rngD = new Random(3);
    const doubles = model({
      input: [valueInfo('x', ['N', 4], DOUBLE)],
      output: [valueInfo('y', ['N', 2], DOUBLE)],
      initializer: [
        tensor('w1', [6, 4], randn(rngD, [6, 4], 0.5, 1.5), { type: DOUBLE }),
        tensor('b1', [6], randn(rngD, [6], 0.2), { type: DOUBLE, storage: 'typed' }),
        tensor('w2', [2, 6], randn(rngD, [2, 6], 0.5, 1.5), { type: DOUBLE, storage: 'typed' }),
      ],
      node: [node('Gemm', ['x', 'w1', 'b1'], ['h'], { transB: 1 }), node('Relu', ['h'], ['a']), node('Gemm', ['a', 'w2'], ['y'], { transB: 1 })],
    });
    const m = readOnnx(doubles);
    expect(m.network.blocks.every((b) => b.weight instanceof Float64Array)).toBe(true);
    const res = await balance(m.network, { p: 2, q: 2, backend: 'cpu', tol: 1e-12 });
    const again = readOnnx(writeOnnx(m, res.network));
    expect(Math.abs(lpqNorm(again.network, 2, 2) / res.finalNorm - 1)).toBeLessThan(1e-12);
  });

  it('CNN with grouped and depthwise convolutions, max/avg pooling before and after ReLU, Reshape to flatten', async () => {
    const rng = new Random(3);
    const bytes = model({
      input: [valueInfo('x', ['N', 4, 8, 8])],
      output: [valueInfo('y', ['N', 3])],
      initializer: [
        tensor('c1.w', [8, 2, 3, 3], randn(rng, [8, 2, 3, 3], 0.4, 1.5)),
        tensor('c1.b', [8], randn(rng, [8], 0.1)),
        tensor('c2.w', [8, 1, 3, 3], randn(rng, [8, 1, 3, 3], 0.4, 1.5)),
        tensor('c2.b', [8], randn(rng, [8], 0.1)),
        tensor('c3.w', [6, 8, 1, 1], randn(rng, [6, 8, 1, 1], 0.4, 1.5)),
        tensor('fc.w', [3, 24], randn(rng, [3, 24], 0.3, 1)),
        tensor('fc.b', [3], randn(rng, [3], 0.1)),
        int64Tensor('flat', [0, -1]),
      ],
      node: [
        node('Conv', ['x', 'c1.w', 'c1.b'], ['z1'], { group: 2, pads: [1, 1, 1, 1], kernel_shape: [3, 3] }),
        node('Relu', ['z1'], ['a1']),
        node('MaxPool', ['a1'], ['p1'], { kernel_shape: [2, 2], strides: [2, 2] }),
        node('Conv', ['p1', 'c2.w', 'c2.b'], ['z2'], { group: 8, pads: [1, 1, 1, 1] }),
        node('AveragePool', ['z2'], ['p2'], { kernel_shape: [2, 2], strides: [2, 2] }),
        node('Relu', ['p2'], ['a2']),
        node('Conv', ['a2', 'c3.w'], ['z3']),
        node('MaxPool', ['z3'], ['p3'], { kernel_shape: [1, 1] }),
        node('Relu', ['p3'], ['a3']),
        node('Reshape', ['a3', 'flat'], ['f']),
        node('Gemm', ['f', 'fc.w', 'fc.b'], ['y'], { transB: 1 }),
      ],
    });
    const onnx = readOnnx(bytes);
    expect(onnx.network.blocks.map((b) => b.kind)).toEqual(['conv2d', 'conv2d', 'conv2d', 'dense']);
    expect(onnx.network.blocks.map((b) => (b.kind === 'conv2d' ? b.groups : 0))).toEqual([2, 8, 1, 0]);
    await roundTrip(bytes, [4, 8, 8]);
  });

  it('x.view(x.size(0), -1) as exported with a dynamic batch: Shape, Gather, Unsqueeze, Concat, Reshape', async () => {
    const rng = new Random(9);
    const bytes = model({
      input: [valueInfo('x', ['batch', 2, 5, 5])],
      output: [valueInfo('y', ['batch', 3])],
      initializer: [
        tensor('c.w', [4, 2, 3, 3], randn(rng, [4, 2, 3, 3], 0.4, 1.5)),
        tensor('c.b', [4], randn(rng, [4], 0.1)),
        tensor('fc.w', [3, 36], randn(rng, [3, 36], 0.3, 1.5)),
        tensor('fc.b', [3], randn(rng, [3], 0.1)),
        { name: 'zero', dims: [], dataType: 7, int64Data: [0] },
        int64Tensor('axes', [0]),
        int64Tensor('minus1', [-1]),
      ],
      node: [
        node('Conv', ['x', 'c.w', 'c.b'], ['z']),
        node('Relu', ['z'], ['a']),
        node('Shape', ['a'], ['s']),
        node('Gather', ['s', 'zero'], ['n'], { axis: 0 }),
        node('Unsqueeze', ['n', 'axes'], ['n1']),
        node('Concat', ['n1', 'minus1'], ['target'], { axis: 0 }),
        node('Reshape', ['a', 'target'], ['f']),
        node('Gemm', ['f', 'fc.w', 'fc.b'], ['y'], { transB: 1 }),
      ],
    });
    await roundTrip(bytes, [2, 5, 5]);
  });

  it('ResNet-style blocks: identity skip Add (tied units) and a strided branch Add, GlobalAveragePool, Flatten', async () => {
    const rng = new Random(4);
    const conv = (name: string, out: number, inp: number, k: number): object[] => [
      tensor(`${name}.w`, [out, inp, k, k], randn(rng, [out, inp, k, k], 0.3, 1.5)),
      tensor(`${name}.b`, [out], randn(rng, [out], 0.1)),
    ];
    const bytes = model({
      input: [valueInfo('x', ['N', 3, 6, 6])],
      output: [valueInfo('y', ['N', 4])],
      initializer: [
        ...conv('stem', 6, 3, 3),
        ...conv('a', 6, 6, 3),
        ...conv('b', 6, 6, 3),
        ...conv('c', 8, 6, 3),
        ...conv('down', 8, 6, 1),
        tensor('fc.w', [4, 8], randn(rng, [4, 8], 0.3, 1)),
        tensor('fc.b', [4], randn(rng, [4], 0.1)),
      ],
      node: [
        node('Conv', ['x', 'stem.w', 'stem.b'], ['s'], { pads: [1, 1, 1, 1] }),
        node('Relu', ['s'], ['h0']),
        node('Conv', ['h0', 'a.w', 'a.b'], ['za'], { pads: [1, 1, 1, 1] }),
        node('Relu', ['za'], ['ha']),
        node('Conv', ['ha', 'b.w', 'b.b'], ['zb'], { pads: [1, 1, 1, 1] }),
        node('Add', ['zb', 'h0'], ['r1']),
        node('Relu', ['r1'], ['h1']),
        node('Conv', ['h1', 'c.w', 'c.b'], ['zc'], { pads: [1, 1, 1, 1], strides: [2, 2] }),
        node('Conv', ['h1', 'down.w', 'down.b'], ['zd'], { strides: [2, 2] }),
        node('Add', ['zc', 'zd'], ['r2']),
        node('Relu', ['r2'], ['h2']),
        node('GlobalAveragePool', ['h2'], ['g']),
        node('Flatten', ['g'], ['f']),
        node('Gemm', ['f', 'fc.w', 'fc.b'], ['y'], { transB: 1 }),
      ],
    });
    const onnx = readOnnx(bytes);
    expect(onnx.network.layers.some((l) => (l.skips ?? []).length > 0)).toBe(true);
    expect(onnx.network.layers.some((_, k) => onnx.network.blocks.filter((b) => b.to === k).length === 2)).toBe(true);
    await roundTrip(bytes, [3, 6, 6]);
  });

  it('torchvision-style ResNet: Conv without bias + BatchNorm everywhere, padded MaxPool stem, identity and downsample residuals', async () => {
    const rng = new Random(10);
    const convBn = (name: string, out: number, inp: number, k: number): object[] => [
      tensor(`${name}.w`, [out, inp, k, k], randn(rng, [out, inp, k, k], 0.3, 1.5)),
      tensor(
        `${name}.bn.scale`,
        [out],
        Float32Array.from({ length: out }, () => 0.5 + rng.uniform()),
      ),
      tensor(`${name}.bn.B`, [out], randn(rng, [out], 0.2)),
      tensor(`${name}.bn.mean`, [out], randn(rng, [out], 0.3)),
      tensor(
        `${name}.bn.var`,
        [out],
        Float32Array.from({ length: out }, () => 0.3 + rng.uniform()),
      ),
    ];
    const cb = (name: string, input: string, output: string, attrs: Record<string, number[]>): object[] => [
      node('Conv', [input, `${name}.w`], [`${output}.c`], attrs),
      node('BatchNormalization', [`${output}.c`, `${name}.bn.scale`, `${name}.bn.B`, `${name}.bn.mean`, `${name}.bn.var`], [output]),
    ];
    const pad1 = { pads: [1, 1, 1, 1] };
    const bytes = model({
      input: [valueInfo('x', ['N', 3, 10, 10])],
      output: [valueInfo('y', ['N', 5])],
      initializer: [
        ...convBn('stem', 6, 3, 3),
        ...convBn('l1.a', 6, 6, 3),
        ...convBn('l1.b', 6, 6, 3),
        ...convBn('l2.a', 8, 6, 3),
        ...convBn('l2.b', 8, 8, 3),
        ...convBn('l2.down', 8, 6, 1),
        tensor('fc.w', [5, 8], randn(rng, [5, 8], 0.3, 1)),
        tensor('fc.b', [5], randn(rng, [5], 0.1)),
      ],
      node: [
        ...cb('stem', 'x', 's', pad1),
        node('Relu', ['s'], ['s.r']),
        node('MaxPool', ['s.r'], ['p'], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }),
        ...cb('l1.a', 'p', 'a1', pad1),
        node('Relu', ['a1'], ['a1.r']),
        ...cb('l1.b', 'a1.r', 'b1', pad1),
        node('Add', ['b1', 'p'], ['r1']),
        node('Relu', ['r1'], ['h1']),
        ...cb('l2.a', 'h1', 'a2', { pads: [1, 1, 1, 1], strides: [2, 2] }),
        node('Relu', ['a2'], ['a2.r']),
        ...cb('l2.b', 'a2.r', 'b2', pad1),
        ...cb('l2.down', 'h1', 'd2', { strides: [2, 2] }),
        node('Add', ['b2', 'd2'], ['r2']),
        node('Relu', ['r2'], ['h2']),
        node('GlobalAveragePool', ['h2'], ['g']),
        node('Flatten', ['g'], ['f']),
        node('Gemm', ['f', 'fc.w', 'fc.b'], ['y'], { transB: 1 }),
      ],
    });
    const onnx = readOnnx(bytes);
    expect(onnx.foldedBatchNorms).toHaveLength(6);
    expect(onnx.network.layers.find((l) => l.pool?.padding)?.pool).toEqual({ kind: 'max', size: [3, 3], stride: [2, 2], padding: [1, 1] });
    await roundTrip(bytes, [3, 10, 10]);
  });

  it('an NHWC input transposed to NCHW first (tf2onnx): the input layer takes the transposed shape', async () => {
    const rng = new Random(13);
    const bytes = model({
      input: [valueInfo('x', ['N', 5, 4, 3])],
      output: [valueInfo('y', ['N', 2])],
      initializer: [
        tensor('c.w', [6, 3, 3, 3], randn(rng, [6, 3, 3, 3], 0.4, 1.5)),
        tensor('c.b', [6], randn(rng, [6], 0.1)),
        tensor('fc.w', [6, 2], randn(rng, [6, 2], 0.4, 1.5)),
        tensor('fc.b', [2], randn(rng, [2], 0.1)),
      ],
      node: [
        node('Transpose', ['x'], ['xt'], { perm: [0, 3, 1, 2] }),
        node('Conv', ['xt', 'c.w', 'c.b'], ['z'], { pads: [1, 1, 1, 1] }),
        node('Relu', ['z'], ['a']),
        node('GlobalAveragePool', ['a'], ['g']),
        node('Flatten', ['g'], ['f']),
        node('MatMul', ['f', 'fc.w'], ['m']),
        node('Add', ['m', 'fc.b'], ['y']),
      ],
    });
    const onnx = readOnnx(bytes);
    expect(onnx.inputTranspose).toEqual([0, 3, 1, 2]);
    expect(onnx.network.layers[0].shape).toEqual([3, 5, 4]);
    await roundTrip(bytes, [5, 4, 3], { exactForward: false });
    // forward() of the network reads the transposed (NCHW) layout.
    const x = Float32Array.from({ length: 60 }, (_, k) => Math.sin(0.3 * k));
    const nchw = Float32Array.from({ length: 60 }, (_, k) => {
      const c = Math.floor(k / 20),
        h = Math.floor((k % 20) / 4),
        w = k % 4;
      return x[(h * 4 + w) * 3 + c];
    });
    expect(relativeError(await runOrt(bytes, x, [1, 5, 4, 3]), forward(onnx.network, nchw, 1))).toBeLessThan(1e-5);
  });

  it('a Sigmoid in the middle fixes its units, which stay fixed through the write', async () => {
    const rng = new Random(5);
    const bytes = model({
      input: [valueInfo('x', ['N', 5])],
      output: [valueInfo('y', ['N', 2])],
      initializer: [
        tensor('w1', [7, 5], randn(rng, [7, 5], 0.5, 1.5)),
        tensor('b1', [7], randn(rng, [7], 0.2)),
        tensor('w2', [6, 7], randn(rng, [6, 7], 0.5, 1.5)),
        tensor('b2', [6], randn(rng, [6], 0.2)),
        tensor('w3', [7, 6], randn(rng, [7, 6], 0.5, 1.5)),
        tensor('b3', [7], randn(rng, [7], 0.2)),
        tensor('w4', [2, 7], randn(rng, [2, 7], 0.5, 1.5)),
      ],
      node: [
        node('Gemm', ['x', 'w1', 'b1'], ['z1'], { transB: 1 }),
        node('Relu', ['z1'], ['a1']),
        node('Gemm', ['a1', 'w2', 'b2'], ['z2'], { transB: 1 }),
        node('Sigmoid', ['z2'], ['a2']),
        node('Gemm', ['a2', 'w3', 'b3'], ['z3'], { transB: 1 }),
        node('Relu', ['z3'], ['a3']),
        node('Gemm', ['a3', 'w4'], ['y'], { transB: 1 }),
      ],
    });
    const r = await roundTrip(bytes, [5]);
    expect(r.fixedOps).toEqual(['Sigmoid']);
  });

  it('an op the model does not know (Erf) is a barrier of fixed, listed units', async () => {
    const rng = new Random(6);
    const bytes = model({
      input: [valueInfo('x', ['N', 5])],
      output: [valueInfo('y', ['N', 2])],
      initializer: [
        tensor('w1', [7, 5], randn(rng, [7, 5], 0.5, 1.5)),
        tensor('w2', [6, 7], randn(rng, [6, 7], 0.5, 1.5)),
        tensor('w3', [7, 6], randn(rng, [7, 6], 0.5, 1.5)),
        tensor('w4', [2, 7], randn(rng, [2, 7], 0.5, 1.5)),
      ],
      node: [
        node('Gemm', ['x', 'w1'], ['z1'], { transB: 1 }),
        node('Relu', ['z1'], ['a1']),
        node('Gemm', ['a1', 'w2'], ['z2'], { transB: 1 }),
        node('Erf', ['z2'], ['e'], {}, 'the_erf'),
        node('Gemm', ['e', 'w3'], ['z3'], { transB: 1 }),
        node('Relu', ['z3'], ['a3']),
        node('Gemm', ['a3', 'w4'], ['y'], { transB: 1 }),
      ],
    });
    const onnx = readOnnx(bytes);
    expect(onnx.fixedUnits).toHaveLength(1);
    expect(onnx.fixedUnits[0]).toMatchObject({ node: 'the_erf', op: 'Erf', modelled: 'opaque' });
    expect(onnx.fixedUnits[0].layers.map((l) => l.units)).toEqual([6, 6]);
    await roundTrip(bytes, [5], { exactForward: false });
  });

  it('BatchNormalization after Conv (with and without bias, one channel with scale 0) and after Gemm is folded; the file keeps it', async () => {
    const rng = new Random(8);
    const bn = (name: string, c: number, zeroAt = -1): object[] => [
      tensor(
        `${name}.scale`,
        [c],
        Float32Array.from({ length: c }, (_, i) => (i === zeroAt ? 0 : 0.5 + rng.uniform())),
      ),
      tensor(`${name}.B`, [c], randn(rng, [c], 0.3)),
      tensor(`${name}.mean`, [c], randn(rng, [c], 0.5)),
      tensor(
        `${name}.var`,
        [c],
        Float32Array.from({ length: c }, () => 0.2 + rng.uniform()),
      ),
    ];
    const bytes = model({
      input: [valueInfo('x', ['N', 3, 6, 6])],
      output: [valueInfo('y', ['N', 3])],
      initializer: [
        tensor('c1.w', [6, 3, 3, 3], randn(rng, [6, 3, 3, 3], 0.4, 1.5)),
        ...bn('bn1', 6, 2),
        tensor('c2.w', [5, 6, 3, 3], randn(rng, [5, 6, 3, 3], 0.4, 1.5)),
        tensor('c2.b', [5], randn(rng, [5], 0.2)),
        ...bn('bn2', 5),
        tensor('fc1.w', [7, 20], randn(rng, [7, 20], 0.4, 1.5)),
        tensor('fc1.b', [7], randn(rng, [7], 0.2)),
        ...bn('bn3', 7),
        tensor('fc2.w', [3, 7], randn(rng, [3, 7], 0.4, 1.5)),
      ],
      node: [
        node('Conv', ['x', 'c1.w'], ['z1'], { pads: [1, 1, 1, 1] }),
        node('BatchNormalization', ['z1', 'bn1.scale', 'bn1.B', 'bn1.mean', 'bn1.var'], ['n1'], { epsilon: { float: 1e-3 } }),
        node('Relu', ['n1'], ['a1']),
        node('Conv', ['a1', 'c2.w', 'c2.b'], ['z2'], { strides: [2, 2], pads: [1, 1, 1, 1] }),
        node('BatchNormalization', ['z2', 'bn2.scale', 'bn2.B', 'bn2.mean', 'bn2.var'], ['n2']),
        node('Relu', ['n2'], ['a2']),
        node('MaxPool', ['a2'], ['p2'], { kernel_shape: [2, 2], strides: [1, 1] }),
        node('Flatten', ['p2'], ['f']),
        node('Gemm', ['f', 'fc1.w', 'fc1.b'], ['z3'], { transB: 1 }),
        node('BatchNormalization', ['z3', 'bn3.scale', 'bn3.B', 'bn3.mean', 'bn3.var'], ['n3']),
        node('Relu', ['n3'], ['a3']),
        node('Gemm', ['a3', 'fc2.w'], ['y'], { transB: 1 }),
      ],
    });
    const onnx = readOnnx(bytes);
    expect(onnx.foldedBatchNorms).toHaveLength(3);
    expect(onnx.network.blocks).toHaveLength(4);
    await roundTrip(bytes, [3, 6, 6]);
  });

  it('float16 weights are read and written back as float16 (onnxruntime agrees to float16 precision)', async () => {
    const rng = new Random(12);
    const f16 = (name: string, dims: number[], values: Float32Array): object => {
      const bits = Uint16Array.from(values, (v) => numberToFloat16(v));
      return { name, dims, dataType: 10, rawData: new Uint8Array(bits.buffer) };
    };
    const bytes = model({
      input: [valueInfo('x', ['N', 4], 10)],
      output: [valueInfo('y', ['N', 3], 10)],
      initializer: [f16('w1', [4, 6], randn(rng, [4, 6], 0.5, 1.5)), f16('w2', [6, 3], randn(rng, [6, 3], 0.5, 1.5))],
      node: [node('MatMul', ['x', 'w1'], ['a']), node('Relu', ['a'], ['b']), node('MatMul', ['b', 'w2'], ['y'])],
    });
    const onnx = readOnnx(bytes);
    const result = await balance(onnx.network, { p: 2, q: 2, backend: 'cpu', tol: 1e-10 });
    const written = writeOnnx(onnx, result.network);
    expect(written.length).toBe(bytes.length);
    expect(Math.abs(lpqNorm(readOnnx(written).network, 2, 2) / result.finalNorm - 1)).toBeLessThan(2e-3);
    expect(result.finalNorm).toBeLessThan(result.initialNorm * 0.95);
    const x = Uint16Array.from({ length: 8 }, (_, k) => numberToFloat16(Math.sin(k + 1)));
    const outputs: number[][] = [];
    for (const b of [bytes, written]) {
      const session = await ort.InferenceSession.create(b);
      const y = (await session.run({ x: new ort.Tensor('float16', x, [2, 4]) })).y.data as Uint16Array;
      outputs.push(Array.from(y, float16ToNumber));
      await session.release();
    }
    expect(relativeError(outputs[0], outputs[1])).toBeLessThan(5e-3);
  });
});
