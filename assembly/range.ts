// The read of the weights' values that validation makes, in WebAssembly SIMD (AssemblyScript;
// exported through assembly/passes.ts): the largest `|w|`, the smallest non-zero `|w|` and
// whether every entry is finite, in one read, as `foldWeightRange` in src/network/finite.ts.

/**
 * Fold `|w|` over `n` float32 (`wide` 0) or float64 (`wide` 1) weights at `W` into the float64
 * pair at `range`: `range[0]`, the largest (an infinity or NaN when some entry is not finite),
 * and `range[1]`, the smallest non-zero.
 */
export function foldRange(W: usize, wide: i32, n: i32, range: usize): void {
  if (wide) fold64(W, n, range);
  else fold32(W, n, range);
}

/**
 * Float32 on the bits, four vectors per step: `|w|` as an unsigned integer orders as `|w|` does
 * (an infinity or NaN above every finite number), and `|w| - 1` wraps a zero round to the
 * largest integer, so an unsigned minimum of it gives the smallest non-zero (one-cycle integer
 * operations: ~4x the float form, at the speed of the copy that feeds it).
 */
function fold32(W: usize, n: i32, range: usize): void {
  const mask = i32x4.splat(0x7fffffff);
  const one = i32x4.splat(1);
  let h0 = i32x4.splat(0); let h1 = h0; let h2 = h0; let h3 = h0;
  let l0 = i32x4.splat(-1); let l1 = l0; let l2 = l0; let l3 = l0;
  let k = 0;
  for (; k + 16 <= n; k += 16) {
    const at = W + ((<usize>k) << 2);
    const a = v128.and(v128.load(at), mask);
    const b = v128.and(v128.load(at, 16), mask);
    const c = v128.and(v128.load(at, 32), mask);
    const d = v128.and(v128.load(at, 48), mask);
    h0 = i32x4.max_u(h0, a); h1 = i32x4.max_u(h1, b); h2 = i32x4.max_u(h2, c); h3 = i32x4.max_u(h3, d);
    l0 = i32x4.min_u(l0, i32x4.sub(a, one)); l1 = i32x4.min_u(l1, i32x4.sub(b, one));
    l2 = i32x4.min_u(l2, i32x4.sub(c, one)); l3 = i32x4.min_u(l3, i32x4.sub(d, one));
  }
  h0 = i32x4.max_u(i32x4.max_u(h0, h1), i32x4.max_u(h2, h3));
  l0 = i32x4.min_u(i32x4.min_u(l0, l1), i32x4.min_u(l2, l3));
  let hb = max(max(<u32>i32x4.extract_lane(h0, 0), <u32>i32x4.extract_lane(h0, 1)), max(<u32>i32x4.extract_lane(h0, 2), <u32>i32x4.extract_lane(h0, 3)));
  let lb = min(min(<u32>i32x4.extract_lane(l0, 0), <u32>i32x4.extract_lane(l0, 1)), min(<u32>i32x4.extract_lane(l0, 2), <u32>i32x4.extract_lane(l0, 3)));
  for (; k < n; k++) {
    const a = load<u32>(W + ((<usize>k) << 2)) & 0x7fffffff;
    hb = max(hb, a);
    lb = min(lb, a - 1);
  }
  // Back to numbers: above the bits of infinity, a NaN (the caller then looks for the entry).
  const largest = hb > 0x7f800000 ? NaN : <f64>reinterpret<f32>(hb);
  const smallest = lb == 0xffffffff ? Infinity : <f64>reinterpret<f32>(lb + 1);
  store<f64>(range, Math.max(load<f64>(range), largest));
  store<f64>(range, Math.min(load<f64>(range, 8), smallest), 8);
}

/** Float64 in two lanes, two vectors per step: the maximum carries an infinity or NaN to the end; zeros count as infinity for the smallest. */
function fold64(W: usize, n: i32, range: usize): void {
  const inf = f64x2.splat(Infinity);
  const zero = f64x2.splat(0);
  let h0 = zero; let h1 = zero;
  let l0 = inf; let l1 = inf;
  let k = 0;
  for (; k + 4 <= n; k += 4) {
    const at = W + ((<usize>k) << 3);
    const a = f64x2.abs(v128.load(at));
    const b = f64x2.abs(v128.load(at, 16));
    h0 = f64x2.max(h0, a); h1 = f64x2.max(h1, b);
    l0 = f64x2.min(l0, v128.bitselect(inf, a, f64x2.eq(a, zero)));
    l1 = f64x2.min(l1, v128.bitselect(inf, b, f64x2.eq(b, zero)));
  }
  const h = f64x2.max(h0, h1);
  const l = f64x2.min(l0, l1);
  let largest = Math.max(load<f64>(range), Math.max(f64x2.extract_lane(h, 0), f64x2.extract_lane(h, 1)));
  let smallest = Math.min(load<f64>(range, 8), Math.min(f64x2.extract_lane(l, 0), f64x2.extract_lane(l, 1)));
  for (; k < n; k++) {
    const a = Math.abs(load<f64>(W + ((<usize>k) << 3)));
    largest = Math.max(largest, a);
    if (a < smallest && a > 0) smallest = a;
  }
  store<f64>(range, largest);
  store<f64>(range, smallest, 8);
}
