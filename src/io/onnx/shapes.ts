/**
 * Shapes in an ONNX graph: the integer shape arithmetic exporters emit, Reshape targets,
 * convolution padding, pooling windows and 1-D ops lifted to 2-D. Pure functions of the node and the known shapes.
 */
import { describeValue } from '../../errors.js';
import type { Pool } from '../../network/types.js';
import { pooledSize } from '../../network/validate.js';
import { attrInt, attrInts, attrString } from './attributes.js';
import type { NodeProto } from './schema.js';
import type { State } from './state.js';
import { BATCH, fail } from './state.js';
import { readIntTensor } from './tensor.js';

/** Integer values of a constant or known shape value. */
export function intValues(state: State | null): number[] | null {
  if (!state) return null;
  if (state.kind === 'const') return readIntTensor(state.tensor);
  if (state.kind === 'meta') return state.values ?? null;
  return null;
}

/**
 * Evaluate the shape arithmetic exporters emit for `x.view(x.size(0), -1)`: Shape, Gather,
 * Unsqueeze, Squeeze, Concat, Cast, Identity on integer vectors. Null when not known.
 */
export function shapeArithmetic(node: NodeProto, op: string, inputs: (State | null)[], batch: number | null): number[] | null {
  const first = inputs[0];
  switch (op) {
    case 'Shape': {
      if (!first || (first.kind !== 'layer' && first.kind !== 'pre')) return null;
      const dims = [batch ?? BATCH, ...first.shape];
      const norm = (v: number): number => Math.min(Math.max(v < 0 ? v + dims.length : v, 0), dims.length);
      return dims.slice(norm(attrInt(node, 'start', 0)), norm(attrInt(node, 'end', dims.length)));
    }
    case 'Gather': {
      const data = intValues(first);
      const indices = intValues(inputs[1]);
      if (!data || !indices || attrInt(node, 'axis', 0) !== 0) return null;
      const picked = indices.map((i) => data[i < 0 ? i + data.length : i]);
      return picked.some((v) => v === undefined) ? null : picked;
    }
    case 'Unsqueeze':
    case 'Squeeze':
    case 'Cast':
    case 'Identity':
      return intValues(first);
    case 'Concat':
      if (attrInt(node, 'axis', 0) !== 0) return null;
      return inputs.every((i) => intValues(i)) ? inputs.flatMap((i) => intValues(i)!) : null;
    default:
      return null;
  }
}

/** The non-batch part of a Reshape's output shape, or null if it moves the batch axis. */
export function resolveReshape(values: number[], full: number[], allowZero: boolean, batch: number | null, where: string): number[] | null {
  const input = [batch ?? BATCH, ...full];
  const out = values.map((v, k) => (v === 0 && !allowZero ? (input[k] ?? fail(`node ${where}: shape ${describeValue(values)} copies a missing axis`)) : v));
  const total = full.reduce((a, b) => a * b, 1);
  const inferred = out.filter((v) => v === -1).length;
  if (inferred > 1) fail(`node ${where}: shape ${describeValue(values)} has several -1`);
  if (out.some((v) => v < -2 || v === 0)) return null;
  const known = out.filter((v) => v > 0).reduce((a, b) => a * b, 1);
  const hasBatch = out.includes(BATCH);
  if (inferred === 1) {
    const fill = hasBatch ? total / known : batch !== null ? (batch * total) / known : known === total ? BATCH : NaN;
    if (!(fill === BATCH || (Number.isInteger(fill) && fill > 0)))
      fail(`node ${where}: shape ${describeValue(values)} does not fit ${describeValue(full)} (batch excluded)`);
    out[out.indexOf(-1)] = fill;
  }
  if (out[0] !== (batch ?? BATCH)) return null;
  const rest = out.slice(1);
  if (rest.some((v) => v <= 0) || rest.reduce((a, b) => a * b, 1) !== total) return null;
  return rest;
}

