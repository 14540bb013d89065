import type { Kernel } from './bindings.js';
import { bindingLayout, bindingsWgsl, readOnly, storage, uniform } from './bindings.js';
import { gridWgsl, lseWgsl, State, WORKGROUP } from './common.js';
import { uniformStruct } from './struct.js';

/** The uniform of {@link pairFractionsKernel}: split pairs, where the lists of the part table start, and where the fractions go in `accel`. */
export const PairFractionsParams = uniformStruct('PairFractionsParams', {
  nSplit: 'u32',
  partOffset: 'u32',
  colStartOffset: 'u32',
  entryOffset: 'u32',
  fraction0: 'u32',
});

/** The bindings of {@link pairFractionsKernel}, by name (binding k is the k-th). */
export const PairFractionsBindings = bindingLayout({
  params: uniform(PairFractionsParams),
  state: readOnly(State),
  accel: storage('array<f32>'),
  colPart: readOnly('array<vec2f>'),
  logAlpha: readOnly('array<f32>'),
  /**
   * Per split pair (`nSplit + 1` starts) its parts; per part (from `partOffset`) its index in
   * the coarse space's `partGroup`; per part (`colStartOffset`, CSR) its columns, each
   * `(unit, base, stride, count)` of its column partials in the pair's block (from `entryOffset`).
   */
  partTable: readOnly('array<u32>'),
});

/**
 * How the row sums of a (block, convolution group) pair whose columns lie in several groups of
 * the coarse space split over those groups (`pairFractions` of `src/schedule/blockStatistics.ts`),
 * one workgroup per such pair: each part's share of the pair's column sums over `alpha`,
 * `sum_c C_c / alpha_c`, from the column partials of the last pass (a reduction per part, in
 * logarithms), then normalised (`1 / parts` when the pair's columns carry nothing). Writes the
 * fraction of part `t` to `accel[fraction0 + t]`; a pair with one part keeps the 1 the host
 * wrote there.
 */
export function pairFractionsKernel(): Kernel<typeof PairFractionsBindings> {
  const code = /* wgsl */ `
${lseWgsl}
${State.wgsl}
${gridWgsl}
${PairFractionsParams.wgsl}
${bindingsWgsl(PairFractionsBindings)}
var<workgroup> red: array<vec2f, ${WORKGROUP}>;
var<workgroup> word: u32;

fn uniformWord(lid: u32, value: u32) -> u32 {
  if (lid == 0u) { word = value; }
  return workgroupUniformLoad(&word);
}

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let pair = flatWorkgroup(wid, nwg);
  if (pair >= params.nSplit) { return; }
  if (uniformWord(lid, state.converged) != 0u) { return; }
  let q0 = uniformWord(lid, partTable[pair]);
  let q1 = uniformWord(lid, partTable[pair + 1u]);
  for (var q = q0; q < q1; q++) {
    var acc = vec2f(LOG_ZERO, 0.0);
    for (var e = partTable[params.colStartOffset + q] + lid; e < partTable[params.colStartOffset + q + 1u]; e += ${WORKGROUP}u) {
      let o = params.entryOffset + 4u * e;
      let base = partTable[o + 1u];
      let stride = partTable[o + 2u];
      var s = vec2f(LOG_ZERO, 0.0);
      for (var k = 0u; k < partTable[o + 3u]; k++) { s = lseMerge(s, colPart[base + k * stride]); }
      if (s.y > 0.0) { acc = lseAdd(acc, lseLog(s) - logAlpha[partTable[o]]); }
    }
    red[lid] = acc;
    for (var half = ${WORKGROUP / 2}u; half > 0u; half = half / 2u) {
      workgroupBarrier();
      if (lid < half) { red[lid] = lseMerge(red[lid], red[lid + half]); }
    }
    // Invocation 0 keeps the part's log weight where its fraction goes, and normalises below.
    if (lid == 0u) { accel[params.fraction0 + partTable[params.partOffset + q]] = lseLog(red[0]); }
    workgroupBarrier();
  }
  if (lid != 0u) { return; }
  var total = vec2f(LOG_ZERO, 0.0);
  for (var q = q0; q < q1; q++) { total = lseAdd(total, accel[params.fraction0 + partTable[params.partOffset + q]]); }
  for (var q = q0; q < q1; q++) {
    let t = params.fraction0 + partTable[params.partOffset + q];
    accel[t] = select(1.0 / f32(q1 - q0), exp(accel[t] - lseLog(total)), total.y > 0.0);
  }
}
`;
  return { name: 'pairFractions', code, bindings: PairFractionsBindings };
}
