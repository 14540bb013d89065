import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { Kernel } from './bindings.js';
import { bindingLayout, bindingsWgsl, readOnly, storage, uniform } from './bindings.js';
import { gridWgsl, WORKGROUP } from './common.js';
import { uniformStruct } from './struct.js';

/**
 * The per-segment uniform of {@link rescaleKernel}: the segment's shape (as in the engine's
 * segment layout), its weight entries, its first row and column units, whether it has biases,
 * and `weightShift`, the power of two the uploaded weights were divided by (the engine's
 * `normScale`), given back exactly in the kernel.
 */
export const RescaleParams = uniformStruct('RescaleParams', {
  rows: 'u32',
  cols: 'u32',
  rowsPerGroup: 'u32',
  taps: 'u32',
  entries: 'u32',
  rowUnit0: 'u32',
  colUnit0: 'u32',
  hasBias: 'u32',
  weightShift: 'i32',
});

/**
 * Bytes per unit of the factor table of {@link rescaleKernel}: `a = m * 2^k` as the float32
 * mantissa `m` (in [1/sqrt 2, sqrt 2]), its float32 inverse `1/m`, and the integer `k` (i32).
 */
export const UNIT_SCALE_BYTES = 12;

/** The bindings of {@link rescaleKernel}, by name (binding k is the k-th). */
export const RescaleBindings = bindingLayout({
  params: uniform(RescaleParams),
  scales: readOnly('array<UnitScale>'),
  weights: storage('array<f32>'),
  bias: storage('array<f32>'),
});

/**
 * The final rescaling of one block segment (MATH.md §1): `w -> w * a[row] / a[col]` for every
 * weight entry (entry `(i*cols + j)*taps + t`, column unit `colUnit0 + g*cols + j` with
 * `g = floor(i / rowsPerGroup)`) and `b -> b * a[row]` for the biases, in place, where
 * `a = exp(U)` for the per-unit log factor `U` (zero for fixed and frozen units).
 *
 * Each factor comes as `m * 2^k`, split on the host from the float64 `U`, so the kernel needs no
 * transcendental and no intermediate can overflow: `w * (m_row * (1/m_col))` is within a factor
 * of 2 of `w` (three correctly rounded float32 products, a few ulps from the float64 result),
 * and `2^(k_row - k_col)` is applied exactly by `ldexp` in steps of at most 2^126.
 */
export function rescaleKernel(): Kernel<typeof RescaleBindings> {
  const code = wgsl`
${gridWgsl}
${RescaleParams.wgsl}
struct UnitScale {
  mantissa: f32,
  inverse: f32,
  exponent: i32,
}
${bindingsWgsl(RescaleBindings)}

/** x * 2^e, exactly (ldexp is defined for exponents in [-126, 127]). */
fn timesPowerOfTwo(x: f32, e: i32) -> f32 {
  var y = x;
  var k = e;
  loop {
    if (k == 0) { break; }
    let s = clamp(k, -126, 126);
    y = ldexp(y, s);
    k -= s;
  }
  return y;
}

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let e = flatWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  if (e < params.entries) {
    let edge = e / params.taps;
    let i = edge / params.cols;
    let j = edge % params.cols;
    let g = i / params.rowsPerGroup;
    let row = scales[params.rowUnit0 + i];
    let col = scales[params.colUnit0 + g * params.cols + j];
    let shift = row.exponent - col.exponent + params.weightShift;
    weights[e] = timesPowerOfTwo(weights[e] * (row.mantissa * col.inverse), shift);
  }
  if (params.hasBias != 0u && e < params.rows) {
    let row = scales[params.rowUnit0 + e];
    bias[e] = timesPowerOfTwo(bias[e] * row.mantissa, row.exponent);
  }
}
`;
  return { name: 'rescale', code, bindings: RescaleBindings };
}

/**
 * The factor table of {@link rescaleKernel} from per-unit log factors (float64): for each unit
 * `exp(U) = m * 2^k` with `k = round(U / ln 2)`, `m = exp(U - k ln 2)` in float64, rounded once
 * to float32, and `1/m` rounded once. Non-finite log factors are refused.
 */
export function unitScales(logFactors: ArrayLike<number>): ArrayBuffer {
  const table = new ArrayBuffer(Math.max(1, logFactors.length) * UNIT_SCALE_BYTES);
  const view = new DataView(table);
  for (let unit = 0; unit < logFactors.length; unit++) {
    const U = logFactors[unit];
    if (!Number.isFinite(U)) throw new Error(`the log factor of unit ${unit} is not finite (${U})`);
    const k = Math.round(U / Math.LN2);
    const m = Math.exp(U - k * Math.LN2);
    if (Math.abs(k) > 2 ** 30) throw new Error(`the log factor of unit ${unit} (${U}) is out of range`);
    view.setFloat32(unit * UNIT_SCALE_BYTES, m, true);
    view.setFloat32(unit * UNIT_SCALE_BYTES + 4, 1 / m, true);
    view.setInt32(unit * UNIT_SCALE_BYTES + 8, k, true);
  }
  return table;
}
