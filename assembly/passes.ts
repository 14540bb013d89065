// The passes of a CPU sweep over P in WebAssembly SIMD (AssemblyScript; compiled by
// scripts/build-wasm.mjs into src/engines/cpu/wasm/kernels.generated.ts). The same arithmetic
// as src/engines/cpu/passes.ts: P is float32 (`...32`) or float64 (`...64`), row-major
// `rows x cols` per block, `groups` groups of `rows / groups` rows each reading its own `cols`
// columns; the vectors x, y, S, C and every sum are float64. Each pass covers the rows [r0, r1)
// of its block (the whole block: 0, rows), so that threads can split a pass by rows: S is
// written for those rows only, C accumulates their terms. All pointers are byte offsets into
// the imported memory; x and C point at the block's first column unit, y at its first row unit.
// Four rows at a time, two f64x2 lanes per row: eight independent sums, one load of x (and one
// load/store of C) per four rows. Every entry of P is read once per pass; the row-then-column
// pass (p != q) reads four rows for their sums, then the same rows from cache for the columns.

import { columnWeight } from './columnWeight';

/** Two entries of P from index k as an f64x2 (float32 entries are widened exactly). */
// @ts-ignore: decorator
@inline function load2<T>(P: usize, k: usize): v128 {
  if (sizeof<T>() == 4) return f64x2.promote_low_f32x4(v128.load64_zero(P + (k << 2)));
  return v128.load(P + (k << 3));
}

/** One entry of P as float64. */
// @ts-ignore: decorator
@inline function load1<T>(P: usize, k: usize): f64 {
  return <f64>load<T>(P + (k << alignof<T>()));
}

// @ts-ignore: decorator
@inline function sum2(v: v128): f64 {
  return f64x2.extract_lane(v, 0) + f64x2.extract_lane(v, 1);
}

/** The sums of four rows from entry `k0` (`cols` apart) into `out[0..3]`: eight independent sums, one load of `x` per four rows. */
// @ts-ignore: decorator
@inline function rowSums4<T>(P: usize, k0: usize, cols: i32, xg: usize, out: usize): void {
  const k1 = k0 + <usize>cols;
  const k2 = k1 + <usize>cols;
  const k3 = k2 + <usize>cols;
  let a0 = f64x2.splat(0); let b0 = f64x2.splat(0);
  let a1 = f64x2.splat(0); let b1 = f64x2.splat(0);
  let a2 = f64x2.splat(0); let b2 = f64x2.splat(0);
  let a3 = f64x2.splat(0); let b3 = f64x2.splat(0);
  let j = 0;
  for (; j + 3 < cols; j += 4) {
    const xa = v128.load(xg + ((<usize>j) << 3));
    const xb = v128.load(xg + ((<usize>j) << 3), 16);
    const u = <usize>j;
    a0 = f64x2.add(a0, f64x2.mul(load2<T>(P, k0 + u), xa)); b0 = f64x2.add(b0, f64x2.mul(load2<T>(P, k0 + u + 2), xb));
    a1 = f64x2.add(a1, f64x2.mul(load2<T>(P, k1 + u), xa)); b1 = f64x2.add(b1, f64x2.mul(load2<T>(P, k1 + u + 2), xb));
    a2 = f64x2.add(a2, f64x2.mul(load2<T>(P, k2 + u), xa)); b2 = f64x2.add(b2, f64x2.mul(load2<T>(P, k2 + u + 2), xb));
    a3 = f64x2.add(a3, f64x2.mul(load2<T>(P, k3 + u), xa)); b3 = f64x2.add(b3, f64x2.mul(load2<T>(P, k3 + u + 2), xb));
  }
  let s0 = sum2(f64x2.add(a0, b0)); let s1 = sum2(f64x2.add(a1, b1));
  let s2 = sum2(f64x2.add(a2, b2)); let s3 = sum2(f64x2.add(a3, b3));
  for (; j < cols; j++) {
    const xj = load<f64>(xg + ((<usize>j) << 3));
    const u = <usize>j;
    s0 += load1<T>(P, k0 + u) * xj; s1 += load1<T>(P, k1 + u) * xj;
    s2 += load1<T>(P, k2 + u) * xj; s3 += load1<T>(P, k3 + u) * xj;
  }
  store<f64>(out, s0); store<f64>(out, s1, 8); store<f64>(out, s2, 16); store<f64>(out, s3, 24);
}

/** The sum of one row from entry `k0`. */
// @ts-ignore: decorator
@inline function rowSum1<T>(P: usize, k0: usize, cols: i32, xg: usize): f64 {
  let a0 = f64x2.splat(0);
  let j = 0;
  for (; j + 1 < cols; j += 2) a0 = f64x2.add(a0, f64x2.mul(load2<T>(P, k0 + <usize>j), v128.load(xg + ((<usize>j) << 3))));
  let s0 = sum2(a0);
  if (j < cols) s0 += load1<T>(P, k0 + <usize>j) * load<f64>(xg + ((<usize>j) << 3));
  return s0;
}

