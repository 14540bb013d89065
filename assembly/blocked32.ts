// The passes over a float32 P in float32 SIMD arithmetic, summed in float64 by blocks
// (AssemblyScript; exported through assembly/passes.ts). Four lanes per 128-bit vector where the
// float64 passes of passes.ts have two: every product P[i,j] x[j] (x and y rounded to float32) is
// formed and added in float32 within a block of at most BLOCK columns of one row (row sums: 8
// products per lane, then 3 additions) or of ROWS rows of one column (column sums), and the block
// sums are added in float64. A sum thus carries a relative error of at most about 12 * 2^-24
// ~ 7e-7, far less in practice; the float64 passes remain the reference.
//
// Same layout as passes.ts: row-major `rows x cols` per block, `groups` groups of
// `rows / groups` rows, rows [r0, r1) of the block per call. `x` points at float32 copies of the
// column vector (see toFloat32), `y`, `S` and `C` are float64; `F` is a float32 scratch of `cols`
// entries (one per thread when a pass is split by rows).

import { columnWeight } from './columnWeight';

/** Columns per float32 partial row sum: 8 products per lane in each of 4 accumulators, then a float64 addition. */
const BLOCK = 128;
/** Rows added into the float32 column scratch before it is added into the float64 column sums. */
const ROWS = 8;
/** Columns from which the fused pass takes four rows at a time (x and the scratch leave L1). */
const WIDE = 4096;

/** The four float32 lanes of `v` as an f64x2 of `(v0 + v2, v1 + v3)`, added in float64. */
// @ts-ignore: decorator
@inline function widen(v: v128): v128 {
  return f64x2.add(f64x2.promote_low_f32x4(v), f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 1)));
}

// @ts-ignore: decorator
@inline function sum2(v: v128): f64 {
  return f64x2.extract_lane(v, 0) + f64x2.extract_lane(v, 1);
}

/** `x32[k] = x[k]` rounded to float32, for `k < n`. */
export function toFloat32(x: usize, n: i32, x32: usize): void {
  for (let k = 0; k < n; k++) store<f32>(x32 + ((<usize>k) << 2), <f32>load<f64>(x + ((<usize>k) << 3)));
}

/**
 * One row's sum `sum_j p[j] x[j]` (float32 at `p` and `xg`): float32 products in four accumulators
 * of four lanes over blocks of BLOCK columns, each block added in float64. One row at a time reads
 * `P` as one stream (faster than four rows side by side here); `x` stays in L1.
 */
// @ts-ignore: decorator
@inline function rowSum(p: usize, cols: i32, xg: usize): f64 {
  const end16 = (<usize>(cols & ~15)) << 2;
  let s = f64x2.splat(0);
  let o: usize = 0;
  while (o < end16) {
    const stop = min(o + (BLOCK << 2), end16);
    let a = f32x4.splat(0); let b = f32x4.splat(0); let c = f32x4.splat(0); let d = f32x4.splat(0);
    for (; o < stop; o += 64) {
      const q = p + o;
      const xo = xg + o;
      a = f32x4.add(a, f32x4.mul(v128.load(q), v128.load(xo)));
      b = f32x4.add(b, f32x4.mul(v128.load(q, 16), v128.load(xo, 16)));
      c = f32x4.add(c, f32x4.mul(v128.load(q, 32), v128.load(xo, 32)));
      d = f32x4.add(d, f32x4.mul(v128.load(q, 48), v128.load(xo, 48)));
    }
    s = f64x2.add(s, widen(f32x4.add(f32x4.add(a, b), f32x4.add(c, d))));
  }
  const end4 = (<usize>(cols & ~3)) << 2;
  if (o < end4) {
    let a = f32x4.splat(0);
    for (; o < end4; o += 16) a = f32x4.add(a, f32x4.mul(v128.load(p + o), v128.load(xg + o)));
    s = f64x2.add(s, widen(a));
  }
  let t = sum2(s);
  const end = (<usize>cols) << 2;
  for (; o < end; o += 4) t += <f64>load<f32>(p + o) * <f64>load<f32>(xg + o);
  return t;
}

