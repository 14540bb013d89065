// The column weight of a row in the row-then-column passes (passes.ts, blocked32.ts).

/**
 * The column weight of a row from its own row sum `s` (the row-then-column pass):
 * `y = A (s + B)^e` with `A`, `B` at `w` (`0` when `s + B = 0`, as `rho = 0` gives `y = 0`).
 */
// @ts-ignore: decorator
@inline export function columnWeight(s: f64, w: usize, e: f64): f64 {
  const a = load<f64>(w);
  const t = s + load<f64>(w, 8);
  if (a == 0 || t == 0) return 0;
  return e == 1 ? a * t : a * Math.pow(t, e);
}
