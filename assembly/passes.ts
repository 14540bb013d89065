// The passes of a CPU sweep over P in WebAssembly SIMD (AssemblyScript; compiled by
// scripts/build-wasm.mjs into src/engines/cpu/wasm/kernels.generated.ts). The same arithmetic
// as src/engines/cpu/passes.ts: P is float32 (`...32`) or float64 (`...64`), row-major
// `rows x cols` per block, `groups` groups of `rows / groups` rows each reading its own `cols`
// columns; the vectors x, y, S, C and every sum are float64. Each pass covers the rows [r0, r1)
// of its block (the whole block: 0, rows), so that threads can split a pass by rows: S is
// written for those rows only, C accumulates their terms. All pointers are byte offsets into
// the imported memory; x and C point at the block's first column unit, y at its first row unit.
// Four rows at a time, four columns (two f64x2 lanes) per row and step, walked by byte pointers:
// one load of x (and one load/store of C) per four rows. Every entry of P is read once per
// pass; the row-then-column pass (p != q) reads four rows for their sums, then the same rows
// from cache for the columns.
//
// P may also be read from float32 weights, squared as each is loaded (`Squares`, for p = 2: the
// same float32 square `fround(w * w)` that `squares32` stores) or as their absolute values
// (`Magnitudes`, for p = 1), so the passes give the same sums bit for bit without P in memory.
//
// Built twice (scripts/build-wasm.mjs): with plain SIMD, `madd` is a multiply then an add; with
// relaxed SIMD (`--enable relaxed-simd`) it is `f64x2.relaxed_madd`, a fused multiply-add where
// the machine has one (one instruction instead of two: only the rounding of each term changes).

import { columnWeight } from './columnWeight';

/**
 * The element type of P when P is not stored but read from float32 weights, each squared in
 * float32 as it is loaded (p = 2, scale 1): a marker for the generic passes (4 bytes an entry).
 */
type Squares = u32;
/** The element type of P read from float32 weights as their absolute values (p = 1, scale 1): a marker, as {@link Squares}. */
type Magnitudes = i32;

/** Bytes of one entry of P. */
// @ts-ignore: decorator
@inline function bytesOf<T>(): usize {
  return sizeof<T>();
}

/** The two entries of P at byte address `p` as an f64x2 (float32 entries are widened exactly). */
// @ts-ignore: decorator
@inline function lanes<T>(p: usize): v128 {
  if (isInteger<T>()) {
    const w = v128.load64_zero(p);
    return f64x2.promote_low_f32x4(isSigned<T>() ? f32x4.abs(w) : f32x4.mul(w, w));
  }
  if (sizeof<T>() == 4) return f64x2.promote_low_f32x4(v128.load64_zero(p));
  return v128.load(p);
}

/** The entry of P at byte address `p` as float64. */
// @ts-ignore: decorator
@inline function entry<T>(p: usize): f64 {
  if (isInteger<T>()) {
    const w = load<f32>(p);
    return isSigned<T>() ? <f64>Mathf.abs(w) : <f64>(w * w);
  }
  return <f64>load<T>(p);
}

/** `a b + c` in float64 lanes: fused where relaxed SIMD is compiled in (and the machine has it), else a multiply then an add. */
// @ts-ignore: decorator
@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f64x2.relaxed_madd(a, b, c);
  return f64x2.add(f64x2.mul(a, b), c);
}

// @ts-ignore: decorator
@inline function sum2(v: v128): f64 {
  return f64x2.extract_lane(v, 0) + f64x2.extract_lane(v, 1);
}

/** Byte address of the last multiple of four entries of a row starting at `p`. */
// @ts-ignore: decorator
@inline function end4<T>(p: usize, cols: i32): usize {
  return p + (<usize>(cols & ~3)) * bytesOf<T>();
}

/**
 * The sums of the four rows from byte address `p` (`stride` bytes apart) with `x` at `xg` into
 * `out[0..3]`: eight independent sums, one load of `x` per four rows.
 */