/** {@link rowSum} and {@link rowIntoScratch} in one read of the row (the fused pass). */
// @ts-ignore: decorator
@inline function rowSumIntoScratch(p: usize, cols: i32, xg: usize, t: f32, F: usize): f64 {
  const v = f32x4.splat(t);
  const end8 = (<usize>(cols & ~7)) << 2;
  let s = f64x2.splat(0);
  let o: usize = 0;
  while (o < end8) {
    const stop = min(o + (BLOCK << 2), end8);
    let a = f32x4.splat(0); let b = f32x4.splat(0);
    for (; o < stop; o += 32) {
      const q = p + o;
      const xo = xg + o;
      const f = F + o;
      const u = v128.load(q); const w = v128.load(q, 16);
      a = f32x4.add(a, f32x4.mul(u, v128.load(xo)));
      b = f32x4.add(b, f32x4.mul(w, v128.load(xo, 16)));
      v128.store(f, f32x4.add(v128.load(f), f32x4.mul(v, u)));
      v128.store(f, f32x4.add(v128.load(f, 16), f32x4.mul(v, w)), 16);
    }
    s = f64x2.add(s, widen(f32x4.add(a, b)));
  }
  let r = sum2(s);
  const end = (<usize>cols) << 2;
  for (; o < end; o += 4) {
    const e = load<f32>(p + o);
    r += <f64>e * <f64>load<f32>(xg + o);
    store<f32>(F + o, load<f32>(F + o) + t * e);
  }
  return r;
}

/**
 * Four rows from `p0` (`stride` bytes apart) at once, for the fused pass: their sums into
 * `out[0..3]` as in {@link rowSum}, and `F[j] += sum_k y[k] p_k[j]` (weights float64 at `yi`)
 * with one load and store of `F` per four rows (wide rows, whose `x` and `F` leave L1).
 */
// @ts-ignore: decorator
@inline function rows4IntoScratch(p0: usize, stride: usize, cols: i32, xg: usize, yi: usize, F: usize, out: usize): void {
  const y0 = <f32>load<f64>(yi); const y1 = <f32>load<f64>(yi, 8); const y2 = <f32>load<f64>(yi, 16); const y3 = <f32>load<f64>(yi, 24);
  const v0 = f32x4.splat(y0); const v1 = f32x4.splat(y1); const v2 = f32x4.splat(y2); const v3 = f32x4.splat(y3);
  const p1 = p0 + stride;
  const p2 = p1 + stride;
  const p3 = p2 + stride;
  const end4 = (<usize>(cols & ~3)) << 2;
  let s0 = f64x2.splat(0); let s1 = f64x2.splat(0); let s2 = f64x2.splat(0); let s3 = f64x2.splat(0);
  let o: usize = 0;
  while (o < end4) {
    const stop = min(o + (BLOCK << 1), end4);
    let a0 = f32x4.splat(0); let a1 = f32x4.splat(0); let a2 = f32x4.splat(0); let a3 = f32x4.splat(0);
    for (; o < stop; o += 16) {
      const xj = v128.load(xg + o);
      const q0 = v128.load(p0 + o); const q1 = v128.load(p1 + o); const q2 = v128.load(p2 + o); const q3 = v128.load(p3 + o);
      a0 = f32x4.add(a0, f32x4.mul(q0, xj)); a1 = f32x4.add(a1, f32x4.mul(q1, xj));
      a2 = f32x4.add(a2, f32x4.mul(q2, xj)); a3 = f32x4.add(a3, f32x4.mul(q3, xj));
      const f = F + o;
      v128.store(f, f32x4.add(v128.load(f), f32x4.add(f32x4.add(f32x4.mul(v0, q0), f32x4.mul(v1, q1)), f32x4.add(f32x4.mul(v2, q2), f32x4.mul(v3, q3)))));
    }
    s0 = f64x2.add(s0, widen(a0)); s1 = f64x2.add(s1, widen(a1));
    s2 = f64x2.add(s2, widen(a2)); s3 = f64x2.add(s3, widen(a3));
  }
  let t0 = sum2(s0); let t1 = sum2(s1); let t2 = sum2(s2); let t3 = sum2(s3);
  const end = (<usize>cols) << 2;
  for (; o < end; o += 4) {
    const xj = <f64>load<f32>(xg + o);
    const e0 = load<f32>(p0 + o); const e1 = load<f32>(p1 + o); const e2 = load<f32>(p2 + o); const e3 = load<f32>(p3 + o);
    t0 += <f64>e0 * xj; t1 += <f64>e1 * xj; t2 += <f64>e2 * xj; t3 += <f64>e3 * xj;
    store<f32>(F + o, load<f32>(F + o) + ((y0 * e0 + y1 * e1) + (y2 * e2 + y3 * e3)));
  }
  store<f64>(out, t0); store<f64>(out, t1, 8); store<f64>(out, t2, 16); store<f64>(out, t3, 24);
}

