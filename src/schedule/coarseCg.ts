/**
 * The Newton direction of the coarse model (`coarse.ts`) without forming its Hessian: conjugate
 * gradients on Hessian-vector products, preconditioned by the Hessian's diagonal. Each product
 * costs one walk over the rows' shares (`O(shares)`), where the dense solve costs `O(G^3)` and
 * its assembly up to `O(G^2)` per row; so a coarse space of thousands of groups (every channel of
 * every depthwise layer of a MobileNet) is solved at a cost linear in its shares.
 *
 * Per row `i` of weight `w_i` and column shares `pi`, with `d = p e_row - p sum_t pi_t e_{g_t}`
 * (the gradient of `log rho_i` in the shifts), the Hessian of `F` is
 * `sum_i w_i (r p^2 (diag(pi) - pi pi^T) + r^2 d d^T)`, the matrix the dense solve assembles.
 */
import type { CoarseRows, RowWeights } from './coarseRows.js';

/** `out = H v` (see the file comment), plus `shift * v`. */
export function hessianTimes(rows: CoarseRows, weights: RowWeights, p: number, r: number, v: Float64Array, shift: number, out: Float64Array): void {
  const { start, groups, rowGroup } = rows;
  const { w, pi } = weights;
  for (let g = 0; g < out.length; g++) out[g] = shift * v[g];
  for (let i = 0; i < w.length; i++) {
    if (!(w[i] > 0)) continue;
    let s = 0;
    for (let t = start[i]; t < start[i + 1]; t++) s += pi[t] * v[groups[t]];
    const own = rowGroup[i];
    const dv = p * ((own >= 0 ? v[own] : 0) - s);
    const a = w[i] * r * p * p;
    const b = w[i] * r * r * p * dv;
    if (own >= 0) out[own] += b;
    for (let t = start[i]; t < start[i + 1]; t++) out[groups[t]] += pi[t] * (a * (v[groups[t]] - s) - b);
  }
}

/** The Hessian's diagonal (see the file comment): per row, each touched group's share summed first. */
export function hessianDiagonal(rows: CoarseRows, weights: RowWeights, p: number, r: number, nGroups: number): Float64Array {
  const { start, groups, rowGroup } = rows;
  const { w, pi } = weights;
  const diagonal = new Float64Array(nGroups);
  const share = new Float64Array(nGroups);
  for (let i = 0; i < w.length; i++) {
    if (!(w[i] > 0)) continue;
    const own = rowGroup[i];
    for (let t = start[i]; t < start[i + 1]; t++) share[groups[t]] += pi[t];
    const add = (g: number): void => {
      const d = p * ((g === own ? 1 : 0) - share[g]);
      diagonal[g] += w[i] * (r * p * p * share[g] * (1 - share[g]) + r * r * d * d);
      share[g] = -1; // counted (a share is never negative)
    };
    if (own >= 0) add(own);
    for (let t = start[i]; t < start[i + 1]; t++) if (share[groups[t]] >= 0) add(groups[t]);
    for (let t = start[i]; t < start[i + 1]; t++) share[groups[t]] = 0;
    if (own >= 0) share[own] = 0;
  }
  return diagonal;
}

/**
 * Conjugate gradients stop once the preconditioned residual is this share of the gradient's: an
 * inexact Newton direction (the forcing term), which the line search and the next sweep correct;
 * on the depthwise nets of bench/README.md a tighter one cost more products and saved no pass.
 */
const CG_TOLERANCE = 0.1;
/** At most this many products per Newton direction (the line search takes an inexact one). */
const CG_ITERATIONS = 200;

/**
 * An approximation of `H^{-1} grad` (the Newton step, to be subtracted) by preconditioned
 * conjugate gradients from zero; `H` is made definite as the dense solve makes it (a share of its
 * trace on the diagonal). Every iterate is a descent direction, so an early stop is safe.
 */
export function newtonStepCg(rows: CoarseRows, weights: RowWeights, p: number, r: number, grad: Float64Array): { step: Float64Array; products: number } {
  const G = grad.length;
  const diagonal = hessianDiagonal(rows, weights, p, r, G);
  let trace = 0;
  for (const x of diagonal) trace += x;
  const shift = 1e-12 * trace + 1e-300;
  const inverse = Float64Array.from(diagonal, (x) => 1 / (x + shift));
  const x = new Float64Array(G);
  const residual = grad.slice();
  const z = Float64Array.from(residual, (value, g) => value * inverse[g]);
  const direction = z.slice();
  const product = new Float64Array(G);
  let rz = dot(residual, z);
  const target = CG_TOLERANCE * CG_TOLERANCE * rz;
  let products = 0;
  while (products < CG_ITERATIONS && rz > target) {
    hessianTimes(rows, weights, p, r, direction, shift, product);
    products++;
    const curvature = dot(direction, product);
    if (!(curvature > 0)) break;
    const alpha = rz / curvature;
    for (let g = 0; g < G; g++) {
      x[g] += alpha * direction[g];
      residual[g] -= alpha * product[g];
      z[g] = residual[g] * inverse[g];
    }
    const next = dot(residual, z);
    const beta = next / rz;
    rz = next;
    for (let g = 0; g < G; g++) direction[g] = z[g] + beta * direction[g];
  }
  return { step: products > 0 ? x : z, products };
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let k = 0; k < a.length; k++) s += a[k] * b[k];
  return s;
}
