/**
 * Small seeded networks for the tests of the fix: an MLP, a CNN with grouped and depthwise
 * convolutions, a dense residual net with skips (one with self-edges inside its tie groups)
 * and explicit ties, and a convolutional residual net. All have non-zero biases.
 */

import type { BuildOptions } from '../../src/network/builders.js';
import { cnn, mlp, sequential } from '../../src/network/builders.js';
import { rescale } from '../../src/network/rescale.js';
import type { Network } from '../../src/network/types.js';
import type { Reference } from './fixReference.js';
import { uniformStream } from './fixReference.js';

export type Dtype = 'float32' | 'float64';

/** A 7-10-9-8-4 ReLU MLP. */
export function mlpNet(seed: number, dtype: Dtype = 'float64'): Network {
  return mlp([7, 10, 9, 8, 4], { seed, dtype, biasScale: 0.3 });
}

/** The library's small CNN: plain conv + max-pool, grouped conv (2 groups), depthwise conv + avg-pool, two dense layers. */
export function cnnNet(seed: number, dtype: Dtype = 'float64'): Network {
  return cnn({ seed, dtype, biasScale: 0.2, classes: 5 });
}

/**
 * A dense residual net: layer 3 adds layer 1 (ties 1 <-> 3), layer 4 adds layer 3 (ties 3 <-> 4,
 * so the diagonal of block 3 -> 4 are edges inside a tie group), plus explicit ties: two units
 * of layer 2, and layer 2 unit 5 with layer 1 unit 7 (an edge inside the group).
 */
export function residualNet(seed: number, dtype: Dtype = 'float64'): Network {
  const net = sequential(
    [6],
    [
      { type: 'dense', units: 8 },
      { type: 'dense', units: 8 },
      { type: 'dense', units: 8, skip: 1 },
      { type: 'dense', units: 8, skip: 3 },
      { type: 'dense', units: 3 },
    ],
    { seed, dtype, biasScale: 0.3 },
  );
  return {
    ...net,
    ties: [
      [
        { layer: 2, unit: 0 },
        { layer: 2, unit: 1 },
      ],
      [
        { layer: 2, unit: 5 },
        { layer: 1, unit: 7 },
      ],
    ],
  };
}

/** A convolutional residual net: layer 2 adds layer 1 channel by channel; then a grouped conv and a dense head. */
export function convResidualNet(seed: number, dtype: Dtype = 'float64'): Network {
  return sequential(
    [2, 5, 5],
    [
      { type: 'conv', channels: 4, kernel: 3, padding: 1 },
      { type: 'conv', channels: 4, kernel: 3, padding: 1, skip: 1 },
      { type: 'conv', channels: 6, kernel: 3, padding: 1, stride: 2, groups: 2 },
      { type: 'dense', units: 3 },
    ],
    { seed, dtype, biasScale: 0.2 },
  );
}

/**
 * A DAG that is not a chain: dense blocks 0->1, 1->2, 2->3, 3->4 plus 1->3 and 0->2 (a layer
 * with two incoming blocks; a layer read by two blocks), so the colouring needs 3 classes.
 */
export function dagNet(seed: number, dtype: Dtype = 'float64'): Network {
  const chain = mlp([5, 7, 6, 8, 3], { seed, dtype, biasScale: 0.3 });
  const extra = mlp([7, 8], { seed: seed + 1000, dtype }).blocks[0];
  const input = mlp([5, 6], { seed: seed + 2000, dtype }).blocks[0];
  return {
    ...chain,
    blocks: [...chain.blocks, { ...extra, name: 'skip13', from: 1, to: 3, bias: null }, { ...input, name: 'skip02', from: 0, to: 2, bias: null }],
  };
}

/** The test nets by name. */
export const NETS: Record<string, (seed: number, dtype?: Dtype) => Network> = {
  mlp: mlpNet,
  cnn: cnnNet,
  residual: residualNet,
  'conv-residual': convResidualNet,
  dag: dagNet,
};

/** Depthwise chains: a plain conv, two depthwise convs (each channel a chain), a grouped 1x1 conv (2 groups), a dense head. */
export function depthwiseNet(seed: number, dtype: Dtype = 'float64'): Network {
  return sequential(
    [4, 6, 6],
    [
      { type: 'conv', channels: 8, kernel: 3, padding: 1 },
      { type: 'conv', channels: 8, kernel: 3, padding: 1, groups: 8 },
      { type: 'conv', channels: 8, kernel: 3, padding: 1, groups: 8 },
      { type: 'conv', channels: 8, kernel: 1, groups: 2 },
      { type: 'dense', units: 4 },
    ],
    { seed, dtype, biasScale: 0.2 },
  );
}

