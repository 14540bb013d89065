/**
 * Powers of weight magnitudes and their logarithms: the arithmetic that the norm and both
 * engines share. Sums of powers that may leave the float64 range are carried as natural
 * logarithms and added with {@link logAdd} (log-sum-exp), so no exponent or weight range
 * underflows or overflows.
 */

/** `|x|^p` with exact paths for p = 1 and p = 2. */
export function absPow(x: number, p: number): number {
  const a = Math.abs(x);
  return p === 1 ? a : p === 2 ? a * a : a === 0 ? 0 : Math.pow(a, p);
}

/**
 * `x^e` for `x >= 0`, fast: exact paths for `e` in {0, 1, 2, 1/2, -1/2, -1} and otherwise
 * `exp(e log x)`, whose relative error (about `2 |e log x|` units of rounding) is that of the same
 * power carried in logarithms; `Math.pow` costs several times as much per call.
 */
export function positivePow(x: number, e: number): number {
  switch (e) {
    case 0:
      return 1;
    case 1:
      return x;
    case 2:
      return x * x;
    case 0.5:
      return Math.sqrt(x);
    case -0.5:
      return 1 / Math.sqrt(x);
    case -1:
      return 1 / x;
    default:
      return x === 0 ? (e > 0 ? 0 : Infinity) : Math.exp(e * Math.log(x));
  }
}

/**
 * A power of two `s` with `s * largest` in `[1, 2)`: multiplying weights by it is exact.
 * 1 when `largest` is 0.
 */
export function powerOfTwoScale(largest: number): number {
  if (!(largest > 0) || !Number.isFinite(largest)) return 1;
  return Math.pow(2, -Math.min(1023, Math.max(-1022, Math.floor(Math.log2(largest)))));
}

/** The largest `|w|` over the blocks' weights (and biases when included). */
export function largestWeight(blocks: readonly { weight: ArrayLike<number>; bias: ArrayLike<number> | null }[], includeBiases: boolean): number {
  let largest = 0;
  for (const b of blocks) {
    for (let k = 0; k < b.weight.length; k++) largest = Math.max(largest, Math.abs(b.weight[k]));
    if (includeBiases && b.bias) for (let k = 0; k < b.bias.length; k++) largest = Math.max(largest, Math.abs(b.bias[k]));
  }
  return largest;
}

/** `log(exp(a) + exp(b))` without overflow or underflow; `-Infinity` stands for `log 0`. */
export function logAdd(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  return a > b ? a + Math.log1p(Math.exp(b - a)) : b + Math.log1p(Math.exp(a - b));
}

/**
 * `log sum_t |values[t]|^p` over `t` in `[start, end)`, relative to the largest magnitude, so that
 * no term that matters underflows (`-Infinity` when all are zero).
 */
export function logPowerSum(values: ArrayLike<number>, start: number, end: number, p: number): number {
  let largest = 0;
  for (let t = start; t < end; t++) largest = Math.max(largest, Math.abs(values[t]));
  if (largest === 0) return -Infinity;
  if (end - start === 1) return p * Math.log(largest);
  const inv = 1 / largest;
  let s = 0;
  for (let t = start; t < end; t++) s += absPow(values[t] * inv, p);
  return p * Math.log(largest) + Math.log(s);
}
