import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { Kernel } from './bindings.js';
import { bindingLayout, bindingsWgsl, readOnly, storage, uniform } from './bindings.js';
import { gridWgsl, lseWgsl, WORKGROUP } from './common.js';
import { uniformStruct } from './struct.js';

/** The per-segment uniform of {@link buildPowerKernel}: edges of the segment and taps per edge. */
export const BuildPowerParams = uniformStruct('BuildPowerParams', { elements: 'u32', taps: 'u32' });

/** Specialisation of {@link buildPowerKernel}. */
export interface BuildPowerFlags {
  /** Whether every edge has one tap (a dense block on a flat layer); else taps are conv kernel entries or flattened positions. */
  singleTap: boolean;
  /** The exponent when it has an exact fast path (1 or 2), else 0 (general `pow`). */
  fastP: 0 | 1 | 2;
}

/** The bindings of {@link buildPowerKernel}, by name (binding k is the k-th). */
export const BuildPowerBindings = bindingLayout({
  params: uniform(BuildPowerParams),
  weights: readOnly('array<f32>'),
  logP: storage('array<f32>'),
});

/**
 * Build `log P[i,j] = log(sum_t |w_t|^p)` for every edge of a block segment, once per run
 * (MATH.md §2: P aggregates the kernel taps). A single tap gives `p * log|w|` with no `pow`;
 * several taps are scaled by their largest magnitude first, `sum_t (|w_t|/m)^p` with exact
 * paths for p = 1 and p = 2 and a guard for zero, so nothing overflows or underflows.
 * A zero edge gets `LOG_ZERO`. Override `P` is the exponent.
 */
export function buildPowerKernel(flags: BuildPowerFlags): Kernel<typeof BuildPowerBindings> {
  const code = wgsl`
${lseWgsl}
${gridWgsl}
${BuildPowerParams.wgsl}
override P: f32;
${bindingsWgsl(BuildPowerBindings)}

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = flatWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  if (e >= params.elements) { return; }
#if ${flags.singleTap}
  let a = abs(weights[e]);
#if ${flags.fastP === 1}
  logP[e] = select(LOG_ZERO, log(a), a > 0.0);
#else
  logP[e] = select(LOG_ZERO, P * log(a), a > 0.0);
#endif
#else
  let t0 = e * params.taps;
  var m = 0.0;
  for (var t = 0u; t < params.taps; t++) { m = max(m, abs(weights[t0 + t])); }
  if (m <= 0.0) {
    logP[e] = LOG_ZERO;
    return;
  }
  var s = 0.0;
  for (var t = 0u; t < params.taps; t++) {
    let x = abs(weights[t0 + t]) / m;
#if ${flags.fastP === 1}
    s += x;
#elif ${flags.fastP === 2}
    s += x * x;
#else
    if (x > 0.0) { s += pow(x, P); }
#endif
  }
  logP[e] = P * log(m) + log(s);
#endif
}
`;
  return { name: 'buildPower', code, bindings: BuildPowerBindings };
}
