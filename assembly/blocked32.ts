// The passes over a float32 P in float32 SIMD arithmetic, summed in float64 by blocks
// (AssemblyScript; exported through assembly/passes.ts). Four lanes per 128-bit vector where the
// float64 passes of passes.ts have two: every product P[i,j] x[j] (x rounded to float32) is
// formed and added in float32 within a block of at most BLOCK columns of one row (row sums) or of
// four rows of one column (column sums), and the block sums are added in float64. A row sum thus
// carries a relative error of about 2^-24 sqrt(BLOCK / 4) ~ 2.4e-7 at worst per block, far less
// in all; the float64 passes remain the reference.
//
// Same layout as passes.ts: row-major `rows x cols` per block, `groups` groups of
// `rows / groups` rows, rows [r0, r1) of the block per call. `x` points at float32 copies of the
// column vector (see toFloat32), `y`, `S` and `C` are float64.

/** Columns per float32 partial row sum: 16 products per lane, then a float64 addition. */
const BLOCK = 64;

/** The four float32 lanes of `v` as an f64x2 of `(v0 + v2, v1 + v3)`, added in float64. */
// @ts-ignore: decorator
@inline function widen(v: v128): v128 {
  return f64x2.add(f64x2.promote_low_f32x4(v), f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 1)));
}

// @ts-ignore: decorator
@inline function sum2(v: v128): f64 {
  return f64x2.extract_lane(v, 0) + f64x2.extract_lane(v, 1);
}

/** `C[0..3] += v` (four float32 lanes into four float64 entries at `at`). */
// @ts-ignore: decorator
@inline function addWidened(at: usize, v: v128): void {
  v128.store(at, f64x2.add(v128.load(at), f64x2.promote_low_f32x4(v)));
  v128.store(at, f64x2.add(v128.load(at, 16), f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 0))), 16);
}

/** `x32[k] = x[k]` rounded to float32, for `k < n`. */
export function toFloat32(x: usize, n: i32, x32: usize): void {
  for (let k = 0; k < n; k++) store<f32>(x32 + ((<usize>k) << 2), <f32>load<f64>(x + ((<usize>k) << 3)));
}

/** One row's sum in float64 from float32 products (the rows left over by the four-row blocks). */
// @ts-ignore: decorator
@inline function rowSum(p: usize, cols: i32, xg: usize): f64 {
  let s = f64x2.splat(0);
  let j = 0;
  while (j + 3 < cols) {
    const stop = min(j + BLOCK, cols & ~3);
    let a = f32x4.splat(0);
    for (; j < stop; j += 4) a = f32x4.add(a, f32x4.mul(v128.load(p + ((<usize>j) << 2)), v128.load(xg + ((<usize>j) << 2))));
    s = f64x2.add(s, widen(a));
  }
  let t = sum2(s);
  for (; j < cols; j++) t += <f64>load<f32>(p + ((<usize>j) << 2)) * <f64>load<f32>(xg + ((<usize>j) << 2));
  return t;
}

/** `C[j] += t * P[i,j]` over one row (float64: the rows left over by the four-row blocks). */
// @ts-ignore: decorator
@inline function rowIntoColumns(p: usize, cols: i32, t: f64, cg: usize): void {
  if (t == 0) return;
  const v = f32x4.splat(<f32>t);
  let j = 0;
  for (; j + 3 < cols; j += 4) addWidened(cg + ((<usize>j) << 3), f32x4.mul(v, v128.load(p + ((<usize>j) << 2))));
  for (; j < cols; j++) {
    const at = cg + ((<usize>j) << 3);
    store<f64>(at, load<f64>(at) + <f64><f32>t * <f64>load<f32>(p + ((<usize>j) << 2)));
  }
}

