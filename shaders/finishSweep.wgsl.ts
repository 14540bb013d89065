import type { Kernel } from './bindings.js';
import { bindingLayout, bindingsWgsl, readOnly, storage } from './bindings.js';
import { State } from './common.js';

/** The bindings of {@link finishSweepKernel}, by name (binding k is the k-th). */
export const FinishSweepBindings = bindingLayout({
  state: storage(State),
  stepBits: readOnly('array<u32>'),
});

/**
 * End of a sweep, one invocation: apply the stopping rule to the sweep's largest step (later
 * sweeps of the batch then return at once) and advance the sweep slot.
 */
export function finishSweepKernel(): Kernel<typeof FinishSweepBindings> {
  const code = /* wgsl */ `
${State.wgsl}
${bindingsWgsl(FinishSweepBindings)}

@compute @workgroup_size(1)
fn main() {
  if (state.converged != 0u) { return; }
  if (bitcast<f32>(stepBits[state.sweep]) < state.tol) { state.converged = 1u; }
  state.sweep = state.sweep + 1u;
}
`;
  return { name: 'finishSweep', code, bindings: FinishSweepBindings };
}