// @ts-ignore: decorator
@inline function rowSums4<T>(p: usize, stride: usize, cols: i32, xg: usize, out: usize): void {
  const E = bytesOf<T>();
  const s2 = stride << 1;
  const s3 = s2 + stride;
  const end = end4<T>(p, cols);
  let a0 = f64x2.splat(0); let b0 = f64x2.splat(0);
  let a1 = f64x2.splat(0); let b1 = f64x2.splat(0);
  let a2 = f64x2.splat(0); let b2 = f64x2.splat(0);
  let a3 = f64x2.splat(0); let b3 = f64x2.splat(0);
  let q = p;
  let xp = xg;
  for (; q < end; q += E << 2) {
    const x0 = v128.load(xp); const x1 = v128.load(xp, 16);
    a0 = madd(lanes<T>(q), x0, a0); b0 = madd(lanes<T>(q + (E << 1)), x1, b0);
    a1 = madd(lanes<T>(q + stride), x0, a1); b1 = madd(lanes<T>(q + stride + (E << 1)), x1, b1);
    a2 = madd(lanes<T>(q + s2), x0, a2); b2 = madd(lanes<T>(q + s2 + (E << 1)), x1, b2);
    a3 = madd(lanes<T>(q + s3), x0, a3); b3 = madd(lanes<T>(q + s3 + (E << 1)), x1, b3);
    xp += 32;
  }
  if (cols & 2) {
    const x0 = v128.load(xp);
    a0 = madd(lanes<T>(q), x0, a0); a1 = madd(lanes<T>(q + stride), x0, a1);
    a2 = madd(lanes<T>(q + s2), x0, a2); a3 = madd(lanes<T>(q + s3), x0, a3);
    q += E << 1; xp += 16;
  }
  let t0 = sum2(f64x2.add(a0, b0)); let t1 = sum2(f64x2.add(a1, b1));
  let t2 = sum2(f64x2.add(a2, b2)); let t3 = sum2(f64x2.add(a3, b3));
  if (cols & 1) {
    const xj = load<f64>(xp);
    t0 += entry<T>(q) * xj; t1 += entry<T>(q + stride) * xj;
    t2 += entry<T>(q + s2) * xj; t3 += entry<T>(q + s3) * xj;
  }
  store<f64>(out, t0); store<f64>(out, t1, 8); store<f64>(out, t2, 16); store<f64>(out, t3, 24);
}

/** The sum of the row from byte address `p` with `x` at `xg`. */
// @ts-ignore: decorator
@inline function rowSum1<T>(p: usize, cols: i32, xg: usize): f64 {
  const E = bytesOf<T>();
  const end = end4<T>(p, cols);
  let a0 = f64x2.splat(0); let b0 = f64x2.splat(0);
  let q = p;
  let xp = xg;
  for (; q < end; q += E << 2) {
    a0 = madd(lanes<T>(q), v128.load(xp), a0);
    b0 = madd(lanes<T>(q + (E << 1)), v128.load(xp, 16), b0);
    xp += 32;
  }
  if (cols & 2) {
    a0 = madd(lanes<T>(q), v128.load(xp), a0);
    q += E << 1; xp += 16;
  }
  let t = sum2(f64x2.add(a0, b0));
  if (cols & 1) t += entry<T>(q) * load<f64>(xp);
  return t;
}

