/**
 * The ops on unit-carrying tensors that keep or regroup units: Add and Sum of branches
 * (residuals, or a bias), activations, pooling, and Flatten/Reshape/Squeeze to [batch, features].
 */
import { describeValue } from '../../errors.js';
import type { Activation, Layer } from '../../network/types.js';
import { layerSize } from '../../network/types.js';
import { attrFloat, attrInt, attrInts } from './attributes.js';
import type { GraphBuilder } from './builder.js';
import { addBias } from './fold.js';
import type { NodeProto } from './schema.js';
import { intValues, poolOf, resolveReshape } from './shapes.js';
import { groupedView, unshuffle } from './shuffle.js';
import type { ConstState, LayerState, PreState, State } from './state.js';
import { fail, sameShape } from './state.js';

export function add(b: GraphBuilder, node: NodeProto, op: string, inputs: (State | null)[], name: string, where: string, out: string): State {
  const terms = inputs.filter((s): s is State => s !== null);
  const consts = terms.filter((s) => s.kind === 'const' || s.kind === 'meta');
  if (consts.length > 0) {
    const pre = terms.find((s): s is PreState => s.kind === 'pre');
    if (
      op === 'Add' &&
      terms.length === 2 &&
      consts.length === 1 &&
      pre &&
      pre.blocks.length > 0 &&
      consts[0].kind === 'const' &&
      consts[0].initializer !== null
    ) {
      const biased = addBias(pre, consts[0] as ConstState & { initializer: number }, (i, w) => b.source.floatValues(i, w));
      if (biased) return biased;
    }
    return b.opaque(node, op, inputs, name, where, out);
  }
  const shape = terms[0].kind === 'pre' || terms[0].kind === 'layer' ? terms[0].shape : [];
  const result: PreState = { kind: 'pre', shape, blocks: [], skips: [] };
  for (const t of terms) {
    if (t.kind !== 'pre' && t.kind !== 'layer') continue;
    if (!sameShape(t.shape, shape))
      fail(
        `node ${where}: adds tensors of shapes ${describeValue(shape)} and ${describeValue(t.shape)} (batch excluded); broadcasting between branches is not supported`,
      );
    if (t.kind === 'pre') {
      result.blocks.push(...t.blocks);
      result.skips.push(...t.skips);
    } else {
      if (!sameShape(b.layers[t.layer].shape, t.shape)) fail(`node ${where}: a residual over a flattened or reshaped tensor is not supported`);
      b.referenced.add(t.layer);
      result.skips.push(t.layer);
    }
  }
  return result;
}

export function activation(b: GraphBuilder, node: NodeProto, op: string, input: State, name: string, where: string, out: string): State {
  let activation: Activation;
  let negativeSlope: number | undefined;
  switch (op) {
    case 'Relu':
      activation = 'relu';
      break;
    case 'LeakyRelu':
      activation = 'leaky_relu';
      negativeSlope = attrFloat(node, 'alpha', 0.01);
      break;
    case 'Sigmoid':
      activation = 'sigmoid';
      break;
    case 'Tanh':
      activation = 'tanh';
      break;
    default: {
      // Softmax over the features of a [batch, features] tensor (opset < 13: axis 1; later: axis -1).
      const axis = attrInt(node, 'axis', -1);
      const flat = input.kind !== 'const' && input.kind !== 'meta' && input.shape.length === 1;
      if (!flat || (axis !== -1 && axis !== 1)) return b.opaque(node, op, [input], name, where, out);
      activation = 'softmax';
    }
  }
  const extra = negativeSlope === undefined ? {} : { negativeSlope };
  const result =
    input.kind === 'pre' ? b.materialize(input, activation, out, extra) : b.applyToLayer(b.toLayer(input, out, where), activation, out, where, extra);
  if (activation !== 'relu' && activation !== 'leaky_relu') b.report(name, op, [result.layer], 'activation');
  return result;
}