/** A Conv's symmetric padding from `pads` or `auto_pad`; uneven padding is refused. */
export function convPadding(node: NodeProto, size: number[], kernel: number[], strides: number[], where: string): [number, number] {
  if (strides.length !== 2 || strides.some((s) => !(s > 0))) fail(`node ${where}: strides ${describeValue(strides)} are not supported`);
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  let pads = attrInts(node, 'pads') ?? [0, 0, 0, 0];
  if (autoPad === 'VALID') pads = [0, 0, 0, 0];
  else if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    pads = [0, 1].flatMap((a) => {
      const total = Math.max(0, (Math.ceil(size[a] / strides[a]) - 1) * strides[a] + kernel[a] - size[a]);
      return [Math.floor(total / 2), total - Math.floor(total / 2)];
    });
    pads = [pads[0], pads[2], pads[1], pads[3]];
  } else if (autoPad !== 'NOTSET') fail(`node ${where}: auto_pad '${autoPad}' is not supported`);
  if (pads.length !== 4 || pads[0] !== pads[2] || pads[1] !== pads[3] || pads.some((p) => p < 0)) {
    fail(`node ${where}: pads ${describeValue(pads)} are not symmetric; only equal padding on both sides is supported`);
  }
  return [pads[0], pads[1]];
}

/**
 * A pooling node's window (Global*Pool: the whole map) on a `[C, H, W]` input; what it cannot
 * express is refused. `padded`: the spatial pads `[ph, pw]` of a constant-zero Pad the pool reads,
 * folded into an AveragePool as padding it counts (refused before a MaxPool, whose padding is
 * not zeros).
 */
export function poolOf(node: NodeProto, op: string, inputShape: number[], where: string, padded?: [number, number]): Pool {
  if (op === 'GlobalAveragePool' || op === 'GlobalMaxPool') {
    const size: [number, number] = [inputShape[1], inputShape[2]];
    return { kind: op === 'GlobalMaxPool' ? 'max' : 'avg', size, stride: size };
  }
  if ((attrInts(node, 'kernel_shape') ?? []).length === 1 && inputShape[1] === 1) node = lift1d(node);
  const kernel = attrInts(node, 'kernel_shape') ?? [];
  if (kernel.length !== 2) fail(`node ${where}: kernel_shape ${describeValue(kernel)}; only 2-D pooling is supported`);
  const strides = attrInts(node, 'strides') ?? [1, 1];
  if (strides.length !== 2 || strides.some((s) => !(Number.isSafeInteger(s) && s > 0)))
    fail(`node ${where}: strides ${describeValue(strides)} must be two positive integers`);
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  const pads = autoPad === 'VALID' ? [0, 0, 0, 0] : (attrInts(node, 'pads') ?? [0, 0, 0, 0]);
  const symmetric = pads.length === 4 && pads[0] === pads[2] && pads[1] === pads[3] && pads.every((p) => p >= 0);
  if ((autoPad !== 'NOTSET' && autoPad !== 'VALID') || !symmetric) {
    fail(`node ${where}: padded pooling (pads ${describeValue(pads)}, auto_pad ${autoPad}) is not supported; only equal padding on both sides is`);
  }
  if ((attrInts(node, 'dilations') ?? [1, 1]).some((d) => d !== 1)) fail(`node ${where}: dilated pooling is not supported`);
  const kind = op === 'MaxPool' ? 'max' : 'avg';
  const own: [number, number] = [pads[0], pads[1]];
  const countPadding = kind === 'avg' && attrInt(node, 'count_include_pad', 0) !== 0;
  const ceil = attrInt(node, 'ceil_mode', 0) !== 0;
  const pool: Pool = { kind, size: [kernel[0], kernel[1]], stride: [strides[0], strides[1]] };
  const padding = padded ? foldPad(pool, own, padded, countPadding, ceil, inputShape, where) : own;
  if (padding[0] >= kernel[0] || padding[1] >= kernel[1])
    fail(`node ${where}: padding ${describeValue(padding)} is not smaller than the window ${describeValue(kernel)}`);
  if (padding[0] > 0 || padding[1] > 0) {
    pool.padding = padding;
    if (kind === 'avg' && (countPadding || padded)) pool.countPadding = true;
  }
  // ceil_mode matters only where it adds a last window (judged on the file's geometry: the input grown by the Pad).
  const grown = [0, 1].map((a) => inputShape[a + 1] + 2 * (padded?.[a] ?? 0));
  if (ceil && ceilAddsWindow(pool, grown, own, where)) pool.ceil = true;
  return pool;
}

