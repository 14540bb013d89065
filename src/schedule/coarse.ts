import { positivePow } from '../math/powers.js';

/**
 * The coarse model of the accelerated schedule: `F` as a function of one shift per group of the
 * coarse space (`coarseSpace.ts`), its exact minimiser by damped Newton, and each row's change.
 */

/**
 * One row of the coarse model: the row's mass `rho` splits into a part that no shift of a column
 * group moves (`fixedShare`: fixed columns, biases) and parts read from groups `groups[t]`
 * (`shares[t]`); the row itself moves with `rowGroup`.
 */
export interface CoarseRows {
  /** `rho^r` per row (its term of `F`). */
  term: Float64Array;
  rowGroup: Int32Array;
  fixedShare: Float64Array;
  /** CSR: the shares of row `i` are `start[i] .. start[i + 1]`. */
  start: Int32Array;
  groups: Int32Array;
  shares: Float64Array;
}

/** `exp(sign * p * c[g])` per group: the factors of the columns (`sign` -1) and of the rows (`+1`) a shift applies. */
function groupFactors(c: Float64Array, p: number, sign: 1 | -1, out: Float64Array): Float64Array {
  for (let g = 0; g < c.length; g++) out[g] = Math.exp(sign * p * c[g]);
  return out;
}

/**
 * `rho_i(c) / rho_i` for one row, from the groups' factors `column[g] = exp(-p c[g])` and
 * `row[g] = exp(p c[g])`, with the shares' part `pi[t]` of the shifted mass when asked.
 */
function rowRatio(rows: CoarseRows, i: number, column: Float64Array, row: Float64Array, pi: Float64Array | null): number {
  const t0 = rows.start[i];
  const t1 = rows.start[i + 1];
  let m = rows.fixedShare[i];
  for (let t = t0; t < t1; t++) m += rows.shares[t] * column[rows.groups[t]];
  if (pi) for (let t = t0; t < t1; t++) pi[t - t0] = (rows.shares[t] * column[rows.groups[t]]) / m;
  const g = rows.rowGroup[i];
  return g >= 0 ? row[g] * m : m;
}

/** Scratch of the model's evaluations, sized for `G` groups and rows of up to `width` shares. */
class ModelScratch {
  readonly column: Float64Array;
  readonly row: Float64Array;
  readonly d: Float64Array;
  readonly touched: Int32Array;
  readonly stamp: Int32Array;
  share: Float64Array;
  constructor(G: number, width: number) {
    this.column = new Float64Array(G);
    this.row = new Float64Array(G);
    this.d = new Float64Array(G);
    this.touched = new Int32Array(G + 1);
    this.stamp = new Int32Array(G);
    this.share = new Float64Array(Math.max(width, 1));
  }
}

