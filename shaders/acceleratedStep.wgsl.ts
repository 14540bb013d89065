import { ACCEL_SHIFT0, logInOutWgsl } from './accelerated.js';
import type { Kernel } from './bindings.js';
import { bindingLayout, bindingsWgsl, readOnly, storage, uniform } from './bindings.js';
import { gridWgsl, lseWgsl, State, WORKGROUP } from './common.js';
import { uniformStruct } from './struct.js';

/** What one dispatch of {@link acceleratedStepKernel} does (the `mode` of its uniform). */
export const StepMode = { start: 0, base: 1, shift: 2, long: 3, safe: 4, measure: 5 } as const;
export type StepModeName = keyof typeof StepMode;

/** The uniform of {@link acceleratedStepKernel}. */
export const AcceleratedStepParams = uniformStruct('AcceleratedStepParams', {
  mode: 'u32',
  nVars: 'u32',
  memberStartOffset: 'u32',
  memberOffset: 'u32',
  colStartOffset: 'u32',
  colEntryOffset: 'u32',
  /** Where the group of each variable (+1, 0: none) starts in the topology buffer. */
  groupOffset: 'u32',
  /** Where the per-workgroup partial sums of the predicted decrease start in `accel`. */
  predicted0: 'u32',
});

/** The bindings of {@link acceleratedStepKernel}, by name (binding k is the k-th). */
export const AcceleratedStepBindings = bindingLayout({
  params: uniform(AcceleratedStepParams),
  state: readOnly(State),
  accel: storage('array<f32>'),
  /** `u`, then (each `nVars` long) `u` at the sweep's start, `u`, `log In` and `log Out` at the base point. */
  u: storage('array<f32>'),
  logAlpha: storage('array<f32>'),
  logRho: readOnly('array<f32>'),
  colPart: readOnly('array<vec2f>'),
  topology: readOnly('array<u32>'),
  stepBits: storage('array<atomic<u32>>'),
});

/**
 * The per-variable arithmetic of an accelerated sweep (`AcceleratedSchedule.sweep`), one
 * invocation per variable, by `mode`: `start` keeps `u`; `base` keeps `u`, `log In`, `log Out`
 * (the point the safeguard falls back from); `shift` adds the coarse shift of the variable's
 * group; `long` takes `u += eta log(Out/In)` (`LONG_ETA`, or `SHORT_ETA` once `accel[1]` is set)
 * and sums the predicted decrease `q (Out - In)_base (u - u_base) / F_base` per workgroup into
 * `accel`; `safe` takes the paper's step `u_base + SAFE_ETA log(Out/In)_base`; `measure` writes
 * the sweep's largest `|u - u_start|` to its step slot. Every move sets `log alpha = P u` of the
 * members. A variable whose `In` or `Out` vanished does not move. Overrides `P`, `R`,
 * `LONG_ETA`, `SHORT_ETA`, `SAFE_ETA`.
 */
export function acceleratedStepKernel(): Kernel<typeof AcceleratedStepBindings> {
  const code = /* wgsl */ `
${lseWgsl}
${State.wgsl}
${gridWgsl}
${AcceleratedStepParams.wgsl}
override P: f32;
override R: f32;
override LONG_ETA: f32;
override SHORT_ETA: f32;
override SAFE_ETA: f32;
${bindingsWgsl(AcceleratedStepBindings)}
${logInOutWgsl}
var<workgroup> partial: array<f32, ${WORKGROUP}>;
var<workgroup> done: u32;

fn moveTo(v: u32, next: f32) {
  u[v] = next;
  let la = P * next;
  for (var m = topology[params.memberStartOffset + v]; m < topology[params.memberStartOffset + v + 1u]; m++) { logAlpha[topology[params.memberOffset + m]] = la; }
}

fn valid(io: vec2f) -> bool {
  return io.x > LOG_VALID && io.y > LOG_VALID;
}

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  if (lid == 0u) { done = state.converged; }
  if (workgroupUniformLoad(&done) != 0u) { return; }
  let group = flatWorkgroup(wid, nwg);
  let v = group * ${WORKGROUP}u + lid;
  let n = params.nVars;
  let live = v < n;
  var value = 0.0;
  if (live) {
    switch (params.mode) {
      case ${StepMode.start}u: { u[n + v] = u[v]; }
      case ${StepMode.base}u: {
        let io = logInOut(v);
        u[2u * n + v] = u[v];
        u[3u * n + v] = io.x;
        u[4u * n + v] = io.y;
      }
      case ${StepMode.shift}u: {
        let g = topology[params.groupOffset + v];
        if (g > 0u) { moveTo(v, u[v] + accel[${ACCEL_SHIFT0}u + g - 1u]); }
      }
      case ${StepMode.long}u: {
        let io = logInOut(v);
        if (valid(io)) {
          let eta = select(LONG_ETA, SHORT_ETA, accel[1] != 0.0);
          moveTo(v, u[v] + eta * (io.y - io.x));
        }
        let base = vec2f(u[3u * n + v], u[4u * n + v]);
        if (valid(base)) {
          let lF = accel[0];
          value = P * R * (exp(base.y - lF) - exp(base.x - lF)) * (u[v] - u[2u * n + v]);
        }
      }
      case ${StepMode.safe}u: {
        let base = vec2f(u[3u * n + v], u[4u * n + v]);
        var next = u[2u * n + v];
        if (valid(base)) { next += SAFE_ETA * (base.y - base.x); }
        moveTo(v, next);
      }
      default: { value = abs(u[v] - u[n + v]); }
    }
  }
  if (params.mode == ${StepMode.long}u || params.mode == ${StepMode.measure}u) {
    partial[lid] = value;
    let isLong = params.mode == ${StepMode.long}u;
    for (var half = ${WORKGROUP / 2}u; half > 0u; half = half / 2u) {
      workgroupBarrier();
      if (lid < half) { partial[lid] = select(max(partial[lid], partial[lid + half]), partial[lid] + partial[lid + half], isLong); }
    }
    if (lid == 0u) {
      if (isLong) { accel[params.predicted0 + group] = partial[0]; } else { atomicMax(&stepBits[state.sweep], bitcast<u32>(partial[0])); }
    }
  }
}
`;
  return { name: 'acceleratedStep', code, bindings: AcceleratedStepBindings };
}
