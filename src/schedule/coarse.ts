import { factoredLogShifts, factoredObjective, newtonStepCg } from './coarseCg.js';
import type { CoarseRows, RowWeights } from './coarseRows.js';
import { columnScales } from './coarseRows.js';
import { MAX_COARSE_GROUPS } from './coarseSpace.js';

/**
 * The coarse model of the accelerated schedule: `F` as a function of one shift per group of the
 * coarse space (`coarseSpace.ts`), its minimiser by damped Newton (exact up to
 * `MAX_COARSE_GROUPS` groups, two inexact conjugate-gradient steps beyond: `coarseCg.ts`), and
 * each row's change.
 */

/** The parts of one row, spelled out (the dense solve's view of `CoarseRows`): groups and shares, grown as needed. */
class RowParts {
  groups = new Int32Array(64);
  shares = new Float64Array(64);
  n = 0;
  /** Row `i`'s parts in entry order, each share `coef * fraction / mass` scaled by its group's `scale`; returns `base` plus their sum. */
  read(rows: CoarseRows, i: number, scale: Float64Array, base: number): number {
    let n = 0;
    for (let e = rows.start[i]; e < rows.start[i + 1]; e++) n += rows.listStart[rows.list[e] + 1] - rows.listStart[rows.list[e]];
    if (n > this.shares.length) {
      this.groups = new Int32Array(n);
      this.shares = new Float64Array(n);
    }
    let sum = base;
    this.n = 0;
    for (let e = rows.start[i]; e < rows.start[i + 1]; e++) {
      const l = rows.list[e];
      for (let t = rows.listStart[l]; t < rows.listStart[l + 1]; t++) {
        const x = ((rows.coef[e] * rows.fractions[t]) / rows.mass[i]) * scale[rows.groups[t]];
        this.groups[this.n] = rows.groups[t];
        this.shares[this.n++] = x;
        sum += x;
      }
    }
    return sum;
  }
}

/** `log(rho(c) / rho)` for one row (`scale` from {@link columnScales}); its parts' shares of the shifted mass in `parts`. */
function rowShift(rows: CoarseRows, i: number, c: Float64Array, scale: Float64Array, p: number, parts: RowParts): number {
  const m = parts.read(rows, i, scale, rows.fixedShare[i]);
  for (let t = 0; t < parts.n; t++) parts.shares[t] /= m;
  const g = rows.rowGroup[i];
  return (g >= 0 ? p * c[g] : 0) + Math.log(m);
}

/**
 * `F(c) = sum_i term[i] * exp(r * log(rho_i(c) / rho_i))`, row by row with every part spelled
 * out (the dense solve's model; `coarseCg.ts` evaluates the same function list by list); given
 * `grad`, its gradient; given `hess`, its Hessian (dense, `G x G`).
 */
export function coarseObjective(rows: CoarseRows, c: Float64Array, p: number, r: number, grad?: Float64Array, hess?: Float64Array): number {
  const G = c.length;
  grad?.fill(0);
  hess?.fill(0);
  const parts = new RowParts();
  const scratch = grad ? new RowDerivatives(G) : undefined;
  const scale = columnScales(c, p);
  let F = 0;
  for (let i = 0; i < rows.term.length; i++) {
    if (!(rows.term[i] > 0)) continue;
    const w = rows.term[i] * Math.exp(r * rowShift(rows, i, c, scale, p, parts));
    F += w;
    if (grad && scratch) addRowDerivatives(rows, i, w, parts, p, r, scratch, grad, hess);
  }
  return F;
}

/** The groups one row touches and `d log rho / dc` on each (scratch of {@link addRowDerivatives}, one per evaluation). */
class RowDerivatives {
  readonly d: Float64Array;
  readonly touched: Int32Array;
  private readonly stamp: Int32Array;
  private row = -1;
  count = 0;
  constructor(nGroups: number) {
    this.d = new Float64Array(nGroups);
    this.touched = new Int32Array(nGroups + 1);
    this.stamp = new Int32Array(nGroups).fill(-1);
  }
  begin(row: number): void {
    this.row = row;
    this.count = 0;
  }
  mark(g: number): void {
    if (this.stamp[g] !== this.row) {
      this.stamp[g] = this.row;
      this.d[g] = 0;
      this.touched[this.count++] = g;
    }
  }
}

