import { absPow } from '../../math/powers.js';
import type { ProblemBlock } from '../../problem/problem.js';

/**
 * The linear matrix–vector passes of a CPU sweep (MATH.md §2–3) over float64
 * `P[i * cols + j] = sum_t |W|^p` (the taps of edge j -> i). The vectors `x`, `y` are indexed by
 * global unit; `S` by the block's rows; `C` by global unit (added to).
 */

/** `P` in float32 (for speed: half the memory traffic; sums still in float64) or float64. */
export type PowerArray = Float32Array | Float64Array;

/**
 * The aggregated power matrix of a block (kernel taps summed), of the weights times `scale`
 * (a power of two, see `powerOfTwoScale`): computed once per run, into `P` when given
 * (float32 entries are the float64 values rounded once).
 */
export function powerMatrix(block: ProblemBlock, p: number, scale = 1, P: PowerArray = new Float64Array(block.rows * block.cols)): PowerArray {
  const { taps, weight } = block;
  if (taps === 1) {
    if (p === 1) for (let k = 0; k < P.length; k++) P[k] = Math.abs(weight[k] * scale);
    else if (p === 2) for (let k = 0; k < P.length; k++) P[k] = weight[k] * scale * (weight[k] * scale);
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

/*
 * The passes below are the hot loops of a sweep. Each covers the rows `[r0, r1)` of its block
 * (default: all), so that a pass can be split by rows over threads: `S` is written for those rows
 * only, and `C` accumulates their terms. They walk the rows of each group four at a
 * time: the row pass then keeps four independent sums (no single add-latency chain) sharing one
 * load of `x`, and the column pass loads and stores each entry of `C` once per four rows. Every
 * entry of `P` is still read exactly once per pass.
 */

/** `S[i..i+3]` from the four rows of `P` from entry `k0` (`cols` apart) and `x` from unit `c0`: four independent sums sharing each load of `x`. */
function rowSums4(P: PowerArray, k0: number, cols: number, x: Float64Array, c0: number, S: Float64Array, i: number): void {
  const k1 = k0 + cols;
  const k2 = k1 + cols;
  const k3 = k2 + cols;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  for (let j = 0; j < cols; j++) {
    const xj = x[c0 + j];
    s0 += P[k0 + j] * xj;
    s1 += P[k1 + j] * xj;
    s2 += P[k2 + j] * xj;
    s3 += P[k3 + j] * xj;
  }
  S[i] = s0;
  S[i + 1] = s1;
  S[i + 2] = s2;
  S[i + 3] = s3;
}

/** The sum of the row of `P` from entry `k0` with `x` from unit `c0`. */
function rowSum1(P: PowerArray, k0: number, cols: number, x: Float64Array, c0: number): number {
  let s0 = 0;
  let s1 = 0;
  let j = 0;
  for (; j + 1 < cols; j += 2) {
    s0 += P[k0 + j] * x[c0 + j];
    s1 += P[k0 + j + 1] * x[c0 + j + 1];
  }
  if (j < cols) s0 += P[k0 + j] * x[c0 + j];
  return s0 + s1;
}

/** `C[c0 + j] += t0 P[k0 + j] + ... + t3 P[k3 + j]` over four rows (`cols` apart): one load and store of `C` per four rows. */
function addRows4(P: PowerArray, k0: number, cols: number, C: Float64Array, c0: number, t0: number, t1: number, t2: number, t3: number): void {
  if (t0 === 0 && t1 === 0 && t2 === 0 && t3 === 0) return;
  const k1 = k0 + cols;
  const k2 = k1 + cols;
  const k3 = k2 + cols;
  for (let j = 0; j < cols; j++) C[c0 + j] += t0 * P[k0 + j] + t1 * P[k1 + j] + t2 * P[k2 + j] + t3 * P[k3 + j];
}

/** `C[c0 + j] += t P[k0 + j]` over one row. */
function addRow1(P: PowerArray, k0: number, cols: number, C: Float64Array, c0: number, t: number): void {
  if (t === 0) return;
  for (let j = 0; j < cols; j++) C[c0 + j] += t * P[k0 + j];
}

/**
 * The column weight of a row from its own row sum `s` in the row-then-column pass:
 * `y = A (s + B)^e` with `A = w[2 unit]`, `B = w[2 unit + 1]`; 0 when `s + B = 0` (no mass: `rho = 0`).
 */
export function columnWeight(s: number, w: Float64Array, unit: number, e: number): number {
  const a = w[2 * unit];
  const t = s + w[2 * unit + 1];
  if (a === 0 || t === 0) return 0;
  if (e === 1) return a * t;
  if (e === 0.5) return a * Math.sqrt(t);
  if (e === -0.5) return a / Math.sqrt(t);
  return a * t ** e;
}

/** Row pass: `S[i] = sum_j P[i,j] * x[col(j)]`. */
export function rowPass(block: ProblemBlock, P: PowerArray, x: Float64Array, S: Float64Array, r0 = 0, r1 = block.rows): void {
  const { rows, cols, groups, colUnit0 } = block;
  const rowsPerGroup = rows / groups;
  for (let g = Math.floor(r0 / rowsPerGroup); g < groups && g * rowsPerGroup < r1; g++) {
    const c0 = colUnit0 + g * cols;
    const end = Math.min((g + 1) * rowsPerGroup, r1);
    let i = Math.max(g * rowsPerGroup, r0);
    for (; i + 3 < end; i += 4) rowSums4(P, i * cols, cols, x, c0, S, i);
    for (; i < end; i++) S[i] = rowSum1(P, i * cols, cols, x, c0);
  }
}

/** Column pass: `C[col(j)] += sum_i y[row(i)] * P[i,j]`. */
export function columnPass(block: ProblemBlock, P: PowerArray, y: Float64Array, C: Float64Array, r0 = 0, r1 = block.rows): void {
  const { rows, cols, groups, colUnit0, rowUnit0 } = block;
  const rowsPerGroup = rows / groups;
  for (let g = Math.floor(r0 / rowsPerGroup); g < groups && g * rowsPerGroup < r1; g++) {
    const c0 = colUnit0 + g * cols;
    const end = Math.min((g + 1) * rowsPerGroup, r1);
    let i = Math.max(g * rowsPerGroup, r0);
    for (; i + 3 < end; i += 4) {
      const u = rowUnit0 + i;
      addRows4(P, i * cols, cols, C, c0, y[u], y[u + 1], y[u + 2], y[u + 3]);
    }
    for (; i < end; i++) addRow1(P, i * cols, cols, C, c0, y[rowUnit0 + i]);
  }
}

/**
 * Row then column pass (p != q, when this block alone writes its rows' units): per four rows,
 * their sums into `S`, their column weights from those sums ({@link columnWeight}; `w` per global
 * unit, two entries each), and the same rows times their weights into `C` while they are in
 * cache: one read of `P` from memory where a row pass and a column pass read it twice.
 */
export function rowColumnPass(
  block: ProblemBlock,
  P: PowerArray,
  x: Float64Array,
  w: Float64Array,
  e: number,
  S: Float64Array,
  C: Float64Array,
  r0 = 0,
  r1 = block.rows,
): void {
  const { rows, cols, groups, colUnit0, rowUnit0 } = block;
  const rowsPerGroup = rows / groups;
  for (let g = Math.floor(r0 / rowsPerGroup); g < groups && g * rowsPerGroup < r1; g++) {
    const c0 = colUnit0 + g * cols;
    const end = Math.min((g + 1) * rowsPerGroup, r1);
    let i = Math.max(g * rowsPerGroup, r0);
    for (; i + 3 < end; i += 4) {
      rowSums4(P, i * cols, cols, x, c0, S, i);
      const u = rowUnit0 + i;
      const t0 = columnWeight(S[i], w, u, e);
      const t1 = columnWeight(S[i + 1], w, u + 1, e);
      const t2 = columnWeight(S[i + 2], w, u + 2, e);
      const t3 = columnWeight(S[i + 3], w, u + 3, e);
      addRows4(P, i * cols, cols, C, c0, t0, t1, t2, t3);
    }
    for (; i < end; i++) {
      S[i] = rowSum1(P, i * cols, cols, x, c0);
      addRow1(P, i * cols, cols, C, c0, columnWeight(S[i], w, rowUnit0 + i, e));
    }
  }
}

/** Both passes in one read of `P` (used when `p = q`, where `y` does not depend on the row sums). */
export function fusedPass(
  block: ProblemBlock,
  P: PowerArray,
  x: Float64Array,
  y: Float64Array,
  S: Float64Array,
  C: Float64Array,
  r0 = 0,
  r1 = block.rows,
): void {
  const { rows, cols, groups, colUnit0, rowUnit0 } = block;
  const rowsPerGroup = rows / groups;
  for (let g = Math.floor(r0 / rowsPerGroup); g < groups && g * rowsPerGroup < r1; g++) {
    const c0 = colUnit0 + g * cols;
    const end = Math.min((g + 1) * rowsPerGroup, r1);
    let i = Math.max(g * rowsPerGroup, r0);
    for (; i + 3 < end; i += 4) {
      const t0 = y[rowUnit0 + i];
      const t1 = y[rowUnit0 + i + 1];
      const t2 = y[rowUnit0 + i + 2];
      const t3 = y[rowUnit0 + i + 3];
      const k0 = i * cols;
      const k1 = k0 + cols;
      const k2 = k1 + cols;
      const k3 = k2 + cols;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      for (let j = 0; j < cols; j++) {
        const v0 = P[k0 + j];
        const v1 = P[k1 + j];
        const v2 = P[k2 + j];
        const v3 = P[k3 + j];
        const xj = x[c0 + j];
        s0 += v0 * xj;
        s1 += v1 * xj;
        s2 += v2 * xj;
        s3 += v3 * xj;
        C[c0 + j] += t0 * v0 + t1 * v1 + t2 * v2 + t3 * v3;
      }
      S[i] = s0;
      S[i + 1] = s1;
      S[i + 2] = s2;
      S[i + 3] = s3;
    }
    for (; i < end; i++) {
      const t = y[rowUnit0 + i];
      const k0 = i * cols;
      let s = 0;
      for (let j = 0; j < cols; j++) {
        const v = P[k0 + j];
        s += v * x[c0 + j];
        C[c0 + j] += t * v;
      }
      S[i] = s;
    }
  }
}
