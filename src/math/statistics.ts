import { WeightBalanceError } from '../errors.js';
import type { Problem, ProblemBlock } from '../problem/problem.js';
import { absPow, largestWeight, logAdd, powerOfTwoScale } from './powers.js';

/**
 * The balance statistics of MATH.md §3 as pure functions of a {@link Problem} and its log
 * factors: `rho[i] = alpha[i] (sum_j P[i,j] / alpha[j] + bias mass)` with `alpha = a^p`,
 * `In[v] = sum over the members of v of rho^r` and
 * `Out[v] = sum over the members h of v of (1 / alpha[h]) sum_i y[i] P[i,h]`, where
 * `y = rho^(r-1) alpha`. The per-unit finishing steps are shared with the CPU engine, which
 * keeps `P` and the row sums between sweeps; {@link balanceStatistics} computes everything
 * from the weights (reports, flows).
 */

/** `In`, `Out` and the objective at some log factors. */
export interface BalanceStatistics {
  /** `In[v]` per variable, in the network's own scale. */
  In: Float64Array;
  /** `Out[v]` per variable, in the network's own scale. */
  Out: Float64Array;
  /** `F = ||W~||_{p,q}^q = sum_i rho[i]^r`, in the network's own scale. */
  F: number;
  /** `max_v |log(Out[v] / In[v])|` (0 when there are no variables). */
  maxLogImbalance: number;
}

/** `max_v |log(Out[v] / In[v])|` over the variables (0 when there are none): the one imbalance loop of the host. */
export function maxLogImbalance(In: ArrayLike<number>, Out: ArrayLike<number>): number {
  let worst = 0;
  for (let v = 0; v < In.length; v++) worst = Math.max(worst, Math.abs(Math.log(Out[v] / In[v])));
  return worst;
}

/**
 * Finish the row sums per unit, in place: on entry `rho[unit]` holds
 * `sum_j P[unit,j] / alpha[j]` plus the bias mass; on exit `rho = alpha * that`, the column
 * weights `y = rho^(r-1) alpha` (0 where `rho = 0`) and `In` per variable (overwritten).
 */
export function finishRowSums(problem: Pick<Problem, 'unitVar' | 'r'>, alpha: Float64Array, rho: Float64Array, y: Float64Array, In: Float64Array): void {
  const { unitVar, r } = problem;
  In.fill(0);
  for (let unit = 0; unit < rho.length; unit++) {
    const value = rho[unit] * alpha[unit];
    rho[unit] = value;
    y[unit] = value > 0 ? (r === 1 ? 1 : Math.pow(value, r - 1)) * alpha[unit] : 0;
    const v = unitVar[unit];
    if (v >= 0) In[v] += r === 1 ? value : Math.pow(value, r);
  }
}

/** `F = sum_i rho[i]^r` over the units with `rho > 0`. */
export function objective(r: number, rho: Float64Array): number {
  let F = 0;
  for (let unit = 0; unit < rho.length; unit++) {
    const value = rho[unit];
    if (value > 0) F += r === 1 ? value : Math.pow(value, r);
  }
  return F;
}

/**
 * `Out` of every variable with a unit among the columns of `blocks`, from the column sums
 * `C[unit] = sum_i y[i] P[i,unit]` (already summed over those blocks): the members' `C / alpha`.
 * Other variables' `Out` is left as it is.
 */
export function outFromColumnSums(
  problem: Pick<Problem, 'unitVar'>,
  blocks: readonly ProblemBlock[],
  C: Float64Array,
  invAlpha: Float64Array,
  Out: Float64Array,
): void {
  const { unitVar } = problem;
  const spans = new Map<number, number>();
  for (const b of blocks) spans.set(b.colUnit0, b.cols * b.groups);
  for (const [unit0, span] of spans) {
    for (let unit = unit0; unit < unit0 + span; unit++) if (unitVar[unit] >= 0) Out[unitVar[unit]] = 0;
  }
  for (const [unit0, span] of spans) {
    for (let unit = unit0; unit < unit0 + span; unit++) {
      const v = unitVar[unit];
      if (v >= 0) Out[v] += C[unit] * invAlpha[unit];
    }
  }
}

