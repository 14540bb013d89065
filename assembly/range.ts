// The read of the weights' values that validation makes, in WebAssembly SIMD (AssemblyScript;
// exported through assembly/passes.ts): the largest `|w|`, the smallest non-zero `|w|` and
// whether every entry is finite, in one read, as `foldWeightRange` in src/network/finite.ts.

/** The largest (`largest`) or smallest lane of `v`. */
// @ts-ignore: decorator
@inline function across<T>(v: v128, largest: bool): T {
  let h = largest ? v128.max<T>(v, v128.shuffle<i64>(v, v, 1, 0)) : v128.min<T>(v, v128.shuffle<i64>(v, v, 1, 0));
  if (sizeof<T>() == 4) h = largest ? v128.max<T>(h, v128.shuffle<i32>(h, h, 1, 0, 3, 2)) : v128.min<T>(h, v128.shuffle<i32>(h, h, 1, 0, 3, 2));
  return v128.extract_lane<T>(h, 0);
}

/**
 * The range of one array, in its own precision (every `|w|` is a number of it), folded into the
 * float64 range so far: two vectors of lanes per step, the maximum carrying an infinity or NaN to
 * the end, zeros taken as infinity for the smallest.
 */
// @ts-ignore: decorator
@inline function fold<T>(W: usize, n: i32, range: usize): void {
  const lanes = <i32>(16 / sizeof<T>());
  const inf = v128.splat<T>(<T>Infinity);
  const zero = v128.splat<T>(<T>0);
  let h0 = zero; let h1 = zero;
  let l0 = inf; let l1 = inf;
  let k = 0;
  for (; k + 2 * lanes <= n; k += 2 * lanes) {
    const at = W + ((<usize>k) << alignof<T>());
    const a = v128.abs<T>(v128.load(at));
    const b = v128.abs<T>(v128.load(at, 16));
    h0 = v128.max<T>(h0, a); h1 = v128.max<T>(h1, b);
    l0 = v128.min<T>(l0, v128.bitselect(inf, a, v128.eq<T>(a, zero)));
    l1 = v128.min<T>(l1, v128.bitselect(inf, b, v128.eq<T>(b, zero)));
  }
  let largest = Math.max(load<f64>(range), <f64>across<T>(v128.max<T>(h0, h1), true));
  let smallest = Math.min(load<f64>(range, 8), <f64>across<T>(v128.min<T>(l0, l1), false));
  for (; k < n; k++) {
    const a = Math.abs(<f64>load<T>(W + ((<usize>k) << alignof<T>())));
    largest = Math.max(largest, a);
    if (a < smallest && a > 0) smallest = a;
  }
  store<f64>(range, largest);
  store<f64>(range, smallest, 8);
}

/**
 * Fold `|w|` over `n` float32 (`wide` 0) or float64 (`wide` 1) weights at `W` into the float64
 * pair at `range`: `range[0]`, the largest (an infinity or NaN when some entry is not finite),
 * and `range[1]`, the smallest non-zero.
 */
export function foldRange(W: usize, wide: i32, n: i32, range: usize): void {
  if (wide) fold<f64>(W, n, range);
  else fold<f32>(W, n, range);
}
