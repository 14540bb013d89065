import { describeValue, NetworkValueError, WeightBalanceError } from '../errors.js';
import type { RangeFold, WeightRange } from './finite.js';
import { firstNonFinite, foldWeightRange } from './finite.js';
import type { Block, Layer, Network, Pool } from './types.js';
import { layerSize, unitCount } from './types.js';

const ACTIVATIONS = new Set(['relu', 'leaky_relu', 'identity', 'sigmoid', 'tanh', 'gelu', 'softmax']);

function fail(message: string): never {
  throw new WeightBalanceError(message);
}

function isPositiveInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x > 0;
}

function describeBlock(b: Block, k: number): string {
  return `block ${k} ('${b.name}')`;
}

/** Output spatial size of a convolution or pooling window along one axis. */
export function slidingOutput(size: number, kernel: number, stride: number, padding: number): number {
  return Math.floor((size + 2 * padding - kernel) / stride) + 1;
}

/** Output spatial size of pooling along axis `a` of a map `size` long (ceil mode included). */
export function pooledSize(size: number, pool: Pool, a: 0 | 1): number {
  const [k, s, pad] = [pool.size[a], pool.stride[a], pool.padding?.[a] ?? 0];
  if (!pool.ceil) return slidingOutput(size, k, s, pad);
  const out = Math.ceil((size + 2 * pad - k) / s) + 1;
  // A last window starting in the trailing padding (or past it) pools nothing of the input: dropped.
  return (out - 1) * s >= size + pad ? out - 1 : out;
}

/**
 * The shape of a hidden or output layer's pre-activation (before pooling): what its first
 * incoming block produces, or else its first skip's source (validation checks they all agree).
 */
export function preActivationShape(net: Network, layerIndex: number): number[] {
  const layer = net.layers[layerIndex];
  if (layer.concat) {
    const joined = concatShape(net, layer.concat);
    return layer.select ? [layer.select.length, ...joined.slice(1)] : joined;
  }
  const incoming = net.blocks.find((b) => b.to === layerIndex);
  return incoming ? blockOutputShape(net, incoming) : net.layers[net.layers[layerIndex].skips![0]].shape;
}

/** The shape of the sources' outputs joined along the unit axis (validation checks the rest agrees). */
function concatShape(net: Network, sources: number[]): number[] {
  const first = net.layers[sources[0]].shape;
  return [sources.reduce((sum, s) => sum + net.layers[s].shape[0], 0), ...first.slice(1)];
}

/** Output spatial size of a transposed convolution along one axis (its kernel spanning `kernel` positions). */
export function transposedOutput(size: number, kernel: number, stride: number, padding: number, outputPadding: number): number {
  return (size - 1) * stride - 2 * padding + kernel + outputPadding;
}

