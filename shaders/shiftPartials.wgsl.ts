import type { Kernel } from './bindings.js';
import { bindingLayout, bindingsWgsl, readOnly, storage, uniform } from './bindings.js';
import { gridWgsl, State, WORKGROUP } from './common.js';
import { uniformStruct } from './struct.js';

/** The per-segment uniform of {@link shiftPartialsKernel}: its row and column partials, and where its row and column factors are. */
export const ShiftParams = uniformStruct('ShiftParams', {
  rowBase: 'u32',
  rowCount: 'u32',
  colBase: 'u32',
  colCount: 'u32',
  /** Where the log row and column factors of the segment's first convolution group are in `accel`. */
  rowFactor0: 'u32',
  factor0: 'u32',
  /** Rows of the segment, and per convolution group. */
  rows: 'u32',
  rowsPerGroup: 'u32',
  /** Column partials per row tile (`groups * cols`) and columns per convolution group. */
  span: 'u32',
  cols: 'u32',
});

/** The bindings of {@link shiftPartialsKernel}, by name (binding k is the k-th). */
export const ShiftBindings = bindingLayout({
  params: uniform(ShiftParams),
  state: readOnly(State),
  accel: readOnly('array<f32>'),
  rowPart: storage('array<vec2f>'),
  colPart: storage('array<vec2f>'),
});

/**
 * Move one block segment's partial sums to the factors shifted by the coarse step `c`
 * (`BlockStatistics.shift` of `src/schedule/blockStatistics.ts`), with no read of `P`: its row
 * sums `sum_j P / alpha_j` of each convolution group by the factor the coarse solve wrote
 * (`sum_t f_t exp(-p c_h(t))` over the groups of its columns), the column sums `sum_i y_i P` of each
 * convolution group by the factor `columnFactors` wrote (exact when the coarse space is, an
 * estimate until the next pass otherwise, as on the CPU). The row finish then gives `rho`, `In`
 * and `y`.
 */
export function shiftPartialsKernel(): Kernel<typeof ShiftBindings> {
  const code = /* wgsl */ `
${State.wgsl}
${gridWgsl}
${ShiftParams.wgsl}
${bindingsWgsl(ShiftBindings)}

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let k = flatWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  if (state.converged != 0u) { return; }
  if (k < params.rowCount) {
    let pair = rowPart[params.rowBase + k];
    let factor = accel[params.rowFactor0 + (k % params.rows) / params.rowsPerGroup];
    if (pair.y > 0.0) { rowPart[params.rowBase + k] = vec2f(pair.x + factor, pair.y); }
  }
  if (k < params.colCount) {
    let pair = colPart[params.colBase + k];
    let factor = accel[params.factor0 + (k % params.span) / params.cols];
    if (pair.y > 0.0) { colPart[params.colBase + k] = vec2f(pair.x + factor, pair.y); }
  }
}
`;
  return { name: 'shiftPartials', code, bindings: ShiftBindings };
}
