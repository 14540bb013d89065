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
  // The exponents of (1, 2), (2, 3), (3, 1.5), (2, 1) without a general power (about 0.1 µs here).
  if (e == 1) return a * t;
  if (e == 0.5) return a * Math.sqrt(t);
  if (e == -0.5) return a / Math.sqrt(t);
  return a * Math.pow(t, e);
}
