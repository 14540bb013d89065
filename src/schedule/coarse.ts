import { newtonStepCg } from './coarseCg.js';
import type { CoarseRows, RowWeights } from './coarseRows.js';
import { MAX_COARSE_GROUPS } from './coarseSpace.js';

/**
 * The coarse model of the accelerated schedule: `F` as a function of one shift per group of the
 * coarse space (`coarseSpace.ts`), its exact minimiser by damped Newton, and each row's change.
 */

/** `log(rho(c) / rho)` for one row, with its gradient and Hessian added (scaled by `weight`) when asked. */
function rowShift(rows: CoarseRows, i: number, c: Float64Array, p: number, pi: Float64Array): number {
  let m = rows.fixedShare[i];
  for (let t = rows.start[i]; t < rows.start[i + 1]; t++) {
    const e = rows.shares[t] * Math.exp(-p * c[rows.groups[t]]);
    pi[t - rows.start[i]] = e;
    m += e;
  }
  for (let t = 0; t < rows.start[i + 1] - rows.start[i]; t++) pi[t] /= m;
  const g = rows.rowGroup[i];
  return (g >= 0 ? p * c[g] : 0) + Math.log(m);
}

/**
 * `F(c) = sum_i term[i] * exp(r * log(rho_i(c) / rho_i))`; given `grad`, its gradient; given
 * `hess`, its Hessian (dense, `G x G`); given `weights`, each row's weight and shares.
 */
export function coarseObjective(
  rows: CoarseRows,
  c: Float64Array,
  p: number,
  r: number,
  grad?: Float64Array,
  hess?: Float64Array,
  weights?: RowWeights,
): number {
  const G = c.length;
  grad?.fill(0);
  hess?.fill(0);
  weights?.w.fill(0);
  let share = new Float64Array(64);
  const d = new Float64Array(G);
  const touched = new Int32Array(G + 1);
  const stamp = new Int32Array(G).fill(-1);
  let F = 0;
  for (let i = 0; i < rows.term.length; i++) {
    if (!(rows.term[i] > 0)) continue;
    const t0 = rows.start[i];
    const n = rows.start[i + 1] - t0;
    if (n > share.length) share = new Float64Array(n);
    const w = rows.term[i] * Math.exp(r * rowShift(rows, i, c, p, share));
    F += w;
    if (weights) {
      weights.w[i] = w;
      weights.pi.set(share.subarray(0, n), t0);
    }
    if (!grad) continue;
    // d log rho / dc = p e_row - p sum_t pi_t e_group(t); Hessian of log rho = p^2 (diag(pi) - pi pi^T) over groups.
    let count = 0;
    const mark = (g: number): void => {
      if (stamp[g] !== i) {
        stamp[g] = i;
        d[g] = 0;
        touched[count++] = g;
      }
    };
    const g = rows.rowGroup[i];
    if (g >= 0) {
      mark(g);
      d[g] += p;
    }
    for (let t = 0; t < n; t++) {
      const h = rows.groups[t0 + t];
      mark(h);
      d[h] -= p * share[t];
      if (hess) hess[h * G + h] += w * r * p * p * share[t];
    }
    for (let a = 0; a < count; a++) {
      const ga = touched[a];
      grad[ga] += w * r * d[ga];
      if (hess) for (let b = 0; b < count; b++) hess[ga * G + touched[b]] += w * r * r * d[ga] * d[touched[b]];
    }
    if (!hess) continue;
    for (let t = 0; t < n; t++) {
      const ga = rows.groups[t0 + t];
      for (let u = 0; u < n; u++) hess[ga * G + rows.groups[t0 + u]] -= w * r * p * p * share[t] * share[u];
    }
  }
  return F;
}

/** Solve `H x = b` for a symmetric positive definite `H` (Cholesky, in place on a copy). */
function solveSpd(H: Float64Array, b: Float64Array): Float64Array {
  const n = b.length;
  const L = H.slice();
  for (let j = 0; j < n; j++) {
    let s = L[j * n + j];
    for (let k = 0; k < j; k++) s -= L[j * n + k] * L[j * n + k];
    const diag = Math.sqrt(Math.max(s, 1e-300));
    L[j * n + j] = diag;
    for (let i = j + 1; i < n; i++) {
      let t = L[i * n + j];
      for (let k = 0; k < j; k++) t -= L[i * n + k] * L[j * n + k];
      L[i * n + j] = t / diag;
    }
  }
  const x = b.slice();
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < i; k++) x[i] -= L[i * n + k] * x[k];
    x[i] /= L[i * n + i];
  }
  for (let i = n - 1; i >= 0; i--) {
    for (let k = i + 1; k < n; k++) x[i] -= L[k * n + i] * x[k];
    x[i] /= L[i * n + i];
  }
  return x;
}

/**
 * The shift `c` (one per group) that minimises the coarse model of `F`: damped Newton with a
 * backtracking line search on a smooth convex function. The Newton direction is a dense
 * Cholesky solve up to {@link MAX_COARSE_GROUPS} groups and conjugate gradients beyond
 * (`coarseCg.ts`). Returns zeros when no step lowers the model.
 */
export function solveCoarse(rows: CoarseRows, nGroups: number, p: number, r: number): Float64Array {
  const c = new Float64Array(nGroups);
  if (nGroups === 0) return c;
  const dense = nGroups <= MAX_COARSE_GROUPS;
  const grad = new Float64Array(nGroups);
  const hess = dense ? new Float64Array(nGroups * nGroups) : undefined;
  const weights = dense ? undefined : { w: new Float64Array(rows.term.length), pi: new Float64Array(rows.shares.length) };
  let F = coarseObjective(rows, c, p, r, grad, hess, weights);
  for (let iteration = 0; iteration < 30; iteration++) {
    const step = hess ? denseStep(hess, grad) : newtonStepCg(rows, weights as RowWeights, p, r, grad).step;
    let decrement = 0;
    for (let g = 0; g < nGroups; g++) decrement += step[g] * grad[g];
    // Below this the model's change is rounding: the line search could not tell it from zero.
    if (!(decrement > 1e-14 * F)) break;
    let t = 1;
    const trial = new Float64Array(nGroups);
    let accepted = false;
    for (let k = 0; k < 30; k++, t /= 2) {
      for (let g = 0; g < nGroups; g++) trial[g] = c[g] - t * step[g];
      const value = coarseObjective(rows, trial, p, r);
      if (value <= F - 0.25 * t * decrement) {
        accepted = true;
        break;
      }
    }
    if (!accepted) break;
    c.set(trial);
    F = coarseObjective(rows, c, p, r, grad, hess, weights);
  }
  return c;
}

/** The Newton step `H^{-1} grad` from the dense Hessian, made definite (a share of its trace on the diagonal, in place). */
function denseStep(hess: Float64Array, grad: Float64Array): Float64Array {
  const n = grad.length;
  let trace = 0;
  for (let g = 0; g < n; g++) trace += hess[g * n + g];
  for (let g = 0; g < n; g++) hess[g * n + g] += 1e-12 * trace + 1e-300;
  return solveSpd(hess, grad);
}

/** `log(rho_i(c) / rho_i)` per row at the solved shift. */
export function rowLogShifts(rows: CoarseRows, c: Float64Array, p: number): Float64Array {
  const out = new Float64Array(rows.term.length);
  const pi = new Float64Array(64);
  for (let i = 0; i < out.length; i++) {
    const n = rows.start[i + 1] - rows.start[i];
    out[i] = rows.term[i] > 0 ? rowShift(rows, i, c, p, n > pi.length ? new Float64Array(n) : pi) : 0;
  }
  return out;
}
