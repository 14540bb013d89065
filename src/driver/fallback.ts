/**
 * Why a run left WebGPU, or never reached it: a kind that programs read (the CLI, the demo) and
 * a sentence for people. Callers branch on `kind`, never on the text.
 */

/**
 * - `no-webgpu`: no WebGPU in this environment (no `navigator.gpu`, no `gpu` given, Dawn not loadable);
 * - `no-adapter`: WebGPU offers no adapter;
 * - `software-adapter`: only a software adapter (SwiftShader, llvmpipe, lavapipe, WARP), which
 *   `auto` never picks: the float64 CPU engine is faster than a float32 CPU emulation;
 * - `device-lost`: the device was lost (destroyed, driver reset) during the run;
 * - `gpu-error`: any other WebGPU failure (setup, validation, out of memory, a weight float32
 *   cannot hold, the final rescaling);
 * - `not-monotone`: a GPU batch increased the norm beyond float32 rounding;
 * - `stalled`: the GPU's float32 imbalance stopped shrinking above `tol`;
 * - `cpu-schedule`: the WebGPU engine does not run the schedule on this network (the accelerated
 *   schedule when a row is written by more than 10 blocks reading shifted groups of its coarse
 *   space, or the space has more than 128 groups): the CPU engine runs the same schedule.
 */
export type FallbackKind = 'no-webgpu' | 'no-adapter' | 'software-adapter' | 'device-lost' | 'gpu-error' | 'not-monotone' | 'stalled' | 'cpu-schedule';

/** Why a run left (or never reached) WebGPU. */
export interface Fallback {
  kind: FallbackKind;
  /** One sentence for people; may change between versions. */
  message: string;
}

/** Every {@link FallbackKind}, for validation and tests. */
export const FALLBACK_KINDS: readonly FallbackKind[] = [
  'no-webgpu',
  'no-adapter',
  'software-adapter',
  'device-lost',
  'gpu-error',
  'not-monotone',
  'stalled',
  'cpu-schedule',
];
