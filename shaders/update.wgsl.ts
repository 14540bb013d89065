import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { logInOutWgsl } from './accelerated.js';
import type { Kernel } from './bindings.js';
import { bindingLayout, bindingsWgsl, readOnly, storage, uniform } from './bindings.js';
import { gridWgsl, lseWgsl, State, WORKGROUP } from './common.js';
import { uniformStruct } from './struct.js';

/**
 * The uniform of {@link updateKernel}: variables, the class updated (`-1`: all), and the
 * offsets of the member and column partial lists and of the classes in the topology buffer.
 */
export const UpdateParams = uniformStruct('UpdateParams', {
  nVars: 'u32',
  cls: 'i32',
  memberStartOffset: 'u32',
  memberOffset: 'u32',
  colStartOffset: 'u32',
  colEntryOffset: 'u32',
  classOffset: 'u32',
  /** The first slot of the history this kernel's largest value goes to (steps at 0, imbalances after them). */
  slot0: 'u32',
});

/** The bindings of {@link updateKernel}, by name (binding k is the k-th). */
export const UpdateBindings = bindingLayout({
  params: uniform(UpdateParams),
  state: readOnly(State),
  u: storage('array<f32>'),
  logAlpha: storage('array<f32>'),
  logRho: readOnly('array<f32>'),
  colPart: readOnly('array<vec2f>'),
  topology: readOnly('array<u32>'),
  stepBits: storage('array<atomic<u32>>'),
});

/**
 * The multiplicative update (MATH.md §4) in log form, one invocation per variable of the class
 * being updated (`cls < 0`: all, the parallel schedule):
 * `In = sum over members of rho^r`, `Out = sum of the column partials of the members / alpha`,
 * `u += eta * log(Out / In)`, and `log alpha = p * u` for every member unit. Variables whose
 * `In` or `Out` vanished (underflow) are left as they are, like the CPU engine does. The largest
 * `|step|` goes to the sweep's slot (from `slot0`) by an atomic max on its bits (non-negative
 * floats order like their bits). With `evaluate`, nothing is updated and the slot gets
 * `max |log(Out/In)|`, the imbalance the stopping rule reads.
 * Overrides: `P`, `R = q/p`, `ETA`.
 */
export function updateKernel(flags: { evaluate: boolean }): Kernel<typeof UpdateBindings> {
  const code = wgsl`
${lseWgsl}
${State.wgsl}
${gridWgsl}
${UpdateParams.wgsl}
override P: f32;
override R: f32;
override ETA: f32;
${bindingsWgsl(UpdateBindings)}
${logInOutWgsl}
var<workgroup> largest: array<f32, ${WORKGROUP}>;
var<workgroup> done: u32;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  if (lid == 0u) { done = state.converged; }
  if (workgroupUniformLoad(&done) != 0u) { return; }
  let v = flatWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  var step = 0.0;
  if (v < params.nVars && (params.cls < 0 || i32(topology[params.classOffset + v]) == params.cls)) {
    let io = logInOut(v);
    if (io.x > LOG_VALID && io.y > LOG_VALID) {
      let logRatio = io.y - io.x;
#if ${flags.evaluate}
      step = abs(logRatio);
#else
      let d = ETA * logRatio;
      let next = u[v] + d;
      u[v] = next;
      let la = P * next;
      for (var m = topology[params.memberStartOffset + v]; m < topology[params.memberStartOffset + v + 1u]; m++) { logAlpha[topology[params.memberOffset + m]] = la; }
      step = abs(d);
#endif
    }
  }
  largest[lid] = step;
  for (var half = ${WORKGROUP / 2}u; half > 0u; half = half / 2u) {
    workgroupBarrier();
    if (lid < half) { largest[lid] = max(largest[lid], largest[lid + half]); }
  }
  if (lid == 0u) { atomicMax(&stepBits[params.slot0 + state.sweep], bitcast<u32>(largest[0])); }
}
`;
  return {
    name: 'update',
    code,
    bindings: UpdateBindings,
  };
}
