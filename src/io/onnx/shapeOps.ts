/**
 * Ops that only move or re-read a feature map: a constant-zero Pad (the identity, or padding
 * folded into the Conv or AveragePool after it), ReduceMean over the spatial axes (a GlobalAveragePool), and a
 * Transpose of the graph input (NHWC to NCHW).
 */
import { describeValue } from '../../errors.js';
import { attrFloat, attrInt, attrInts, attrString } from './attributes.js';
import type { GraphBuilder } from './builder.js';
import type { NodeProto } from './schema.js';
import { intValues } from './shapes.js';
import type { LayerState, State } from './state.js';
import { fail } from './state.js';
import { pool } from './unitOps.js';

/**
 * A constant-zero Pad: with all pads 0 it is the identity (what torch.onnx emits before an
 * AvgPool2d with count_include_pad); with equal pads on both sides of the spatial axes only, its
 * output is the input, and the padding is added to the Conv or the AveragePool (as padding it
 * counts) that reads it. Anything else is refused, naming the node.
 */
export function pad(b: GraphBuilder, node: NodeProto, inputs: (State | null)[], where: string, out: string): State {
  const x = inputs[0]!;
  if (x.kind !== 'layer' && x.kind !== 'pre') fail(`node ${where}: expected a tensor computed from the input`);
  const mode = attrString(node, 'mode', 'constant');
  const pads = inputs[1] ? intValues(inputs[1]) : (attrInts(node, 'pads') ?? null);
  if (!pads) fail(`node ${where}: its pads are computed at run time; cannot resolve them`);
  if ((inputs[3] ?? null) !== null) fail(`node ${where}: Pad with an 'axes' input is not supported`);
  const rank = x.shape.length + 1;
  if (pads.length !== 2 * rank) fail(`node ${where}: pads ${describeValue(pads)} do not fit a rank-${rank} tensor`);
  if (pads.every((p) => p === 0)) return x;
  const zeroValue = inputs[2] ? isZeroConstant(b, inputs[2]) : attrFloat(node, 'value', 0) === 0;
  const [before, after] = [pads.slice(0, rank), pads.slice(rank)];
  const spatialOnly = rank === 4 && before[0] === 0 && before[1] === 0 && after[0] === 0 && after[1] === 0;
  if (mode !== 'constant' || !zeroValue || !spatialOnly || before[2] !== after[2] || before[3] !== after[3] || pads.some((p) => p < 0)) {
    fail(
      `node ${where}: only a constant-zero Pad with equal padding on both sides of the spatial axes (before a Conv or an AveragePool) is supported; got mode '${mode}', pads ${describeValue(pads)}`,
    );
  }
  b.zeroPads.set(out, [before[2], before[3]]);
  return x;
}

/** Whether a constant input is all zeros (a Pad's constant_value). */
export function isZeroConstant(b: GraphBuilder, state: State): boolean {
  if (state.kind !== 'const') return false;
  if (state.initializer !== null) return b.source.floatValues(state.initializer, false).every((v) => v === 0);
  const t = state.tensor;
  return (t.floatData ?? []).every((v) => v === 0) && (t.doubleData ?? []).every((v) => v === 0) && (t.rawData ?? new Uint8Array(0)).every((x) => x === 0);
}

/**
 * ReduceMean over the spatial axes of a feature map (`x.mean([2, 3])`): a GlobalAveragePool,
 * flattened to [batch, channels] when keepdims = 0. Other axes are an opaque barrier.
 */
export function reduceMean(b: GraphBuilder, node: NodeProto, inputs: (State | null)[], name: string, where: string, out: string): State {
  const x = inputs[0]!;
  const rank = x.kind === 'layer' || x.kind === 'pre' ? x.shape.length + 1 : 0;
  const axes = inputs[1] ? intValues(inputs[1]) : (attrInts(node, 'axes') ?? null);
  const spatial =
    rank === 4 &&
    axes !== null &&
    axes.length === 2 &&
    new Set(axes.map((a) => (a < 0 ? a + rank : a))).size === 2 &&
    axes.every((a) => [2, 3].includes(a < 0 ? a + rank : a));
  if (!spatial) return b.opaque(node, 'ReduceMean', inputs, name, where, out);
  const pooled = pool(b, node, 'GlobalAveragePool', x, where, out) as LayerState;
  return attrInt(node, 'keepdims', 1) === 0 ? { kind: 'layer', layer: pooled.layer, shape: [pooled.shape[0]] } : pooled;
}

/**
 * A Transpose of the graph input that nothing else reads (NHWC -> NCHW): the input layer takes
 * the transposed shape (input units are fixed, so balancing is unaffected). Null otherwise.
 */
export function transposeInput(b: GraphBuilder, node: NodeProto, input: State, where: string, out: string): LayerState | null {
  if (input.kind !== 'layer' || input.layer !== 0 || b.inputTranspose || b.referenced.has(0) || !b.canMutateInput()) return null;
  const full = [0, ...b.layers[0].shape];
  const perm = attrInts(node, 'perm') ?? full.map((_, k) => full.length - 1 - k);
  if (perm.length !== full.length || perm[0] !== 0 || !full.every((_, k) => perm.includes(k))) return null;
  const shape = perm.slice(1).map((p) => full[p]);
  if (shape.length !== 1 && shape.length !== 3) fail(`node ${where}: the transposed input has rank ${shape.length + 1}`);
  b.layers[0].shape = shape;
  b.inputTranspose = perm;
  const state: LayerState = { kind: 'layer', layer: 0, shape };
  b.setState(out, state);
  return state;
}
