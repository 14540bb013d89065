import { WeightBalanceError } from '../errors.js';
import { rowMasses } from '../math/norm.js';
import { balanceReport } from '../math/report.js';
import type { Network } from '../network/types.js';
import { unitCount } from '../network/types.js';
import { validateNetwork } from '../network/validate.js';
import type { NormExponents } from '../options.js';
import { validateExponents } from '../options.js';

/**
 * The mathematics of the weight-balancing flows (MATH.md §5): the `l_{p,q}` regulariser
 * `R = ||W||_{p,q}^q`, the balance residual `g[h] = q (In[h] - Out[h])` and the metric `M` with
 * `M · grad g[h] = p q X_h`, in its row-wise closed form.
 *
 * A *row* is the set of incoming weights of one hidden or output unit: the rows of every block
 * that feeds its layer (all kernel entries of a channel), plus its biases when `includeBiases`.
 */

/** Options of the flow functions: the exponents, and the floor of `|W|` used when `p > 2`. */
export interface FlowOptions extends NormExponents {
  /**
   * For `p > 2` the metric's diagonal `|W|^(2-p)` is unbounded near zero: `|W|` is floored at
   * this value there (default `1e-3`). Ignored for `p <= 2`.
   */
  epsilon?: number;
}

/** Gradients (or directions) for every parameter: one array per block, in block order and shape. */
export interface ParameterArrays {
  /** One array per weight block, `network.blocks[k].weight`'s length. */
  weight: Float64Array[];
  /** One array per block with a bias (its length), `null` for a block without one. */
  bias: (Float64Array | null)[];
}

/** The value and gradient of {@link lpqRegulariser}. */
export interface Regulariser extends ParameterArrays {
  /** `R = ||W||_{p,q}^q = sum_i rho[i]^(q/p)`. */
  value: number;
}

/** The balance residual of every rescalable unit (see {@link balanceResidual}). */
export interface BalanceResidual {
  /** `g[h] = q (In[h] - Out[h])` per layer and unit; `NaN` for fixed and frozen units. */
  g: Float64Array[];
  /** `In[h]` per layer and unit (`NaN` where not rescalable). */
  In: Float64Array[];
  /** `Out[h]` per layer and unit (`NaN` where not rescalable). */
  Out: Float64Array[];
  /** `max_h |g[h]| / (In[h] + Out[h])`: 0 for a balanced network, at most `q`. */
  maxRelative: number;
}

const DEFAULT_EPSILON = 1e-3;

function checkEpsilon(epsilon: unknown): number {
  if (epsilon === undefined) return DEFAULT_EPSILON;
  if (typeof epsilon !== 'number' || !Number.isFinite(epsilon) || !(epsilon > 0)) {
    throw new WeightBalanceError(`epsilon must be a finite number > 0, got ${String(epsilon)}`);
  }
  return epsilon;
}

/**
 * The regulariser `R(W) = ||W||_{p,q}^q = sum_i rho[i]^(q/p)` over the rows of every hidden and
 * output unit, and its gradient `dR/dW[i,j] = q rho[i]^(q/p-1) |W[i,j]|^(p-1) sign(W[i,j])`.
 * Biases are excluded unless `includeBiases` (their gradient is then zero). Where the gradient is
 * not defined (a zero weight with `p < 1`, an all-zero row with `q < p`) it is taken as 0.
 *
 * @example
 * const { value, weight } = lpqRegulariser(mlp([4, 8, 2]), { p: 1, q: 1 }); // sum |W|, sign(W)
 */
export function lpqRegulariser(net: Network, options: NormExponents): Regulariser {
  const { p, q, includeBiases = false } = checkOptions(options);
  validateNetwork(net);
  return regulariserUnchecked(net, p, q, includeBiases);
}