/**
 * Whether ceil_mode adds a last window on a `[H, W]` input with padding `pad`. Refused where that
 * window would start in the trailing padding: PyTorch and the ONNX specification drop it,
 * onnxruntime keeps it, so the file has no one meaning there.
 */
function ceilAddsWindow(pool: Pool, size: number[], pad: [number, number], where: string): boolean {
  let adds = false;
  for (const a of [0, 1]) {
    const [k, s, p, n] = [pool.size[a], pool.stride[a], pad[a], size[a]];
    const out = Math.ceil((n + 2 * p - k) / s) + 1;
    if ((out - 1) * s >= n + p) {
      fail(
        `node ${where}: with ceil_mode = 1 the last window along axis ${a + 2} would start in the trailing padding; runtimes disagree on it (PyTorch and the ONNX specification drop it, onnxruntime keeps it); not supported`,
      );
    }
    adds ||= out !== Math.floor((n + 2 * p - k) / s) + 1;
  }
  return adds;
}

/**
 * The padding of an AveragePool that reads a zero Pad of `padded` (spatial, each side): the Pad's
 * zeros are inputs the pool counts, so they add to padding the pool counts too. Refused before a
 * MaxPool, next to padding the pool does not count, or where ceil_mode would cut the last window
 * differently.
 */
function foldPad(
  pool: Pool,
  own: [number, number],
  padded: [number, number],
  countPadding: boolean,
  ceil: boolean,
  inputShape: number[],
  where: string,
): [number, number] {
  if (pool.kind === 'max')
    fail(`node ${where} reads the output of a zero Pad: a MaxPool's own padding is ignored, not zeros, so the Pad cannot be folded into it; not supported`);
  if ((own[0] > 0 || own[1] > 0) && !countPadding)
    fail(`node ${where} reads the output of a zero Pad and has padding it does not count (count_include_pad = 0); not supported`);
  const padding: [number, number] = [own[0] + padded[0], own[1] + padded[1]];
  if (ceil) {
    const before = { ...pool, ceil: true, padding: own };
    const after = { ...pool, ceil: true, padding };
    const same = [0, 1].every((a) => pooledSize(inputShape[a + 1] + 2 * padded[a], before, a as 0 | 1) === pooledSize(inputShape[a + 1], after, a as 0 | 1));
    if (!same) fail(`node ${where}: with ceil_mode = 1 after a zero Pad, the pool's last window depends on which padding is the Pad's; not supported`);
  }
  return padding;
}

/**
 * A 1-D Conv or pool node seen as a 2-D one of height 1: kernel_shape [k] -> [1, k], strides
 * and dilations [s] -> [1, s], pads [a, b] -> [0, a, 0, b], output_padding [p] -> [0, p]. A copy; the node is not changed.
 */
export function lift1d(node: NodeProto): NodeProto {
  const attribute = (node.attribute ?? []).map((a) => {
    if (!a.ints || a.ints.length === 0) return a;
    if (a.name === 'pads' && a.ints.length === 2) return { ...a, ints: [0, a.ints[0], 0, a.ints[1]] };
    if (a.name === 'output_padding' && a.ints.length === 1) return { ...a, ints: [0, a.ints[0]] };
    if (['kernel_shape', 'strides', 'dilations'].includes(a.name ?? '') && a.ints.length === 1) return { ...a, ints: [1, a.ints[0]] };
    return a;
  });
  return { ...node, attribute };
}
