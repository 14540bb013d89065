// The read of the weights' values that validation makes, in WebAssembly SIMD (AssemblyScript;
// exported through assembly/passes.ts): the largest `|w|`, the smallest non-zero `|w|` and
// whether every entry is finite, in one read, as `foldWeightRange` in src/network/finite.ts.

/**
 * Fold `|w|` over `n` float32 (`wide` 0) or float64 (`wide` 1) weights at `W` into the float64
 * pair at `range`: `range[0]`, the largest (an infinity or NaN when some entry is not finite: the
 * maximum carries it to the end), and `range[1]`, the smallest non-zero. Four (float32) or two
 * (float64) lanes, two vectors per step.
 */
export function foldRange(W: usize, wide: i32, n: i32, range: usize): void {
  let largest = load<f64>(range);
  let smallest = load<f64>(range, 8);
  let k = 0;
  if (wide) {
    let h0 = f64x2.splat(largest); let h1 = h0;
    let l0 = f64x2.splat(smallest); let l1 = l0;
    const inf = f64x2.splat(Infinity);
    const zero = f64x2.splat(0);
    for (; k + 3 < n; k += 4) {
      const a = f64x2.abs(v128.load(W + ((<usize>k) << 3)));
      const b = f64x2.abs(v128.load(W + ((<usize>k) << 3), 16));
      h0 = f64x2.max(h0, a); h1 = f64x2.max(h1, b);
      l0 = f64x2.min(l0, v128.bitselect(inf, a, f64x2.eq(a, zero)));
      l1 = f64x2.min(l1, v128.bitselect(inf, b, f64x2.eq(b, zero)));
    }
    const h = f64x2.max(h0, h1);
    const l = f64x2.min(l0, l1);
    largest = Math.max(f64x2.extract_lane(h, 0), f64x2.extract_lane(h, 1));
    smallest = Math.min(f64x2.extract_lane(l, 0), f64x2.extract_lane(l, 1));
    for (; k < n; k++) {
      const a = Math.abs(load<f64>(W + ((<usize>k) << 3)));
      largest = Math.max(largest, a);
      if (a < smallest && a > 0) smallest = a;
    }
  } else {
    // This array's range in float32 (every |w| is a float32 number), then with the range so far.
    let h0 = f32x4.splat(0); let h1 = h0;
    let l0 = f32x4.splat(Infinity); let l1 = l0;
    const inf = f32x4.splat(Infinity);
    const zero = f32x4.splat(0);
    for (; k + 7 < n; k += 8) {
      const a = f32x4.abs(v128.load(W + ((<usize>k) << 2)));
      const b = f32x4.abs(v128.load(W + ((<usize>k) << 2), 16));
      h0 = f32x4.max(h0, a); h1 = f32x4.max(h1, b);
      l0 = f32x4.min(l0, v128.bitselect(inf, a, f32x4.eq(a, zero)));
      l1 = f32x4.min(l1, v128.bitselect(inf, b, f32x4.eq(b, zero)));
    }
    const h = f32x4.max(h0, h1);
    const l = f32x4.min(l0, l1);
    largest = Math.max(largest, <f64>Mathf.max(Mathf.max(f32x4.extract_lane(h, 0), f32x4.extract_lane(h, 1)), Mathf.max(f32x4.extract_lane(h, 2), f32x4.extract_lane(h, 3))));
    smallest = Math.min(smallest, <f64>Mathf.min(Mathf.min(f32x4.extract_lane(l, 0), f32x4.extract_lane(l, 1)), Mathf.min(f32x4.extract_lane(l, 2), f32x4.extract_lane(l, 3))));
    for (; k < n; k++) {
      const a = <f64>Mathf.abs(load<f32>(W + ((<usize>k) << 2)));
      largest = Math.max(largest, a);
      if (a < smallest && a > 0) smallest = a;
    }
  }
  store<f64>(range, largest);
  store<f64>(range, smallest, 8);
}