/** Row pass: `S[i] = sum_j P[i,j] x[g * cols + j]`. */
export function rowPassBlocked32(P: usize, rows: i32, cols: i32, groups: i32, r0: i32, r1: i32, x: usize, S: usize): void {
  const rpg = rows / groups;
  const stride = (<usize>cols) << 2;
  const tail = cols & ~3;
  for (let g = r0 / rpg; g < groups && g * rpg < r1; g++) {
    const xg = x + ((<usize>(g * cols)) << 2);
    const end = min((g + 1) * rpg, r1);
    let i = max(g * rpg, r0);
    for (; i + 3 < end; i += 4) {
      const p0 = P + <usize>i * stride;
      const p1 = p0 + stride;
      const p2 = p1 + stride;
      const p3 = p2 + stride;
      let s0 = f64x2.splat(0); let s1 = f64x2.splat(0); let s2 = f64x2.splat(0); let s3 = f64x2.splat(0);
      let j = 0;
      while (j < tail) {
        const stop = min(j + BLOCK, tail);
        let a0 = f32x4.splat(0); let a1 = f32x4.splat(0); let a2 = f32x4.splat(0); let a3 = f32x4.splat(0);
        for (; j < stop; j += 4) {
          const o = (<usize>j) << 2;
          const xj = v128.load(xg + o);
          a0 = f32x4.add(a0, f32x4.mul(v128.load(p0 + o), xj));
          a1 = f32x4.add(a1, f32x4.mul(v128.load(p1 + o), xj));
          a2 = f32x4.add(a2, f32x4.mul(v128.load(p2 + o), xj));
          a3 = f32x4.add(a3, f32x4.mul(v128.load(p3 + o), xj));
        }
        s0 = f64x2.add(s0, widen(a0)); s1 = f64x2.add(s1, widen(a1));
        s2 = f64x2.add(s2, widen(a2)); s3 = f64x2.add(s3, widen(a3));
      }
      let t0 = sum2(s0); let t1 = sum2(s1); let t2 = sum2(s2); let t3 = sum2(s3);
      for (; j < cols; j++) {
        const o = (<usize>j) << 2;
        const xj = <f64>load<f32>(xg + o);
        t0 += <f64>load<f32>(p0 + o) * xj; t1 += <f64>load<f32>(p1 + o) * xj;
        t2 += <f64>load<f32>(p2 + o) * xj; t3 += <f64>load<f32>(p3 + o) * xj;
      }
      const out = S + ((<usize>i) << 3);
      store<f64>(out, t0); store<f64>(out, t1, 8); store<f64>(out, t2, 16); store<f64>(out, t3, 24);
    }
    for (; i < end; i++) store<f64>(S + ((<usize>i) << 3), rowSum(P + <usize>i * stride, cols, xg));
  }
}

/** Column pass: `C[g * cols + j] += sum_i y[i] * P[i,j]` over the rows `i` of group `g`. */
export function columnPassBlocked32(P: usize, rows: i32, cols: i32, groups: i32, r0: i32, r1: i32, y: usize, C: usize): void {
  const rpg = rows / groups;
  const stride = (<usize>cols) << 2;
  const tail = cols & ~3;
  for (let g = r0 / rpg; g < groups && g * rpg < r1; g++) {
    const cg = C + ((<usize>(g * cols)) << 3);
    const end = min((g + 1) * rpg, r1);
    let i = max(g * rpg, r0);
    for (; i + 3 < end; i += 4) {
      const yi = y + ((<usize>i) << 3);
      const y0 = <f32>load<f64>(yi); const y1 = <f32>load<f64>(yi, 8); const y2 = <f32>load<f64>(yi, 16); const y3 = <f32>load<f64>(yi, 24);
      if (y0 == 0 && y1 == 0 && y2 == 0 && y3 == 0) continue;
      const v0 = f32x4.splat(y0); const v1 = f32x4.splat(y1); const v2 = f32x4.splat(y2); const v3 = f32x4.splat(y3);
      const p0 = P + <usize>i * stride;
      const p1 = p0 + stride;
      const p2 = p1 + stride;
      const p3 = p2 + stride;
      let j = 0;
      for (; j < tail; j += 4) {
        const o = (<usize>j) << 2;
        const top = f32x4.add(f32x4.mul(v0, v128.load(p0 + o)), f32x4.mul(v1, v128.load(p1 + o)));
        const bottom = f32x4.add(f32x4.mul(v2, v128.load(p2 + o)), f32x4.mul(v3, v128.load(p3 + o)));
        addWidened(cg + ((<usize>j) << 3), f32x4.add(top, bottom));
      }
      for (; j < cols; j++) {
        const o = (<usize>j) << 2;
        const at = cg + ((<usize>j) << 3);
        const s = <f64>y0 * <f64>load<f32>(p0 + o) + <f64>y1 * <f64>load<f32>(p1 + o) + <f64>y2 * <f64>load<f32>(p2 + o) + <f64>y3 * <f64>load<f32>(p3 + o);
        store<f64>(at, load<f64>(at) + s);
      }
    }
    for (; i < end; i++) rowIntoColumns(P + <usize>i * stride, cols, load<f64>(y + ((<usize>i) << 3)), cg);
  }
}

