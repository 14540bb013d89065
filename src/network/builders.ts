import { WeightBalanceError } from '../errors.js';
import { Random } from './random.js';
import type { Activation, Block, Layer, Network, Pool, WeightArray } from './types.js';
import { slidingOutput, validateNetwork } from './validate.js';

/** Options shared by the builders. */
export interface BuildOptions {
  /** Seed of the PRNG: one seed gives one network, in Node and in the browser (default 0). */
  seed?: number;
  /** Weight initialisation: He-normal (variance 2 / fan-in). */
  init?: 'he';
  /** Element type of the weights (default `float32`). */
  dtype?: 'float32' | 'float64';
  /** Standard deviation of the biases (default 0: zero biases). */
  biasScale?: number;
  /** Activation of the hidden layers (default `relu`). */
  activation?: Activation;
}

/** One step of a {@link sequential} network. */
export type LayerSpec =
  | { type: 'dense'; units: number; activation?: Activation; skip?: number }
  | {
      type: 'conv';
      channels: number;
      kernel: number;
      stride?: number;
      padding?: number;
      groups?: number;
      activation?: Activation;
      pool?: { kind: 'max' | 'avg'; size: number; stride?: number } | 'global-avg';
      /** Add the output of this earlier layer (index into the layers, 0 = input): a residual. */
      skip?: number;
    };

/** Refuse a layer spec whose sizes are not integers in range, naming the layer and the field. */
function checkSpec(spec: LayerSpec, k: number): void {
  const positive =
    spec.type === 'dense' ? { units: spec.units } : { channels: spec.channels, kernel: spec.kernel, stride: spec.stride ?? 1, groups: spec.groups ?? 1 };
  for (const [field, value] of Object.entries(positive)) {
    if (!Number.isInteger(value) || value <= 0) throw new WeightBalanceError(`layer ${k}: ${field} must be a positive integer, got ${String(value)}`);
  }
  if (spec.type === 'conv' && (!Number.isInteger(spec.padding ?? 0) || (spec.padding ?? 0) < 0)) {
    throw new WeightBalanceError(`layer ${k}: padding must be an integer >= 0, got ${String(spec.padding)}`);
  }
}

function allocate(n: number, dtype: BuildOptions['dtype']): WeightArray {
  return dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
}

/**
 * Build a feed-forward network from an input shape and a list of layers. The last layer is the
 * output (identity activation unless given); the others default to ReLU. Blocks are named like
 * the indices of a PyTorch `nn.Sequential` with a ReLU after every parametrised layer but the last.
 */
