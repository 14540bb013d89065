/**
 * The coarse model past `MAX_COARSE_GROUPS` groups (`coarse.ts` solves it): `F`, its gradient and
 * products with its Hessian evaluated list by list, and the Newton direction by conjugate
 * gradients on those products, preconditioned by the Hessian's diagonal — no Hessian is formed.
 *
 * Every row of one convolution group of a block splits its mass over the column groups the same
 * way (`CoarseRows`): part `t` of entry `e` holds the share `pi = kappa[e] f[t] scale[g_t]` of its
 * row. So a sum over a row's parts is a sum over its entries of `kappa` times a per-list sum
 * (computed once per evaluation), and a walk costs `O(rows + entries + parts of the lists)`,
 * not `O(rows x groups read)`: a 1x1 convolution of `R` rows reading `C` depthwise channels
 * costs `R + C`, where spelling its parts out costs `R x C`, as much as its `P`.
 *
 * Per row `i` of weight `w_i` and shares `pi`, with `d = p e_row - p sum_t pi_t e_{g_t}` (the
 * gradient of `log rho_i` in the shifts), the Hessian of `F` is
 * `sum_i w_i (r p^2 (diag(pi) - pi pi^T) + r^2 d d^T)`, the matrix the dense solve assembles.
 */
import type { CoarseRows, RowWeights } from './coarseRows.js';
import { columnScales } from './coarseRows.js';

/** Per list, `sum_t f[t] scale[g_t] v[g_t]` (`v` omitted: 1). */
function listSums(rows: CoarseRows, scale: Float64Array, v?: Float64Array): Float64Array {
  const { listStart, groups, fractions } = rows;
  const sums = new Float64Array(listStart.length - 1);
  for (let l = 0; l < sums.length; l++) {
    let sum = 0;
    for (let t = listStart[l]; t < listStart[l + 1]; t++) sum += fractions[t] * scale[groups[t]] * (v ? v[groups[t]] : 1);
    sums[l] = sum;
  }
  return sums;
}

/** `out[g_t] += f[t] scale[g_t] (x[l] v[g_t] - y[l])` over every part `t` of every list `l` (`v` omitted: no `x` term). */
function scatterLists(rows: CoarseRows, scale: Float64Array, out: Float64Array, x: Float64Array | undefined, y: Float64Array, v?: Float64Array): void {
  const { listStart, groups, fractions } = rows;
  for (let l = 0; l < y.length; l++)
    for (let t = listStart[l]; t < listStart[l + 1]; t++) {
      const g = groups[t];
      out[g] += fractions[t] * scale[g] * ((x && v ? x[l] * v[g] : 0) - y[l]);
    }
}

/** Each row's shifted mass over its mass at the last pass, `rho_i(c) / rho_i` before the row's own shift. */
function shiftedMass(rows: CoarseRows, i: number, sums: Float64Array): number {
  let m = rows.fixedShare[i];
  for (let e = rows.start[i]; e < rows.start[i + 1]; e++) m += (rows.coef[e] / rows.mass[i]) * sums[rows.list[e]];
  return m;
}

/** `log(rho_i(c) / rho_i)` per row (see `coarse.ts`'s `rowLogShifts`). */
export function factoredLogShifts(rows: CoarseRows, c: Float64Array, p: number): Float64Array {
  const sums = listSums(rows, columnScales(c, p));
  const out = new Float64Array(rows.term.length);
  for (let i = 0; i < out.length; i++) {
    if (!(rows.term[i] > 0)) continue;
    const g = rows.rowGroup[i];
    out[i] = (g >= 0 ? p * c[g] : 0) + Math.log(shiftedMass(rows, i, sums));
  }
  return out;
}

