/**
 * The reads of weight values that validation makes: finiteness, and the range of `|w|` in the
 * same loop. One loop per element type, so that each stays monomorphic. Kept apart from the
 * structural checks (`validate.ts`) so that a run can tell how often it reads the values.
 */
import type { WeightArray } from './types.js';

/** The smallest non-zero and the largest `|w|` over a network's weights (biases not included). */
export interface WeightRange {
  smallest: number;
  largest: number;
}

/**
 * Fold `|w|` into `range` and return the first index of a non-finite entry, or -1: validation
 * and the range in one read. Four independent lanes without a branch on the largest entry
 * (`Math.max` carries a NaN or an infinity to the end, where the entry is then looked for), one
 * loop per element type so that each stays monomorphic: ~4x the speed of one branchy loop.
 */
function foldRange32(w: Float32Array, range: WeightRange): number {
  let h0 = range.largest;
  let h1 = h0;
  let h2 = h0;
  let h3 = h0;
  let l0 = range.smallest;
  let l1 = l0;
  let l2 = l0;
  let l3 = l0;
  const n = w.length;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    const a = Math.abs(w[i]);
    const b = Math.abs(w[i + 1]);
    const c = Math.abs(w[i + 2]);
    const d = Math.abs(w[i + 3]);
    h0 = Math.max(h0, a);
    h1 = Math.max(h1, b);
    h2 = Math.max(h2, c);
    h3 = Math.max(h3, d);
    if (a < l0 && a > 0) l0 = a;
    if (b < l1 && b > 0) l1 = b;
    if (c < l2 && c > 0) l2 = c;
    if (d < l3 && d > 0) l3 = d;
  }
  for (; i < n; i++) {
    const a = Math.abs(w[i]);
    h0 = Math.max(h0, a);
    if (a < l0 && a > 0) l0 = a;
  }
  return settle(w, range, Math.max(h0, h1, h2, h3), Math.min(l0, l1, l2, l3));
}

function foldRange64(w: Float64Array, range: WeightRange): number {
  let h0 = range.largest;
  let h1 = h0;
  let h2 = h0;
  let h3 = h0;
  let l0 = range.smallest;
  let l1 = l0;
  let l2 = l0;
  let l3 = l0;
  const n = w.length;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    const a = Math.abs(w[i]);
    const b = Math.abs(w[i + 1]);
    const c = Math.abs(w[i + 2]);
    const d = Math.abs(w[i + 3]);
    h0 = Math.max(h0, a);
    h1 = Math.max(h1, b);
    h2 = Math.max(h2, c);
    h3 = Math.max(h3, d);
    if (a < l0 && a > 0) l0 = a;
    if (b < l1 && b > 0) l1 = b;
    if (c < l2 && c > 0) l2 = c;
    if (d < l3 && d > 0) l3 = d;
  }
  for (; i < n; i++) {
    const a = Math.abs(w[i]);
    h0 = Math.max(h0, a);
    if (a < l0 && a > 0) l0 = a;
  }
  return settle(w, range, Math.max(h0, h1, h2, h3), Math.min(l0, l1, l2, l3));
}

/**
 * What validation's read of the values does with an array: fold `|w|` into `range` and return
 * the first index of a non-finite entry, or -1 ({@link foldWeightRange}, or the CPU engine's
 * WebAssembly SIMD kernel).
 */
export type RangeFold = (w: WeightArray, range: WeightRange) => number;

/** Store a folded range, or, when the largest is not finite, the index of the first non-finite entry. */
export function settle(w: WeightArray, range: WeightRange, largest: number, smallest: number): number {
  if (!(largest < Infinity)) return firstNonFinite(w);
  range.largest = largest;
  range.smallest = smallest;
  return -1;
}

/** Fold `|w|` into `range`; the first index of a non-finite entry, or -1. `kernel`: the same read elsewhere (the CPU engine's SIMD kernel), else in JS. */
export function foldWeightRange(w: WeightArray, range: WeightRange, kernel?: RangeFold): number {
  if (kernel) return kernel(w, range);
  return w instanceof Float32Array ? foldRange32(w, range) : foldRange64(w, range);
}

/** The first index of a non-finite entry, or -1. */
function firstNonFinite32(a: Float32Array): number {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return i;
  return -1;
}

function firstNonFinite64(a: Float64Array): number {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return i;
  return -1;
}

/**
 * The index of the first entry of `a` that is not finite, or -1: one read at memory speed (a
 * loop per element type, so that each stays monomorphic; one loop over both is ~2x slower).
 */
export function firstNonFinite(a: WeightArray): number {
  return a instanceof Float32Array ? firstNonFinite32(a) : firstNonFinite64(a);
}
