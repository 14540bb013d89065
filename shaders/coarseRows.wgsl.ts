import { coarseRowFloats } from './accelerated.js';
import type { Kernel } from './bindings.js';
import { bindingLayout, bindingsWgsl, readOnly, storage, uniform } from './bindings.js';
import { gridWgsl, lseWgsl, State, WORKGROUP } from './common.js';
import { uniformStruct } from './struct.js';

/** The uniform of {@link coarseRowsKernel}: units, where the per-unit list of row partials with their slots starts, and where the pairs' fractions are in `accel`. */
export const CoarseRowsParams = uniformStruct('CoarseRowsParams', { nUnits: 'u32', entryOffset: 'u32', fraction0: 'u32' });

/** Words per entry of the coarse row topology: base, stride and count of the row's partials in one block segment, its slot + 1 (0: fixed), the part of its pair's unshifted columns + 1 (0: none). */
export const COARSE_ENTRY_WORDS = 5;

/** The bindings of {@link coarseRowsKernel}, by name (binding k is the k-th). */
export const CoarseRowsBindings = bindingLayout({
  params: uniform(CoarseRowsParams),
  state: readOnly(State),
  accel: readOnly('array<f32>'),
  logRho: readOnly('array<f32>'),
  rowPart: readOnly('array<vec2f>'),
  logBias: readOnly('array<f32>'),
  coarseTopology: readOnly('array<u32>'),
  coarseRows: storage('array<f32>'),
});

/**
 * The rows of the coarse model (`CoarseRows` of `src/schedule/coarse.ts`), one invocation per
 * unit, from the row partials the last pass left: the row's term `rho^r / F` (relative to the
 * current `F`, `accel[0]` = log F, so the solve works near 1), and its mass `bias + sum_k S_k`
 * split into the share no shift moves (bias, blocks reading only unshifted columns, and the
 * unshifted fraction of the others) and one share per slot: the row sums `S_k` of the `slots`-th
 * block writing the row whose columns hold a shifted group (the solve splits it over the groups
 * of its pair by the pair's fractions, `pairFractions`). `coarseTopology` lists per unit, CSR,
 * {@link COARSE_ENTRY_WORDS} words per block segment writing it. Specialised to `slots`, the most
 * slots of any row; override `R = q / p`.
 */
export function coarseRowsKernel(slots: number): Kernel<typeof CoarseRowsBindings> {
  const floats = coarseRowFloats(slots);
  const code = /* wgsl */ `
${lseWgsl}
${State.wgsl}
${gridWgsl}
${CoarseRowsParams.wgsl}
override R: f32;
${bindingsWgsl(CoarseRowsBindings)}

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let unit = flatWorkgroup(wid, nwg) * ${WORKGROUP}u + lid;
  if (unit >= params.nUnits || state.converged != 0u) { return; }
  var total = lseAdd(vec2f(LOG_ZERO, 0.0), logBias[unit]);
  var fixedAcc = total;
  var shares: array<vec2f, ${slots}>;
  for (var s = 0u; s < ${slots}u; s++) { shares[s] = vec2f(LOG_ZERO, 0.0); }
  let first = coarseTopology[unit];
  let last = coarseTopology[unit + 1u];
  for (var e = first; e < last; e++) {
    let entry = params.entryOffset + ${COARSE_ENTRY_WORDS}u * e;
    let base = coarseTopology[entry];
    let stride = coarseTopology[entry + 1u];
    let count = coarseTopology[entry + 2u];
    let slot = coarseTopology[entry + 3u];
    let fixedPart = coarseTopology[entry + 4u];
    var acc = vec2f(LOG_ZERO, 0.0);
    for (var k = 0u; k < count; k++) { acc = lseMerge(acc, rowPart[base + k * stride]); }
    total = lseMerge(total, acc);
    if (slot == 0u) {
      fixedAcc = lseMerge(fixedAcc, acc);
    } else {
      shares[slot - 1u] = lseMerge(shares[slot - 1u], acc);
      if (fixedPart > 0u && acc.y > 0.0) { fixedAcc = lseAdd(fixedAcc, lseLog(acc) + log(accel[params.fraction0 + fixedPart - 1u])); }
    }
  }
  let o = unit * ${floats}u;
  let lr = logRho[unit];
  if (lr <= LOG_VALID || total.y <= 0.0) {
    for (var k = 0u; k < ${floats - 1}u; k++) { coarseRows[o + k] = 0.0; }
    return;
  }
  let lm = lseLog(total);
  coarseRows[o] = exp(R * lr - accel[0]);
  coarseRows[o + 1u] = exp(lseLog(fixedAcc) - lm);
  for (var s = 0u; s < ${slots}u; s++) { coarseRows[o + 2u + s] = exp(lseLog(shares[s]) - lm); }
}
`;
  return { name: 'coarseRows', code, bindings: CoarseRowsBindings };
}