/** `C[j] += t0 P[k0 + j] + ... + t3 P[k3 + j]` over four rows (`cols` apart): one load and store of `C` per four rows. */
// @ts-ignore: decorator
@inline function addRows4<T>(P: usize, k0: usize, cols: i32, cg: usize, t0: f64, t1: f64, t2: f64, t3: f64): void {
  if (t0 == 0 && t1 == 0 && t2 == 0 && t3 == 0) return;
  const v0 = f64x2.splat(t0); const v1 = f64x2.splat(t1); const v2 = f64x2.splat(t2); const v3 = f64x2.splat(t3);
  const k1 = k0 + <usize>cols;
  const k2 = k1 + <usize>cols;
  const k3 = k2 + <usize>cols;
  let j = 0;
  for (; j + 1 < cols; j += 2) {
    const u = <usize>j;
    const at = cg + (u << 3);
    const top = f64x2.add(f64x2.mul(v0, load2<T>(P, k0 + u)), f64x2.mul(v1, load2<T>(P, k1 + u)));
    const bottom = f64x2.add(f64x2.mul(v2, load2<T>(P, k2 + u)), f64x2.mul(v3, load2<T>(P, k3 + u)));
    v128.store(at, f64x2.add(v128.load(at), f64x2.add(top, bottom)));
  }
  if (j < cols) {
    const u = <usize>j;
    const at = cg + (u << 3);
    store<f64>(at, load<f64>(at) + (t0 * load1<T>(P, k0 + u) + t1 * load1<T>(P, k1 + u) + t2 * load1<T>(P, k2 + u) + t3 * load1<T>(P, k3 + u)));
  }
}

/** `C[j] += t P[k0 + j]` over one row. */
// @ts-ignore: decorator
@inline function addRow1<T>(P: usize, k0: usize, cols: i32, cg: usize, t: f64): void {
  if (t == 0) return;
  const v = f64x2.splat(t);
  let j = 0;
  for (; j + 1 < cols; j += 2) {
    const at = cg + ((<usize>j) << 3);
    v128.store(at, f64x2.add(v128.load(at), f64x2.mul(v, load2<T>(P, k0 + <usize>j))));
  }
  if (j < cols) {
    const at = cg + ((<usize>j) << 3);
    store<f64>(at, load<f64>(at) + t * load1<T>(P, k0 + <usize>j));
  }
}

/** Row pass: `S[i] = sum_j P[i,j] * x[g * cols + j]`. */
function rowPass<T>(P: usize, rows: i32, cols: i32, groups: i32, r0: i32, r1: i32, x: usize, S: usize): void {
  const rpg = rows / groups;
  for (let g = r0 / rpg; g < groups && g * rpg < r1; g++) {
    const xg = x + ((<usize>(g * cols)) << 3);
    const end = min((g + 1) * rpg, r1);
    let i = max(g * rpg, r0);
    for (; i + 3 < end; i += 4) rowSums4<T>(P, <usize>i * <usize>cols, cols, xg, S + ((<usize>i) << 3));
    for (; i < end; i++) store<f64>(S + ((<usize>i) << 3), rowSum1<T>(P, <usize>i * <usize>cols, cols, xg));
  }
}