/** Add row `i`'s term (weight `w`, its parts as `rowShift` left them) to the gradient and, given `hess`, the Hessian. */
function addRowDerivatives(
  rows: CoarseRows,
  i: number,
  w: number,
  parts: RowParts,
  p: number,
  r: number,
  scratch: RowDerivatives,
  grad: Float64Array,
  hess?: Float64Array,
): void {
  const G = grad.length;
  const { n, shares: share, groups } = parts;
  const { d, touched } = scratch;
  // d log rho / dc = p e_row - p sum_t pi_t e_group(t); Hessian of log rho = p^2 (diag(pi) - pi pi^T) over groups.
  scratch.begin(i);
  const g = rows.rowGroup[i];
  if (g >= 0) {
    scratch.mark(g);
    d[g] += p;
  }
  for (let t = 0; t < n; t++) {
    const h = groups[t];
    scratch.mark(h);
    d[h] -= p * share[t];
    if (hess) hess[h * G + h] += w * r * p * p * share[t];
  }
  const count = scratch.count;
  for (let a = 0; a < count; a++) {
    const ga = touched[a];
    grad[ga] += w * r * d[ga];
    if (hess) for (let b = 0; b < count; b++) hess[ga * G + touched[b]] += w * r * r * d[ga] * d[touched[b]];
  }
  if (!hess) return;
  for (let t = 0; t < n; t++) {
    const ga = groups[t];
    for (let u = 0; u < n; u++) hess[ga * G + groups[u]] -= w * r * p * p * share[t] * share[u];
  }
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
 * Newton iterations of the solve past {@link MAX_COARSE_GROUPS} groups: the model is solved again
 * from fresh statistics every sweep, and on the depthwise nets of bench/README.md more iterations
 * (up to the exact minimiser) took no fewer passes over `P`.
 */
export const NEWTON_CG_ITERATIONS = 2;

/**
 * The shift `c` (one per group) that minimises the coarse model of `F`: damped Newton with a
 * backtracking line search on a smooth convex function. Up to {@link MAX_COARSE_GROUPS} groups,
 * the direction is a dense Cholesky solve and the iteration runs to the minimiser; beyond, an
 * inexact direction by conjugate gradients (`coarseCg.ts`) and `iterations` steps (default
 * {@link NEWTON_CG_ITERATIONS}). Returns zeros when no step lowers the model.
 */
export function solveCoarse(rows: CoarseRows, nGroups: number, p: number, r: number, iterations?: number): Float64Array {
  const c = new Float64Array(nGroups);
  if (nGroups === 0) return c;
  const dense = nGroups <= MAX_COARSE_GROUPS;
  const grad = new Float64Array(nGroups);
  const hess = dense ? new Float64Array(nGroups * nGroups) : undefined;
  const weights = (): RowWeights => ({ w: new Float64Array(rows.term.length), kappa: new Float64Array(rows.coef.length), scale: new Float64Array(nGroups) });
  // Past the dense bound the line search's evaluations keep their gradient and row weights: an accepted point needs no second walk.
  const at = dense ? undefined : { weights: weights(), trialWeights: weights(), trialGrad: new Float64Array(nGroups) };
  let F = at ? factoredObjective(rows, c, p, r, grad, at.weights) : coarseObjective(rows, c, p, r, grad, hess);
  const limit = iterations ?? (dense ? 30 : NEWTON_CG_ITERATIONS);
  for (let iteration = 0; iteration < limit; iteration++) {
    const step = hess ? denseStep(hess, grad) : newtonStepCg(rows, at?.weights as RowWeights, p, r, grad).step;
    let decrement = 0;
    for (let g = 0; g < nGroups; g++) decrement += step[g] * grad[g];
    // Below this the model's change is rounding: the line search could not tell it from zero.
    if (!(decrement > 1e-14 * F)) break;
    let t = 1;
    const trial = new Float64Array(nGroups);
    let accepted = false;
    let value = F;
    for (let k = 0; k < 30; k++, t /= 2) {
      for (let g = 0; g < nGroups; g++) trial[g] = c[g] - t * step[g];
      value = at ? factoredObjective(rows, trial, p, r, at.trialGrad, at.trialWeights) : coarseObjective(rows, trial, p, r);
      if (value <= F - 0.25 * t * decrement) {
        accepted = true;
        break;
      }
    }
    if (!accepted) break;
    c.set(trial);
    if (at) {
      F = value;
      grad.set(at.trialGrad);
      [at.weights, at.trialWeights] = [at.trialWeights, at.weights];
    } else if (iteration + 1 < limit) F = coarseObjective(rows, c, p, r, grad, hess);
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

/** `log(rho_i(c) / rho_i)` per row at the solved shift (list by list past {@link MAX_COARSE_GROUPS} groups). */
export function rowLogShifts(rows: CoarseRows, c: Float64Array, p: number): Float64Array {
  if (c.length > MAX_COARSE_GROUPS) return factoredLogShifts(rows, c, p);
  const out = new Float64Array(rows.term.length);
  const parts = new RowParts();
  const scale = columnScales(c, p);
  for (let i = 0; i < out.length; i++) out[i] = rows.term[i] > 0 ? rowShift(rows, i, c, scale, p, parts) : 0;
  return out;
}
