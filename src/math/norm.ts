import { validateExponents } from '../options.js';
import { validateNetwork } from '../network/validate.js';
import { unitCount } from '../network/types.js';
import type { Network } from '../network/types.js';
import { absPow, largestWeight, powerOfTwoScale } from './passes.js';

/** Options of {@link lpqNorm}. */
export interface NormOptions {
  /** Count biases as weights from a constant unit (default false). */
  includeBiases?: boolean;
}

/**
 * `rho[i] = sum_j |W[i,j]|^p` for every unit: the `p`-mass of its incoming weights (all kernel
 * entries of a channel), per layer. Input units have no row (zero). With `scale`, the masses of
 * the weights times `scale`.
 */
export function rowMasses(net: Network, p: number, options: NormOptions = {}, scale = 1): Float64Array[] {
  const rho = net.layers.map((l) => new Float64Array(unitCount(l)));
  for (const b of net.blocks) {
    const target = rho[b.to];
    const rowLength = b.weight.length / b.shape[0];
    for (let i = 0; i < b.shape[0]; i++) {
      let s = 0;
      for (let k = i * rowLength, end = k + rowLength; k < end; k++) s += absPow(b.weight[k] * scale, p);
      if (options.includeBiases && b.bias) s += absPow(b.bias[i] * scale, p);
      target[i] += s;
    }
  }
  return rho;
}

/**
 * The entrywise `l_{p,q}` norm of a network's weights (MATH.md §2):
 * `(sum_i (sum_j |W[i,j]|^p)^(q/p))^(1/q)` over the rows of all hidden and output units, and
 * `max_i (sum_j |W[i,j]|^p)^(1/p)` for `q = Infinity`. Computed on the weights divided by a
 * power of two near the largest one, and with the rows relative to the largest, so that large
 * exponents or weights neither overflow nor underflow.
 *
 * @example
 * lpqNorm(mlp([4, 8, 2]), 2, 2); // the Frobenius norm of all weights
 */
export function lpqNorm(net: Network, p: number, q: number, options: NormOptions = {}): number {
  validateExponents(p, q, true);
  validateNetwork(net);
  const weightScale = powerOfTwoScale(largestWeight(net.blocks, options.includeBiases ?? false));
  const rho = rowMasses(net, p, options, weightScale);
  let maxRow = 0; // max rho^(1/p)
  for (const layer of rho) for (const v of layer) maxRow = Math.max(maxRow, Math.pow(v, 1 / p));
  if (!Number.isFinite(q) || maxRow === 0) return maxRow / weightScale;
  const r = q / p;
  const scale = Math.pow(maxRow, p);
  let sum = 0;
  for (const layer of rho) for (const v of layer) if (v > 0) sum += Math.pow(v / scale, r);
  return (maxRow * Math.pow(sum, 1 / q)) / weightScale;
}
