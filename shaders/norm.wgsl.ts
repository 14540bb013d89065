import type { Kernel } from './bindings.js';
import { bindingLayout, bindingsWgsl, readOnly, storage, uniform } from './bindings.js';
import { gridWgsl, lseWgsl, State, WORKGROUP } from './common.js';
import { uniformStruct } from './struct.js';

/** The uniform of {@link normKernel}: units, and workgroups (= pairs per sweep of the norm history). */
export const NormParams = uniformStruct('NormParams', { nUnits: 'u32', groups: 'u32' });

/** The bindings of {@link normKernel}, by name (binding k is the k-th). */
export const NormBindings = bindingLayout({
  params: uniform(NormParams),
  state: readOnly(State),
  logRho: readOnly('array<f32>'),
  normHistory: storage('array<vec2f>'),
});

/**
 * The objective `F = sum_i rho[i]^r = ||W~||_{p,q}^q` as one log-sum-exp pair per workgroup
 * (a tree reduction in workgroup memory), written to the current sweep's slot of the norm
 * history; the host finishes the pairs in float64 once per batch. Override `R = q / p`.
 */
export function normKernel(): Kernel<typeof NormBindings> {
  const code = /* wgsl */ `
${lseWgsl}
${State.wgsl}
${gridWgsl}
${NormParams.wgsl}
override R: f32;
${bindingsWgsl(NormBindings)}
var<workgroup> partial: array<vec2f, ${WORKGROUP}>;
var<workgroup> done: u32;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let group = flatWorkgroup(wid, nwg);
  if (group >= params.groups) { return; }
  if (lid == 0u) { done = state.converged; }
  if (workgroupUniformLoad(&done) != 0u) { return; }
  let unit = group * ${WORKGROUP}u + lid;
  var acc = vec2f(LOG_ZERO, 0.0);
  if (unit < params.nUnits) {
    let lr = logRho[unit];
    if (lr > LOG_VALID) { acc = vec2f(R * lr, 1.0); }
  }
  partial[lid] = acc;
  for (var half = ${WORKGROUP / 2}u; half > 0u; half = half / 2u) {
    workgroupBarrier();
    if (lid < half) { partial[lid] = lseMerge(partial[lid], partial[lid + half]); }
  }
  if (lid == 0u) { normHistory[state.sweep * params.groups + group] = partial[0]; }
}
`;
  return { name: 'norm', code, bindings: NormBindings };
}
