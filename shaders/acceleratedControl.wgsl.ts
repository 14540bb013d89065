import { SUFFICIENT } from './accelerated.js';
import type { Kernel } from './bindings.js';
import { bindingLayout, bindingsWgsl, readOnly, storage, uniform } from './bindings.js';
import { lseWgsl, State, WORKGROUP } from './common.js';
import { uniformStruct } from './struct.js';

/** What one dispatch of {@link acceleratedControlKernel} does (the `mode` of its uniform). */
export const ControlMode = { objective: 0, gate: 1, decide: 2, disarm: 3 } as const;
export type ControlModeName = keyof typeof ControlMode;

/** The uniform of {@link acceleratedControlKernel}. */
export const ControlParams = uniformStruct('ControlParams', {
  mode: 'u32',
  /** Pairs of the norm history per sweep. */
  normGroups: 'u32',
  /** Partial sums of the predicted decrease, and where they start in `accel`. */
  predictedGroups: 'u32',
  predicted0: 'u32',
  /** Words of a region's indirect arguments. */
  regionWords: 'u32',
  /** Slots of the step history: the imbalance of sweep s at `imbalanceSlot0 + s`, its path at `pathSlot0 + s`. */
  imbalanceSlot0: 'u32',
  pathSlot0: 'u32',
});

/** The bindings of {@link acceleratedControlKernel}, by name (binding k is the k-th). */
export const ControlBindings = bindingLayout({
  params: uniform(ControlParams),
  state: readOnly(State),
  accel: storage('array<f32>'),
  normHistory: readOnly('array<vec2f>'),
  stepBits: storage('array<atomic<u32>>'),
  /** The indirect dispatch arguments of one region (`gate`: the long region's; `decide`, `disarm`: the safe region's). */
  args: storage('array<u32>'),
  /** The arguments of a region when it runs (the same for both). */
  argsTemplate: readOnly('array<u32>'),
});

/**
 * The decisions of an accelerated sweep, on the GPU, one workgroup, by `mode`:
 * `objective` reduces the current sweep's norm pairs to `log F` (`accel[0]`, the base of the
 * next decisions); `disarm` empties the safe region; `gate` (coarse space exact) ends the sweep
 * after the coarse shift when the imbalance the evaluate kernel measured there meets `tol` (the
 * long region's dispatches become empty, path 0), and otherwise clears that imbalance slot and
 * arms the long region; `decide`
 * is Armijo's test `F_long <= F_base (1 - ${SUFFICIENT} predicted)`: the safe region's dispatches
 * become empty when the long point is accepted (path 1), and real (path 2, and the shorter long
 * exponent from now on, `accel[1] = 1`) when not. A region's arguments are never bound to the
 * dispatch that reads them indirectly (WebGPU forbids it), hence one buffer per region.
 */
export function acceleratedControlKernel(): Kernel<typeof ControlBindings> {
  const code = /* wgsl */ `
${lseWgsl}
${State.wgsl}
${ControlParams.wgsl}
${bindingsWgsl(ControlBindings)}
var<workgroup> pairs: array<vec2f, ${WORKGROUP}>;
var<workgroup> sums: array<f32, ${WORKGROUP}>;
var<workgroup> flag: u32;

/** Fill the region's arguments with the template, or zeros. */
fn arm(lid: u32, on: bool) {
  for (var k = lid; k < params.regionWords; k += ${WORKGROUP}u) { args[k] = select(0u, argsTemplate[k], on); }
}

fn setPath(path: f32) {
  atomicStore(&stepBits[params.pathSlot0 + state.sweep], bitcast<u32>(path));
}

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(local_invocation_index) lid: u32) {
  if (lid == 0u) { flag = state.converged; }
  if (workgroupUniformLoad(&flag) != 0u) { return; }
  if (params.mode == ${ControlMode.disarm}u) {
    arm(lid, false);
    return;
  }
  if (params.mode == ${ControlMode.gate}u) {
    if (lid == 0u) {
      let imbalance = bitcast<f32>(atomicLoad(&stepBits[params.imbalanceSlot0 + state.sweep]));
      flag = select(0u, 1u, imbalance <= state.tol);
    }
    let stop = workgroupUniformLoad(&flag) != 0u;
    arm(lid, !stop);
    if (lid == 0u) {
      if (stop) { setPath(0.0); } else { atomicStore(&stepBits[params.imbalanceSlot0 + state.sweep], 0u); }
    }
    return;
  }
  var acc = vec2f(LOG_ZERO, 0.0);
  var predicted = 0.0;
  for (var k = lid; k < params.normGroups; k += ${WORKGROUP}u) { acc = lseMerge(acc, normHistory[state.sweep * params.normGroups + k]); }
  for (var k = lid; k < params.predictedGroups; k += ${WORKGROUP}u) { predicted += accel[params.predicted0 + k]; }
  pairs[lid] = acc;
  sums[lid] = predicted;
  for (var half = ${WORKGROUP / 2}u; half > 0u; half = half / 2u) {
    workgroupBarrier();
    if (lid < half) {
      pairs[lid] = lseMerge(pairs[lid], pairs[lid + half]);
      sums[lid] = sums[lid] + sums[lid + half];
    }
  }
  if (params.mode == ${ControlMode.objective}u) {
    if (lid == 0u) { accel[0] = lseLog(pairs[0]); }
    return;
  }
  if (lid == 0u) {
    let ratio = exp(lseLog(pairs[0]) - accel[0]);
    let accept = ratio <= 1.0 - ${SUFFICIENT} * max(sums[0], 0.0);
    flag = select(0u, 1u, accept);
    setPath(select(2.0, 1.0, accept));
    if (!accept) { accel[1] = 1.0; }
  }
  let accepted = workgroupUniformLoad(&flag) != 0u;
  arm(lid, !accepted);
}
`;
  return { name: 'acceleratedControl', code, bindings: ControlBindings };
}
