import { WeightBalanceError } from '../errors.js';
import type { Problem, ProblemBlock } from '../problem/problem.js';
import { logAdd, logPowerSum } from './powers.js';

/**
 * The balance statistics of MATH.md §3 as a pure function of a {@link Problem} and its log
 * factors: `rho[i] = alpha[i] (sum_j P[i,j] / alpha[j] + bias mass)` with `alpha = a^p`,
 * `In[v] = sum over the members of v of rho^r` and
 * `Out[v] = sum over the members h of v of (1 / alpha[h]) sum_i y[i] P[i,h]`, where
 * `y = rho^(r-1) alpha`, all carried as natural logarithms (log-sum-exp), as the CPU engine's
 * log passes do, so that no exponent or weight range underflows or overflows: the imbalance is
 * exact whatever the range, even where `In` or `Out` themselves leave float64. For reports and
 * the flows; the engines keep `P` and their own sums between sweeps.
 */

/** `In`, `Out` and the objective at some log factors. */
export interface BalanceStatistics {
  /** `In[v]` per variable, in the network's own scale (`exp(logIn)`: 0 or Infinity where it leaves float64). */
  In: Float64Array;
  /** `Out[v]` per variable, in the network's own scale (`exp(logOut)`). */
  Out: Float64Array;
  /** `F = ||W~||_{p,q}^q = sum_i rho[i]^r`, in the network's own scale (`exp(logF)`). */
  F: number;
  /** `log In[v]`, `log Out[v]` and `log F`, finite wherever the values are positive. */
  logIn: Float64Array;
  logOut: Float64Array;
  logF: number;
  /** `max_v |log(Out[v] / In[v])|` from the logarithms (0 when there are no variables). */
  maxLogImbalance: number;
}

/** `max_v |log(Out[v] / In[v])|` over the variables (0 when there are none): the one imbalance loop of the host. */
export function maxLogImbalance(In: ArrayLike<number>, Out: ArrayLike<number>): number {
  let worst = 0;
  for (let v = 0; v < In.length; v++) worst = Math.max(worst, Math.abs(Math.log(Out[v] / In[v])));
  return worst;
}

/** `log P[i, j] = log sum_t |w|^p` over the taps of row `i`'s edges (its `cols` columns), into `out`. */
function logPowersOfRow(b: ProblemBlock, p: number, i: number, out: Float64Array): void {
  const { weight, taps, cols } = b;
  if (taps === 1)
    for (let j = 0, t = i * cols; j < cols; j++, t++) {
      const a = Math.abs(weight[t]);
      out[j] = a > 0 ? p * Math.log(a) : -Infinity;
    }
  else for (let j = 0, t = i * cols * taps; j < cols; j++, t += taps) out[j] = logPowerSum(weight, t, t + taps, p);
}

/**
 * Sums of exponentials per index, `log sum exp(l)`, kept as a running largest term `top` and
 * the sum relative to it: one `exp` per term, and no term under- or overflows.
 */
class LogSums {
  private readonly top: Float64Array;
  private readonly sum: Float64Array;
  constructor(n: number) {
    this.top = new Float64Array(n).fill(-Infinity);
    this.sum = new Float64Array(n);
  }
  add(k: number, l: number): void {
    const { top, sum } = this;
    if (l <= top[k]) {
      if (l > -Infinity) sum[k] += Math.exp(l - top[k]);
    } else if (l > -Infinity) {
      sum[k] = sum[k] * Math.exp(top[k] - l) + 1;
      top[k] = l;
    }
  }
  /** `log sum` at index `k` (`-Infinity` for an empty sum). */
  log(k: number): number {
    return this.top[k] === -Infinity ? -Infinity : this.top[k] + Math.log(this.sum[k]);
  }
}