/** `alpha = a^p` per unit (1 for fixed units) from log factors per variable, and its inverse. */
export function unitPowers(problem: Pick<Problem, 'unitVar' | 'p'>, logFactors: ArrayLike<number>, alpha: Float64Array, invAlpha: Float64Array): void {
  const { unitVar, p } = problem;
  for (let unit = 0; unit < alpha.length; unit++) {
    const v = unitVar[unit];
    const a = v >= 0 ? Math.exp(p * logFactors[v]) : 1;
    alpha[unit] = a;
    invAlpha[unit] = 1 / a;
  }
}

/** Visit every edge of a block with its aggregated `P = sum_t |scale * w|^p`, row unit and column unit. */
function forEachEdge(b: ProblemBlock, p: number, scale: number, visit: (row: number, col: number, P: number) => void): void {
  const rowsPerGroup = b.rows / b.groups;
  for (let i = 0; i < b.rows; i++) {
    const c0 = b.colUnit0 + Math.floor(i / rowsPerGroup) * b.cols;
    for (let j = 0; j < b.cols; j++) {
      let P = 0;
      for (let t = (i * b.cols + j) * b.taps, end = t + b.taps; t < end; t++) P += absPow(b.weight[t] * scale, p);
      if (P > 0) visit(b.rowUnit0 + i, c0 + j, P);
    }
  }
}

/**
 * `In`, `Out`, `F` and the largest imbalance of a problem at the given log factors (one per
 * variable), in float64, from the weights (scaled by a power of two near the largest, exactly,
 * so no weight scale overflows). Pure: the problem's arrays are only read.
 */
export function balanceStatistics(problem: Problem, logFactors: ArrayLike<number>): BalanceStatistics {
  const { nUnits, nVars, p, q, r, blocks } = problem;
  if (logFactors.length !== nVars) throw new WeightBalanceError(`balance statistics need ${nVars} log factors (one per variable), got ${logFactors.length}`);
  const scale = powerOfTwoScale(largestWeight(blocks, problem.includeBiases));
  const alpha = new Float64Array(nUnits);
  const invAlpha = new Float64Array(nUnits);
  unitPowers(problem, logFactors, alpha, invAlpha);
  const rho = new Float64Array(nUnits);
  for (const b of blocks) {
    if (problem.includeBiases && b.bias) for (let i = 0; i < b.rows; i++) rho[b.rowUnit0 + i] += absPow(b.bias[i] * scale, p);
    forEachEdge(b, p, scale, (row, col, P) => {
      rho[row] += P * invAlpha[col];
    });
  }
  const y = new Float64Array(nUnits);
  const In = new Float64Array(nVars);
  finishRowSums(problem, alpha, rho, y, In);
  const C = new Float64Array(nUnits);
  for (const b of blocks)
    forEachEdge(b, p, scale, (row, col, P) => {
      C[col] += y[row] * P;
    });
  const Out = new Float64Array(nVars);
  outFromColumnSums(problem, blocks, C, invAlpha, Out);
  const unscale = Math.pow(scale, -q);
  for (let v = 0; v < nVars; v++) {
    In[v] *= unscale;
    Out[v] *= unscale;
  }
  return { In, Out, F: objective(r, rho) * unscale, maxLogImbalance: maxLogImbalance(In, Out) };
}

/**
 * Per unit: `log sum |scale * b|^p` over the biases of its incoming blocks (`-Infinity` when
 * biases are not included, or all zero): the bias mass of `In`, in logarithms so that no
 * exponent underflows. Both engines read it (the GPU as float32).
 */
export function logBiasMass(problem: Problem, scale: number): Float64Array {
  const out = new Float64Array(problem.nUnits).fill(-Infinity);
  if (!problem.includeBiases) return out;
  for (const b of problem.blocks) {
    if (!b.bias) continue;
    for (let i = 0; i < b.rows; i++) {
      const a = Math.abs(b.bias[i]);
      if (a !== 0) out[b.rowUnit0 + i] = logAdd(out[b.rowUnit0 + i], problem.p * Math.log(a * scale));
    }
  }
  return out;
}