/** The shape a block produces at its target: `[out]` for dense, `[out, h, w]` for conv. */
export function blockOutputShape(net: Network, b: Block): number[] {
  if (b.kind === 'dense') return [b.shape[0]];
  const src = net.layers[b.from].shape;
  const [dh, dw] = b.dilation ?? [1, 1];
  if (b.transposed) {
    const [oh, ow] = b.transposed.outputPadding;
    return [
      b.shape[0],
      transposedOutput(src[1], (b.shape[2] - 1) * dh + 1, b.stride[0], b.padding[0], oh),
      transposedOutput(src[2], (b.shape[3] - 1) * dw + 1, b.stride[1], b.padding[1], ow),
    ];
  }
  return [
    b.shape[0],
    slidingOutput(src[1], (b.shape[2] - 1) * dh + 1, b.stride[0], b.padding[0]),
    slidingOutput(src[2], (b.shape[3] - 1) * dw + 1, b.stride[1], b.padding[1]),
  ];
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function validateLayer(layer: Layer, k: number): void {
  const where = `layer ${k} ('${layer?.name}')`;
  if (!layer || typeof layer !== 'object') fail(`layer ${k} is not an object`);
  if (layer.name !== undefined && typeof layer.name !== 'string') fail(`layer ${k}: name must be a string, got ${describeValue(layer.name)}`);
  if (!Array.isArray(layer.shape) || (layer.shape.length !== 1 && layer.shape.length !== 3) || !layer.shape.every(isPositiveInt)) {
    fail(`${where}: shape must be [units] or [channels, height, width] of positive integers, got ${describeValue(layer.shape)}`);
  }
  if (!ACTIVATIONS.has(layer.activation)) fail(`${where}: unknown activation '${String(layer.activation)}'`);
  if (layer.negativeSlope !== undefined && !Number.isFinite(layer.negativeSlope)) fail(`${where}: negativeSlope must be finite`);
  if (layer.skips !== undefined && !Array.isArray(layer.skips)) fail(`${where}: skips must be an array of layer indices`);
  if (layer.fixed !== undefined && !Array.isArray(layer.fixed)) fail(`${where}: fixed must be an array of unit indices`);
  for (const s of layer.skips ?? []) {
    if (!Number.isInteger(s) || s < 0 || s >= k) fail(`${where}: skip source ${s} must be an earlier layer`);
  }
  if (layer.concat !== undefined) {
    if (!Array.isArray(layer.concat) || layer.concat.length === 0) fail(`${where}: concat must be a non-empty array of layer indices`);
    for (const s of layer.concat) if (!Number.isInteger(s) || s < 0 || s >= k) fail(`${where}: concat source ${s} must be an earlier layer`);
    if ((layer.skips?.length ?? 0) > 0) fail(`${where}: a concat layer cannot also have skips`);
  }
  if (layer.select !== undefined) {
    if (layer.concat === undefined) fail(`${where}: select needs concat (the sources it selects from)`);
    if (!Array.isArray(layer.select) || !layer.select.every((u) => Number.isInteger(u) && u >= 0)) fail(`${where}: select must be an array of unit indices`);
  }
  if (layer.gate !== undefined && (!Number.isInteger(layer.gate) || layer.gate < 1 || layer.gate >= k))
    fail(`${where}: gate ${describeValue(layer.gate)} must be an earlier layer (not the input)`);
  for (const u of layer.fixed ?? []) {
    if (!Number.isInteger(u) || u < 0 || u >= unitCount(layer)) fail(`${where}: fixed unit ${u} is out of range`);
  }
  if (layer.pool) {
    const { size, stride, kind } = layer.pool;
    if (kind !== 'max' && kind !== 'avg') fail(`${where}: pool kind must be 'max' or 'avg'`);
    if (layer.shape.length !== 3) fail(`${where}: pooling needs a [channels, height, width] layer`);
    if (
      !Array.isArray(size) ||
      size.length !== 2 ||
      !size.every(isPositiveInt) ||
      !Array.isArray(stride) ||
      stride.length !== 2 ||
      !stride.every(isPositiveInt)
    ) {
      fail(`${where}: pool size and stride must be two positive integers each`);
    }
    const pad = layer.pool.padding;
    if (layer.pool.ceil !== undefined && typeof layer.pool.ceil !== 'boolean') fail(`${where}: pool ceil must be a boolean`);
    if (layer.pool.countPadding !== undefined && (typeof layer.pool.countPadding !== 'boolean' || kind !== 'avg'))
      fail(`${where}: pool countPadding must be a boolean, on average pooling only`);
    if (pad !== undefined) {
      if (pad.length !== 2 || !pad.every((x, a) => Number.isInteger(x) && x >= 0 && x < size[a]))
        fail(`${where}: pool padding must be two integers >= 0 and smaller than the window`);
    }
  }
  if (k === 0 && (layer.skips?.length ?? 0) > 0) fail(`${where}: the input layer cannot have skips`);
  // The input is read as given: an activation or a pooling there would be ignored, so it is refused.
  if (k === 0 && (layer.activation !== 'identity' || layer.pool)) fail(`${where}: the input layer must have the identity activation and no pooling`);
}

/** One block's structure, then (with a `range`) its values, folded into `range`. */
function validateBlock(net: Network, b: Block, k: number, range: WeightRange | null, fold: RangeFold | undefined): void {
  const where = describeBlock(b, k);
  const n = net.layers.length;
  if (!b || typeof b !== 'object') fail(`block ${k} is not an object`);
  if (!Number.isInteger(b.from) || !Number.isInteger(b.to) || b.from < 0 || b.to >= n || b.from >= b.to) {
    fail(`${where}: must join an earlier layer to a later one, got from ${b.from} to ${b.to} with ${n} layers`);
  }
  if (!(b.weight instanceof Float32Array || b.weight instanceof Float64Array)) fail(`${where}: weight must be a Float32Array or Float64Array`);
  const src = net.layers[b.from];
  const dst = net.layers[b.to];
  if (b.kind === 'dense') {
    if (b.shape?.length !== 2 || !b.shape.every(isPositiveInt)) fail(`${where}: dense shape must be [out, in], got ${describeValue(b.shape)}`);
    const [out, inp] = b.shape;
    if (inp !== layerSize(src)) fail(`${where}: shapes do not chain: it reads ${inp} inputs but layer ${b.from} ('${src.name}') has ${layerSize(src)}`);
    if (out !== unitCount(dst) || (dst.shape.length !== 1 && !dst.pool)) {
      if (dst.shape.length !== 1) fail(`${where}: shapes do not chain: a dense block cannot feed the feature map of layer ${b.to} ('${dst.name}')`);
      fail(`${where}: shapes do not chain: it has ${out} outputs but layer ${b.to} ('${dst.name}') has ${unitCount(dst)} units`);
    }
  } else if (b.kind === 'conv2d') {
    if (b.shape?.length !== 4 || !b.shape.every(isPositiveInt)) fail(`${where}: conv2d shape must be [out, in/groups, kh, kw], got ${describeValue(b.shape)}`);
    if (!isPositiveInt(b.groups)) fail(`${where}: groups must be a positive integer`);
    if (!b.stride?.every(isPositiveInt) || b.stride.length !== 2) fail(`${where}: stride must be two positive integers`);
    if (b.padding?.length !== 2 || !b.padding.every((x) => Number.isInteger(x) && x >= 0)) fail(`${where}: padding must be two non-negative integers`);
    if (b.dilation !== undefined && (!Array.isArray(b.dilation) || b.dilation.length !== 2 || !b.dilation.every(isPositiveInt)))
      fail(`${where}: dilation must be two positive integers`);
    if (src.shape.length !== 3) fail(`${where}: shapes do not chain: a convolution needs a feature map, layer ${b.from} ('${src.name}') is flat`);
    if (dst.shape.length !== 3) fail(`${where}: shapes do not chain: a convolution must feed a feature map, layer ${b.to} ('${dst.name}') is flat`);
    const [out, inPerGroup] = b.shape;
    if (src.shape[0] % b.groups !== 0 || out % b.groups !== 0)
      fail(`${where}: groups ${b.groups} must divide ${src.shape[0]} input and ${out} output channels`);
    if (inPerGroup * b.groups !== src.shape[0])
      fail(`${where}: shapes do not chain: it reads ${inPerGroup * b.groups} channels but layer ${b.from} ('${src.name}') has ${src.shape[0]}`);
    const t = b.transposed;
    if (t !== undefined) {
      const limit = [0, 1].map((a) => Math.max(b.stride[a], b.dilation?.[a] ?? 1));
      if (
        !t ||
        !Array.isArray(t.outputPadding) ||
        t.outputPadding.length !== 2 ||
        !t.outputPadding.every((x, a) => Number.isInteger(x) && x >= 0 && x < limit[a])
      )
        fail(`${where}: transposed.outputPadding must be two integers >= 0, each smaller than its stride or dilation`);
    }
    const o = blockOutputShape(net, b);
    if (o[1] <= 0 || o[2] <= 0) fail(`${where}: the kernel is larger than its padded input`);
    if (out !== dst.shape[0]) fail(`${where}: shapes do not chain: it has ${out} output channels but layer ${b.to} ('${dst.name}') has ${dst.shape[0]}`);
  } else {
    fail(`${where}: unknown kind '${String((b as { kind: unknown }).kind)}'`);
  }
  const expected = b.shape.reduce((x, y) => x * y, 1);
  if (b.weight.length !== expected) fail(`${where}: weight has ${b.weight.length} entries, shape ${describeValue(b.shape)} needs ${expected}`);
  if (b.bias !== null && b.bias !== undefined) {
    if (!(b.bias instanceof Float32Array || b.bias instanceof Float64Array)) fail(`${where}: bias must be a Float32Array, a Float64Array or null`);
    if (b.bias.length !== b.shape[0]) fail(`${where}: bias has ${b.bias.length} entries, expected ${b.shape[0]}`);
  }
  if (range) validateValues(b, k, range, fold);
}

/** Every weight and bias of a block is finite: one read, which folds `|w|` into `range`. */
function validateValues(b: Block, k: number, range: WeightRange, fold: RangeFold | undefined): void {
  const where = describeBlock(b, k);
  const badWeight = foldWeightRange(b.weight, range, fold);
  if (badWeight >= 0) throw new NetworkValueError(`${where}: weight entry ${badWeight} is not finite (${b.weight[badWeight]})`);
  const badBias = b.bias ? firstNonFinite(b.bias) : -1;
  if (badBias >= 0) throw new NetworkValueError(`${where}: bias entry ${badBias} is not finite (${b.bias?.[badBias]})`);
}

/** A layer's incoming blocks and skips agree on one shape, and pooling it gives the declared shape. */
function validateInputs(net: Network, k: number, incoming: Block[]): void {
  const layer = net.layers[k];
  if (layer.concat) {
    validateConcat(net, k, incoming);
    return;
  }
  if (incoming.length === 0 && (layer.skips?.length ?? 0) === 0) {
    fail(`layer ${k} ('${layer.name}') has no incoming block or skip: the network does not chain`);
  }
  const pre = incoming.length > 0 ? blockOutputShape(net, incoming[0]) : net.layers[layer.skips![0]].shape;
  if (layer.gate !== undefined) checkGate(net, k, pre[0]);
  for (const b of incoming) {
    if (!sameShape(blockOutputShape(net, b), pre)) fail(`layer ${k} ('${layer.name}'): its incoming blocks produce different shapes`);
  }
  for (const s of layer.skips ?? []) {
    if (!sameShape(net.layers[s].shape, pre)) {
      fail(`layer ${k} ('${layer.name}'): skip from layer ${s} has shape ${describeValue(net.layers[s].shape)}, expected ${describeValue(pre)}`);
    }
  }
  checkPooled(layer, k, pre);
}

/** A concat layer has no incoming block; its sources are all flat or all maps of one height and width. */
function validateConcat(net: Network, k: number, incoming: Block[]): void {
  const layer = net.layers[k];
  if (incoming.length > 0) fail(`layer ${k} ('${layer.name}'): a concat layer cannot have incoming blocks`);
  const first = net.layers[layer.concat![0]].shape;
  for (const s of layer.concat!) {
    const shape = net.layers[s].shape;
    if (!sameShape(shape.slice(1), first.slice(1))) {
      fail(
        `layer ${k} ('${layer.name}'): concat sources have shapes ${describeValue(first)} and ${describeValue(shape)}; only the unit (channel) axis may differ`,
      );
    }
  }
  const joined = concatShape(net, layer.concat!);
  for (const u of layer.select ?? []) if (u >= joined[0]) fail(`layer ${k} ('${layer.name}'): select names unit ${u}; its sources have ${joined[0]}`);
  const pre = layer.select ? [layer.select.length, ...joined.slice(1)] : joined;
  if (layer.gate !== undefined) checkGate(net, k, pre[0]);
  checkPooled(layer, k, pre);
}

/** A gate holds one value per unit of the layer it gates: a flat layer, or a map of height and width 1. */
function checkGate(net: Network, k: number, units: number): void {
  const layer = net.layers[k];
  const gate = net.layers[layer.gate!].shape;
  if (gate[0] !== units || layerSize(net.layers[layer.gate!]) !== units) {
    fail(`layer ${k} ('${layer.name}'): its gate, layer ${layer.gate}, has shape ${describeValue(gate)}; a gate needs one value per unit (${units})`);
  }
}

/** Pooling the pre-activation `pre` gives the layer's declared shape. */
function checkPooled(layer: Layer, k: number, pre: number[]): void {
  const post = layer.pool ? [pre[0], pooledSize(pre[1], layer.pool, 0), pooledSize(pre[2], layer.pool, 1)] : pre;
  if (!sameShape(post, layer.shape)) {
    fail(`layer ${k} ('${layer.name}'): shapes do not chain: its inputs give ${describeValue(post)}, the layer declares ${describeValue(layer.shape)}`);
  }
}

/**
 * Check that a network is well formed: shapes chain, convolutions fit, every weight and bias
 * is finite, skips and ties name existing units. Throws a {@link WeightBalanceError} naming
 * the first problem; never modifies the network.
 */
export function validateNetwork(net: Network): void {
  checkNetwork(net, true);
}

/**
 * {@link validateNetwork} but for the values: everything except that every weight and bias is
 * finite, without reading a single value (a reader whose network goes to `balance()`, which
 * reads them once, with their range, leaves them to it).
 */
export function validateStructure(net: Network): void {
  checkNetwork(net, false);
}

/**
 * {@link validateNetwork}, returning the range of `|w|` over the weights, read in the same loop
 * as their finiteness (what the CPU engine needs to scale `P`): one read of the weights, by
 * `fold` where given (the CPU engine's SIMD kernel), else in JS.
 */
export function validatedRange(net: Network, fold?: RangeFold): WeightRange {
  return checkNetwork(net, true, fold) as WeightRange;
}

/** The checks of {@link validateNetwork}, the values' (and their range) only when `values`. */
function checkNetwork(net: Network, values: boolean, fold?: RangeFold): WeightRange | null {
  if (!net || typeof net !== 'object' || !Array.isArray(net.layers) || !Array.isArray(net.blocks)) {
    fail('a network needs arrays `layers` and `blocks`');
  }
  if (net.layers.length < 2 || net.blocks.length === 0) fail('the network is empty: it needs an input layer, an output layer and at least one weight block');
  net.layers.forEach((l, k) => validateLayer(l, k));
  const range: WeightRange | null = values ? { smallest: Infinity, largest: 0 } : null;
  net.blocks.forEach((b, k) => validateBlock(net, b, k, range, fold));
  // One pass over blocks and skips indexes what each layer reads and feeds: linear in the network.
  const incoming: Block[][] = net.layers.map(() => []);
  const feeds = new Uint8Array(net.layers.length);
  for (const b of net.blocks) {
    incoming[b.to].push(b);
    feeds[b.from] = 1;
  }
  for (const l of net.layers) for (const s of [...(l.skips ?? []), ...(l.concat ?? []), ...(l.gate !== undefined ? [l.gate] : [])]) feeds[s] = 1;
  for (let k = 1; k < net.layers.length; k++) validateInputs(net, k, incoming[k]);
  for (let k = 0; k < net.layers.length - 1; k++) {
    if (!feeds[k]) fail(`layer ${k} ('${net.layers[k].name}') feeds nothing: only the last layer may be an output`);
  }
  if (net.ties !== undefined && !Array.isArray(net.ties)) fail('ties must be an array of tie groups (arrays of { layer, unit })');
  for (const group of net.ties ?? []) {
    if (!Array.isArray(group)) fail(`tie group ${describeValue(group)} must be an array of { layer, unit }`);
    for (const u of group) {
      const layer = Number.isInteger(u?.layer) ? net.layers[u.layer] : undefined;
      if (!layer || !Number.isInteger(u.unit) || u.unit < 0 || u.unit >= unitCount(layer)) {
        fail(`tie group names unit ${describeValue(u)}, which does not exist`);
      }
    }
  }
  return range;
}
