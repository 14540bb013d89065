/**
 * Channel split and channel shuffle (ShuffleNet). A Split along the channels (`x.chunk(2, 1)`)
 * gives layers of consecutive source units. A channel shuffle ( what torch.onnx emits for `x.view(n, g, c / g, h, w)`,
 * `transpose(1, 2)`, `view(n, c, h, w)`): Reshape `[N, C, H, W] -> [N, g, C/g, H, W]`, Transpose
 * perm `[0, 2, 1, 3, 4]`, Reshape back. A permutation of units: the result is a layer whose unit
 * `i g + j` is unit `j (C/g) + i` of the source (`Layer.concat` with `select`), and the two share
 * one factor. The grouped and transposed tensors in between carry the source's units; any other
 * Transpose or Reshape of them is refused, naming the node.
 */
import { describeValue } from '../../errors.js';
import { attrInt, attrInts } from './attributes.js';
import type { GraphBuilder } from './builder.js';
import type { NodeProto } from './schema.js';
import { intValues } from './shapes.js';
import type { LayerState, PreState, ShuffledState, State } from './state.js';
import { fail, sameShape } from './state.js';

/** The channel shuffle's Transpose: batch, then the two group axes swapped. */
const SHUFFLE_PERM = [0, 2, 1, 3, 4];

/** Whether a layer state is the view `[g, C/g, H, W]` of a `[C, H, W]` layer. */
function isGrouped(b: GraphBuilder, s: State): s is LayerState {
  if (s.kind !== 'layer' || s.shape.length !== 4) return false;
  const full = b.layers[s.layer].shape;
  return full.length === 3 && s.shape[0] * s.shape[1] === full[0] && sameShape(s.shape.slice(2), full.slice(1));
}

/** A Reshape of a `[C, H, W]` map to `[g, C/g, H, W]`: a view of its layer. Null for another target. */
export function groupedView(b: GraphBuilder, input: LayerState | PreState, target: number[], where: string, out: string): LayerState | null {
  if (input.shape.length !== 3 || target.length !== 4 || target[0] * target[1] !== input.shape[0] || !sameShape(target.slice(2), input.shape.slice(1)))
    return null;
  const layer = b.toLayer(input, `${out}:input`, where);
  if (!sameShape(b.layers[layer.layer].shape, layer.shape)) return null;
  return { kind: 'layer', layer: layer.layer, shape: [...target] };
}

/** The Transpose of a grouped view: the channel shuffle's (else refused). Null when the input is not a grouped view. */
export function transposeGroups(b: GraphBuilder, node: NodeProto, input: State, where: string): ShuffledState | null {
  if (!isGrouped(b, input)) return null;
  const perm = attrInts(node, 'perm') ?? [4, 3, 2, 1, 0];
  if (!sameShape(perm, SHUFFLE_PERM)) {
    fail(
      `node ${where}: transposes a [N, g, C/g, H, W] view of channels with perm ${describeValue(perm)}; only the channel shuffle's perm [0, 2, 1, 3, 4] is supported`,
    );
  }
  const [g, perGroup, h, w] = input.shape;
  return { kind: 'shuffled', layer: input.layer, groups: g, shape: [perGroup, g, h, w] };
}

/** The Reshape back to `[C, H, W]` ending a channel shuffle: a layer of the source's units, permuted. */
export function unshuffle(b: GraphBuilder, input: ShuffledState, target: number[] | null, where: string, out: string): LayerState {
  const source = b.layers[input.layer].shape;
  if (!target || !sameShape(target, source)) {
    fail(
      `node ${where}: reshapes a channel shuffle's transposed tensor ${describeValue(input.shape)} to ${describeValue(target)} (batch excluded); only the reshape back to ${describeValue(source)} is supported`,
    );
  }
  const [perGroup, g] = input.shape;
  const select = Array.from({ length: perGroup * g }, (_, k) => (k % g) * perGroup + Math.floor(k / g));
  b.referenced.add(input.layer);
  const k = b.layers.length;
  b.layers.push({ name: out, shape: [...source], activation: 'identity', concat: [input.layer], select });
  return { kind: 'layer', layer: k, shape: [...source] };
}

/**
 * A Split along the channels (axis 1) of a tensor computed from the input: for each output that
 * is read, a layer whose units are consecutive units of the source (`Layer.concat` with
 * `select`), sharing their factors. Null for an output nothing reads. Another axis is refused.
 */
export function split(b: GraphBuilder, node: NodeProto, inputs: (State | null)[], where: string): (LayerState | null)[] {
  const x = inputs[0];
  if (!x || (x.kind !== 'layer' && x.kind !== 'pre')) return fail(`node ${where}: expected a tensor computed from the input`);
  const rank = x.shape.length + 1;
  let axis = attrInt(node, 'axis', 0);
  if (axis < 0) axis += rank;
  if (axis !== 1) fail(`node ${where}: Split along axis ${axis} is not supported; only along the channels (axis 1)`);
  const outputs = node.output ?? [];
  const channels = x.shape[0];
  const given = inputs[1] ? intValues(inputs[1]) : (attrInts(node, 'split') ?? null);
  if (inputs[1] && !given) fail(`node ${where}: its split sizes are computed at run time; cannot resolve them`);
  const n = attrInt(node, 'num_outputs', outputs.length);
  const even = Math.ceil(channels / n);
  const sizes = given ?? Array.from({ length: n }, (_, k) => Math.min(even, channels - k * even));
  if (sizes.length !== outputs.length || sizes.some((s) => !(s > 0)) || sizes.reduce((a, c) => a + c, 0) !== channels)
    fail(`node ${where}: split sizes ${describeValue(sizes)} do not divide ${channels} channels into its ${outputs.length} outputs`);
  const source = b.toLayer(x, `${outputs[0]}:input`, where);
  if (!sameShape(b.layers[source.layer].shape, source.shape)) fail(`node ${where}: splitting a reshaped tensor is not supported`);
  let offset = 0;
  return outputs.map((name, k) => {
    const first = offset;
    offset += sizes[k];
    if (!name || ((b.uses.get(name) ?? 0) === 0 && name !== b.graphOutput)) return null;
    b.referenced.add(source.layer);
    const shape = [sizes[k], ...source.shape.slice(1)];
    const layer = b.layers.length;
    b.layers.push({ name, shape, activation: 'identity', concat: [source.layer], select: Array.from({ length: sizes[k] }, (_, c) => first + c) });
    return { kind: 'layer', layer, shape };
  });
}
