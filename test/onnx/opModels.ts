/**
 * Small models with the ops of issue 13 that need graph semantics of their own, as torch.onnx
 * emits them: a channel shuffle (ShuffleNet), squeeze-and-excitation (MobileNetV3,
 * EfficientNet) and ConvTranspose (decoders, U-Nets). Random unbalanced weights.
 */
import { Random } from '../../src/network/random.js';
import { int64Tensor, model, node, randn, tensor, valueInfo } from './build.js';

function weights(seed: number): { w: (name: string, dims: number[]) => object; b: (name: string, n: number) => object } {
  const rng = new Random(seed);
  return {
    w: (name, dims) => tensor(name, dims, randn(rng, dims, 0.5, 1.5)),
    b: (name, n) => tensor(name, [n], randn(rng, [n], 0.2)),
  };
}

/** A Constant node holding an INT64 tensor (`dims` [] for a scalar). */
function constantNode(name: string, values: number[], dims = [values.length]): object {
  return { opType: 'Constant', input: [], output: [name], name, attribute: [{ name: 'value', type: 4, t: { dims, dataType: 7, int64Data: values } }] };
}

/**
 * Two branches joined (8 channels) then shuffled in 2 groups and read by a strided Conv. With
 * `dynamicShape`, the Reshape targets come from Shape -> Gather -> Unsqueeze -> Concat with
 * Constant nodes (what torch.onnx emits for `x.view(x.size(0), ...)` with a dynamic batch); else
 * constant initializers.
 */
