/**
 * IEEE half precision (float16) and bfloat16 conversions, bit-exact, round to nearest even.
 * Used by the safetensors reader and writer to keep F16 / BF16 files in their own format.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The value of a float16 bit pattern. */
export function float16ToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/**
 * The float16 bit pattern nearest to a value (first rounded to float32), ties to even.
 * Values beyond the float16 range give an infinity: callers check {@link FLOAT16_MAX}.
 */
export function numberToFloat16(value: number): number {
  f32[0] = value;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const exponent = (b >>> 23) & 0xff;
  const mantissa = b & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal (or zero): value = m * 2^-24 with m = (1.mantissa) >> (14 - e).
    if (e < -10) return sign;
    const full = mantissa | 0x800000;
    const shift = 14 - e;
    let m = full >>> shift;
    const rest = full & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rest > half || (rest === half && (m & 1) === 1)) m++;
    return sign | m;
  }
  let h = sign | (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to infinity).
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++;
  return h;
}

/** The largest finite float16. */
export const FLOAT16_MAX = 65504;

/** The value of a bfloat16 bit pattern (the upper half of a float32). */
export function bfloat16ToNumber(bits: number): number {
  u32[0] = (bits & 0xffff) << 16;
  return f32[0];
}

/** The bfloat16 bit pattern nearest to a value (first rounded to float32), ties to even. */
export function numberToBfloat16(value: number): number {
  f32[0] = value;
  const b = u32[0];
  if ((b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0) return ((b >>> 16) | 0x40) & 0xffff;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}
