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

/**
 * A power of two `s` with `s * largest` in `[1, 2)`: multiplying weights by it is exact, and
 * `|s w|^p` neither overflows nor underflows for any weight scale (only the spread of the
 * weights' magnitudes matters). 1 when `largest` is 0.
 */
export function powerOfTwoScale(largest: number): number {
  if (!(largest > 0) || !Number.isFinite(largest)) return 1;
  return Math.pow(2, -Math.min(1023, Math.max(-1022, Math.floor(Math.log2(largest)))));
}

/** The largest `|w|` over the blocks' weights (and biases when included). */
export function largestWeight(blocks: readonly { weight: ArrayLike<number>; bias: ArrayLike<number> | null }[], includeBiases: boolean): number {
  let largest = 0;
  for (const b of blocks) {
    for (let k = 0; k < b.weight.length; k++) largest = Math.max(largest, Math.abs(b.weight[k]));
    if (includeBiases && b.bias) for (let k = 0; k < b.bias.length; k++) largest = Math.max(largest, Math.abs(b.bias[k]));
  }
  return largest;
}

/**
 * The aggregated power matrix of a block (kernel taps summed), of the weights times `scale`
 * (a power of two, see {@link powerOfTwoScale}): computed once per run.
 */
export function powerMatrix(block: ProblemBlock, p: number, scale = 1): Float64Array {
  const { rows, cols, taps, weight } = block;
  const P = new Float64Array(rows * cols);
  if (taps === 1) {
    if (p === 1) for (let k = 0; k < P.length; k++) P[k] = Math.abs(weight[k] * scale);
    else if (p === 2) for (let k = 0; k < P.length; k++) P[k] = (weight[k] * scale) * (weight[k] * scale);
    else for (let k = 0; k < P.length; k++) P[k] = absPow(weight[k] * scale, p);
    return P;
  }
  for (let k = 0; k < P.length; k++) {
    let s = 0;
    for (let t = k * taps, end = t + taps; t < end; t++) s += absPow(weight[t] * scale, p);
    P[k] = s;
  }
  return P;
}

/** Per unit: the sum of `|scale * b|^p` over the biases of its incoming blocks (zero unless included). */
export function biasPower(problem: Problem, scale = 1): Float64Array {
  const out = new Float64Array(problem.nUnits);
  if (!problem.includeBiases) return out;
  for (const b of problem.blocks) {
    if (!b.bias) continue;
    for (let i = 0; i < b.rows; i++) out[b.rowUnit0 + i] += absPow(b.bias[i] * scale, problem.p);
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
