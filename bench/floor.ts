/**
 * The memory-bound floor of a sweep: one plain summation loop over a Float64Array with as many
 * entries as the power matrices `P` of the problem. A sweep reads `P` once or twice, so its time
 * is reported as a multiple of this loop's.
 */

/** Median of a list of numbers. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Sum every entry once. Kept out of line so that the timing measures the loop, not the caller. */
export function sumOnce(values: Float64Array): number {
  let s = 0;
  for (let k = 0; k < values.length; k++) s += values[k];
  return s;
}

/**
 * Milliseconds of processor time used by this process so far (user + system). On a shared
 * machine this is far steadier than wall time for single-threaded work: time spent waiting for
 * a core does not count.
 */
export function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/** A timing in both clocks. */
export interface Timing {
  cpu: number;
  wall: number;
}

/** Time `work` (repeated `repeat` times) in both clocks; milliseconds per repetition. */
export async function time(work: () => unknown, repeat = 1): Promise<Timing> {
  const cpu0 = cpuMs();
  const wall0 = performance.now();
  for (let k = 0; k < repeat; k++) await work();
  return { cpu: (cpuMs() - cpu0) / repeat, wall: (performance.now() - wall0) / repeat };
}

/** The floor's array: `entries` float64 values. */
export function floorArray(entries: number): Float64Array {
  const values = new Float64Array(entries);
  for (let k = 0; k < entries; k++) values[k] = (k % 1000) * 1e-3;
  for (let k = 0; k < 3; k++) sumOnce(values); // warm-up
  return values;
}
