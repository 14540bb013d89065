import { ACCEL_SHIFT0 } from './accelerated.js';
import type { Kernel } from './bindings.js';
import { bindingLayout, bindingsWgsl, readOnly, storage, uniform } from './bindings.js';
import { gridWgsl, State, WORKGROUP } from './common.js';
import { uniformStruct } from './struct.js';

/** The per-segment uniform of {@link shiftPartialsKernel}: its row and column partials, and the groups of its rows and columns (-1: not shifted). */
export const ShiftParams = uniformStruct('ShiftParams', {
  rowBase: 'u32',
  rowCount: 'u32',
  colBase: 'u32',
  colCount: 'u32',
  rowGroup: 'i32',
  colGroup: 'i32',
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
 * sums `sum_j P / alpha_j` scale by `exp(-p c_col)`, its column sums `sum_i y_i P` by
 * `exp((r - 1) p (c_row - c_col) + p c_row)` (exact when every row reads one group, an estimate
 * until the next pass otherwise, as on the CPU). The row finish then gives `rho`, `In` and `y`.
 * Overrides `P`, `R = q / p`.
 */
export function shiftPartialsKernel(): Kernel<typeof ShiftBindings> {
  const code = /* wgsl */ `
${State.wgsl}
${gridWgsl}
${ShiftParams.wgsl}
override P: f32;
override R: f32;
${bindingsWgsl(ShiftBindings)}

fn shiftOf(g: i32) -> f32 {
  if (g < 0) { return 0.0; }
  return accel[${ACCEL_SHIFT0}u + u32(g)];
}

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let k = flatWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  if (state.converged != 0u) { return; }
  let cRow = shiftOf(params.rowGroup);
  let cCol = shiftOf(params.colGroup);
  if (k < params.rowCount) {
    let pair = rowPart[params.rowBase + k];
    if (pair.y > 0.0) { rowPart[params.rowBase + k] = vec2f(pair.x - P * cCol, pair.y); }
  }
  if (k < params.colCount) {
    let pair = colPart[params.colBase + k];
    if (pair.y > 0.0) { colPart[params.colBase + k] = vec2f(pair.x + (R - 1.0) * P * (cRow - cCol) + P * cRow, pair.y); }
  }
}
`;
  return { name: 'shiftPartials', code, bindings: ShiftBindings };
}