export function pool(b: GraphBuilder, node: NodeProto, op: string, input: State, where: string, out: string): State {
  const inputShape = input.kind === 'pre' || input.kind === 'layer' ? input.shape : [];
  if (inputShape.length !== 3)
    fail(`node ${where}: pooling needs a [batch, channels, height, width] input, got shape ${describeValue(inputShape)} (batch excluded)`);
  const pool = poolOf(node, op, inputShape, where, b.zeroPads.get(node.input?.[0] ?? ''));
  if (input.kind === 'pre') return b.materialize(input, 'identity', out, { pool });
  return b.applyToLayer(input as LayerState, 'identity', out, where, { pool });
}

/**
 * Flatten, Reshape, Squeeze and Unsqueeze of a tensor computed from the input: to `[batch,
 * features]` (a view of its layer), a flat `[C]` to `[C, 1, 1]` (a gate, see {@link gate}), or the
 * Reshapes of a channel shuffle (shuffle.ts). Anything else is refused, naming the node.
 */
export function flatten(b: GraphBuilder, node: NodeProto, op: string, inputs: (State | null)[], where: string, out: string): State {
  const input = inputs[0]!;
  if (input.kind !== 'pre' && input.kind !== 'layer' && input.kind !== 'shuffled') fail(`node ${where}: expected a tensor computed from the input`);
  const full = input.shape;
  const target = targetShape(b, node, op, inputs, full, where);
  if (input.kind === 'shuffled') return unshuffle(b, input, target, where, out);
  if (!target) fail(`node ${where}: only flattening to [batch, features] (or keeping the shape) is supported`);
  if (sameShape(target, full)) return input;
  const grouped = groupedView(b, input, target, where, out);
  if (grouped) return grouped;
  const unflat = full.length === 1 && sameShape(target, [full[0], 1, 1]);
  if (target.length !== 1 && !unflat) {
    fail(
      `node ${where}: reshaping ${describeValue(full)} to ${describeValue(target)} (batch excluded) is not supported; only flattening, [C] to [C, 1, 1] and a channel shuffle's [g, C/g, H, W] are`,
    );
  }
  const layer = b.toLayer(input, out, where);
  return { kind: 'layer', layer: layer.layer, shape: target };
}

/** The output shape (batch excluded) of a Flatten, Reshape, Squeeze or Unsqueeze; null when it moves the batch or is no flatten. */
function targetShape(b: GraphBuilder, node: NodeProto, op: string, inputs: (State | null)[], full: number[], where: string): number[] | null {
  if (op === 'Unsqueeze') {
    const axes = inputs[1] ? intValues(inputs[1]) : (attrInts(node, 'axes') ?? null);
    if (!axes) fail(`node ${where}: its axes are computed at run time; cannot resolve the output shape`);
    const rank = full.length + 1 + axes.length;
    const ones = new Set(axes.map((a) => (a < 0 ? a + rank : a)));
    if (ones.has(0) || ones.size !== axes.length || [...ones].some((a) => a >= rank)) return null;
    const rest = [...full];
    return Array.from({ length: rank - 1 }, (_, k) => (ones.has(k + 1) ? 1 : rest.shift()!));
  }
  if (op === 'Flatten') {
    let axis = attrInt(node, 'axis', 1);
    if (axis < 0) axis += full.length + 1;
    return axis === 1 ? [layerSize({ shape: full } as Layer)] : null;
  }
  if (op === 'Squeeze') {
    const c = inputs[1];
    const axes = c ? intValues(c) : (attrInts(node, 'axes') ?? full.map((_, k) => k + 1).filter((k) => full[k - 1] === 1));
    if (!axes) fail(`node ${where}: its axes are computed at run time; cannot resolve the output shape`);
    const drop = new Set(axes.map((a) => (a < 0 ? a + full.length + 1 : a)));
    if (drop.has(0)) fail(`node ${where}: squeezing the batch axis is not supported`);
    const target = full.filter((_, k) => !drop.has(k + 1));
    return target.length !== 1 || full.some((d, k) => drop.has(k + 1) && d !== 1) ? null : target;
  }
  const values = intValues(inputs[1] ?? null);
  if (!values) {
    fail(
      `node ${where}: its target shape is computed at run time (input '${node.input?.[1]}' is not a constant); cannot resolve it. Export with constant folding or use Flatten`,
    );
  }
  return resolveReshape(values, full, attrInt(node, 'allowzero', 0) !== 0, b.batch, where);
}

