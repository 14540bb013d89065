import { logPowerSum } from '../../math/powers.js';
import type { ProblemBlock } from '../../problem/problem.js';

/**
 * The passes of a CPU sweep in logarithms (MATH.md §2–3): `log P` per edge, and log-sum-exp
 * row and column sums. Slower than the linear passes (one `exp` per entry) but free of
 * underflow and overflow for any exponent and weight range: the path the CPU engine takes when
 * the range of `P` does not fit float64. `-Infinity` is `log 0`.
 */

/** `log P[i,j] = log sum_t |scale * w_t|^p` for every edge of a block. */
export function logPowerMatrix(block: ProblemBlock, p: number, scale: number): Float64Array {
  const { rows, cols, taps, weight } = block;
  const L = new Float64Array(rows * cols);
  const logScale = p * Math.log(scale);
  if (taps === 1) {
    for (let k = 0; k < L.length; k++) {
      const a = Math.abs(weight[k]);
      L[k] = a > 0 ? p * Math.log(a) + logScale : -Infinity;
    }
    return L;
  }
  for (let k = 0; k < L.length; k++) L[k] = logPowerSum(weight, k * taps, (k + 1) * taps, p) + logScale;
  return L;
}

/** Row pass: `lS[i] = log sum_j exp(L[i,j] + lx[col(j)])`. */
export function logRowPass(block: ProblemBlock, L: Float64Array, lx: Float64Array, lS: Float64Array): void {
  const { rows, cols, groups, colUnit0 } = block;
  const rowsPerGroup = rows / groups;
  for (let i = 0; i < rows; i++) {
    const c0 = colUnit0 + Math.floor(i / rowsPerGroup) * cols;
    const k0 = i * cols;
    let m = -Infinity;
    for (let j = 0; j < cols; j++) m = Math.max(m, L[k0 + j] + lx[c0 + j]);
    if (m === -Infinity) {
      lS[i] = -Infinity;
      continue;
    }
    let s = 0;
    for (let j = 0; j < cols; j++) s += Math.exp(L[k0 + j] + lx[c0 + j] - m);
    lS[i] = m + Math.log(s);
  }
}

/** Column pass: `lC[g * cols + j] = log sum_i exp(ly[row(i)] + L[i,j])` over the rows of group `g`. */
export function logColumnPass(block: ProblemBlock, L: Float64Array, ly: Float64Array, lC: Float64Array): void {
  const { rows, cols, groups, rowUnit0 } = block;
  const rowsPerGroup = rows / groups;
  lC.fill(-Infinity);
  for (let i = 0; i < rows; i++) {
    const t = ly[rowUnit0 + i];
    if (t === -Infinity) continue;
    const c0 = Math.floor(i / rowsPerGroup) * cols;
    for (let j = 0, k = i * cols; j < cols; j++, k++) lC[c0 + j] = Math.max(lC[c0 + j], t + L[k]);
  }
  const sums = new Float64Array(lC.length);
  for (let i = 0; i < rows; i++) {
    const t = ly[rowUnit0 + i];
    if (t === -Infinity) continue;
    const c0 = Math.floor(i / rowsPerGroup) * cols;
    for (let j = 0, k = i * cols; j < cols; j++, k++) {
      const m = lC[c0 + j];
      if (m > -Infinity) sums[c0 + j] += Math.exp(t + L[k] - m);
    }
  }
  for (let c = 0; c < lC.length; c++) if (lC[c] > -Infinity) lC[c] += Math.log(sums[c]);
}
