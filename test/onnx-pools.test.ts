/**
 * Pools as real exports write them (issue 13.1): `ceil_mode = 1` where it adds a last, partial
 * window (googlenet, squeezenet), AveragePool padding counted or not (`count_include_pad`), and a
 * zero Pad before an AveragePool folded into padding the pool counts. Each model is built here,
 * balanced, written back and run in onnxruntime before and after (outputs within 1e-5, and the
 * imported network computes what onnxruntime computes, see roundTrip). The expected pooled sizes
 * are PyTorch's formula worked by hand, so a wrong shape fails the import or onnxruntime.
 */
import { describe, expect, it } from 'vitest';
import type { Pool } from '../src/index.js';
import { readOnnx, readSafetensors, writeSafetensors } from '../src/index.js';
import { Random } from '../src/network/random.js';
import { int64Tensor, model, node, randn, tensor, valueInfo } from './onnx/build.js';
import { roundTrip } from './onnx/roundTrip.js';
import { refusal } from './support/refusal.js';

type Attrs = Record<string, number | number[]>;

/** Conv 3x3 (pads 1) -> Relu -> [zero Pad] -> pool -> Conv 1x1 -> Relu -> Flatten -> Gemm, on [3, h, w]. */
function pooledModel(seed: number, [h, w]: [number, number], op: string, attrs: Attrs, pooled: [number, number], pad: number[] | null = null): Uint8Array {
  const rng = new Random(seed);
  const features = 5 * pooled[0] * pooled[1];
  return model({
    input: [valueInfo('x', ['N', 3, h, w])],
    output: [valueInfo('y', ['N', 2])],
    initializer: [
      tensor('c1.w', [4, 3, 3, 3], randn(rng, [4, 3, 3, 3], 0.5, 1.5)),
      tensor('c1.b', [4], randn(rng, [4], 0.1)),
      tensor('c2.w', [5, 4, 1, 1], randn(rng, [5, 4, 1, 1], 0.5, 1.5)),
      tensor('c2.b', [5], randn(rng, [5], 0.1)),
      tensor('fc.w', [2, features], randn(rng, [2, features], 0.3, 1.5)),
      ...(pad ? [int64Tensor('pads', pad)] : []),
    ],
    node: [
      node('Conv', ['x', 'c1.w', 'c1.b'], ['z1'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'conv1'),
      node('Relu', ['z1'], ['a1']),
      ...(pad ? [node('Pad', ['a1', 'pads'], ['a1p'], { mode: 'constant' }, 'zero_pad')] : []),
      node(op, [pad ? 'a1p' : 'a1'], ['p1'], attrs, 'pool'),
      node('Conv', ['p1', 'c2.w', 'c2.b'], ['z2'], { kernel_shape: [1, 1] }, 'conv2'),
      node('Relu', ['z2'], ['a2']),
      node('Flatten', ['a2'], ['f']),
      node('Gemm', ['f', 'fc.w'], ['y'], { transB: 1 }, 'fc'),
    ],
  });
}

interface Case {
  what: string;
  size: [number, number];
  op: string;
  attrs: Attrs;
  pad?: number[];
  pooled: [number, number];
  pool: Pool;
}

const cases: Case[] = [
  // floor((10 - 3) / 2) + 1 = 4; ceil: 5 (the last window covers columns 8, 9)
  {
    what: 'MaxPool 3x3/2 ceil_mode (googlenet, squeezenet)',
    size: [10, 10],
    op: 'MaxPool',
    attrs: { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 },
    pooled: [5, 5],
    pool: { kind: 'max', size: [3, 3], stride: [2, 2], ceil: true },
  },
  // 5: floor 2, ceil 3; 7: floor 3, ceil 4; the last windows hold one column/row of the input
  {
    what: 'AveragePool 2x2/2 ceil_mode, the last window averaging what it covers',
    size: [5, 7],
    op: 'AveragePool',
    attrs: { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1 },
    pooled: [3, 4],
    pool: { kind: 'avg', size: [2, 2], stride: [2, 2], ceil: true },
  },
  // (4 + 2 - 3) / 2 = 1.5: floor 2, ceil 3; the last window starts at 3, inside the input
  {
    what: 'AveragePool 3x3/2 pads 1 ceil_mode count_include_pad',
    size: [4, 4],
    op: 'AveragePool',
    attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1, count_include_pad: 1 },
    pooled: [3, 3],
    pool: { kind: 'avg', size: [3, 3], stride: [2, 2], padding: [1, 1], ceil: true, countPadding: true },
  },
  {
    what: 'AveragePool 3x3/2 pads 1 ceil_mode, padding not counted',
    size: [4, 4],
    op: 'AveragePool',
    attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 },
    pooled: [3, 3],
    pool: { kind: 'avg', size: [3, 3], stride: [2, 2], padding: [1, 1], ceil: true },
  },
  // (4 + 2 - 3) / 2 = 1.5 on the height (3 windows), (3 + 2 - 3) / 2 = 1 on the width (2 windows either way)
  {
    what: 'MaxPool 3x3/2 pads 1 ceil_mode growing one axis only',
    size: [4, 3],
    op: 'MaxPool',
    attrs: { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 },
    pooled: [3, 2],
    pool: { kind: 'max', size: [3, 3], stride: [2, 2], padding: [1, 1], ceil: true },
  },
  // torch.onnx's nn.AvgPool2d(3, 2, padding=1): Pad then AveragePool; the Pad's zeros count
  {
    what: 'zero Pad (1, 1) + AveragePool 3x3/2',
    size: [6, 6],
    op: 'AveragePool',
    attrs: { kernel_shape: [3, 3], strides: [2, 2] },
    pad: [0, 0, 1, 1, 0, 0, 1, 1],
    pooled: [3, 3],
    pool: { kind: 'avg', size: [3, 3], stride: [2, 2], padding: [1, 1], countPadding: true },
  },
  {
    what: 'zero Pad (1, 2) + AveragePool 4x4/2 with its own counted pads 1',
    size: [5, 5],
    op: 'AveragePool',
    attrs: { kernel_shape: [4, 4], strides: [2, 2], pads: [1, 1, 1, 1], count_include_pad: 1 },
    pad: [0, 0, 1, 2, 0, 0, 1, 2],
    pooled: [3, 4],
    pool: { kind: 'avg', size: [4, 4], stride: [2, 2], padding: [2, 3], countPadding: true },
  },
  // padded 8: ceil((8 - 3) / 2) + 1 = 4 either way; the last window covers 2 positions
  {
    what: 'zero Pad (1, 1) + AveragePool 3x3/2 ceil_mode',
    size: [6, 6],
    op: 'AveragePool',
    attrs: { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 },
    pad: [0, 0, 1, 1, 0, 0, 1, 1],
    pooled: [4, 4],
    pool: { kind: 'avg', size: [3, 3], stride: [2, 2], padding: [1, 1], ceil: true, countPadding: true },
  },
];

