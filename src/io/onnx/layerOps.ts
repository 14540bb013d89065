/**
 * The ops that carry weights: Gemm and MatMul (dense blocks, with Gemm's alpha, beta and transB),
 * Conv and Conv1d (groups, depthwise, symmetric pads, strides, dilations, and the padding of a
 * zero Pad before it). Each returns the pending sum of its one block.
 */
import { describeValue } from '../../errors.js';
import { blockShape, fromStoredLayout } from '../../network/convTranspose.js';
import type { WeightArray } from '../../network/types.js';
import { slidingOutput, transposedOutput } from '../../network/validate.js';
import { attrFloat, attrInt, attrInts, attrString } from './attributes.js';
import type { BlockBinding } from './bindings.js';
import type { GraphBuilder } from './builder.js';
import type { NodeProto } from './schema.js';
import { DataType } from './schema.js';
import { convPadding, lift1d } from './shapes.js';
import type { LayerState, PendingBlock, PreState, State } from './state.js';
import { fail, sameShape } from './state.js';
import { elementCount } from './tensor.js';

export function dense(b: GraphBuilder, node: NodeProto, op: string, inputs: (State | null)[], name: string, where: string, out: string): PreState {
  const a = inputs[0];
  if (!a) fail(`node ${where}: missing input A`);
  const source = b.toLayer(a, `${out}:input`, where);
  if (source.shape.length !== 1)
    fail(`node ${where}: its input has shape ${describeValue(source.shape)} (batch excluded); a ${op} needs [batch, features] (flatten first)`);
  const w = b.weightInput(inputs[1], 'weight B', where);
  const dims = w.tensor.dims ?? [];
  if (dims.length !== 2) fail(`node ${where}: weight '${w.tensor.name}' has dims ${describeValue(dims)}; expected a matrix`);
  let transposed = true;
  let alpha = 1;
  let beta = 1;
  if (op === 'Gemm') {
    if (attrInt(node, 'transA', 0) !== 0) fail(`node ${where}: transA = 1 is not supported`);
    transposed = attrInt(node, 'transB', 0) === 0;
    alpha = attrFloat(node, 'alpha', 1);
    beta = attrFloat(node, 'beta', 1);
    if (!(alpha !== 0 && Number.isFinite(alpha))) fail(`node ${where}: alpha = ${alpha} is not supported`);
  }
  const [inDim, outDim] = transposed ? dims : [dims[1], dims[0]];
  if (inDim !== source.shape[0]) fail(`node ${where}: weight '${w.tensor.name}' reads ${inDim} features, its input has ${source.shape[0]}`);
  let double = w.tensor.dataType === DataType.DOUBLE;
  const weight = b.weightValues(w, { transposed, alpha, double });
  const binding: BlockBinding = {
    node: name,
    weight: { initializer: w.initializer, transposed, rowScale: alpha === 1 ? null : new Float64Array(outDim).fill(alpha) },
    bias: null,
  };
  let bias: Float64Array | null = null;
  const c = inputs[2];
  if (op === 'Gemm' && c && beta !== 0) {
    const cb = b.weightInput(c, 'bias C', where);
    const cd = cb.tensor.dims ?? [];
    if (!(sameShape(cd, [outDim]) || sameShape(cd, [1, outDim])))
      fail(`node ${where}: bias '${cb.tensor.name}' has dims ${describeValue(cd)}; expected [${outDim}] or [1, ${outDim}]`);
    bias = b.floatValues(cb).map((v) => beta * v);
    binding.bias = { initializer: cb.initializer, scale: beta, offset: null };
    double ||= cb.tensor.dataType === DataType.DOUBLE;
  }
  b.referenced.add(source.layer);
  return {
    kind: 'pre',
    shape: [outDim],
    skips: [],
    blocks: [
      {
        kind: 'dense',
        name: b.blockName(w.tensor, name),
        from: source.layer,
        shape: [outDim, inDim],
        stride: [1, 1],
        padding: [0, 0],
        groups: 1,
        weight,
        bias,
        double,
        binding,
      },
    ],
  };
}