/**
 * `F[j] += t0 p0[j] + t1 p1[j] + t2 p2[j] + t3 p3[j]` in float32 over four rows `stride` bytes
 * apart (the row-then-column pass, rows just read for their sums): one load and store of `F` per
 * four rows, as wide rows' `x`, `F` and a row do not fit L1 together.
 */
// @ts-ignore: decorator
@inline function addRows4IntoScratch(p0: usize, stride: usize, cols: i32, t0: f32, t1: f32, t2: f32, t3: f32, F: usize): void {
  const v0 = f32x4.splat(t0); const v1 = f32x4.splat(t1); const v2 = f32x4.splat(t2); const v3 = f32x4.splat(t3);
  const p1 = p0 + stride;
  const p2 = p1 + stride;
  const p3 = p2 + stride;
  const end4 = (<usize>(cols & ~3)) << 2;
  let o: usize = 0;
  for (; o < end4; o += 16) {
    const f = F + o;
    const top = f32x4.add(f32x4.mul(v0, v128.load(p0 + o)), f32x4.mul(v1, v128.load(p1 + o)));
    const bottom = f32x4.add(f32x4.mul(v2, v128.load(p2 + o)), f32x4.mul(v3, v128.load(p3 + o)));
    v128.store(f, f32x4.add(v128.load(f), f32x4.add(top, bottom)));
  }
  const end = (<usize>cols) << 2;
  for (; o < end; o += 4) {
    store<f32>(F + o, load<f32>(F + o) + ((t0 * load<f32>(p0 + o) + t1 * load<f32>(p1 + o)) + (t2 * load<f32>(p2 + o) + t3 * load<f32>(p3 + o))));
  }
}

/** `F[j] += t * p[j]` in float32 over one row (the column scratch). */
// @ts-ignore: decorator
@inline function rowIntoScratch(p: usize, cols: i32, t: f32, F: usize): void {
  const v = f32x4.splat(t);
  const end8 = (<usize>(cols & ~7)) << 2;
  let o: usize = 0;
  for (; o < end8; o += 32) {
    const f = F + o;
    const q = p + o;
    v128.store(f, f32x4.add(v128.load(f), f32x4.mul(v, v128.load(q))));
    v128.store(f, f32x4.add(v128.load(f, 16), f32x4.mul(v, v128.load(q, 16))), 16);
  }
  const end = (<usize>cols) << 2;
  for (; o < end; o += 4) store<f32>(F + o, load<f32>(F + o) + t * load<f32>(p + o));
}

/** `C[j] += F[j]` in float64 over `cols` columns, and `F[j] = 0`. */
// @ts-ignore: decorator
@inline function flushScratch(F: usize, cols: i32, cg: usize): void {
  const end4 = (<usize>(cols & ~3)) << 2;
  let o: usize = 0;
  for (; o < end4; o += 16) {
    const v = v128.load(F + o);
    v128.store(F + o, f32x4.splat(0));
    const at = cg + (o << 1);
    v128.store(at, f64x2.add(v128.load(at), f64x2.promote_low_f32x4(v)));
    v128.store(at, f64x2.add(v128.load(at, 16), f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 0))), 16);
  }
  const end = (<usize>cols) << 2;
  for (; o < end; o += 4) {
    const at = cg + (o << 1);
    store<f64>(at, load<f64>(at) + <f64>load<f32>(F + o));
    store<f32>(F + o, 0);
  }
}

/**
 * The rows `[r0, r1)` of a block, group by group, one row at a time: its sum into `S`
 * (`rowsToo`), then (`columnsToo`) the row times `y` (`weighted`: times its column weight from
 * its own sum, `A`, `B` per row at `y`, see {@link columnWeight}) into the float32 column scratch `F`
 * (`cols` floats), which is added into the float64 column sums `C` every ROWS rows and at the end
 * of a group (the fused pass reads each row from memory once).
 */