describe('ONNX pools: ceil_mode, AveragePool padding, a zero Pad before a pool', () => {
  for (const [k, c] of cases.entries()) {
    it(c.what, async () => {
      const bytes = pooledModel(20 + k, c.size, c.op, c.attrs, c.pooled, c.pad ?? null);
      const onnx = readOnnx(bytes);
      expect(onnx.network.layers[1].pool).toEqual(c.pool);
      expect(onnx.network.layers[1].shape).toEqual([4, ...c.pooled]);
      const r = await roundTrip(bytes, [3, ...c.size], { seed: 30 + k });
      expect(r.fixedOps).toEqual([]);
      // The safetensors graph metadata keeps the pool's flags.
      expect(readSafetensors(writeSafetensors(onnx.network)).layers[1].pool).toEqual(c.pool);
    });
  }

  it('a zero Pad before a MaxPool, before an AveragePool that does not count its own pads, or that moves a ceil_mode window is refused, naming the pool', () => {
    const pads = [0, 0, 1, 1, 0, 0, 1, 1];
    expect(refusal(() => readOnnx(pooledModel(40, [6, 6], 'MaxPool', { kernel_shape: [3, 3], strides: [2, 2] }, [3, 3], pads)))).toMatch(
      /node 'pool' \(MaxPool\) reads the output of a zero Pad.*MaxPool's own padding is ignored, not zeros/,
    );
    expect(
      refusal(() => readOnnx(pooledModel(41, [6, 6], 'AveragePool', { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, [4, 4], pads))),
    ).toMatch(/node 'pool' \(AveragePool\) reads the output of a zero Pad and has padding it does not count/);
    // padded 7: ceil((7 - 2) / 2) + 1 = 4; folded (5, padding 1): the fourth window would start in the trailing padding
    expect(refusal(() => readOnnx(pooledModel(42, [5, 5], 'AveragePool', { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1 }, [4, 4], pads)))).toMatch(
      /node 'pool' \(AveragePool\): with ceil_mode = 1 after a zero Pad/,
    );
  });

  it('a ceil_mode window that would start in the trailing padding (runtimes disagree) is refused, naming the pool', () => {
    // (3 + 2 - 2) / 2 = 1.5: ceil gives 3 windows, the third starting at 3 = n + p. PyTorch and the
    // ONNX specification drop it, onnxruntime keeps it.
    expect(
      refusal(() => readOnnx(pooledModel(44, [3, 3], 'MaxPool', { kernel_shape: [2, 2], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 }, [2, 2]))),
    ).toMatch(/node 'pool' \(MaxPool\): with ceil_mode = 1 the last window along axis 2 would start in the trailing padding; runtimes disagree/);
  });

  it('padding as large as the window is refused, naming the pool', () => {
    const pads = [0, 0, 2, 2, 0, 0, 2, 2];
    expect(refusal(() => readOnnx(pooledModel(43, [6, 6], 'AveragePool', { kernel_shape: [2, 2], strides: [2, 2] }, [5, 5], pads)))).toMatch(
      /node 'pool' \(AveragePool\): padding \[2,2\] is not smaller than the window/,
    );
  });
});
