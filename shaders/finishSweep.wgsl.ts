import { State } from './common.js';
import type { Kernel } from './common.js';

/**
 * End of a sweep, one invocation: apply the stopping rule to the sweep's largest step (later
 * sweeps of the batch then return at once) and advance the sweep slot.
 */
export function finishSweepKernel(): Kernel {
  const code = /* wgsl */ `
${State.wgsl}
@group(0) @binding(0) var<storage, read_write> state: State;
@group(0) @binding(1) var<storage, read> stepBits: array<u32>;

@compute @workgroup_size(1)
fn main() {
  if (state.converged != 0u) { return; }
  if (bitcast<f32>(stepBits[state.sweep]) < state.tol) { state.converged = 1u; }
  state.sweep = state.sweep + 1u;
}
`;
  return { name: 'finishSweep', code, bindings: ['storage', 'read-only-storage'] };
}
