/**
 * The network model: a directed acyclic graph of layers of units joined by weight blocks.
 *
 * A *unit* is a neuron of a dense layer or a channel of a convolutional layer. A weight block
 * joins every unit of one layer (`from`) to units of a later layer (`to`); a layer's
 * pre-activation is the sum of its incoming blocks (plus their biases) and of the outputs of
 * the layers named in `skips` (identity residual connections). Then come the activation and an
 * optional pooling. Layer 0 is the input, the last layer is the output.
 */

/** Weight storage: balancing keeps the caller's precision. */
export type WeightArray = Float32Array | Float64Array;

/** Half-precision formats a file may store weights in; held as float32 in memory. */
export type StorageDtype = 'float16' | 'bfloat16';

/**
 * Activations. `relu`, `leaky_relu` and `identity` are positively homogeneous, so their units
 * can be rescaled; the others make their units fixed (factor 1).
 */
export type Activation = 'relu' | 'leaky_relu' | 'identity' | 'sigmoid' | 'tanh' | 'gelu' | 'softmax';

/** Pooling applied after the activation. Max- and average-pooling commute with rescaling. */
export interface Pool {
  kind: 'max' | 'avg';
  /** Window `[kh, kw]`. */
  size: [number, number];
  /** Stride `[sh, sw]`. */
  stride: [number, number];
  /**
   * Padding `[ph, pw]` on each side (default none), smaller than the window. Max-pooling ignores
   * the padded positions, as ONNX MaxPool and PyTorch's MaxPool2d do; average pooling counts them
   * as zeros only with `countPadding`.
   */
  padding?: [number, number];
  /**
   * Round the output size up (ONNX and PyTorch `ceil_mode`): `ceil((n + 2p - k) / s) + 1`
   * windows, less one when the last would start past the input and its leading padding. The
   * last window may then run past the padded input; it pools what it covers.
   */
  ceil?: boolean;
  /**
   * Average pooling: divide by the window's positions inside the padded input (ONNX
   * `count_include_pad = 1`, PyTorch's default) instead of those inside the input (default).
   */
  countPadding?: boolean;
}

/** A layer: a set of units (neurons, or channels of a feature map). */
export interface Layer {
  name: string;
  /** Output shape after pooling: `[units]` or `[channels, height, width]`. */
  shape: number[];
  activation: Activation;
  /** Slope for negative inputs of `leaky_relu` (default 0.01). */
  negativeSlope?: number;
  pool?: Pool;
  /** Earlier layers whose outputs are added to this layer's pre-activation (residual connections). */
  skips?: number[];
  /**
   * Earlier layers whose outputs, joined along the unit (channel) axis in this order, are this
   * layer's pre-activation (`torch.cat(xs, 1)`, ONNX `Concat` on axis 1). Such a layer has no
   * incoming block or skip: its unit `offset + c` *is* unit `c` of a source (`offset`: the units
   * of the sources before it), so the two share one factor. Feature-map sources share their
   * height and width.
   */
  concat?: number[];
  /**
   * With `concat`: unit `k` of this layer is unit `select[k]` of the sources joined (a
   * permutation such as a channel shuffle, or a part of them such as a channel split). The
   * two share one factor. Without it the joined units are taken in order.
   */
  select?: number[];
  /**
   * An earlier layer whose output multiplies this layer's pre-activation unit by unit (channel
   * by channel: a squeeze-and-excitation `Mul(x, s)`): one value per unit, a flat layer or a
   * `[units, 1, 1]` map. A gate's units are fixed, so rescaling never changes it, and the gated
   * units scale as their inputs do.
   */
  gate?: number;
  /** Units of this layer that must not be rescaled, beyond what the activation implies. */
  fixed?: number[];
}

interface BlockBase {
  /** State-dict prefix: the block's tensors are `${name}.weight` and `${name}.bias`. */
  name: string;
  /** Index of the source layer. */
  from: number;
  /** Index of the target layer (later than `from`). */
  to: number;
  /** Row-major weights. */
  weight: WeightArray;
  /** One bias per target unit, or `null`. */
  bias: WeightArray | null;
  /**
   * Narrower float formats the tensors were read from (their data is held in a Float32Array);
   * writers store them back in that format. Absent: stored as the array's own type.
   */
  storage?: { weight?: StorageDtype; bias?: StorageDtype };
}

/** A fully connected block, `shape = [out, in]`; a spatial source is flattened in C, H, W order. */
export interface DenseBlock extends BlockBase {
  kind: 'dense';
  shape: [number, number];
}

/** A 2-D convolution, `shape = [out, in / groups, kh, kw]` (PyTorch's layout). */
export interface Conv2dBlock extends BlockBase {
  kind: 'conv2d';
  shape: [number, number, number, number];
  stride: [number, number];
  padding: [number, number];
  groups: number;
  /**
   * Spacing `[dh, dw]` between kernel taps (default `[1, 1]`). It changes which positions a
   * kernel reads, never which channels it joins, so balancing does not depend on it.
   */
  dilation?: [number, number];
  /**
   * A transposed convolution (ONNX ConvTranspose, PyTorch ConvTranspose2d): the weights keep
   * this block's layout `[out, in / groups, kh, kw]` (the channel pairs a kernel joins, as for a
   * convolution; PyTorch stores `[in, out / groups, kh, kw]`), and input position `y` adds to
   * output position `y * stride - padding + tap * dilation`. `outputPadding` (default `[0, 0]`)
   * adds rows and columns at the end of the output.
   */
  transposed?: { outputPadding: [number, number] };
}

export type Block = DenseBlock | Conv2dBlock;

/** A unit named by its layer and its index in that layer (its channel for a feature map). */
export interface UnitRef {
  layer: number;
  unit: number;
}

/**
 * A network. Treated as immutable by this library: balancing returns a new network and never
 * writes to the arrays of its input.
 */
export interface Network {
  layers: Layer[];
  /** Weight blocks in a stable order (the order of the state-dict indices). */
  blocks: Block[];
  /** Extra groups of units that must share one factor (residual skips add their own). */
  ties?: UnitRef[][];
}

/** The number of units of a layer: its channels, or its length when it is flat. */
export function unitCount(layer: Layer): number {
  return layer.shape[0] ?? 0;
}

/** The number of activations of a layer: the product of its shape. */
export function layerSize(layer: Layer): number {
  return layer.shape.reduce((a, b) => a * b, 1);
}

/** Spatial positions per unit (1 for a flat layer). */
export function positionsPerUnit(layer: Layer): number {
  return layer.shape.length === 3 ? layer.shape[1] * layer.shape[2] : 1;
}

const HOMOGENEOUS: ReadonlySet<Activation> = new Set<Activation>(['relu', 'leaky_relu', 'identity']);

/** Whether an activation is positively homogeneous (`f(a z) = a f(z)` for `a > 0`). */
export function isHomogeneous(activation: Activation): boolean {
  return HOMOGENEOUS.has(activation);
}