/** `C[j] += t0 P[i,j] + ... + t3 P[i+3,j]` over the four rows from byte address `p` (`stride` bytes apart), `C` at `cg`: one load and store of `C` per four rows. */
// @ts-ignore: decorator
@inline function addRows4<T>(p: usize, stride: usize, cols: i32, cg: usize, t0: f64, t1: f64, t2: f64, t3: f64): void {
  if (t0 == 0 && t1 == 0 && t2 == 0 && t3 == 0) return;
  const E = bytesOf<T>();
  const s2 = stride << 1;
  const s3 = s2 + stride;
  const v0 = f64x2.splat(t0); const v1 = f64x2.splat(t1); const v2 = f64x2.splat(t2); const v3 = f64x2.splat(t3);
  const end = end4<T>(p, cols);
  let q = p;
  let cp = cg;
  for (; q < end; q += E << 2) {
    const h = q + (E << 1);
    let cl = madd(v0, lanes<T>(q), v128.load(cp)); let ch = madd(v0, lanes<T>(h), v128.load(cp, 16));
    cl = madd(v1, lanes<T>(q + stride), cl); ch = madd(v1, lanes<T>(h + stride), ch);
    cl = madd(v2, lanes<T>(q + s2), cl); ch = madd(v2, lanes<T>(h + s2), ch);
    cl = madd(v3, lanes<T>(q + s3), cl); ch = madd(v3, lanes<T>(h + s3), ch);
    v128.store(cp, cl); v128.store(cp, ch, 16);
    cp += 32;
  }
  if (cols & 2) {
    let c = madd(v0, lanes<T>(q), v128.load(cp));
    c = madd(v1, lanes<T>(q + stride), c); c = madd(v2, lanes<T>(q + s2), c); c = madd(v3, lanes<T>(q + s3), c);
    v128.store(cp, c);
    q += E << 1; cp += 16;
  }
  if (cols & 1) store<f64>(cp, load<f64>(cp) + t0 * entry<T>(q) + t1 * entry<T>(q + stride) + t2 * entry<T>(q + s2) + t3 * entry<T>(q + s3));
}

/** `C[j] += t P[i,j]` over the row from byte address `p`. */
// @ts-ignore: decorator
@inline function addRow1<T>(p: usize, cols: i32, cg: usize, t: f64): void {
  if (t == 0) return;
  const E = bytesOf<T>();
  const v = f64x2.splat(t);
  const end = end4<T>(p, cols);
  let q = p;
  let cp = cg;
  for (; q < end; q += E << 2) {
    v128.store(cp, madd(v, lanes<T>(q), v128.load(cp)));
    v128.store(cp, madd(v, lanes<T>(q + (E << 1)), v128.load(cp, 16)), 16);
    cp += 32;
  }
  if (cols & 2) {
    v128.store(cp, madd(v, lanes<T>(q), v128.load(cp)));
    q += E << 1; cp += 16;
  }
  if (cols & 1) store<f64>(cp, load<f64>(cp) + t * entry<T>(q));
}

/** Byte address of row `i` of P. */
// @ts-ignore: decorator
@inline function rowAt<T>(P: usize, i: i32, stride: usize): usize {
  return P + <usize>i * stride;
}

/** Row pass: `S[i] = sum_j P[i,j] * x[g * cols + j]`. */
function rowPass<T>(P: usize, rows: i32, cols: i32, groups: i32, r0: i32, r1: i32, x: usize, S: usize): void {
  const rpg = rows / groups;
  const stride = (<usize>cols) * bytesOf<T>();
  for (let g = r0 / rpg; g < groups && g * rpg < r1; g++) {
    const xg = x + ((<usize>(g * cols)) << 3);
    const end = min((g + 1) * rpg, r1);
    let i = max(g * rpg, r0);
    for (; i + 3 < end; i += 4) rowSums4<T>(rowAt<T>(P, i, stride), stride, cols, xg, S + ((<usize>i) << 3));
    for (; i < end; i++) store<f64>(S + ((<usize>i) << 3), rowSum1<T>(rowAt<T>(P, i, stride), cols, xg));
  }
}

/** Column pass: `C[g * cols + j] += sum_i y[i] * P[i,j]` over the rows `i` of group `g`. */
function columnPass<T>(P: usize, rows: i32, cols: i32, groups: i32, r0: i32, r1: i32, y: usize, C: usize): void {
  const rpg = rows / groups;
  const stride = (<usize>cols) * bytesOf<T>();
  for (let g = r0 / rpg; g < groups && g * rpg < r1; g++) {
    const cg = C + ((<usize>(g * cols)) << 3);
    const end = min((g + 1) * rpg, r1);
    let i = max(g * rpg, r0);
    for (; i + 3 < end; i += 4) {
      const p = rowAt<T>(P, i, stride);
      const yi = y + ((<usize>i) << 3);
      addRows4<T>(p, stride, cols, cg, load<f64>(yi), load<f64>(yi, 8), load<f64>(yi, 16), load<f64>(yi, 24));
    }
    for (; i < end; i++) addRow1<T>(rowAt<T>(P, i, stride), cols, cg, load<f64>(y + ((<usize>i) << 3)));
  }
}

