import type { Network } from '../network/types.js';
import { unitCount } from '../network/types.js';
import { validateNetwork } from '../network/validate.js';
import { validateExponents } from '../options.js';
import { absPow, logAdd, logPowerSum } from './powers.js';

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
 * `log rho[i]` for every unit (`-Infinity` for input units and zero rows): the `p`-mass of
 * {@link rowMasses} in logarithms, each row relative to its largest entry, so that no exponent
 * or weight range underflows or overflows.
 */
export function logRowMasses(net: Network, p: number, options: NormOptions = {}): Float64Array[] {
  const rho = net.layers.map((l) => new Float64Array(unitCount(l)).fill(-Infinity));
  const bias = new Float64Array(1);
  for (const b of net.blocks) {
    const target = rho[b.to];
    const rowLength = b.weight.length / b.shape[0];
    for (let i = 0; i < b.shape[0]; i++) {
      let row = logPowerSum(b.weight, i * rowLength, (i + 1) * rowLength, p);
      if (options.includeBiases && b.bias) {
        bias[0] = b.bias[i];
        row = logAdd(row, logPowerSum(bias, 0, 1, p));
      }
      target[i] = logAdd(target[i], row);
    }
  }
  return rho;
}

/**
 * The entrywise `l_{p,q}` norm of a network's weights (MATH.md §2):
 * `(sum_i (sum_j |W[i,j]|^p)^(q/p))^(1/q)` over the rows of all hidden and output units, and
 * `max_i (sum_j |W[i,j]|^p)^(1/p)` for `q = Infinity`. Computed in logarithms (each row relative
 * to its largest weight, rows added by log-sum-exp), so that large exponents or weight ranges
 * neither overflow nor underflow.
 *
 * @example
 * lpqNorm(mlp([4, 8, 2]), 2, 2); // the Frobenius norm of all weights
 */
export function lpqNorm(net: Network, p: number, q: number, options: NormOptions = {}): number {
  validateExponents(p, q, true);
  validateNetwork(net);
  const rho = logRowMasses(net, p, options);
  if (!Number.isFinite(q)) {
    let largest = -Infinity;
    for (const layer of rho) for (const v of layer) largest = Math.max(largest, v);
    return Math.exp(largest / p);
  }
  const r = q / p;
  let sum = -Infinity;
  for (const layer of rho) for (const v of layer) sum = logAdd(sum, r * v);
  return Math.exp(sum / q);
}
