/**
 * Axis ticks people can read, shared by the CLI's SVG figure (`fig2`) and the demo's charts:
 * linear ticks at 1, 2 or 5 times a power of ten (whole numbers only, for counts such as sweeps),
 * and log-axis ticks at 1, 2 and 5 times each power of ten (powers of ten alone on wide ranges).
 */

/** The step of about `count` intervals over `[lo, hi]`: 1, 2 or 5 times a power of ten. */
export function niceStep(lo: number, hi: number, count = 5): number {
  const span = Math.abs(hi - lo);
  if (!(span > 0) || !Number.isFinite(span)) return 1;
  const raw = span / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const unit = raw / power;
  return (unit <= 1 ? 1 : unit <= 2 ? 2 : unit <= 5 ? 5 : 10) * power;
}

/**
 * Ticks inside `[lo, hi]` at multiples of a 1-2-5 step; `integer` keeps only whole numbers
 * (the step is at least 1), for sweeps, steps and counts.
 */
export function linearTicks(lo: number, hi: number, count = 5, integer = false): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi < lo) [lo, hi] = [hi, lo];
  let step = niceStep(lo, hi, count);
  if (integer) step = Math.max(1, Math.round(step));
  const first = Math.ceil(lo / step - 1e-9);
  const ticks: number[] = [];
  for (let k = first; k * step <= hi * (1 + 1e-12) + 1e-12 && ticks.length < 1000; k++) {
    // k * step, rounded to the step's decimals (no 0.30000000000000004 labels).
    ticks.push(Number((k * step).toPrecision(12)));
  }
  return ticks;
}

/**
 * Ticks of a log axis over `[lo, hi]` (both > 0): 1, 2 and 5 times each power of ten when the
 * range spans at most `maxDecades` decades, powers of ten alone (every k-th when very wide) beyond.
 */
export function logTicks(lo: number, hi: number, maxDecades = 4): number[] {
  if (!(lo > 0) || !(hi > 0) || !Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi < lo) [lo, hi] = [hi, lo];
  const first = Math.floor(Math.log10(lo));
  const last = Math.ceil(Math.log10(hi));
  const decades = last - first;
  const mantissas = decades <= maxDecades ? [1, 2, 5] : [1];
  const every = Math.max(1, Math.ceil(decades / 10));
  const ticks: number[] = [];
  for (let e = first; e <= last; e++) {
    if (mantissas.length === 1 && (e - first) % every !== 0) continue;
    for (const m of mantissas) {
      const t = Number((m * 10 ** e).toPrecision(12));
      if (t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9)) ticks.push(t);
    }
  }
  return ticks;
}

/** A tick label: plain digits for moderate numbers, `1e-6` style for very small or large ones. */
export function tickLabel(x: number): string {
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e-3 && a < 1e6) return String(Number(x.toPrecision(6)));
  const [mantissa, exponent] = x.toExponential().split('e');
  return `${Number(Number(mantissa).toPrecision(6))}e${Number(exponent)}`;
}
