import type { Kernel } from './bindings.js';
import { bindingLayout, bindingsWgsl, readOnly, storage, uniform } from './bindings.js';
import { gridWgsl, lseWgsl, State, WORKGROUP } from './common.js';
import { uniformStruct } from './struct.js';

/** The uniform of {@link columnFactorsKernel}: pairs, where their row lists start in the pair table, where their factors go in `accel`, and the floats per coarse row (the row's `y` factor is the last). */
export const ColumnFactorsParams = uniformStruct('ColumnFactorsParams', { nPairs: 'u32', rowOffset: 'u32', factor0: 'u32', rowFloats: 'u32' });

/** The bindings of {@link columnFactorsKernel}, by name (binding k is the k-th). */
export const ColumnFactorsBindings = bindingLayout({
  params: uniform(ColumnFactorsParams),
  state: readOnly(State),
  accel: storage('array<f32>'),
  logRho: readOnly('array<f32>'),
  logAlpha: readOnly('array<f32>'),
  rowPart: readOnly('array<vec2f>'),
  coarseRows: readOnly('array<f32>'),
  /** Per pair, CSR over `pairTable[pair] .. pairTable[pair + 1]` from `rowOffset`: (row unit, then base, stride, count of the row's partials in the pair's block). */
  pairTable: readOnly('array<u32>'),
});

/**
 * The factor by which the coarse shift moves the column sums of one (block, convolution group)
 * pair, one workgroup per pair (`meanRowFactor` of `src/schedule/blockStatistics.ts`): the mean of
 * its rows' `y` factors (written by the coarse solve) weighted by their share `y_i S_i` of the
 * column sums, in logarithms (`log sum exp(lw + lf) - log sum exp(lw)`); exact when the factors
 * are equal, an estimate until the next pass otherwise, as on the CPU. Runs before the shift,
 * on the sums of the last pass; writes `log factor` to `accel[factor0 + pair]`.
 * Override `R = q / p`.
 */
export function columnFactorsKernel(): Kernel<typeof ColumnFactorsBindings> {
  const code = /* wgsl */ `
${lseWgsl}
${State.wgsl}
${gridWgsl}
${ColumnFactorsParams.wgsl}
override R: f32;
${bindingsWgsl(ColumnFactorsBindings)}
var<workgroup> weighted: array<vec2f, ${WORKGROUP}>;
var<workgroup> weights: array<vec2f, ${WORKGROUP}>;
var<workgroup> done: u32;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let pair = flatWorkgroup(wid, nwg);
  if (pair >= params.nPairs) { return; }
  if (lid == 0u) { done = state.converged; }
  if (workgroupUniformLoad(&done) != 0u) { return; }
  let first = pairTable[pair];
  let last = pairTable[pair + 1u];
  var num = vec2f(LOG_ZERO, 0.0);
  var den = vec2f(LOG_ZERO, 0.0);
  for (var k = first + lid; k < last; k += ${WORKGROUP}u) {
    let o = params.rowOffset + 4u * k;
    let unit = pairTable[o];
    let base = pairTable[o + 1u];
    let stride = pairTable[o + 2u];
    let count = pairTable[o + 3u];
    var S = vec2f(LOG_ZERO, 0.0);
    for (var t = 0u; t < count; t++) { S = lseMerge(S, rowPart[base + t * stride]); }
    let lr = logRho[unit];
    if (S.y > 0.0 && lr > LOG_VALID) {
      let lw = (R - 1.0) * lr + logAlpha[unit] + lseLog(S);
      let lf = coarseRows[(unit + 1u) * params.rowFloats - 1u];
      den = lseAdd(den, lw);
      num = lseAdd(num, lw + lf);
    }
  }
  weighted[lid] = num;
  weights[lid] = den;
  for (var half = ${WORKGROUP / 2}u; half > 0u; half = half / 2u) {
    workgroupBarrier();
    if (lid < half) {
      weighted[lid] = lseMerge(weighted[lid], weighted[lid + half]);
      weights[lid] = lseMerge(weights[lid], weights[lid + half]);
    }
  }
  if (lid == 0u) {
    var factor = 0.0;
    if (weights[0].y > 0.0) {
      factor = lseLog(weighted[0]) - lseLog(weights[0]);
    } else if (last > first) {
      factor = coarseRows[(pairTable[params.rowOffset + 4u * first] + 1u) * params.rowFloats - 1u];
    }
    accel[params.factor0 + pair] = factor;
  }
}
`;
  return { name: 'columnFactors', code, bindings: ColumnFactorsBindings };
}
