/**
 * What the kernels of the accelerated schedule share (see `src/schedule/accelerated.ts` for the
 * mathematics): the layout of its scalar buffer, the floats of a coarse row, and the WGSL that
 * reads `log In` and `log Out` of one variable from the row and column sums.
 */

/**
 * The accelerated schedule's `array<f32>` buffer: scalars first (`[0]` log F at the current (base)
 * point, `[1]` 1 once the long step has fallen back to the shorter exponent), then the coarse
 * shift `c` per group, then (from offsets the host passes, see `acceleratedTables.ts`) the
 * per-workgroup partial sums of the predicted decrease, the log factor of each (block,
 * convolution group) pair's column sums and of its row sums under the shift, and the fraction
 * of each pair's row sums read from each group of its columns (`partGroup` of the coarse space).
 */
export const ACCEL_SCALARS = 8;
/** Where the coarse shift starts in the scalar buffer. */
export const ACCEL_SHIFT0 = ACCEL_SCALARS;
/** Floats per row of the coarse model with `slots` pairs read per row: the term, the fixed share, a share per slot, and (after the solve) the log factor of the row's `y`. */
export function coarseRowFloats(slots: number): number {
  return 3 + slots;
}
/** Armijo's share of the first-order decrease a long step must achieve (as on the CPU). */
export const SUFFICIENT = 1e-4;

/**
 * `logInOut(v)`: `(log In, log Out)` of variable `v` at the current sums, `LOG_ZERO` where one
 * vanished: `In` sums `rho^r` over the members, `Out` the column partials of the members over
 * `alpha = exp(P u[v])`. Needs `lseWgsl`, the override `P` and `R`, bindings `u`, `logRho`,
 * `colPart`, `topology`, and a `params` with the member and column list offsets.
 */
export const logInOutWgsl = /* wgsl */ `
fn logInOut(v: u32) -> vec2f {
  let m0 = topology[params.memberStartOffset + v];
  let m1 = topology[params.memberStartOffset + v + 1u];
  var inAcc = vec2f(LOG_ZERO, 0.0);
  for (var m = m0; m < m1; m++) {
    let lr = logRho[topology[params.memberOffset + m]];
    if (lr > LOG_VALID) { inAcc = lseAdd(inAcc, R * lr); }
  }
  var outAcc = vec2f(LOG_ZERO, 0.0);
  let e0 = topology[params.colStartOffset + v];
  let e1 = topology[params.colStartOffset + v + 1u];
  for (var e = e0; e < e1; e++) {
    let entry = params.colEntryOffset + 3u * e;
    let base = topology[entry];
    let stride = topology[entry + 1u];
    let count = topology[entry + 2u];
    for (var k = 0u; k < count; k++) { outAcc = lseMerge(outAcc, colPart[base + k * stride]); }
  }
  return vec2f(select(LOG_ZERO, lseLog(inAcc), inAcc.y > 0.0), select(LOG_ZERO, lseLog(outAcc) - P * u[v], outAcc.y > 0.0));
}
`;
