/**
 * The ops that carry weights: Gemm and MatMul (dense blocks, with Gemm's alpha, beta and transB),
 * Conv and Conv1d (groups, depthwise, symmetric pads, strides, dilations, and the padding of a
 * zero Pad before it). Each returns the pending sum of its one block.
 */
import { describeValue } from '../../errors.js';
import { slidingOutput } from '../../network/validate.js';
import { attrFloat, attrInt, attrInts } from './attributes.js';
import type { BlockBinding } from './bindings.js';
import type { GraphBuilder } from './builder.js';
import type { NodeProto } from './schema.js';
import { DataType } from './schema.js';
import { convPadding, lift1d } from './shapes.js';
import type { PreState, State } from './state.js';
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

export function conv(b: GraphBuilder, node: NodeProto, inputs: (State | null)[], name: string, where: string, out: string): PreState {
  const x = inputs[0];
  if (!x) fail(`node ${where}: missing input X`);
  const source = b.toLayer(x, `${out}:input`, where);
  if (source.shape.length !== 3)
    fail(`node ${where}: its input has shape ${describeValue(source.shape)} (batch excluded); a 2-D Conv needs [batch, channels, height, width]`);
  const w = b.weightInput(inputs[1], 'weight W', where);
  let dims = w.tensor.dims ?? [];
  if (dims.length === 3 && source.shape[1] === 1) {
    // Conv1d on a [C, 1, L] map: the kernel [out, in/groups, k] is [out, in/groups, 1, k].
    dims = [dims[0], dims[1], 1, dims[2]];
    node = lift1d(node);
  }
  if (dims.length !== 4)
    fail(`node ${where}: weight '${w.tensor.name}' has dims ${describeValue(dims)}; only 2-D convolutions ([out, in/groups, kh, kw]) are supported`);
  const [outC, inPerGroup, kh, kw] = dims;
  const groups = attrInt(node, 'group', 1);
  const [C, H, W] = source.shape;
  if (inPerGroup * groups !== C || outC % groups !== 0)
    fail(`node ${where}: weight '${w.tensor.name}' ${describeValue(dims)} with group = ${groups} does not fit ${C} input channels`);
  const dilations = attrInts(node, 'dilations') ?? [1, 1];
  if (dilations.length !== 2 || dilations.some((d) => !(Number.isSafeInteger(d) && d > 0)))
    fail(`node ${where}: dilations ${describeValue(dilations)} must be two positive integers`);
  // Dilation spaces the taps: the kernel spans (k - 1) d + 1 positions, the channels it joins are the same.
  const span = [(kh - 1) * dilations[0] + 1, (kw - 1) * dilations[1] + 1];
  const kernel = attrInts(node, 'kernel_shape');
  if (kernel && !sameShape(kernel, [kh, kw])) fail(`node ${where}: kernel_shape ${describeValue(kernel)} does not match weight dims ${describeValue(dims)}`);
  const strides = attrInts(node, 'strides') ?? [1, 1];
  const padding = convPadding(node, [H, W], span, strides, where);
  const folded = b.zeroPads.get(node.input?.[0] ?? '');
  if (folded) {
    padding[0] += folded[0];
    padding[1] += folded[1];
  }
  let double = w.tensor.dataType === DataType.DOUBLE;
  const weight = b.weightValues(w, { transposed: false, alpha: 1, double });
  const binding: BlockBinding = { node: name, weight: { initializer: w.initializer, transposed: false, rowScale: null }, bias: null };
  let bias: Float64Array | null = null;
  if (inputs[2]) {
    const biasInput = b.weightInput(inputs[2], 'bias B', where);
    if (elementCount(biasInput.tensor) !== outC || (biasInput.tensor.dims ?? []).length !== 1)
      fail(`node ${where}: bias '${biasInput.tensor.name}' has dims ${describeValue(biasInput.tensor.dims)}; expected [${outC}]`);
    bias = b.floatValues(biasInput).slice();
    binding.bias = { initializer: biasInput.initializer, scale: 1, offset: null };
    double ||= biasInput.tensor.dataType === DataType.DOUBLE;
  }
  const shape = [outC, slidingOutput(H, span[0], strides[0], padding[0]), slidingOutput(W, span[1], strides[1], padding[1])];
  if (!(shape[1] > 0 && shape[2] > 0)) fail(`node ${where}: the kernel is larger than its padded input`);
  b.referenced.add(source.layer);
  return {
    kind: 'pre',
    shape,
    skips: [],
    blocks: [
      {
        kind: 'conv2d',
        name: b.blockName(w.tensor, name),
        from: source.layer,
        shape: [outC, inPerGroup, kh, kw],
        stride: [strides[0], strides[1]],
        padding,
        groups,
        ...(dilations[0] !== 1 || dilations[1] !== 1 ? { dilation: [dilations[0], dilations[1]] as [number, number] } : {}),
        weight,
        bias,
        double,
        binding,
      },
    ],
  };
}