/** Row pass in logarithms: adds `log sum_j P[i,j] exp(lx[col j])` of every row of `b` to `rows`. */
function logRowSums(b: ProblemBlock, p: number, lx: Float64Array, rows: LogSums, scratch: Float64Array): void {
  const rowsPerGroup = b.rows / b.groups;
  for (let i = 0; i < b.rows; i++) {
    const c0 = b.colUnit0 + Math.floor(i / rowsPerGroup) * b.cols;
    logPowersOfRow(b, p, i, scratch);
    let top = -Infinity;
    for (let j = 0; j < b.cols; j++) top = Math.max(top, scratch[j] + lx[c0 + j]);
    if (top === -Infinity) continue;
    let sum = 0;
    for (let j = 0; j < b.cols; j++) sum += Math.exp(scratch[j] + lx[c0 + j] - top);
    rows.add(b.rowUnit0 + i, top + Math.log(sum));
  }
}

/** Column pass in logarithms: adds `ly[row i] + log P[i,j]` of every edge of `b` to its column's sum. */
function logColumnSums(b: ProblemBlock, p: number, ly: Float64Array, columns: LogSums, scratch: Float64Array): void {
  const rowsPerGroup = b.rows / b.groups;
  for (let i = 0; i < b.rows; i++) {
    const y = ly[b.rowUnit0 + i];
    if (y === -Infinity) continue;
    const c0 = b.colUnit0 + Math.floor(i / rowsPerGroup) * b.cols;
    logPowersOfRow(b, p, i, scratch);
    for (let j = 0; j < b.cols; j++) columns.add(c0 + j, y + scratch[j]);
  }
}

/**
 * `In`, `Out`, `F` and the largest imbalance of a problem at the given log factors (one per
 * variable), in float64 logarithms, from the weights. Pure: the problem's arrays are only read.
 */
export function balanceStatistics(problem: Problem, logFactors: ArrayLike<number>): BalanceStatistics {
  const { nUnits, nVars, unitVar, p, r, blocks } = problem;
  if (logFactors.length !== nVars) throw new WeightBalanceError(`balance statistics need ${nVars} log factors (one per variable), got ${logFactors.length}`);
  const la = Float64Array.from(unitVar, (v) => (v >= 0 ? p * logFactors[v] : 0));
  // log rho: the bias mass, plus log sum_j P[i,j] / alpha[j], times alpha[i].
  const scratch = new Float64Array(Math.max(0, ...blocks.map((b) => b.cols)));
  const lx = la.map((l) => -l);
  const rowSums = new LogSums(nUnits);
  logBiasMass(problem, 1).forEach((l, unit) => rowSums.add(unit, l));
  for (const b of blocks) logRowSums(b, p, lx, rowSums, scratch);
  const inSums = new LogSums(nVars);
  const total = new LogSums(1);
  const ly = new Float64Array(nUnits).fill(-Infinity);
  for (let unit = 0; unit < nUnits; unit++) {
    const lrho = rowSums.log(unit) + la[unit];
    if (lrho === -Infinity) continue;
    total.add(0, r * lrho);
    if (unitVar[unit] >= 0) inSums.add(unitVar[unit], r * lrho);
    ly[unit] = (r - 1) * lrho + la[unit];
  }
  // log C[h] = log sum_i y[i] P[i,h]; Out[v] sums C / alpha over the members of v.
  const columnSums = new LogSums(nUnits);
  for (const b of blocks) logColumnSums(b, p, ly, columnSums, scratch);
  const outSums = new LogSums(nVars);
  for (let unit = 0; unit < nUnits; unit++) if (unitVar[unit] >= 0) outSums.add(unitVar[unit], columnSums.log(unit) - la[unit]);
  const logIn = Float64Array.from({ length: nVars }, (_, v) => inSums.log(v));
  const logOut = Float64Array.from({ length: nVars }, (_, v) => outSums.log(v));
  let worst = 0;
  for (let v = 0; v < nVars; v++) worst = Math.max(worst, Math.abs(logOut[v] - logIn[v]));
  const logF = total.log(0);
  return { In: logIn.map(Math.exp), Out: logOut.map(Math.exp), F: Math.exp(logF), logIn, logOut, logF, maxLogImbalance: worst };
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