export function shuffleNet(seed: number, options: { dynamicShape?: boolean; perm?: number[] } = {}): Uint8Array {
  const { w, b } = weights(seed);
  // As torch.onnx traces `x.view(n, 2, 4, h, w)`: each size a Constant node of one element.
  const sizes = [2, 4, 8].map((v) => constantNode(`size_${v}`, [v]));
  const shapes = options.dynamicShape
    ? [
        node('Shape', ['cat'], ['cat_shape'], {}, 'shape'),
        constantNode('zero', [0], []),
        node('Gather', ['cat_shape', 'zero'], ['n'], { axis: 0 }, 'batch'),
        node('Unsqueeze', ['n', 'axes0'], ['n1'], {}, 'batch_1d'),
        ...sizes,
        node('Concat', ['n1', 'size_2', 'size_4', 'size_8', 'size_8'], ['grouped_shape'], { axis: 0 }, 'grouped_shape'),
        node('Concat', ['n1', 'size_8', 'size_8', 'size_8'], ['map_shape'], { axis: 0 }, 'map_shape'),
      ]
    : [];
  const constants = options.dynamicShape
    ? [int64Tensor('axes0', [0])]
    : [int64Tensor('grouped_shape', [-1, 2, 4, 8, 8]), int64Tensor('map_shape', [-1, 8, 8, 8])];
  return model({
    input: [valueInfo('x', ['N', 3, 8, 8])],
    output: [valueInfo('y', ['N', 3])],
    initializer: [
      w('stem.weight', [4, 3, 3, 3]),
      b('stem.bias', 4),
      w('branch1.weight', [4, 4, 3, 3]),
      b('branch1.bias', 4),
      w('branch2.weight', [4, 4, 1, 1]),
      b('branch2.bias', 4),
      w('after.weight', [5, 8, 3, 3]),
      b('after.bias', 5),
      w('fc.weight', [3, 5]),
      ...constants,
    ],
    node: [
      node('Conv', ['x', 'stem.weight', 'stem.bias'], ['s'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'stem'),
      node('Relu', ['s'], ['a']),
      node('Conv', ['a', 'branch1.weight', 'branch1.bias'], ['z1'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'branch1'),
      node('Relu', ['z1'], ['r1']),
      node('Conv', ['a', 'branch2.weight', 'branch2.bias'], ['z2'], { kernel_shape: [1, 1] }, 'branch2'),
      node('Relu', ['z2'], ['r2']),
      node('Concat', ['r1', 'r2'], ['cat'], { axis: 1 }, 'cat'),
      ...shapes,
      node('Reshape', ['cat', 'grouped_shape'], ['grouped'], {}, 'shuffle_view'),
      node('Transpose', ['grouped'], ['swapped'], { perm: options.perm ?? [0, 2, 1, 3, 4] }, 'shuffle_transpose'),
      node('Reshape', ['swapped', 'map_shape'], ['shuffled'], {}, 'shuffle_back'),
      node('Conv', ['shuffled', 'after.weight', 'after.bias'], ['z3'], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, 'after'),
      node('Relu', ['z3'], ['r3']),
      node('GlobalAveragePool', ['r3'], ['g']),
      node('Flatten', ['g'], ['f']),
      node('Gemm', ['f', 'fc.weight'], ['y'], { transB: 1 }, 'fc'),
    ],
  });
}

/**
 * A ShuffleNetV2 unit of stride 1: the channels split in two halves (`x.chunk(2, 1)`: Split with
 * sizes, or `num_outputs` at opset 18), one half through 1x1, depthwise 3x3 and 1x1 Convs, joined
 * again and shuffled in 2 groups.
 */
export function shuffleUnit(seed: number, opset: 13 | 18 = 13): Uint8Array {
  const { w, b } = weights(seed);
  const splitNode =
    opset === 18
      ? node('Split', ['a'], ['x1', 'x2'], { axis: 1, num_outputs: 2 }, 'chunk')
      : node('Split', ['a', 'halves'], ['x1', 'x2'], { axis: 1 }, 'chunk');
  return model(
    {
      input: [valueInfo('x', ['N', 3, 6, 6])],
      output: [valueInfo('y', ['N', 3])],
      initializer: [
        w('stem.weight', [8, 3, 3, 3]),
        b('stem.bias', 8),
        w('pw1.weight', [4, 4, 1, 1]),
        b('pw1.bias', 4),
        w('dw.weight', [4, 1, 3, 3]),
        b('dw.bias', 4),
        w('pw2.weight', [4, 4, 1, 1]),
        b('pw2.bias', 4),
        w('fc.weight', [3, 8]),
        ...(opset === 13 ? [int64Tensor('halves', [4, 4])] : []),
        int64Tensor('grouped_shape', [-1, 2, 4, 6, 6]),
        int64Tensor('map_shape', [-1, 8, 6, 6]),
      ],
      node: [
        node('Conv', ['x', 'stem.weight', 'stem.bias'], ['s'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'stem'),
        node('Relu', ['s'], ['a']),
        splitNode,
        node('Conv', ['x2', 'pw1.weight', 'pw1.bias'], ['p1'], { kernel_shape: [1, 1] }, 'pw1'),
        node('Relu', ['p1'], ['p1r']),
        node('Conv', ['p1r', 'dw.weight', 'dw.bias'], ['d'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], group: 4 }, 'dw'),
        node('Conv', ['d', 'pw2.weight', 'pw2.bias'], ['p2'], { kernel_shape: [1, 1] }, 'pw2'),
        node('Relu', ['p2'], ['p2r']),
        node('Concat', ['x1', 'p2r'], ['cat'], { axis: 1 }, 'cat'),
        node('Reshape', ['cat', 'grouped_shape'], ['grouped'], {}, 'shuffle_view'),
        node('Transpose', ['grouped'], ['swapped'], { perm: [0, 2, 1, 3, 4] }, 'shuffle_transpose'),
        node('Reshape', ['swapped', 'map_shape'], ['shuffled'], {}, 'shuffle_back'),
        node('GlobalAveragePool', ['shuffled'], ['g']),
        node('Flatten', ['g'], ['f']),
        node('Gemm', ['f', 'fc.weight'], ['y'], { transB: 1 }, 'fc'),
      ],
    },
    opset,
  );
}

/**
 * A squeeze-and-excitation block: `Mul(x, s)`, `s = gate(FC(ReLU(FC(GlobalAveragePool(x)))))`.
 * `conv`: the FCs as 1x1 Convs and a Sigmoid (torchvision's SqueezeExcitation); `gemm`: Flatten,
 * Gemm, a HardSigmoid and an Unsqueeze to [N, C, 1, 1], with the Mul's inputs the other way round.
 * `gemm-reshape`: the same with a Reshape to [-1, C, 1, 1] (`s.view(n, c, 1, 1)`) instead of the
 * Unsqueeze. `gateOp`: the conv variant's gate activation.
 */
export function squeezeExcite(seed: number, fc: 'conv' | 'gemm' | 'gemm-reshape', gateOp = 'Sigmoid'): Uint8Array {
  const { w, b } = weights(seed);
  const branch =
    fc === 'conv'
      ? [
          node('Conv', ['sq', 'se1.weight', 'se1.bias'], ['e1'], { kernel_shape: [1, 1] }, 'se_fc1'),
          node('Relu', ['e1'], ['e1r']),
          node('Conv', ['e1r', 'se2.weight', 'se2.bias'], ['e2'], { kernel_shape: [1, 1] }, 'se_fc2'),
          node(gateOp, ['e2'], ['s'], {}, 'se_gate'),
          node('Mul', ['a1', 's'], ['excited'], {}, 'excite'),
        ]
      : [
          node('Flatten', ['sq'], ['sqf']),
          node('Gemm', ['sqf', 'se1.weight', 'se1.bias'], ['e1'], { transB: 1 }, 'se_fc1'),
          node('Relu', ['e1'], ['e1r']),
          node('Gemm', ['e1r', 'se2.weight', 'se2.bias'], ['e2'], { transB: 1 }, 'se_fc2'),
          node('HardSigmoid', ['e2'], ['h'], { alpha: { float: 1 / 6 }, beta: { float: 0.5 } }, 'se_gate'),
          fc === 'gemm' ? node('Unsqueeze', ['h', 'axes23'], ['s'], {}, 'se_unsqueeze') : node('Reshape', ['h', 'gate_shape'], ['s'], {}, 'se_view'),
          node('Mul', ['s', 'a1'], ['excited'], {}, 'excite'),
        ];
  const seDims =
    fc === 'conv'
      ? [
          [3, 4, 1, 1],
          [4, 3, 1, 1],
        ]
      : [
          [3, 4],
          [4, 3],
        ];
  return model({
    input: [valueInfo('x', ['N', 2, 6, 6])],
    output: [valueInfo('y', ['N', 3])],
    initializer: [
      w('c1.weight', [4, 2, 3, 3]),
      b('c1.bias', 4),
      w('se1.weight', seDims[0]),
      b('se1.bias', 3),
      w('se2.weight', seDims[1]),
      b('se2.bias', 4),
      w('c2.weight', [5, 4, 3, 3]),
      w('fc.weight', [3, 5 * 4 * 4]),
      ...(fc === 'gemm' ? [int64Tensor('axes23', [2, 3])] : fc === 'gemm-reshape' ? [int64Tensor('gate_shape', [-1, 4, 1, 1])] : []),
    ],
    node: [
      node('Conv', ['x', 'c1.weight', 'c1.bias'], ['z1'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'conv1'),
      node('Relu', ['z1'], ['a1']),
      node('GlobalAveragePool', ['a1'], ['sq'], {}, 'squeeze'),
      ...branch,
      node('Conv', ['excited', 'c2.weight'], ['z2'], { kernel_shape: [3, 3] }, 'conv2'),
      node('Relu', ['z2'], ['a2']),
      node('Flatten', ['a2'], ['f']),
      node('Gemm', ['f', 'fc.weight'], ['y'], { transB: 1 }, 'fc'),
    ],
  });
}

/**
 * A decoder: a Conv, a grouped ConvTranspose (stride 2, pads 1, output_padding 1) with a
 * BatchNormalization folded into it, and a dilated ConvTranspose with a bias; `extra` attributes
 * go on the first ConvTranspose.
 */
export function upsampler(seed: number, extra: Record<string, number[]> = {}): Uint8Array {
  const { w, b } = weights(seed);
  const rng = new Random(seed + 1);
  const positive = (name: string, n: number): object =>
    tensor(
      name,
      [n],
      Float32Array.from({ length: n }, () => 0.5 + rng.uniform()),
    );
  return model({
    input: [valueInfo('x', ['N', 4, 5, 5])],
    output: [valueInfo('y', ['N', 2])],
    initializer: [
      w('enc.weight', [6, 4, 3, 3]),
      b('enc.bias', 6),
      w('up1.weight', [6, 2, 3, 3]), // [in, out / groups, kh, kw], 2 groups: 4 output channels
      positive('bn.weight', 4),
      b('bn.bias', 4),
      b('bn.running_mean', 4),
      positive('bn.running_var', 4),
      w('up2.weight', [4, 3, 2, 2]),
      b('up2.bias', 3),
      w('fc.weight', [2, 3]),
    ],
    node: [
      node('Conv', ['x', 'enc.weight', 'enc.bias'], ['e'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'enc'),
      node('Relu', ['e'], ['er']),
      node(
        'ConvTranspose',
        ['er', 'up1.weight'],
        ['u1'],
        { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], output_padding: [1, 1], group: 2, ...extra },
        'up1',
      ), // 5 -> 10
      node('BatchNormalization', ['u1', 'bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var'], ['n1'], {}, 'bn'),
      node('Relu', ['n1'], ['u1r']),
      node('ConvTranspose', ['u1r', 'up2.weight', 'up2.bias'], ['u2'], { kernel_shape: [2, 2], dilations: [2, 1] }, 'up2'), // 10 -> 12 x 11
      node('Relu', ['u2'], ['u2r']),
      node('GlobalAveragePool', ['u2r'], ['g']),
      node('Flatten', ['g'], ['f']),
      node('Gemm', ['f', 'fc.weight'], ['y'], { transB: 1 }, 'fc'),
    ],
  });
}