/**
 * Squeeze-and-excitation: `Mul(x, s)` with `x` a `[C, H, W]` map and `s` one value per channel
 * (`[C, 1, 1]`, or a flat `[C]` reshaped to it), both computed from the input. The output is a
 * layer tied to `x` (a skip) and gated by `s` (`Layer.gate`, whose units are fixed): scaling
 * channel `c` of `x` by `a` scales the product by `a` while the squeeze branch's first weights
 * absorb `1 / a`, so its hidden units stay rescalable. Null for any other Mul (a barrier).
 */
export function gate(b: GraphBuilder, inputs: (State | null)[], name: string, where: string, out: string): LayerState | null {
  const units = inputs.filter((s): s is LayerState | PreState => s !== null && (s.kind === 'layer' || s.kind === 'pre'));
  if (units.length !== 2 || inputs.length !== 2) return null;
  const perChannel = (u: LayerState | PreState): boolean => u.shape.length === 3 && u.shape[1] === 1 && u.shape[2] === 1;
  const [x, s] = perChannel(units[1]) ? units : [units[1], units[0]];
  if (!perChannel(s) || perChannel(x) || x.shape.length !== 3 || x.shape[0] !== s.shape[0]) return null;
  const source = b.toLayer(x, `${out}:input`, where);
  if (!sameShape(b.layers[source.layer].shape, source.shape)) fail(`node ${where}: gating a reshaped tensor is not supported`);
  const gated = b.toLayer(s, `${out}:gate`, where);
  b.referenced.add(source.layer);
  b.referenced.add(gated.layer);
  const k = b.layers.length;
  b.layers.push({ name: out, shape: [...source.shape], activation: 'identity', skips: [source.layer], gate: gated.layer });
  b.report(name, 'Mul', [gated.layer], 'gate');
  return { kind: 'layer', layer: k, shape: source.shape };
}

/**
 * Concat along the channels (axis 1) of tensors computed from the input: a new layer whose units
 * are its inputs' units, in order (`Layer.concat`); they share their factors. Concat along
 * another axis, or of a constant, is an opaque barrier (refused where it changes the shape).
 */
export function concat(b: GraphBuilder, node: NodeProto, inputs: (State | null)[], name: string, where: string, out: string): State {
  const terms = inputs.filter((s): s is State => s !== null);
  const units = terms.filter((s): s is LayerState | PreState => s.kind === 'layer' || s.kind === 'pre');
  const rank = units[0].shape.length + 1;
  let axis = attrInt(node, 'axis', 1);
  if (axis < 0) axis += rank;
  if (axis !== 1 || units.length !== terms.length) return b.opaque(node, 'Concat', inputs, name, where, out);
  const sources = units.map((u, k) => {
    const layer = b.toLayer(u, `${out}:input${k}`, where);
    if (!sameShape(b.layers[layer.layer].shape, layer.shape)) fail(`node ${where}: concatenating a flattened or reshaped tensor is not supported`);
    if (!sameShape(layer.shape.slice(1), units[0].shape.slice(1))) {
      fail(
        `node ${where}: concatenates tensors of shapes ${describeValue(units[0].shape)} and ${describeValue(layer.shape)} (batch excluded) along the channels; the other axes must agree`,
      );
    }
    b.referenced.add(layer.layer);
    return layer.layer;
  });
  const shape = [sources.reduce((sum, s) => sum + b.layers[s].shape[0], 0), ...units[0].shape.slice(1)];
  const k = b.layers.length;
  b.layers.push({ name: out, shape, activation: 'identity', concat: sources });
  return { kind: 'layer', layer: k, shape };
}