/**
 * Two inverted residual blocks (MobileNetV2-like): expand 1x1, depthwise 3x3, project 1x1 added
 * to the block's input, so layers 1, 4 and 7 are tied; then a dense head.
 */
export function invertedResidualNet(seed: number, dtype: Dtype = 'float64'): Network {
  return sequential(
    [3, 6, 6],
    [
      { type: 'conv', channels: 8, kernel: 3, padding: 1 },
      { type: 'conv', channels: 16, kernel: 1 },
      { type: 'conv', channels: 16, kernel: 3, padding: 1, groups: 16 },
      { type: 'conv', channels: 8, kernel: 1, skip: 1 },
      { type: 'conv', channels: 16, kernel: 1 },
      { type: 'conv', channels: 16, kernel: 3, padding: 1, groups: 16 },
      { type: 'conv', channels: 8, kernel: 1, skip: 4 },
      { type: 'dense', units: 5 },
    ],
    { seed, dtype, biasScale: 0.2 },
  );
}

/** A depthwise conv between two pointwise convs, with `channels` depthwise channels (2 x channels coarse groups when each has its own). */
export function wideDepthwiseNet(seed: number, channels = 48, dtype: Dtype = 'float64'): Network {
  return sequential(
    [3, 6, 6],
    [
      { type: 'conv', channels, kernel: 1 },
      { type: 'conv', channels, kernel: 3, padding: 1, groups: channels },
      { type: 'conv', channels: 16, kernel: 1 },
      { type: 'dense', units: 5 },
    ],
    { seed, dtype, biasScale: 0.2 },
  );
}

/** The convolutional nets of the pass-count figures (bench/passRatio.ts) and bounds (test/schedule-coarse.test.ts), beside `NETS`. */
export const CONV_NETS: Record<string, (seed: number) => Network> = {
  cnn: (seed) => cnnNet(seed),
  'conv-residual': (seed) => convResidualNet(seed),
  depthwise: (seed) => depthwiseNet(seed),
  'inverted-residual': (seed) => invertedResidualNet(seed),
  'wide-depthwise': (seed) => wideDepthwiseNet(seed),
  // 2 x 96, 192, 384, 1024 depthwise channels: coarse spaces past MAX_COARSE_GROUPS (solved by conjugate gradients).
  'depthwise-96': (seed) => wideDepthwiseNet(seed, 96),
  'depthwise-192': (seed) => wideDepthwiseNet(seed, 192),
  'depthwise-384': (seed) => wideDepthwiseNet(seed, 384),
  'depthwise-1024': (seed) => wideDepthwiseNet(seed, 1024),
};

/**
 * Rescale a network by random factors `10^U(-decades, decades)` per variable of `ref` (tie groups
 * share one factor; fixed and frozen units keep 1): the same function, badly balanced.
 */
export function scrambled(net: Network, ref: Reference, seed: number, decades = 3): { net: Network; logFactors: Float64Array[] } {
  const next = uniformStream(seed);
  const perVar = Float64Array.from({ length: ref.nVars }, () => (2 * next() - 1) * decades * Math.LN10);
  const logFactors = net.layers.map((layer, k) =>
    Float64Array.from({ length: layer.shape[0] }, (_, c) => {
      const v = ref.unitVar[ref.layerStart[k] + c];
      return v >= 0 ? perVar[v] : 0;
    }),
  );
  return { net: rescale(net, logFactors), logFactors };
}

/**
 * Three grouped/pointwise convolutions and a dense layer on a 6x2x2 input: with small forced
 * limits its blocks split over several segments, by groups and by rows.
 */
export function groupedSplitNet(options: BuildOptions = {}): Network {
  return sequential(
    [6, 2, 2],
    [
      { type: 'conv', channels: 12, kernel: 3, padding: 1, groups: 3 },
      { type: 'conv', channels: 12, kernel: 1, groups: 3 },
      { type: 'conv', channels: 12, kernel: 1 },
      { type: 'dense', units: 2 },
    ],
    { seed: 4, ...options },
  );
}
