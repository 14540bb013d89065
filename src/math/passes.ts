import type { Problem, ProblemBlock } from '../problem/problem.js';

/**
 * The matrix–vector passes of a sweep (MATH.md §2–3), shared by the CPU engine and the
 * float64 reports. `P[i * cols + j] = sum_t |W|^p` over the taps of edge (j -> i).
 */

/** `|x|^p` with exact paths for p = 1 and p = 2. */
export function absPow(x: number, p: number): number {
  const a = Math.abs(x);
  return p === 1 ? a : p === 2 ? a * a : a === 0 ? 0 : Math.pow(a, p);
}

/** The aggregated power matrix of a block (kernel taps summed): computed once per run. */
export function powerMatrix(block: ProblemBlock, p: number): Float64Array {
  const { rows, cols, taps, weight } = block;
  const P = new Float64Array(rows * cols);
  if (taps === 1) {
    if (p === 1) for (let k = 0; k < P.length; k++) P[k] = Math.abs(weight[k]);
    else if (p === 2) for (let k = 0; k < P.length; k++) P[k] = weight[k] * weight[k];
    else for (let k = 0; k < P.length; k++) P[k] = absPow(weight[k], p);
    return P;
  }
  for (let k = 0; k < P.length; k++) {
    let s = 0;
    for (let t = k * taps, end = t + taps; t < end; t++) s += absPow(weight[t], p);
    P[k] = s;
  }
  return P;
}

/** Per unit: the sum of `|b|^p` over the biases of its incoming blocks (zero unless included). */
export function biasPower(problem: Problem): Float64Array {
  const out = new Float64Array(problem.nUnits);
  if (!problem.includeBiases) return out;
  for (const b of problem.blocks) {
    if (!b.bias) continue;
    for (let i = 0; i < b.rows; i++) out[b.rowUnit0 + i] += absPow(b.bias[i], problem.p);
  }
  return out;
}

/** First column unit read by row `i` of a block (grouped blocks read a slice). */
export function columnBase(block: ProblemBlock, i: number): number {
  return block.groups === 1 ? block.colUnit0 : block.colUnit0 + Math.floor(i / (block.rows / block.groups)) * block.cols;
}

/** Row pass: `S[i] = sum_j P[i,j] * x[col(j)]`. */
export function rowPass(block: ProblemBlock, P: Float64Array, x: Float64Array, S: Float64Array): void {
  const { rows, cols } = block;
  for (let i = 0; i < rows; i++) {
    const c0 = columnBase(block, i);
    let s = 0;
    for (let j = 0, k = i * cols; j < cols; j++, k++) s += P[k] * x[c0 + j];
    S[i] = s;
  }
}

/** Column pass: `C[col(j)] += sum_i y[row(i)] * P[i,j]`. */
export function columnPass(block: ProblemBlock, P: Float64Array, y: Float64Array, C: Float64Array): void {
  const { rows, cols, rowUnit0 } = block;
  for (let i = 0; i < rows; i++) {
    const t = y[rowUnit0 + i];
    if (t === 0) continue;
    const c0 = columnBase(block, i);
    for (let j = 0, k = i * cols; j < cols; j++, k++) C[c0 + j] += t * P[k];
  }
}

/** Both passes in one read of `P` (used when `p = q`, where `y` does not depend on the row sums). */
export function fusedPass(block: ProblemBlock, P: Float64Array, x: Float64Array, y: Float64Array, S: Float64Array, C: Float64Array): void {
  const { rows, cols, rowUnit0 } = block;
  for (let i = 0; i < rows; i++) {
    const c0 = columnBase(block, i);
    const t = y[rowUnit0 + i];
    let s = 0;
    for (let j = 0, k = i * cols; j < cols; j++, k++) {
      const v = P[k];
      s += v * x[c0 + j];
      C[c0 + j] += t * v;
    }
    S[i] = s;
  }
}
