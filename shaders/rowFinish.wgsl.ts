import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { Kernel } from './bindings.js';
import { bindingLayout, bindingsWgsl, readOnly, storage, uniform } from './bindings.js';
import { gridWgsl, lseWgsl, State, WORKGROUP } from './common.js';
import { uniformStruct } from './struct.js';

/** The uniform of {@link rowFinishKernel}: units, and the offsets of the row partial lists in the topology buffer. */
export const RowFinishParams = uniformStruct('RowFinishParams', { nUnits: 'u32', rowStartOffset: 'u32', rowEntryOffset: 'u32' });

/** The bindings of {@link rowFinishKernel}, by name (binding k is the k-th). */
export const RowFinishBindings = bindingLayout({
  params: uniform(RowFinishParams),
  state: readOnly(State),
  rowPart: readOnly('array<vec2f>'),
  topology: readOnly('array<u32>'),
  logBias: readOnly('array<f32>'),
  logAlpha: readOnly('array<f32>'),
  logRho: storage('array<f32>'),
  logY: storage('array<f32>'),
});

/**
 * Finish the row sums per unit: `log rho[i] = log alpha[i] + log(bias mass + sum of the row
 * partials of every block segment with row i)`, and the column weight
 * `log y[i] = (r - 1) log rho[i] + log alpha[i]` (just `log alpha[i]` when `r = 1`).
 * The partials of a unit are listed in the topology buffer as (base, stride, count) triples.
 * Override `R` is `q / p`.
 */
export function rowFinishKernel(flags: { unitR: boolean }): Kernel<typeof RowFinishBindings> {
  const code = wgsl`
${lseWgsl}
${State.wgsl}
${gridWgsl}
${RowFinishParams.wgsl}
override R: f32;
${bindingsWgsl(RowFinishBindings)}

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let unit = flatWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  if (unit >= params.nUnits || state.converged != 0u) { return; }
  var acc = lseAdd(vec2f(LOG_ZERO, 0.0), logBias[unit]);
  let first = topology[params.rowStartOffset + unit];
  let last = topology[params.rowStartOffset + unit + 1u];
  for (var e = first; e < last; e++) {
    let entry = params.rowEntryOffset + 3u * e;
    let base = topology[entry];
    let stride = topology[entry + 1u];
    let count = topology[entry + 2u];
    for (var k = 0u; k < count; k++) { acc = lseMerge(acc, rowPart[base + k * stride]); }
  }
  if (acc.y <= 0.0) {
    logRho[unit] = LOG_ZERO;
    logY[unit] = LOG_ZERO;
    return;
  }
  let lr = logAlpha[unit] + acc.x + log(acc.y);
  logRho[unit] = lr;
#if ${flags.unitR}
  logY[unit] = logAlpha[unit];
#else
  logY[unit] = (R - 1.0) * lr + logAlpha[unit];
#endif
}
`;
  return {
    name: 'rowFinish',
    code,
    bindings: RowFinishBindings,
  };
}