/** `F(c) = sum_i term[i] * (rho_i(c) / rho_i)^r`, and, given `grad` and `hess`, their values. */
function coarseObjective(rows: CoarseRows, c: Float64Array, p: number, r: number, scratch: ModelScratch, grad?: Float64Array, hess?: Float64Array): number {
  const G = c.length;
  grad?.fill(0);
  hess?.fill(0);
  const { d, touched, stamp, share } = scratch;
  const column = groupFactors(c, p, -1, scratch.column);
  const row = groupFactors(c, p, 1, scratch.row);
  stamp.fill(-1);
  let F = 0;
  for (let i = 0; i < rows.term.length; i++) {
    if (!(rows.term[i] > 0)) continue;
    const t0 = rows.start[i];
    const n = rows.start[i + 1] - t0;
    const ratio = rowRatio(rows, i, column, row, grad && hess ? share : null);
    const w = rows.term[i] * positivePow(ratio, r);
    F += w;
    if (!grad || !hess) continue;
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
      hess[h * G + h] += w * r * p * p * share[t];
    }
    for (let a = 0; a < count; a++) {
      const ga = touched[a];
      grad[ga] += w * r * d[ga];
      for (let b = 0; b < count; b++) hess[ga * G + touched[b]] += w * r * r * d[ga] * d[touched[b]];
    }
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
 * backtracking line search on a smooth convex function of a few variables. Returns zeros when
 * no step lowers the model.
 */
export function solveCoarse(rows: CoarseRows, nGroups: number, p: number, r: number): Float64Array {
  const c = new Float64Array(nGroups);
  if (nGroups === 0) return c;
  const model = mergedRows(rows);
  let width = 0;
  for (let i = 0; i < model.term.length; i++) width = Math.max(width, model.start[i + 1] - model.start[i]);
  const scratch = new ModelScratch(nGroups, width);
  const grad = new Float64Array(nGroups);
  const hess = new Float64Array(nGroups * nGroups);
  const trial = new Float64Array(nGroups);
  let F = coarseObjective(model, c, p, r, scratch, grad, hess);
  for (let iteration = 0; iteration < 30; iteration++) {
    let trace = 0;
    for (let g = 0; g < nGroups; g++) trace += hess[g * nGroups + g];
    for (let g = 0; g < nGroups; g++) hess[g * nGroups + g] += 1e-12 * trace + 1e-300;
    const step = solveSpd(hess, grad);
    let decrement = 0;
    for (let g = 0; g < nGroups; g++) decrement += step[g] * grad[g];
    // Below this the model's change is rounding: the line search could not tell it from zero.
    if (!(decrement > 1e-14 * F)) break;
    let t = 1;
    let accepted = false;
    for (let k = 0; k < 30; k++, t /= 2) {
      for (let g = 0; g < nGroups; g++) trial[g] = c[g] - t * step[g];
      const value = coarseObjective(model, trial, p, r, scratch);
      if (value <= F - 0.25 * t * decrement) {
        accepted = true;
        break;
      }
    }
    if (!accepted) break;
    c.set(trial);
    F = coarseObjective(model, c, p, r, scratch, grad, hess);
  }
  return c;
}

/** Whether rows `a` and `b` move alike under every shift (same row group, fixed share, groups and shares). */
function alike(rows: CoarseRows, a: number, b: number): boolean {
  const n = rows.start[a + 1] - rows.start[a];
  if (rows.rowGroup[a] !== rows.rowGroup[b] || rows.fixedShare[a] !== rows.fixedShare[b] || rows.start[b + 1] - rows.start[b] !== n) return false;
  for (let t = 0; t < n; t++) {
    const [ta, tb] = [rows.start[a] + t, rows.start[b] + t];
    if (rows.groups[ta] !== rows.groups[tb] || rows.shares[ta] !== rows.shares[tb]) return false;
  }
  return true;
}

/**
 * The model with each run of neighbouring rows that move alike (a layer of an MLP without
 * biases: every row reads one group) as one row whose term is the run's sum, and rows without
 * mass left out: the same function of the shift, evaluated in far fewer rows.
 */
function mergedRows(rows: CoarseRows): CoarseRows {
  const n = rows.term.length;
  const first = new Int32Array(n);
  let count = 0;
  let shares = 0;
  let last = -1;
  for (let i = 0; i < n; i++) {
    if (!(rows.term[i] > 0)) continue;
    if (last < 0 || !alike(rows, last, i)) {
      first[count++] = i;
      shares += rows.start[i + 1] - rows.start[i];
    }
    last = i;
  }
  const merged: CoarseRows = {
    term: new Float64Array(count),
    rowGroup: new Int32Array(count),
    fixedShare: new Float64Array(count),
    start: new Int32Array(count + 1),
    groups: new Int32Array(shares),
    shares: new Float64Array(shares),
  };
  let row = -1;
  for (let i = 0; i < n; i++) {
    if (!(rows.term[i] > 0)) continue;
    if (row + 1 < count && first[row + 1] === i) {
      row++;
      const [t0, t1] = [rows.start[i], rows.start[i + 1]];
      merged.rowGroup[row] = rows.rowGroup[i];
      merged.fixedShare[row] = rows.fixedShare[i];
      merged.groups.set(rows.groups.subarray(t0, t1), merged.start[row]);
      merged.shares.set(rows.shares.subarray(t0, t1), merged.start[row]);
      merged.start[row + 1] = merged.start[row] + t1 - t0;
    }
    merged.term[row] += rows.term[i];
  }
  return merged;
}

/** `rho_i(c) / rho_i` per row at the solved shift (1 for a row without mass), into `out`. */
export function rowRatios(rows: CoarseRows, c: Float64Array, p: number, out: Float64Array): Float64Array {
  const column = groupFactors(c, p, -1, new Float64Array(c.length));
  const row = groupFactors(c, p, 1, new Float64Array(c.length));
  for (let i = 0; i < rows.term.length; i++) out[i] = rows.term[i] > 0 ? rowRatio(rows, i, column, row, null) : 1;
  return out;
}

/** `log(rho_i(c) / rho_i)` per row at the solved shift (0 for a row without mass). */
export function rowLogShifts(rows: CoarseRows, c: Float64Array, p: number): Float64Array {
  return rowRatios(rows, c, p, new Float64Array(rows.term.length)).map(Math.log);
}