/** A Conv's or ConvTranspose's input X as a layer: a `[C, H, W]` map (a Conv1d's `[C, 1, L]`). */
function convSource(b: GraphBuilder, x: State | null, op: string, where: string, out: string): LayerState {
  if (!x) fail(`node ${where}: missing input X`);
  const source = b.toLayer(x, `${out}:input`, where);
  if (source.shape.length !== 3)
    fail(`node ${where}: its input has shape ${describeValue(source.shape)} (batch excluded); a 2-D ${op} needs [batch, channels, height, width]`);
  if (!sameShape(b.layers[source.layer].shape, source.shape)) fail(`node ${where}: a ${op} reading a reshaped tensor is not supported`);
  return source;
}

/** The 4-D weight W (a Conv1d's `[a, b, k]` as `[a, b, 1, k]`, the node's attributes lifted to 2-D with it), its dilations and the span of its kernel. */
function convKernel(b: GraphBuilder, node: NodeProto, w: State | null, source: LayerState, where: string) {
  const weight = b.weightInput(w, 'weight W', where);
  let dims = weight.tensor.dims ?? [];
  if (dims.length === 3 && source.shape[1] === 1) {
    dims = [dims[0], dims[1], 1, dims[2]];
    node = lift1d(node);
  }
  if (dims.length !== 4) fail(`node ${where}: weight '${weight.tensor.name}' has dims ${describeValue(dims)}; only 2-D convolutions are supported`);
  const dilations = attrInts(node, 'dilations') ?? [1, 1];
  if (dilations.length !== 2 || dilations.some((d) => !(Number.isSafeInteger(d) && d > 0)))
    fail(`node ${where}: dilations ${describeValue(dilations)} must be two positive integers`);
  // Dilation spaces the taps: the kernel spans (k - 1) d + 1 positions, the channels it joins are the same.
  const span = [(dims[2] - 1) * dilations[0] + 1, (dims[3] - 1) * dilations[1] + 1];
  const kernel = attrInts(node, 'kernel_shape');
  if (kernel && !sameShape(kernel, dims.slice(2)))
    fail(`node ${where}: kernel_shape ${describeValue(kernel)} does not match weight dims ${describeValue(weight.tensor.dims)}`);
  const strides = attrInts(node, 'strides') ?? [1, 1];
  return { weight, dims, node, dilations, span, strides, groups: attrInt(node, 'group', 1) };
}

/** The pending sum of one convolution block, with its optional bias B (one per output channel). */
function convBlock(
  b: GraphBuilder,
  k: ReturnType<typeof convKernel>,
  c: { source: LayerState; biasInput: State | null; shape: number[]; padding: [number, number]; weight: WeightArray; binding: BlockBinding },
  name: string,
  where: string,
): PreState {
  const outC = c.shape[0];
  let bias: Float64Array | null = null;
  let double = k.weight.tensor.dataType === DataType.DOUBLE;
  if (c.biasInput) {
    const biasInput = b.weightInput(c.biasInput, 'bias B', where);
    if (elementCount(biasInput.tensor) !== outC || (biasInput.tensor.dims ?? []).length !== 1)
      fail(`node ${where}: bias '${biasInput.tensor.name}' has dims ${describeValue(biasInput.tensor.dims)}; expected [${outC}]`);
    bias = b.floatValues(biasInput).slice();
    c.binding.bias = { initializer: biasInput.initializer, scale: 1, offset: null };
    double ||= biasInput.tensor.dataType === DataType.DOUBLE;
  }
  if (!(c.shape[1] > 0 && c.shape[2] > 0)) fail(`node ${where}: the kernel is larger than its padded input`);
  b.referenced.add(c.source.layer);
  const [dh, dw] = k.dilations;
  const block: PendingBlock = {
    kind: 'conv2d',
    name: b.blockName(k.weight.tensor, name),
    from: c.source.layer,
    shape: [outC, c.source.shape[0] / k.groups, k.dims[2], k.dims[3]],
    stride: [k.strides[0], k.strides[1]],
    padding: c.padding,
    groups: k.groups,
    ...(dh !== 1 || dw !== 1 ? { dilation: [dh, dw] as [number, number] } : {}),
    weight: c.weight,
    bias,
    double,
    binding: c.binding,
  };
  return { kind: 'pre', shape: c.shape, skips: [], blocks: [block] };
}