export function sequential(input: number[], specs: LayerSpec[], options: BuildOptions = {}): Network {
  const { seed = 0, dtype = 'float32', biasScale = 0, activation = 'relu' } = options;
  if (options.init !== undefined && options.init !== 'he') throw new WeightBalanceError(`unknown init '${String(options.init)}'`);
  if (dtype !== 'float32' && dtype !== 'float64') throw new WeightBalanceError(`dtype must be 'float32' or 'float64', got '${String(dtype)}'`);
  if (!Array.isArray(specs) || specs.length === 0) throw new WeightBalanceError('the network is empty: give at least one layer');
  if (!Array.isArray(input) || (input.length !== 1 && input.length !== 3) || !input.every((d) => Number.isInteger(d) && d > 0)) {
    throw new WeightBalanceError(`the input shape must be [units] or [channels, height, width] of positive integers, got ${JSON.stringify(input)}`);
  }
  specs.forEach((spec, k) => checkSpec(spec, k));
  const rng = new Random(seed);
  const layers: Layer[] = [{ name: 'input', shape: [...input], activation: 'identity' }];
  const blocks: Block[] = [];
  specs.forEach((spec, k) => {
    const last = k === specs.length - 1;
    const prev = layers[layers.length - 1].shape;
    const name = String(2 * k);
    const act = spec.activation ?? (last ? 'identity' : activation);
    const layerName = last ? 'output' : `hidden${k + 1}`;
    const skips = spec.skip !== undefined ? [spec.skip] : undefined;
    if (spec.type === 'dense') {
      const fanIn = prev.reduce((a, b) => a * b, 1);
      const weight = allocate(spec.units * fanIn, dtype);
      const std = Math.sqrt(2 / fanIn);
      for (let i = 0; i < weight.length; i++) weight[i] = rng.normal() * std;
      const bias = allocate(spec.units, dtype);
      for (let i = 0; i < bias.length && biasScale > 0; i++) bias[i] = rng.normal() * biasScale;
      blocks.push({ kind: 'dense', name, from: layers.length - 1, to: layers.length, shape: [spec.units, fanIn], weight, bias });
      layers.push({ name: layerName, shape: [spec.units], activation: act, skips });
    } else {
      if (prev.length !== 3) throw new WeightBalanceError(`layer ${k}: a convolution needs a [channels, height, width] input`);
      const groups = spec.groups ?? 1;
      const stride = spec.stride ?? 1;
      const padding = spec.padding ?? 0;
      const inPerGroup = prev[0] / groups;
      const fanIn = inPerGroup * spec.kernel * spec.kernel;
      const weight = allocate(spec.channels * fanIn, dtype);
      const std = Math.sqrt(2 / fanIn);
      for (let i = 0; i < weight.length; i++) weight[i] = rng.normal() * std;
      const bias = allocate(spec.channels, dtype);
      for (let i = 0; i < bias.length && biasScale > 0; i++) bias[i] = rng.normal() * biasScale;
      const h = slidingOutput(prev[1], spec.kernel, stride, padding);
      const w = slidingOutput(prev[2], spec.kernel, stride, padding);
      let pool: Pool | undefined;
      let shape = [spec.channels, h, w];
      if (spec.pool === 'global-avg') {
        pool = { kind: 'avg', size: [h, w], stride: [h, w] };
        shape = [spec.channels, 1, 1];
      } else if (spec.pool) {
        const s = spec.pool.stride ?? spec.pool.size;
        pool = { kind: spec.pool.kind, size: [spec.pool.size, spec.pool.size], stride: [s, s] };
        shape = [spec.channels, slidingOutput(h, spec.pool.size, s, 0), slidingOutput(w, spec.pool.size, s, 0)];
      }
      blocks.push({
        kind: 'conv2d',
        name,
        from: layers.length - 1,
        to: layers.length,
        shape: [spec.channels, inPerGroup, spec.kernel, spec.kernel],
        weight,
        bias,
        stride: [stride, stride],
        padding: [padding, padding],
        groups,
      });
      layers.push({ name: layerName, shape, activation: act, pool, skips });
    }
  });
  const net: Network = { layers, blocks };
  validateNetwork(net);
  return net;
}

/**
 * A ReLU multilayer perceptron with He-normal weights and zero biases.
 *
 * @param sizes - Units per layer, input first and output last, e.g. `[200, 2500, 1250, 10]`.
 * @example
 * const net = mlp([200, 2500, 1250, 10], { seed: 0 });
 */
export function mlp(sizes: number[], options: BuildOptions = {}): Network {
  if (!Array.isArray(sizes) || sizes.length < 2) throw new WeightBalanceError('the network is empty: mlp needs at least an input and an output size');
  for (const s of sizes) {
    if (!Number.isInteger(s) || s <= 0) throw new WeightBalanceError(`layer sizes must be positive integers, got ${JSON.stringify(sizes)}`);
  }
  return sequential(
    [sizes[0]],
    sizes.slice(1).map((units) => ({ type: 'dense' as const, units })),
    options,
  );
}

/**
 * A small ReLU convolutional network for 1x8x8 inputs: a plain, a grouped and a depthwise
 * convolution with max- and average-pooling, then two dense layers.
 */
export function cnn(options: BuildOptions & { input?: [number, number, number]; classes?: number } = {}): Network {
  const { input = [1, 8, 8], classes = 10 } = options;
  return sequential(
    input,
    [
      { type: 'conv', channels: 8, kernel: 3, padding: 1, pool: { kind: 'max', size: 2 } },
      { type: 'conv', channels: 16, kernel: 3, padding: 1, groups: 2 },
      { type: 'conv', channels: 16, kernel: 3, padding: 1, groups: 16, pool: { kind: 'avg', size: 2 } },
      { type: 'dense', units: 32 },
      { type: 'dense', units: classes },
    ],
    options,
  );
}
