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

/** Columns per float32 partial row sum: 8 products per lane in each of 4 accumulators, then a float64 addition. */
const BLOCK = 128;
/** Rows added into the float32 column scratch before it is added into the float64 column sums. */
const ROWS = 8;

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
 * (`rowsToo`), then (`columnsToo`) the row times `y` into the float32 column scratch `F`
 * (`cols` floats), which is added into the float64 column sums `C` every ROWS rows and at the end
 * of a group (the fused pass reads each row from memory once).
 */
// @ts-ignore: decorator
@inline function blockedPass(P: usize, rows: i32, cols: i32, groups: i32, r0: i32, r1: i32, x: usize, y: usize, S: usize, C: usize, F: usize, rowsToo: bool, columnsToo: bool): void {
  const rpg = rows / groups;
  const stride = (<usize>cols) << 2;
  if (columnsToo) memory.fill(F, 0, stride);
  for (let g = r0 / rpg; g < groups && g * rpg < r1; g++) {
    const xg = x + ((<usize>(g * cols)) << 2);
    const cg = C + ((<usize>(g * cols)) << 3);
    const end = min((g + 1) * rpg, r1);
    let pending = 0;
    for (let i = max(g * rpg, r0); i < end; i++) {
      const p = P + <usize>i * stride;
      const t = columnsToo ? <f32>load<f64>(y + ((<usize>i) << 3)) : 0;
      if (rowsToo && t != 0) store<f64>(S + ((<usize>i) << 3), rowSumIntoScratch(p, cols, xg, t, F));
      else if (rowsToo) store<f64>(S + ((<usize>i) << 3), rowSum(p, cols, xg));
      if (t == 0) continue;
      if (!rowsToo) rowIntoScratch(p, cols, t, F);
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
