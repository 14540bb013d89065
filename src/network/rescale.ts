import { WeightBalanceError } from '../errors.js';
import type { Block, Network, WeightArray } from './types.js';
import { positionsPerUnit, unitCount } from './types.js';
import { validateNetwork } from './validate.js';

function scaled<T extends WeightArray>(source: T): T {
  return (source instanceof Float64Array ? new Float64Array(source.length) : new Float32Array(source.length)) as T;
}

/** `exp(sign * U)` per unit, or `null` when some `|U|` is beyond 350 (a product of two could then overflow). */
function unitExp(logFactors: ArrayLike<number>, sign: 1 | -1): Float64Array | null {
  const out = new Float64Array(logFactors.length);
  for (let k = 0; k < out.length; k++) {
    if (Math.abs(logFactors[k]) > 350) return null;
    out[k] = Math.exp(sign * logFactors[k]);
  }
  return out;
}

/**
 * Apply a rescaling: `W[i,j] -> (a[i] / a[j]) W[i,j]`, `b[i] -> a[i] b[i]`, with `log a` given
 * per layer and unit (`logFactors[layer][unit]`). Returns a new network with new arrays in the
 * same precision that shares no object with the input; the input is not touched. The network
 * computes the same function when only rescalable units (homogeneous hidden units, ties
 * respected) have non-zero log factors. An invalid network, or log factors that do not match
 * its layers or are not finite, is a {@link WeightBalanceError}.
 */
export function rescale(net: Network, logFactors: ArrayLike<number>[]): Network {
  validateNetwork(net);
  if (!Array.isArray(logFactors) || logFactors.length !== net.layers.length) {
    throw new WeightBalanceError(
      `rescale needs log factors for ${net.layers.length} layers, got ${Array.isArray(logFactors) ? logFactors.length : String(logFactors)}`,
    );
  }
  net.layers.forEach((layer, k) => {
    if (logFactors[k]?.length !== unitCount(layer)) {
      throw new WeightBalanceError(`rescale: layer ${k} ('${layer.name}') has ${unitCount(layer)} units, got ${logFactors[k]?.length ?? 'no'} log factors`);
    }
    for (let c = 0; c < logFactors[k].length; c++) {
      if (!Number.isFinite(logFactors[k][c])) throw new WeightBalanceError(`rescale: log factor of layer ${k} unit ${c} is not finite`);
    }
  });
  const rescaled = net.blocks.map((b) => {
    const out = logFactors[b.to];
    const inp = logFactors[b.from];
    const weight = scaled(b.weight);
    const rows = b.shape[0];
    const rowLength = b.weight.length / rows;
    // Taps per input unit along a row: kernel entries for a convolution, positions for a flatten.
    const taps = b.kind === 'conv2d' ? b.shape[2] * b.shape[3] : positionsPerUnit(net.layers[b.from]);
    const cols = rowLength / taps;
    const rowsPerGroup = rows / (b.kind === 'conv2d' ? b.groups : 1);
    // One exponential per unit: a[i] / a[j] as exp(U_i) * exp(-U_j), unless a factor alone
    // would leave the float64 range (then one per edge, as exp(U_i - U_j)).
    const rowFactor = unitExp(out, 1);
    const colFactor = unitExp(inp, -1);
    for (let i = 0; i < rows; i++) {
      const c0 = Math.floor(i / rowsPerGroup) * cols;
      const fi = rowFactor?.[i];
      for (let j = 0; j < cols; j++) {
        const f = fi !== undefined && colFactor ? fi * colFactor[c0 + j] : Math.exp(out[i] - inp[c0 + j]);
        for (let t = (i * cols + j) * taps, end = t + taps; t < end; t++) weight[t] = b.weight[t] * f;
      }
    }
    let bias: WeightArray | null = null;
    if (b.bias) {
      bias = scaled(b.bias);
      for (let i = 0; i < rows; i++) bias[i] = b.bias[i] * Math.exp(out[i]);
    }
    return { weight, bias };
  });
  return withWeights(net, rescaled);
}

/**
 * A copy of `net` with new weight and bias arrays, one entry per block in block order: the one
 * place that builds a rescaled network (from the host arithmetic of {@link rescale} or from an
 * engine's). Layers, ties, shapes, strides, paddings and storage are copied too, so the result
 * shares no object with `net` (the given arrays are taken as they are); `net` is not touched.
 * Arrays whose lengths or precision do not match the blocks' are a {@link WeightBalanceError}.
 */
export function withWeights(net: Network, rescaled: readonly { weight: WeightArray; bias: WeightArray | null }[]): Network {
  if (rescaled.length !== net.blocks.length) {
    throw new WeightBalanceError(`withWeights needs arrays for ${net.blocks.length} blocks, got ${rescaled.length}`);
  }
  const sameKind = (a: WeightArray, b: WeightArray): boolean => a.length === b.length && a instanceof Float64Array === b instanceof Float64Array;
  const blocks = net.blocks.map((b, k): Block => {
    const { weight, bias } = rescaled[k];
    if (!sameKind(weight, b.weight) || (b.bias ? !bias || !sameKind(bias, b.bias) : bias !== null)) {
      throw new WeightBalanceError(`withWeights: the arrays of block ${k} ('${b.name}') do not match its weights and biases in length and precision`);
    }
    return { ...structuredClone({ ...b, weight: null, bias: null }), weight, bias } as Block;
  });
  const result: Network = { ...net, layers: structuredClone(net.layers), blocks };
  if (net.ties !== undefined) result.ties = structuredClone(net.ties);
  return result;
}
