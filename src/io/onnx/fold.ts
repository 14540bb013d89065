/**
 * Folding constants into the weight block before them: a per-unit bias `Add`, and a
 * BatchNormalization (`y = s (x - mean) + B`). The bindings record how the writer maps the
 * balanced block back to the file's initializers.
 */
import { attrFloat } from './attributes.js';
import type { BlockBinding } from './bindings.js';
import type { NodeProto } from './schema.js';
import { DataType } from './schema.js';
import type { ConstState, PreState, State } from './state.js';
import { fail, sameShape } from './state.js';
import { elementCount } from './tensor.js';

/** Float values of initializer `index`; `writable` ones must be rewritable in place. */
export type FloatValues = (index: number, writable: boolean) => Float64Array;

/** `pre + c` with a per-unit constant `c`: the bias of the sum's first block; null if `c` does not broadcast per unit. */
export function addBias(pre: PreState, c: ConstState & { initializer: number }, floatValues: FloatValues): PreState | null {
  const dims = c.tensor.dims ?? [];
  const units = pre.shape[0];
  const ok =
    pre.shape.length === 1 ? sameShape(dims, [units]) || sameShape(dims, [1, units]) : sameShape(dims, [units, 1, 1]) || sameShape(dims, [1, units, 1, 1]);
  if (!ok || ![DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.BFLOAT16].includes(c.tensor.dataType as 1)) return null;
  const block = pre.blocks[0];
  const values = floatValues(c.initializer, true);
  const offset = block.bias;
  const bias = Float64Array.from(values, (v, i) => v + (offset ? offset[i] : 0));
  const binding: BlockBinding = { ...block.binding, bias: { initializer: c.initializer, scale: 1, offset: offset ? offset.slice() : null } };
  const double = block.double || c.tensor.dataType === DataType.DOUBLE;
  return { ...pre, blocks: [{ ...block, bias, binding, double }, ...pre.blocks.slice(1)] };
}

/**
 * Fold `y = s (x - mean) + B`, `s = scale / sqrt(var + eps)`, into the single block before it:
 * rows times `s`, bias `s (b - mean) + B`. The writer keeps scale, mean and var, rewrites the
 * block's weight as `row / s` and `B` as `bias - s (b - mean)`: the file computes exactly the
 * balanced network. Null when it cannot be folded (then the BatchNormalization fixes its units).
 */
export function foldBatchNorm(node: NodeProto, inputs: (State | null)[], where: string, floatValues: FloatValues): PreState | null {
  const x = inputs[0];
  if (!x || x.kind !== 'pre' || x.blocks.length !== 1 || x.skips.length > 0) return null;
  const params = inputs.slice(1, 5);
  if (params.length !== 4 || params.some((p) => !p || p.kind !== 'const' || p.initializer === null)) return null;
  const [scale, bnBias, mean, variance] = params as (ConstState & { initializer: number })[];
  const units = x.shape[0];
  if ([scale, bnBias, mean, variance].some((p) => elementCount(p.tensor) !== units || (p.tensor.dims ?? []).length !== 1)) {
    fail(`node ${where}: scale, B, mean and var must each have ${units} entries`);
  }
  const eps = attrFloat(node, 'epsilon', 1e-5);
  // ONNX runtimes compute in the tensor's precision; eps is a float attribute.
  const sc = floatValues(scale.initializer, false);
  const vr = floatValues(variance.initializer, false);
  const mn = floatValues(mean.initializer, false);
  const s = Float64Array.from(sc, (g, i) => g / Math.sqrt(vr[i] + eps));
  if (s.some((v) => !Number.isFinite(v))) fail(`node ${where}: scale / sqrt(var + epsilon) is not finite`);
  const block = x.blocks[0];
  const double = block.double || [scale, bnBias, mean, variance].some((p) => p.tensor.dataType === DataType.DOUBLE);
  const rowLength = block.weight.length / units;
  // One new array in the block's precision (each value rounded once), rows scaled by s.
  const weight = double ? new Float64Array(block.weight.length) : new Float32Array(block.weight.length);
  for (let i = 0; i < units; i++) {
    for (let k = i * rowLength; k < (i + 1) * rowLength; k++) weight[k] = block.weight[k] * s[i];
  }
  const offset = Float64Array.from(s, (si, i) => si * ((block.bias ? block.bias[i] : 0) - mn[i]));
  const bias = Float64Array.from(floatValues(bnBias.initializer, true), (v, i) => v + offset[i]);
  const old = block.binding.weight.rowScale;
  const rowScale = Float64Array.from(s, (si, i) => si * (old ? old[i] : 1));
  const binding: BlockBinding = {
    node: block.binding.node,
    weight: { ...block.binding.weight, rowScale },
    bias: { initializer: bnBias.initializer, scale: 1, offset },
  };
  return { kind: 'pre', shape: x.shape, skips: [], blocks: [{ ...block, weight, bias, binding, double }] };
}