/**
 * Row then column pass (p != q; the rows' units written by this block alone): four rows' sums
 * into `S`, their column weights `y = A (S + B)^e` ({@link columnWeight}; `A`, `B` per row at
 * `w`, 16 bytes a row), then `C[g * cols + j] += y[i] P[i,j]` over the same four rows while they
 * are still in cache: one read of P from memory, where a row pass and a column pass read it twice.
 */
function rowColumnPass<T>(P: usize, rows: i32, cols: i32, groups: i32, r0: i32, r1: i32, x: usize, w: usize, e: f64, S: usize, C: usize): void {
  const rpg = rows / groups;
  const stride = (<usize>cols) * bytesOf<T>();
  for (let g = r0 / rpg; g < groups && g * rpg < r1; g++) {
    const off = (<usize>(g * cols)) << 3;
    const xg = x + off;
    const cg = C + off;
    const end = min((g + 1) * rpg, r1);
    let i = max(g * rpg, r0);
    for (; i + 3 < end; i += 4) {
      const p = rowAt<T>(P, i, stride);
      const out = S + ((<usize>i) << 3);
      const wi = w + ((<usize>i) << 4);
      rowSums4<T>(p, stride, cols, xg, out);
      const t0 = columnWeight(load<f64>(out), wi, e);
      const t1 = columnWeight(load<f64>(out, 8), wi + 16, e);
      const t2 = columnWeight(load<f64>(out, 16), wi + 32, e);
      const t3 = columnWeight(load<f64>(out, 24), wi + 48, e);
      addRows4<T>(p, stride, cols, cg, t0, t1, t2, t3);
    }
    for (; i < end; i++) {
      const p = rowAt<T>(P, i, stride);
      const s = rowSum1<T>(p, cols, xg);
      store<f64>(S + ((<usize>i) << 3), s);
      addRow1<T>(p, cols, cg, columnWeight(s, w + ((<usize>i) << 4), e));
    }
  }
}

/**
 * Both sums of the four rows from byte address `p` (`stride` bytes apart) in one walk: their row
 * sums with `x` at `xg` into `out[0..3]`, and `C[j] += y[i] P[i,j]` (`y` at `yi`) into `C` at
 * `cg`. Two columns a step (four rows, eight float64 lanes of P, x and C in registers; four
 * columns a step measured slower here).
 */
// @ts-ignore: decorator
@inline function fused4<T>(p: usize, stride: usize, cols: i32, xg: usize, yi: usize, cg: usize, out: usize): void {
  const E = bytesOf<T>();
  const s2 = stride << 1;
  const s3 = s2 + stride;
  const t0 = load<f64>(yi); const t1 = load<f64>(yi, 8); const t2 = load<f64>(yi, 16); const t3 = load<f64>(yi, 24);
  const v0 = f64x2.splat(t0); const v1 = f64x2.splat(t1); const v2 = f64x2.splat(t2); const v3 = f64x2.splat(t3);
  const end = p + (<usize>(cols & ~1)) * E;
  let a0 = f64x2.splat(0); let a1 = f64x2.splat(0); let a2 = f64x2.splat(0); let a3 = f64x2.splat(0);
  let q = p;
  let xp = xg;
  let cp = cg;
  for (; q < end; q += E << 1) {
    const xj = v128.load(xp);
    const p0 = lanes<T>(q); const p1 = lanes<T>(q + stride); const p2 = lanes<T>(q + s2); const p3 = lanes<T>(q + s3);
    a0 = madd(p0, xj, a0); a1 = madd(p1, xj, a1); a2 = madd(p2, xj, a2); a3 = madd(p3, xj, a3);
    const top = madd(v1, p1, f64x2.mul(v0, p0));
    const bottom = madd(v3, p3, f64x2.mul(v2, p2));
    v128.store(cp, f64x2.add(v128.load(cp), f64x2.add(top, bottom)));
    xp += 16; cp += 16;
  }
  let r0 = sum2(a0); let r1 = sum2(a1); let r2 = sum2(a2); let r3 = sum2(a3);
  if (cols & 1) {
    const xj = load<f64>(xp);
    const p0 = entry<T>(q); const p1 = entry<T>(q + stride); const p2 = entry<T>(q + s2); const p3 = entry<T>(q + s3);
    r0 += p0 * xj; r1 += p1 * xj; r2 += p2 * xj; r3 += p3 * xj;
    store<f64>(cp, load<f64>(cp) + (t0 * p0 + t1 * p1 + t2 * p2 + t3 * p3));
  }
  store<f64>(out, r0); store<f64>(out, r1, 8); store<f64>(out, r2, 16); store<f64>(out, r3, 24);
}