/** {@link lpqRegulariser} without validation (for the trainer's inner loop). */
export function regulariserUnchecked(net: Network, p: number, q: number, includeBiases: boolean): Regulariser {
  const r = q / p;
  const rho = rowMasses(net, p, { includeBiases });
  let value = 0;
  for (const layer of rho) for (const v of layer) if (v > 0) value += r === 1 ? v : Math.pow(v, r);
  const rowFactor = rho.map((layer) => layer.map((v) => (v > 0 ? q * (r === 1 ? 1 : Math.pow(v, r - 1)) : 0)));
  const d = (w: number, f: number): number =>
    w === 0 || f === 0 ? 0 : f * Math.sign(w) * (p === 1 ? 1 : p === 2 ? Math.abs(w) : Math.pow(Math.abs(w), p - 1));
  const weight = net.blocks.map((b) => {
    const g = new Float64Array(b.weight.length);
    const rowLength = b.weight.length / b.shape[0];
    const f = rowFactor[b.to];
    for (let i = 0; i < b.shape[0]; i++) {
      for (let k = i * rowLength, end = k + rowLength; k < end; k++) g[k] = d(b.weight[k], f[i]);
    }
    return g;
  });
  const bias = net.blocks.map((b) => {
    if (!b.bias) return null;
    const g = new Float64Array(b.bias.length);
    if (includeBiases) for (let i = 0; i < g.length; i++) g[i] = d(b.bias[i], rowFactor[b.to][i]);
    return g;
  });
  return { value, weight, bias };
}

/**
 * The balance residual `g[h] = <grad R, X_h> = q (In[h] - Out[h])` of every rescalable unit
 * (MATH.md §5), with `In` and `Out` from the shared balance statistics (tie groups summed), and
 * the scale-free measure `max_h |g[h]| / (In[h] + Out[h])` tracked during training.
 */
export function balanceResidual(net: Network, options: NormExponents): BalanceResidual {
  const report = balanceReport(net, options); // validates p, q and the network
  const q = options.q;
  let maxRelative = 0;
  const g = report.In.map((In, k) =>
    In.map((x, c) => {
      const value = q * (x - report.Out[k][c]);
      if (Number.isFinite(value)) maxRelative = Math.max(maxRelative, Math.abs(value) / (x + report.Out[k][c]));
      return value;
    }),
  );
  return { g, In: report.In, Out: report.Out, maxRelative };
}

function checkOptions(options: FlowOptions): Required<Pick<FlowOptions, 'p' | 'q' | 'includeBiases'>> & { epsilon: number } {
  if (!options || typeof options !== 'object') throw new WeightBalanceError('the flow needs options { p, q }');
  validateExponents(options.p, options.q);
  return { p: options.p, q: options.q, includeBiases: options.includeBiases ?? false, epsilon: checkEpsilon(options.epsilon) };
}

function checkArrays(net: Network, arrays: ArrayLike<ArrayLike<number> | null>, what: string, bias: boolean): void {
  if (!Array.isArray(arrays) || arrays.length !== net.blocks.length) {
    throw new WeightBalanceError(
      `${what} must hold one array per weight block (${net.blocks.length}), got ${Array.isArray(arrays) ? arrays.length : typeof arrays}`,
    );
  }
  net.blocks.forEach((b, k) => {
    const target = bias ? b.bias : b.weight;
    const a = arrays[k];
    if (!target) return;
    if (!a || typeof a.length !== 'number' || a.length !== target.length) {
      throw new WeightBalanceError(`${what}[${k}] must have ${target.length} entries (block ${k} ('${b.name}')), got ${a ? a.length : String(a)}`);
    }
    for (let i = 0; i < a.length; i++) {
      if (!Number.isFinite(a[i])) throw new WeightBalanceError(`${what}[${k}] entry ${i} is not finite (${a[i]})`);
    }
  });
}

/**
 * The weight-balancing flow's direction `M(W) · grad` for the weights (MATH.md §5), row by row:
 *
 *     (M·G)[k,:] = rho[k]^(1-r) (|W[k,:]|^(2-p) ⊙ G[k,:]) + ((p-q) / (q rho[k]^r)) (W[k,:]·G[k,:]) W[k,:]
 *
 * with `r = q/p`. `grad` holds one array per weight block, in the network's block order and
 * shapes; so does the result (new arrays). Integrating `dW/dt = -M · grad L` keeps every unit's
 * balance residual decaying at rate `p q lambda` (constant when `lambda = 0`). For `p = q = 2`,
 * `M` is the identity. Biases (if any) count in the rows only with `includeBiases`; their gradient
 * is then taken as zero here: use {@link flowDirections} to pass it and get their direction too.
 *
 * @example
 * const direction = flowDirection(net, gradient, { p: 1, q: 1 }); // |W| ⊙ gradient
 */
export function flowDirection(net: Network, grad: ArrayLike<number>[], options: FlowOptions): Float64Array[] {
  const o = checkOptions(options);
  validateNetwork(net);
  checkArrays(net, grad, 'grad', false);
  const zeroBias = net.blocks.map((b) => (b.bias ? new Float64Array(b.bias.length) : null));
  return metricProduct(net, { weight: grad.map((g) => Float64Array.from(g)), bias: zeroBias }, o.p, o.q, o.includeBiases, o.epsilon).weight;
}