/** `F(c)` of the coarse model; given `grad`, its gradient; given `weights`, the rows' state for {@link hessianTimes}. */
export function factoredObjective(rows: CoarseRows, c: Float64Array, p: number, r: number, grad?: Float64Array, weights?: RowWeights): number {
  const scale = columnScales(c, p);
  const sums = listSums(rows, scale);
  const perList = new Float64Array(sums.length);
  grad?.fill(0);
  if (weights) {
    weights.w.fill(0);
    weights.kappa.fill(0);
    weights.scale.set(scale);
  }
  let F = 0;
  for (let i = 0; i < rows.term.length; i++) {
    if (!(rows.term[i] > 0)) continue;
    const m = shiftedMass(rows, i, sums);
    const g = rows.rowGroup[i];
    const w = rows.term[i] * Math.exp(r * ((g >= 0 ? p * c[g] : 0) + Math.log(m)));
    F += w;
    if (weights) weights.w[i] = w;
    if (grad && g >= 0) grad[g] += w * r * p;
    for (let e = rows.start[i]; e < rows.start[i + 1]; e++) {
      const kappa = rows.coef[e] / (rows.mass[i] * m);
      if (weights) weights.kappa[e] = kappa;
      perList[rows.list[e]] += w * r * p * kappa;
    }
  }
  if (grad) scatterLists(rows, scale, grad, undefined, perList);
  return F;
}

/** `out = H v` (see the file comment) at the state `weights`, plus `shift * v`. */
export function hessianTimes(rows: CoarseRows, weights: RowWeights, p: number, r: number, v: Float64Array, shift: number, out: Float64Array): void {
  const { w, kappa, scale } = weights;
  const V = listSums(rows, scale, v);
  const x = new Float64Array(V.length);
  const y = new Float64Array(V.length);
  for (let g = 0; g < out.length; g++) out[g] = shift * v[g];
  for (let i = 0; i < w.length; i++) {
    if (!(w[i] > 0)) continue;
    let s = 0;
    for (let e = rows.start[i]; e < rows.start[i + 1]; e++) s += kappa[e] * V[rows.list[e]];
    const own = rows.rowGroup[i];
    const a = w[i] * r * p * p;
    const b = w[i] * r * r * p * p * ((own >= 0 ? v[own] : 0) - s);
    if (own >= 0) out[own] += b;
    for (let e = rows.start[i]; e < rows.start[i + 1]; e++) {
      x[rows.list[e]] += a * kappa[e];
      y[rows.list[e]] += kappa[e] * (a * s + b);
    }
  }
  scatterLists(rows, scale, out, x, y, v);
}

/**
 * The Hessian's diagonal at the state `weights` (exact where no group is read twice by one row,
 * its own group included; otherwise a preconditioner's approximation of it).
 */
export function hessianDiagonal(rows: CoarseRows, weights: RowWeights, p: number, r: number, nGroups: number): Float64Array {
  const { w, kappa, scale } = weights;
  const { listStart, groups, fractions } = rows;
  const diagonal = new Float64Array(nGroups);
  const linear = new Float64Array(listStart.length - 1);
  const square = new Float64Array(listStart.length - 1);
  for (let i = 0; i < w.length; i++) {
    if (!(w[i] > 0)) continue;
    const own = rows.rowGroup[i];
    if (own >= 0) diagonal[own] += w[i] * r * r * p * p;
    for (let e = rows.start[i]; e < rows.start[i + 1]; e++) {
      // A part's share pi adds w (r p^2 pi (1 - pi) + r^2 p^2 pi^2) = w p^2 (r pi + (r^2 - r) pi^2).
      linear[rows.list[e]] += w[i] * r * p * p * kappa[e];
      square[rows.list[e]] += w[i] * (r * r - r) * p * p * kappa[e] * kappa[e];
    }
  }
  for (let l = 0; l < linear.length; l++)
    for (let t = listStart[l]; t < listStart[l + 1]; t++) {
      const share = fractions[t] * scale[groups[t]];
      diagonal[groups[t]] += share * linear[l] + share * share * square[l];
    }
  return diagonal;
}

/**
 * Conjugate gradients stop once the preconditioned residual is this share of the gradient's: an
 * inexact Newton direction (the forcing term), which the line search and the next sweep correct;
 * on the depthwise nets of bench/README.md a tighter one cost more products and saved no pass.
 */
export const CG_TOLERANCE = 0.1;
/** At most this many products per Newton direction (the line search takes an inexact one). */
export const CG_ITERATIONS = 200;

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
  const inverse = new Float64Array(G);
  for (let g = 0; g < G; g++) inverse[g] = 1 / (diagonal[g] + shift);
  const x = new Float64Array(G);
  const residual = grad.slice();
  const z = new Float64Array(G);
  for (let g = 0; g < G; g++) z[g] = residual[g] * inverse[g];
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