/** Both passes in one read of P (p = q, where y does not depend on the row sums). */
function fusedPass<T>(P: usize, rows: i32, cols: i32, groups: i32, r0: i32, r1: i32, x: usize, y: usize, S: usize, C: usize): void {
  const rpg = rows / groups;
  const stride = (<usize>cols) * bytesOf<T>();
  for (let g = r0 / rpg; g < groups && g * rpg < r1; g++) {
    const off = (<usize>(g * cols)) << 3;
    const xg = x + off;
    const cg = C + off;
    const end = min((g + 1) * rpg, r1);
    let i = max(g * rpg, r0);
    for (; i + 3 < end; i += 4) fused4<T>(rowAt<T>(P, i, stride), stride, cols, xg, y + ((<usize>i) << 3), cg, S + ((<usize>i) << 3));
    for (; i < end; i++) {
      // One row (at most three per group): its sum, then its column terms from cache.
      const p = rowAt<T>(P, i, stride);
      store<f64>(S + ((<usize>i) << 3), rowSum1<T>(p, cols, xg));
      addRow1<T>(p, cols, cg, load<f64>(y + ((<usize>i) << 3)));
    }
  }
}

/**
 * Build P from `n` float32 (`wide` 0) or float64 (`wide` 1) weights at `W`, times `scale`, to
 * the power `p`, summing `taps` consecutive weights per entry: exact squares and absolute values
 * for p = 2 and p = 1 (SIMD), `exp(p log |w|)` otherwise.
 */
function buildPower<T>(W: usize, wide: i32, n: i32, taps: i32, p: f64, scale: f64, P: usize): void {
  const entries = n / taps;
  for (let k = 0; k < entries; k++) {
    let s = 0.0;
    for (let t = 0; t < taps; t++) {
      const e = <usize>(k * taps + t);
      const w = Math.abs((wide ? load<f64>(W + (e << 3)) : <f64>load<f32>(W + (e << 2))) * scale);
      s += p == 2 ? w * w : p == 1 ? w : w == 0 ? 0 : Math.exp(p * Math.log(w));
    }
    store<T>(P + ((<usize>k) << alignof<T>()), <T>s);
  }
}

/** `P = (scale |w|)^2` from float32 weights into float32 P, four at a time (the common case). */
export function squares32(W: usize, n: i32, scale: f32, P: usize): void {
  const s = f32x4.splat(scale);
  let k = 0;
  for (; k + 3 < n; k += 4) {
    const w = f32x4.mul(v128.load(W + ((<usize>k) << 2)), s);
    v128.store(P + ((<usize>k) << 2), f32x4.mul(w, w));
  }
  for (; k < n; k++) {
    const w = load<f32>(W + ((<usize>k) << 2)) * scale;
    store<f32>(P + ((<usize>k) << 2), w * w);
  }
}