/** Both passes in one read of P (p = q, where y does not depend on the row sums). */
export function fusedPassBlocked32(P: usize, rows: i32, cols: i32, groups: i32, r0: i32, r1: i32, x: usize, y: usize, S: usize, C: usize): void {
  const rpg = rows / groups;
  const stride = (<usize>cols) << 2;
  const tail = cols & ~3;
  for (let g = r0 / rpg; g < groups && g * rpg < r1; g++) {
    const xg = x + ((<usize>(g * cols)) << 2);
    const cg = C + ((<usize>(g * cols)) << 3);
    const end = min((g + 1) * rpg, r1);
    let i = max(g * rpg, r0);
    for (; i + 3 < end; i += 4) {
      const yi = y + ((<usize>i) << 3);
      const y0 = <f32>load<f64>(yi); const y1 = <f32>load<f64>(yi, 8); const y2 = <f32>load<f64>(yi, 16); const y3 = <f32>load<f64>(yi, 24);
      const v0 = f32x4.splat(y0); const v1 = f32x4.splat(y1); const v2 = f32x4.splat(y2); const v3 = f32x4.splat(y3);
      const p0 = P + <usize>i * stride;
      const p1 = p0 + stride;
      const p2 = p1 + stride;
      const p3 = p2 + stride;
      let s0 = f64x2.splat(0); let s1 = f64x2.splat(0); let s2 = f64x2.splat(0); let s3 = f64x2.splat(0);
      let j = 0;
      while (j < tail) {
        const stop = min(j + BLOCK, tail);
        let a0 = f32x4.splat(0); let a1 = f32x4.splat(0); let a2 = f32x4.splat(0); let a3 = f32x4.splat(0);
        for (; j < stop; j += 4) {
          const o = (<usize>j) << 2;
          const xj = v128.load(xg + o);
          const q0 = v128.load(p0 + o); const q1 = v128.load(p1 + o); const q2 = v128.load(p2 + o); const q3 = v128.load(p3 + o);
          a0 = f32x4.add(a0, f32x4.mul(q0, xj)); a1 = f32x4.add(a1, f32x4.mul(q1, xj));
          a2 = f32x4.add(a2, f32x4.mul(q2, xj)); a3 = f32x4.add(a3, f32x4.mul(q3, xj));
          const top = f32x4.add(f32x4.mul(v0, q0), f32x4.mul(v1, q1));
          const bottom = f32x4.add(f32x4.mul(v2, q2), f32x4.mul(v3, q3));
          addWidened(cg + ((<usize>j) << 3), f32x4.add(top, bottom));
        }
        s0 = f64x2.add(s0, widen(a0)); s1 = f64x2.add(s1, widen(a1));
        s2 = f64x2.add(s2, widen(a2)); s3 = f64x2.add(s3, widen(a3));
      }
      let t0 = sum2(s0); let t1 = sum2(s1); let t2 = sum2(s2); let t3 = sum2(s3);
      for (; j < cols; j++) {
        const o = (<usize>j) << 2;
        const xj = <f64>load<f32>(xg + o);
        const q0 = <f64>load<f32>(p0 + o); const q1 = <f64>load<f32>(p1 + o); const q2 = <f64>load<f32>(p2 + o); const q3 = <f64>load<f32>(p3 + o);
        t0 += q0 * xj; t1 += q1 * xj; t2 += q2 * xj; t3 += q3 * xj;
        const at = cg + ((<usize>j) << 3);
        store<f64>(at, load<f64>(at) + (<f64>y0 * q0 + <f64>y1 * q1 + <f64>y2 * q2 + <f64>y3 * q3));
      }
      const out = S + ((<usize>i) << 3);
      store<f64>(out, t0); store<f64>(out, t1, 8); store<f64>(out, t2, 16); store<f64>(out, t3, 24);
    }
    for (; i < end; i++) {
      const p = P + <usize>i * stride;
      store<f64>(S + ((<usize>i) << 3), rowSum(p, cols, xg));
      rowIntoColumns(p, cols, load<f64>(y + ((<usize>i) << 3)), cg);
    }
  }
}