export function conv(b: GraphBuilder, node: NodeProto, inputs: (State | null)[], name: string, where: string, out: string): PreState {
  const source = convSource(b, inputs[0], 'Conv', where, out);
  const k = convKernel(b, node, inputs[1], source, where);
  const [outC, inPerGroup] = k.dims;
  const [C, H, W] = source.shape;
  if (inPerGroup * k.groups !== C || outC % k.groups !== 0)
    fail(`node ${where}: weight '${k.weight.tensor.name}' ${describeValue(k.weight.tensor.dims)} with group = ${k.groups} does not fit ${C} input channels`);
  const padding = convPadding(k.node, [H, W], k.span, k.strides, where);
  const folded = b.zeroPads.get(node.input?.[0] ?? '');
  if (folded) {
    padding[0] += folded[0];
    padding[1] += folded[1];
  }
  const shape = [outC, slidingOutput(H, k.span[0], k.strides[0], padding[0]), slidingOutput(W, k.span[1], k.strides[1], padding[1])];
  const weight = b.weightValues(k.weight, { transposed: false, alpha: 1, double: k.weight.tensor.dataType === DataType.DOUBLE });
  const binding: BlockBinding = { node: name, weight: { initializer: k.weight.initializer, transposed: false, rowScale: null }, bias: null };
  return convBlock(b, k, { source, biasInput: inputs[2] ?? null, shape, padding, weight, binding }, name, where);
}

/**
 * ConvTranspose (2-D, or 1-D lifted): weight W `[in, out / groups, kh, kw]` joins the same
 * channel pairs as a Conv of weight `[out, in / groups, kh, kw]`; the block keeps that layout
 * (`Conv2dBlock.transposed`) and the writer maps it back. Symmetric pads, strides, dilations,
 * groups and output_padding; an explicit output_shape or auto_pad is refused.
 */
export function convTranspose(b: GraphBuilder, node: NodeProto, inputs: (State | null)[], name: string, where: string, out: string): PreState {
  const source = convSource(b, inputs[0], 'ConvTranspose', where, out);
  const k = convKernel(b, node, inputs[1], source, where);
  const [C, H, W] = source.shape;
  if (k.dims[0] !== C || C % k.groups !== 0)
    fail(`node ${where}: weight '${k.weight.tensor.name}' ${describeValue(k.weight.tensor.dims)} with group = ${k.groups} does not fit ${C} input channels`);
  if (attrInts(k.node, 'output_shape')) fail(`node ${where}: ConvTranspose with an explicit output_shape is not supported (give pads and output_padding)`);
  if (attrString(k.node, 'auto_pad', 'NOTSET') !== 'NOTSET') fail(`node ${where}: ConvTranspose with auto_pad is not supported (give pads)`);
  const padding = convPadding(k.node, [H, W], k.span, k.strides, where);
  const outputPadding = attrInts(k.node, 'output_padding') ?? [0, 0];
  const limit = [0, 1].map((a) => Math.max(k.strides[a], k.dilations[a]));
  if (outputPadding.length !== 2 || outputPadding.some((p, a) => !(Number.isSafeInteger(p) && p >= 0 && p < limit[a])))
    fail(`node ${where}: output_padding ${describeValue(outputPadding)} must be two integers >= 0, each smaller than its stride or dilation`);
  const shape = [
    k.dims[1] * k.groups,
    transposedOutput(H, k.span[0], k.strides[0], padding[0], outputPadding[0]),
    transposedOutput(W, k.span[1], k.strides[1], padding[1], outputPadding[1]),
  ];
  const blockDims = blockShape(k.dims, k.groups);
  const weight = fromStoredLayout(
    b.weightValues(k.weight, { transposed: false, alpha: 1, double: k.weight.tensor.dataType === DataType.DOUBLE }),
    blockDims,
    k.groups,
  );
  const binding: BlockBinding = {
    node: name,
    weight: { initializer: k.weight.initializer, transposed: false, rowScale: null, convTranspose: { groups: k.groups } },
    bias: null,
  };
  const pre = convBlock(b, k, { source, biasInput: inputs[2] ?? null, shape, padding, weight, binding }, name, where);
  pre.blocks[0].transposed = { outputPadding: [outputPadding[0], outputPadding[1]] };
  return pre;
}
