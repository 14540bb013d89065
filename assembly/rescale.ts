// The final rescaling of a float32 block in WebAssembly SIMD (AssemblyScript; exported through
// assembly/passes.ts): the same arithmetic as `scaleRows32` in src/network/rescale.ts, one
// exponential per unit (taken by the caller), per weight a float64 product rounded once to float32.

/**
 * `out[i, j] = f32(W[i, j] * (rowFactor[i] * colFactor[c0 + j]))` over a row-major `rows x cols`
 * float32 block, `c0 = floor(i / rowsPerGroup) * cols`, the factors float64: the products in
 * float64 (two lanes), each rounded once to float32, so that the values are those of the JS loop
 * bit for bit. `out` may be `W` (in place). Returns 1 when some value written is not finite (an
 * infinity or NaN: `v - v` is then NaN), else 0; the caller then looks for it.
 */
export function rescaleRows32(W: usize, rows: i32, cols: i32, rowsPerGroup: i32, rowFactor: usize, colFactor: usize, out: usize): i32 {
  let bad = f32x4.splat(0);
  for (let i = 0; i < rows; i++) {
    const fi = f64x2.splat(load<f64>(rowFactor + ((<usize>i) << 3)));
    const cf = colFactor + ((<usize>(i / rowsPerGroup) * <usize>cols) << 3);
    const row = <usize>i * <usize>cols;
    const w = W + (row << 2);
    const o = out + (row << 2);
    let j = 0;
    for (; j + 3 < cols; j += 4) {
      const u = <usize>j;
      const v = v128.load(w + (u << 2));
      const lo = f64x2.mul(f64x2.promote_low_f32x4(v), f64x2.mul(fi, v128.load(cf + (u << 3))));
      const hi = f64x2.mul(f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 0, 1)), f64x2.mul(fi, v128.load(cf + (u << 3), 16)));
      const r = v128.shuffle<f32>(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5);
      v128.store(o + (u << 2), r);
      bad = f32x4.add(bad, f32x4.sub(r, r));
    }
    const f = f64x2.extract_lane(fi, 0);
    for (; j < cols; j++) {
      const u = <usize>j;
      const r = <f32>(<f64>load<f32>(w + (u << 2)) * (f * load<f64>(cf + (u << 3))));
      store<f32>(o + (u << 2), r);
      bad = f32x4.add(bad, f32x4.splat(r - r));
    }
  }
  return v128.any_true(f32x4.ne(bad, f32x4.splat(0))) ? 1 : 0;
}