/**
 * {@link flowDirection} for weights and biases together. With `includeBiases` a bias is the
 * weight of an edge from a constant unit, part of its unit's row; otherwise the metric is the
 * identity on the biases (their direction is their gradient).
 */
export function flowDirections(net: Network, grad: ParameterArrays, options: FlowOptions): ParameterArrays {
  const o = checkOptions(options);
  validateNetwork(net);
  if (!grad || typeof grad !== 'object') throw new WeightBalanceError('grad must be { weight, bias }');
  checkArrays(net, grad.weight, 'grad.weight', false);
  checkArrays(net, grad.bias, 'grad.bias', true);
  const copy = {
    weight: grad.weight.map((g) => Float64Array.from(g)),
    bias: grad.bias.map((g, k) => (net.blocks[k].bias && g ? Float64Array.from(g) : null)),
  };
  return metricProduct(net, copy, o.p, o.q, o.includeBiases, o.epsilon);
}

/**
 * `M · G` without validation, written into new arrays (the trainer's inner loop). `G.bias[k]`
 * may be `null` only where block `k` has no bias.
 */
export function metricProduct(net: Network, G: ParameterArrays, p: number, q: number, includeBiases: boolean, epsilon: number): ParameterArrays {
  const r = q / p;
  const floored = p > 2;
  const rho = rowMasses(net, p, { includeBiases });
  // |w|^(2-p): the diagonal of M before the row factor (floored at epsilon when p > 2).
  const diag = (w: number): number => {
    if (p === 2) return 1;
    if (p === 1) return Math.abs(w);
    const a = Math.abs(w);
    return floored ? Math.pow(Math.max(a, epsilon), 2 - p) : a === 0 ? 0 : Math.pow(a, 2 - p);
  };
  // Per row: W·G, and (p > 2 only) sum w^2 / diag(w), which equals rho without the floor and keeps
  // M positive definite with it.
  const dot = net.layers.map((l) => new Float64Array(unitCount(l)));
  const quad = floored ? net.layers.map((l) => new Float64Array(unitCount(l))) : rho;
  net.blocks.forEach((b, k) => {
    const W = b.weight;
    const g = G.weight[k];
    const rows = b.shape[0];
    const rowLength = W.length / rows;
    const d = dot[b.to];
    for (let i = 0; i < rows; i++) {
      let s = 0;
      let t = 0;
      for (let e = i * rowLength, end = e + rowLength; e < end; e++) {
        s += W[e] * g[e];
        if (floored) t += (W[e] * W[e]) / diag(W[e]);
      }
      if (includeBiases && b.bias) {
        const gb = G.bias[k]!;
        s += b.bias[i] * gb[i];
        if (floored) t += (b.bias[i] * b.bias[i]) / diag(b.bias[i]);
      }
      d[i] += s;
      if (floored) quad[b.to][i] += t;
    }
  });
  const rowScale = (layer: number, i: number): [number, number] => {
    const rh = rho[layer][i];
    if (!(rh > 0)) return [1, 0]; // an all-zero row: no rank-one term, M = diag
    const a = r === 1 ? 1 : Math.pow(rh, 1 - r);
    return [a, ((p - q) / q) * (a / quad[layer][i]) * dot[layer][i]];
  };
  const weight = net.blocks.map((b, k) => {
    const W = b.weight;
    const g = G.weight[k];
    const out = new Float64Array(W.length);
    const rows = b.shape[0];
    const rowLength = W.length / rows;
    for (let i = 0; i < rows; i++) {
      const [a, c] = rowScale(b.to, i);
      for (let e = i * rowLength, end = e + rowLength; e < end; e++) out[e] = a * diag(W[e]) * g[e] + c * W[e];
    }
    return out;
  });
  const bias = net.blocks.map((b, k) => {
    const gb = G.bias[k];
    if (!b.bias || !gb) return null;
    if (!includeBiases) return Float64Array.from(gb);
    const out = new Float64Array(gb.length);
    for (let i = 0; i < out.length; i++) {
      const [a, c] = rowScale(b.to, i);
      out[i] = a * diag(b.bias[i]) * gb[i] + c * b.bias[i];
    }
    return out;
  });
  return { weight, bias };
}