/** Column pass: `C[g * cols + j] += sum_i y[i] * P[i,j]` over the rows `i` of group `g`. */
function columnPass<T>(P: usize, rows: i32, cols: i32, groups: i32, r0: i32, r1: i32, y: usize, C: usize): void {
  const rpg = rows / groups;
  for (let g = r0 / rpg; g < groups && g * rpg < r1; g++) {
    const cg = C + ((<usize>(g * cols)) << 3);
    const end = min((g + 1) * rpg, r1);
    let i = max(g * rpg, r0);
    for (; i + 3 < end; i += 4) {
      const yi = y + ((<usize>i) << 3);
      addRows4<T>(P, <usize>i * <usize>cols, cols, cg, load<f64>(yi), load<f64>(yi, 8), load<f64>(yi, 16), load<f64>(yi, 24));
    }
    for (; i < end; i++) addRow1<T>(P, <usize>i * <usize>cols, cols, cg, load<f64>(y + ((<usize>i) << 3)));
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
  for (let g = r0 / rpg; g < groups && g * rpg < r1; g++) {
    const off = (<usize>(g * cols)) << 3;
    const xg = x + off;
    const cg = C + off;
    const end = min((g + 1) * rpg, r1);
    let i = max(g * rpg, r0);
    for (; i + 3 < end; i += 4) {
      const k0 = <usize>i * <usize>cols;
      const out = S + ((<usize>i) << 3);
      const wi = w + ((<usize>i) << 4);
      rowSums4<T>(P, k0, cols, xg, out);
      const t0 = columnWeight(load<f64>(out), wi, e);
      const t1 = columnWeight(load<f64>(out, 8), wi + 16, e);
      const t2 = columnWeight(load<f64>(out, 16), wi + 32, e);
      const t3 = columnWeight(load<f64>(out, 24), wi + 48, e);
      addRows4<T>(P, k0, cols, cg, t0, t1, t2, t3);
    }
    for (; i < end; i++) {
      const k0 = <usize>i * <usize>cols;
      const s = rowSum1<T>(P, k0, cols, xg);
      store<f64>(S + ((<usize>i) << 3), s);
      addRow1<T>(P, k0, cols, cg, columnWeight(s, w + ((<usize>i) << 4), e));
    }
  }
}

/** Both passes in one read of P (p = q, where y does not depend on the row sums). */
function fusedPass<T>(P: usize, rows: i32, cols: i32, groups: i32, r0: i32, r1: i32, x: usize, y: usize, S: usize, C: usize): void {
  const rpg = rows / groups;
  for (let g = r0 / rpg; g < groups && g * rpg < r1; g++) {
    const off = (<usize>(g * cols)) << 3;
    const xg = x + off;
    const cg = C + off;
    const end = min((g + 1) * rpg, r1);
    let i = max(g * rpg, r0);
    for (; i + 3 < end; i += 4) {
      const yi = y + ((<usize>i) << 3);
      const t0 = load<f64>(yi); const t1 = load<f64>(yi, 8); const t2 = load<f64>(yi, 16); const t3 = load<f64>(yi, 24);
      const v0 = f64x2.splat(t0); const v1 = f64x2.splat(t1); const v2 = f64x2.splat(t2); const v3 = f64x2.splat(t3);
      const k0 = <usize>i * <usize>cols;
      const k1 = k0 + <usize>cols;
      const k2 = k1 + <usize>cols;
      const k3 = k2 + <usize>cols;
      let a0 = f64x2.splat(0); let a1 = f64x2.splat(0); let a2 = f64x2.splat(0); let a3 = f64x2.splat(0);
      let j = 0;
      for (; j + 1 < cols; j += 2) {
        const u = <usize>j;
        const xj = v128.load(xg + (u << 3));
        const p0 = load2<T>(P, k0 + u); const p1 = load2<T>(P, k1 + u);
        const p2 = load2<T>(P, k2 + u); const p3 = load2<T>(P, k3 + u);
        a0 = f64x2.add(a0, f64x2.mul(p0, xj)); a1 = f64x2.add(a1, f64x2.mul(p1, xj));
        a2 = f64x2.add(a2, f64x2.mul(p2, xj)); a3 = f64x2.add(a3, f64x2.mul(p3, xj));
        const at = cg + (u << 3);
        const top = f64x2.add(f64x2.mul(v0, p0), f64x2.mul(v1, p1));
        const bottom = f64x2.add(f64x2.mul(v2, p2), f64x2.mul(v3, p3));
        v128.store(at, f64x2.add(v128.load(at), f64x2.add(top, bottom)));
      }
      let s0 = sum2(a0); let s1 = sum2(a1); let s2 = sum2(a2); let s3 = sum2(a3);
      if (j < cols) {
        const u = <usize>j;
        const xj = load<f64>(xg + (u << 3));
        const p0 = load1<T>(P, k0 + u); const p1 = load1<T>(P, k1 + u);
        const p2 = load1<T>(P, k2 + u); const p3 = load1<T>(P, k3 + u);
        s0 += p0 * xj; s1 += p1 * xj; s2 += p2 * xj; s3 += p3 * xj;
        const at = cg + (u << 3);
        store<f64>(at, load<f64>(at) + (t0 * p0 + t1 * p1 + t2 * p2 + t3 * p3));
      }
      const out = S + ((<usize>i) << 3);
      store<f64>(out, s0); store<f64>(out, s1, 8); store<f64>(out, s2, 16); store<f64>(out, s3, 24);
    }
    for (; i < end; i++) {
      const t = load<f64>(y + ((<usize>i) << 3));
      const k0 = <usize>i * <usize>cols;
      let s = 0.0;
      for (let j = 0; j < cols; j++) {
        const u = <usize>j;
        const v = load1<T>(P, k0 + u);
        s += v * load<f64>(xg + (u << 3));
        const at = cg + (u << 3);
        store<f64>(at, load<f64>(at) + t * v);
      }
      store<f64>(S + ((<usize>i) << 3), s);
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
export function buildPower32(W: usize, wide: i32, n: i32, taps: i32, p: f64, scale: f64, P: usize): void { buildPower<f32>(W, wide, n, taps, p, scale, P); }
export function buildPower64(W: usize, wide: i32, n: i32, taps: i32, p: f64, scale: f64, P: usize): void { buildPower<f64>(W, wide, n, taps, p, scale, P); }

export { toFloat32, rowPassBlocked32, columnPassBlocked32, fusedPassBlocked32, rowColumnPassBlocked32 } from './blocked32';
export { rescaleRows32 } from './rescale';
export { foldRange } from './range';
