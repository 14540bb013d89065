/**
 * The two layouts of a transposed convolution's weights. The network keeps the block layout
 * `[out, in / groups, kh, kw]` of a convolution (the channel pairs a kernel joins, which the
 * balancing reads); ONNX ConvTranspose and PyTorch's ConvTranspose2d store
 * `[in, out / groups, kh, kw]`.
 */
import type { WeightArray } from './types.js';

/**
 * For a block of shape `[out, inPerGroup, kh, kw]` with `groups` groups: the index in the stored
 * layout `[in, out / groups, kh, kw]` of entry `k` of the block layout.
 */
export function storedIndex(shape: readonly number[], groups: number): (k: number) => number {
  const [out, inPerGroup, kh, kw] = shape;
  const taps = kh * kw;
  const outPerGroup = out / groups;
  return (k) => {
    const t = k % taps;
    const row = (k - t) / taps;
    const c = row % inPerGroup;
    const o = (row - c) / inPerGroup;
    const g = Math.floor(o / outPerGroup);
    return ((g * inPerGroup + c) * outPerGroup + (o - g * outPerGroup)) * taps + t;
  };
}

/** The stored shape `[in, out / groups, kh, kw]` of a block of shape `[out, in / groups, kh, kw]`. */
export function storedShape(shape: readonly number[], groups: number): [number, number, number, number] {
  return [shape[1] * groups, shape[0] / groups, shape[2], shape[3]];
}

/** The block shape `[out, in / groups, kh, kw]` of stored weights `[in, out / groups, kh, kw]`. */
export function blockShape(stored: readonly number[], groups: number): [number, number, number, number] {
  return [stored[1] * groups, stored[0] / groups, stored[2], stored[3]];
}

/** Stored weights (`[in, out / groups, kh, kw]`) in the block layout, a new array of the same type. */
export function fromStoredLayout<T extends WeightArray>(stored: T, shape: readonly number[], groups: number): T {
  const at = storedIndex(shape, groups);
  const out = new (stored.constructor as new (n: number) => T)(stored.length);
  for (let k = 0; k < out.length; k++) out[k] = stored[at(k)];
  return out;
}

/** Block weights in the stored layout `[in, out / groups, kh, kw]`, a new array of the same type. */
export function toStoredLayout<T extends WeightArray>(weight: T, shape: readonly number[], groups: number): T {
  const at = storedIndex(shape, groups);
  const out = new (weight.constructor as new (n: number) => T)(weight.length);
  for (let k = 0; k < weight.length; k++) out[at(k)] = weight[k];
  return out;
}