export function rowPass32(P: usize, rows: i32, cols: i32, groups: i32, r0: i32, r1: i32, x: usize, S: usize): void { rowPass<f32>(P, rows, cols, groups, r0, r1, x, S); }
export function rowPass64(P: usize, rows: i32, cols: i32, groups: i32, r0: i32, r1: i32, x: usize, S: usize): void { rowPass<f64>(P, rows, cols, groups, r0, r1, x, S); }
export function columnPass32(P: usize, rows: i32, cols: i32, groups: i32, r0: i32, r1: i32, y: usize, C: usize): void { columnPass<f32>(P, rows, cols, groups, r0, r1, y, C); }
export function columnPass64(P: usize, rows: i32, cols: i32, groups: i32, r0: i32, r1: i32, y: usize, C: usize): void { columnPass<f64>(P, rows, cols, groups, r0, r1, y, C); }
export function fusedPass32(P: usize, rows: i32, cols: i32, groups: i32, r0: i32, r1: i32, x: usize, y: usize, S: usize, C: usize): void { fusedPass<f32>(P, rows, cols, groups, r0, r1, x, y, S, C); }
export function fusedPass64(P: usize, rows: i32, cols: i32, groups: i32, r0: i32, r1: i32, x: usize, y: usize, S: usize, C: usize): void { fusedPass<f64>(P, rows, cols, groups, r0, r1, x, y, S, C); }
export function rowColumnPass32(P: usize, rows: i32, cols: i32, groups: i32, r0: i32, r1: i32, x: usize, w: usize, e: f64, S: usize, C: usize): void { rowColumnPass<f32>(P, rows, cols, groups, r0, r1, x, w, e, S, C); }
export function rowColumnPass64(P: usize, rows: i32, cols: i32, groups: i32, r0: i32, r1: i32, x: usize, w: usize, e: f64, S: usize, C: usize): void { rowColumnPass<f64>(P, rows, cols, groups, r0, r1, x, w, e, S, C); }
export function rowPassSquares(P: usize, rows: i32, cols: i32, groups: i32, r0: i32, r1: i32, x: usize, S: usize): void { rowPass<Squares>(P, rows, cols, groups, r0, r1, x, S); }
export function columnPassSquares(P: usize, rows: i32, cols: i32, groups: i32, r0: i32, r1: i32, y: usize, C: usize): void { columnPass<Squares>(P, rows, cols, groups, r0, r1, y, C); }
export function fusedPassSquares(P: usize, rows: i32, cols: i32, groups: i32, r0: i32, r1: i32, x: usize, y: usize, S: usize, C: usize): void { fusedPass<Squares>(P, rows, cols, groups, r0, r1, x, y, S, C); }
export function rowColumnPassSquares(P: usize, rows: i32, cols: i32, groups: i32, r0: i32, r1: i32, x: usize, w: usize, e: f64, S: usize, C: usize): void { rowColumnPass<Squares>(P, rows, cols, groups, r0, r1, x, w, e, S, C); }
export function rowPassMagnitudes(P: usize, rows: i32, cols: i32, groups: i32, r0: i32, r1: i32, x: usize, S: usize): void { rowPass<Magnitudes>(P, rows, cols, groups, r0, r1, x, S); }
export function columnPassMagnitudes(P: usize, rows: i32, cols: i32, groups: i32, r0: i32, r1: i32, y: usize, C: usize): void { columnPass<Magnitudes>(P, rows, cols, groups, r0, r1, y, C); }
export function fusedPassMagnitudes(P: usize, rows: i32, cols: i32, groups: i32, r0: i32, r1: i32, x: usize, y: usize, S: usize, C: usize): void { fusedPass<Magnitudes>(P, rows, cols, groups, r0, r1, x, y, S, C); }
export function rowColumnPassMagnitudes(P: usize, rows: i32, cols: i32, groups: i32, r0: i32, r1: i32, x: usize, w: usize, e: f64, S: usize, C: usize): void { rowColumnPass<Magnitudes>(P, rows, cols, groups, r0, r1, x, w, e, S, C); }
export function buildPower32(W: usize, wide: i32, n: i32, taps: i32, p: f64, scale: f64, P: usize): void { buildPower<f32>(W, wide, n, taps, p, scale, P); }
export function buildPower64(W: usize, wide: i32, n: i32, taps: i32, p: f64, scale: f64, P: usize): void { buildPower<f64>(W, wide, n, taps, p, scale, P); }

export { toFloat32, rowPassBlocked32, columnPassBlocked32, fusedPassBlocked32, rowColumnPassBlocked32 } from './blocked32';
export { rescaleRows32 } from './rescale';
export { foldRange } from './range';
