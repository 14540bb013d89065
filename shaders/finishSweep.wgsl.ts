import type { Kernel } from './bindings.js';
import { bindingLayout, bindingsWgsl, readOnly, storage } from './bindings.js';
import { State } from './common.js';

/** The bindings of {@link finishSweepKernel}, by name (binding k is the k-th). */
export const FinishSweepBindings = bindingLayout({
  state: storage(State),
  stepBits: readOnly('array<u32>'),
});

/**
 * End of a sweep, one invocation: apply the stopping rule (MATH.md §4) to the imbalance
 * `max |log(Out/In)|` the evaluate kernel wrote for this sweep at slot `imbalanceSlot0 + sweep`
 * (later sweeps of the batch then return at once: `<= tol`, with `tol` rounded down to float32
 * by the host), and advance the sweep slot.
 */
export function finishSweepKernel(imbalanceSlot0: number): Kernel<typeof FinishSweepBindings> {
  const code = /* wgsl */ `
${State.wgsl}
${bindingsWgsl(FinishSweepBindings)}

@compute @workgroup_size(1)
fn main() {
  if (state.converged != 0u) { return; }
  if (bitcast<f32>(stepBits[${imbalanceSlot0}u + state.sweep]) <= state.tol) { state.converged = 1u; }
  state.sweep = state.sweep + 1u;
}
`;
  return { name: 'finishSweep', code, bindings: FinishSweepBindings };
}