// @ts-ignore: decorator
@inline function blockedPass(P: usize, rows: i32, cols: i32, groups: i32, r0: i32, r1: i32, x: usize, y: usize, S: usize, C: usize, F: usize, rowsToo: bool, columnsToo: bool, e: f64 = 0, weighted: bool = false): void {
  const rpg = rows / groups;
  const stride = (<usize>cols) << 2;
  if (columnsToo) memory.fill(F, 0, stride);
  for (let g = r0 / rpg; g < groups && g * rpg < r1; g++) {
    const xg = x + ((<usize>(g * cols)) << 2);
    const cg = C + ((<usize>(g * cols)) << 3);
    const end = min((g + 1) * rpg, r1);
    let pending = 0;
    let i = max(g * rpg, r0);
    if (weighted) {
      // Four rows' sums (each row one stream of P), their weights, then the four rows (in cache) into the scratch.
      for (; i + 3 < end; i += 4) {
        const p0 = P + <usize>i * stride;
        const out = S + ((<usize>i) << 3);
        const wi = y + ((<usize>i) << 4);
        const s0 = rowSum(p0, cols, xg);
        const s1 = rowSum(p0 + stride, cols, xg);
        const s2 = rowSum(p0 + 2 * stride, cols, xg);
        const s3 = rowSum(p0 + 3 * stride, cols, xg);
        store<f64>(out, s0); store<f64>(out, s1, 8); store<f64>(out, s2, 16); store<f64>(out, s3, 24);
        const t0 = <f32>columnWeight(s0, wi, e); const t1 = <f32>columnWeight(s1, wi + 16, e);
        const t2 = <f32>columnWeight(s2, wi + 32, e); const t3 = <f32>columnWeight(s3, wi + 48, e);
        if (t0 == 0 && t1 == 0 && t2 == 0 && t3 == 0) continue;
        addRows4IntoScratch(p0, stride, cols, t0, t1, t2, t3, F);
        pending += 4;
        if (pending >= ROWS) {
          flushScratch(F, cols, cg);
          pending = 0;
        }
      }
    }
    if (rowsToo && columnsToo && !weighted && cols >= WIDE) {
      for (; i + 3 < end; i += 4) {
        rows4IntoScratch(P + <usize>i * stride, stride, cols, xg, y + ((<usize>i) << 3), F, S + ((<usize>i) << 3));
        pending += 4;
        if (pending >= ROWS) {
          flushScratch(F, cols, cg);
          pending = 0;
        }
      }
    }
    for (; i < end; i++) {
      const p = P + <usize>i * stride;
      let t: f32 = 0;
      if (weighted) {
        // The last rows of a group: the row's sum, its weight, then the row (still in L1) into the scratch.
        const s = rowSum(p, cols, xg);
        store<f64>(S + ((<usize>i) << 3), s);
        t = <f32>columnWeight(s, y + ((<usize>i) << 4), e);
        if (t != 0) rowIntoScratch(p, cols, t, F);
      } else {
        t = columnsToo ? <f32>load<f64>(y + ((<usize>i) << 3)) : 0;
        if (rowsToo && t != 0) store<f64>(S + ((<usize>i) << 3), rowSumIntoScratch(p, cols, xg, t, F));
        else if (rowsToo) store<f64>(S + ((<usize>i) << 3), rowSum(p, cols, xg));
        if (t != 0 && !rowsToo) rowIntoScratch(p, cols, t, F);
      }
      if (t == 0) continue;
      if (++pending == ROWS) {
        flushScratch(F, cols, cg);
        pending = 0;
      }
    }
    if (pending > 0) flushScratch(F, cols, cg);
  }
}

/** Row pass: `S[i] = sum_j P[i,j] x[g * cols + j]`. */
export function rowPassBlocked32(P: usize, rows: i32, cols: i32, groups: i32, r0: i32, r1: i32, x: usize, S: usize): void {
  blockedPass(P, rows, cols, groups, r0, r1, x, 0, S, 0, 0, true, false);
}

/** Column pass: `C[g * cols + j] += sum_i y[i] * P[i,j]` over the rows `i` of group `g`; `F` is a scratch of `cols` floats. */
export function columnPassBlocked32(P: usize, rows: i32, cols: i32, groups: i32, r0: i32, r1: i32, y: usize, C: usize, F: usize): void {
  blockedPass(P, rows, cols, groups, r0, r1, 0, y, 0, C, F, false, true);
}

/** Both passes in one read of P from memory (p = q, where y does not depend on the row sums). */
export function fusedPassBlocked32(P: usize, rows: i32, cols: i32, groups: i32, r0: i32, r1: i32, x: usize, y: usize, S: usize, C: usize, F: usize): void {
  blockedPass(P, rows, cols, groups, r0, r1, x, y, S, C, F, true, true);
}

/**
 * Row then column pass in one read of P from memory (p != q, the rows' units written by this
 * block alone): each row's sum, its weight `A (S + B)^e` from the 16 bytes per row at `w`, and
 * the row times its weight into the columns.
 */
export function rowColumnPassBlocked32(P: usize, rows: i32, cols: i32, groups: i32, r0: i32, r1: i32, x: usize, w: usize, e: f64, S: usize, C: usize, F: usize): void {
  blockedPass(P, rows, cols, groups, r0, r1, x, w, S, C, F, true, true, e, true);
}
