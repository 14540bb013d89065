/**
 * ONNX ops that real exports use (issue 13.1), each in a model built here, balanced, written
 * back and run in onnxruntime before and after (outputs within 1e-5, see roundTrip): zero Pad
 * (identity, or folded into the next Conv's padding), ReduceMean over the spatial axes (a
 * GlobalAveragePool), dilated convolutions; ONNX -> safetensors keeps the initializer names.
 */
import { describe, expect, it } from 'vitest';
import { readOnnx, readSafetensors, writeSafetensors } from '../src/index.js';
import { Random } from '../src/network/random.js';
import { int64Tensor, model, node, randn, tensor, valueInfo } from './onnx/build.js';
import { roundTrip } from './onnx/roundTrip.js';
import { refusal } from './support/refusal.js';

describe('ONNX ops people export', () => {
  it('zero Pad: all-zero pads (before AvgPool, as torch.onnx emits) are the identity; spatial pads fold into the next Conv', async () => {
    const rng = new Random(1);
    const bytes = model({
      input: [valueInfo('x', ['N', 2, 8, 8])],
      output: [valueInfo('y', ['N', 3])],
      initializer: [
        tensor('c1.w', [4, 2, 3, 3], randn(rng, [4, 2, 3, 3], 0.5, 1.5)),
        tensor('c1.b', [4], randn(rng, [4], 0.1)),
        tensor('c2.w', [5, 4, 3, 3], randn(rng, [5, 4, 3, 3], 0.5, 1.5)),
        tensor('fc.w', [3, 5 * 4 * 6], randn(rng, [3, 120], 0.3, 1.5)), // conv2 sees 4x4 padded by (1, 2): 4x6
        int64Tensor('zero_pads', [0, 0, 0, 0, 0, 0, 0, 0]),
        int64Tensor('hw_pads', [0, 0, 1, 2, 0, 0, 1, 2]),
        tensor('pad_value', [], [0]),
      ],
      node: [
        node('Conv', ['x', 'c1.w', 'c1.b'], ['z1'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'conv1'),
        node('Relu', ['z1'], ['a1']),
        node('Pad', ['a1', 'zero_pads'], ['a1p'], { mode: 'constant' }, 'pad_before_pool'),
        node('AveragePool', ['a1p'], ['p1'], { kernel_shape: [2, 2], strides: [2, 2] }),
        node('Pad', ['p1', 'hw_pads', 'pad_value'], ['p1p'], {}, 'pad_before_conv'),
        node('Conv', ['p1p', 'c2.w'], ['z2'], { kernel_shape: [3, 3], pads: [0, 0, 0, 0] }, 'conv2'),
        node('Relu', ['z2'], ['a2']),
        node('Flatten', ['a2'], ['f']),
        node('Gemm', ['f', 'fc.w'], ['y'], { transB: 1 }, 'fc'),
      ],
    });
    const onnx = readOnnx(bytes);
    const conv2 = onnx.network.blocks[1];
    expect(conv2.kind === 'conv2d' && conv2.padding).toEqual([1, 2]);
    const r = await roundTrip(bytes, [2, 8, 8]);
    expect(r.fixedOps).toEqual([]);
  });

  it('a Pad that is not constant zero, pads the channels, or feeds something other than a Conv or an AveragePool is refused, naming the node', () => {
    const rng = new Random(2);
    const build = (padNode: object, after: object[], extra: object[] = []): Uint8Array =>
      model({
        input: [valueInfo('x', ['N', 2, 6, 6])],
        output: [valueInfo('y', ['N', 2, 6, 6])],
        initializer: [
          tensor('c.w', [2, 2, 3, 3], randn(rng, [2, 2, 3, 3])),
          int64Tensor('hw', [0, 0, 1, 1, 0, 0, 1, 1]),
          int64Tensor('ch', [0, 1, 0, 0, 0, 0, 0, 0]),
          ...extra,
        ],
        node: [node('Relu', ['x'], ['r']), padNode, ...after],
      });
    const conv = node('Conv', ['p', 'c.w'], ['y'], { kernel_shape: [3, 3] }, 'conv');
    expect(refusal(() => readOnnx(build(node('Pad', ['r', 'hw'], ['p'], { mode: 'reflect' }, 'reflect_pad'), [conv])))).toMatch(
      /'reflect_pad' \(Pad\): only a constant-zero Pad.*mode 'reflect'/,
    );
    expect(refusal(() => readOnnx(build(node('Pad', ['r', 'ch'], ['p'], {}, 'channel_pad'), [conv])))).toMatch(
      /'channel_pad' \(Pad\): only a constant-zero Pad/,
    );
    const one = tensor('one', [], [1]);
    expect(refusal(() => readOnnx(build(node('Pad', ['r', 'hw', 'one'], ['p'], {}, 'one_pad'), [conv], [one])))).toMatch(
      /'one_pad' \(Pad\): only a constant-zero Pad/,
    );
    const pool = node('MaxPool', ['p'], ['y'], { kernel_shape: [3, 3] }, 'pool');
    expect(refusal(() => readOnnx(build(node('Pad', ['r', 'hw'], ['p'], {}, 'pad'), [pool])))).toMatch(
      /'pool' \(MaxPool\) reads the output of a zero Pad: a MaxPool's own padding is ignored, not zeros/,
    );
    const sigmoid = node('Sigmoid', ['p'], ['y'], {}, 'gate');
    expect(refusal(() => readOnnx(build(node('Pad', ['r', 'hw'], ['p'], {}, 'pad'), [sigmoid])))).toMatch(
      /'gate' \(Sigmoid\) reads 'p', the output of a zero Pad; a Pad is only supported before a Conv or an AveragePool/,
    );
  });

  it('ReduceMean over the spatial axes is a GlobalAveragePool (keepdims 0 and 1, axes as attribute or input)', async () => {
    for (const [opset, keepdims] of [
      [13, 0],
      [18, 1],
    ] as const) {
      const rng = new Random(3 + keepdims);
      const axes = opset >= 18 ? [int64Tensor('axes', [-1, 2])] : [];
      const bytes = model(
        {
          input: [valueInfo('x', ['N', 3, 6, 6])],
          output: [valueInfo('y', ['N', 2])],
          initializer: [
            tensor('c.w', [5, 3, 3, 3], randn(rng, [5, 3, 3, 3], 0.5, 1.5)),
            tensor('c.b', [5], randn(rng, [5], 0.1)),
            tensor('fc.w', [2, 5], randn(rng, [2, 5], 0.5, 1.5)),
            ...axes,
          ],
          node: [
            node('Conv', ['x', 'c.w', 'c.b'], ['z'], { kernel_shape: [3, 3] }, 'conv'),
            node('Relu', ['z'], ['a']),
            opset >= 18 ? node('ReduceMean', ['a', 'axes'], ['m'], { keepdims }, 'mean') : node('ReduceMean', ['a'], ['m'], { axes: [2, 3], keepdims }, 'mean'),
            ...(keepdims ? [node('Flatten', ['m'], ['f'])] : []),
            node('Gemm', [keepdims ? 'f' : 'm', 'fc.w'], ['y'], { transB: 1 }, 'fc'),
          ],
        },
        opset,
      );
      const onnx = readOnnx(bytes);
      expect(onnx.network.layers[1].pool).toEqual({ kind: 'avg', size: [4, 4], stride: [4, 4] });
      const r = await roundTrip(bytes, [3, 6, 6]);
      expect(r.fixedOps).toEqual([]);
    }
  });

  it('dilated convolutions (dilations [2, 2] and [1, 3]) balance like any other', async () => {
    const rng = new Random(5);
    const bytes = model({
      input: [valueInfo('x', ['N', 2, 9, 9])],
      output: [valueInfo('y', ['N', 3])],
      initializer: [
        tensor('c1.w', [4, 2, 3, 3], randn(rng, [4, 2, 3, 3], 0.5, 1.5)),
        tensor('c1.b', [4], randn(rng, [4], 0.1)),
        tensor('c2.w', [6, 4, 3, 2], randn(rng, [6, 4, 3, 2], 0.5, 1.5)),
        tensor('fc.w', [3, 6 * 9 * 6], randn(rng, [3, 324], 0.2, 1.5)),
      ],
      node: [
        node('Conv', ['x', 'c1.w', 'c1.b'], ['z1'], { kernel_shape: [3, 3], dilations: [2, 2], pads: [2, 2, 2, 2] }, 'dilated'),
        node('Relu', ['z1'], ['a1']),
        node('Conv', ['a1', 'c2.w'], ['z2'], { kernel_shape: [3, 2], dilations: [1, 3], pads: [1, 0, 1, 0] }, 'dilated_wide'),
        node('Relu', ['z2'], ['a2']),
        node('Flatten', ['a2'], ['f']),
        node('Gemm', ['f', 'fc.w'], ['y'], { transB: 1 }, 'fc'),
      ],
    });
    const onnx = readOnnx(bytes);
    expect(onnx.network.blocks.map((b) => (b.kind === 'conv2d' ? b.dilation : null))).toEqual([[2, 2], [1, 3], null]);
    await roundTrip(bytes, [2, 9, 9]);
    // The dilation survives a safetensors round trip (forward of the re-read network is the same).
    const again = readSafetensors(writeSafetensors(onnx.network));
    expect(again.blocks.map((b) => (b.kind === 'conv2d' ? b.dilation : null))).toEqual([[2, 2], [1, 3], null]);
  });

  it('Conv1d on rank-3 inputs (padding, dilation, a 1-D MaxPool) is a 2-D convolution of height 1', async () => {
    const rng = new Random(8);
    const bytes = model({
      input: [valueInfo('x', ['N', 2, 16])],
      output: [valueInfo('y', ['N', 3])],
      initializer: [
        tensor('c1.w', [4, 2, 3], randn(rng, [4, 2, 3], 0.5, 1.5)),
        tensor('c1.b', [4], randn(rng, [4], 0.1)),
        tensor('c2.w', [5, 4, 3], randn(rng, [5, 4, 3], 0.5, 1.5)),
        tensor('fc.w', [3, 20], randn(rng, [3, 20], 0.3, 1.5)),
      ],
      node: [
        node('Conv', ['x', 'c1.w', 'c1.b'], ['z1'], { kernel_shape: [3], pads: [1, 1] }, 'conv1d'),
        node('Relu', ['z1'], ['a1']),
        node('MaxPool', ['a1'], ['p1'], { kernel_shape: [2], strides: [2] }, 'pool1d'),
        node('Conv', ['p1', 'c2.w'], ['z2'], { kernel_shape: [3], dilations: [2] }, 'conv1d_dilated'),
        node('Relu', ['z2'], ['a2']),
        node('Flatten', ['a2'], ['f']),
        node('Gemm', ['f', 'fc.w'], ['y'], { transB: 1 }, 'fc'),
      ],
    });
    const onnx = readOnnx(bytes);
    expect(onnx.network.layers.map((l) => l.shape)).toEqual([[2, 1, 16], [4, 1, 8], [5, 1, 4], [3]]);
    expect(onnx.network.blocks[1]).toMatchObject({ shape: [5, 4, 1, 3], dilation: [1, 2], padding: [0, 0] });
    const r = await roundTrip(bytes, [2, 16]);
    expect(r.fixedOps).toEqual([]);
  });

  it('ONNX -> safetensors keeps the initializer names (the PyTorch names torch.onnx wrote)', () => {
    const rng = new Random(6);
    const bytes = model({
      input: [valueInfo('x', ['N', 4])],
      output: [valueInfo('y', ['N', 2])],
      initializer: [
        tensor('features.0.weight', [5, 4], randn(rng, [5, 4])),
        tensor('features.0.bias', [5], randn(rng, [5])),
        tensor('classifier.weight', [5, 5], randn(rng, [5, 5])),
        tensor('onnx::MatMul_7', [5, 2], randn(rng, [5, 2])),
      ],
      node: [
        node('Gemm', ['x', 'features.0.weight', 'features.0.bias'], ['h'], { transB: 1 }, '/features/features.0/Gemm'),
        node('Relu', ['h'], ['r']),
        node('Gemm', ['r', 'classifier.weight'], ['h2'], { transB: 1 }, '/classifier/Gemm'),
        node('Relu', ['h2'], ['r2']),
        node('MatMul', ['r2', 'onnx::MatMul_7'], ['y'], {}, '/head/MatMul'),
      ],
    });
    const net = readOnnx(bytes).network;
    expect(net.blocks.map((b) => b.name)).toEqual(['features.0', 'classifier', 'onnx::MatMul_7']);
    const header = new TextDecoder().decode(writeSafetensors(net));
    for (const name of ['"features.0.weight"', '"features.0.bias"', '"classifier.weight"', '"onnx::MatMul_7.weight"']) expect(header).toContain(name);
  });
});
