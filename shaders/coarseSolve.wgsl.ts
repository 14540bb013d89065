import { ACCEL_SHIFT0, COARSE_MAX_GROUPS, COARSE_ROW_FLOATS, COARSE_ROW_Y, COARSE_SLOTS } from './accelerated.js';
import type { Kernel } from './bindings.js';
import { bindingLayout, bindingsWgsl, readOnly, storage, uniform } from './bindings.js';
import { State } from './common.js';
import { uniformStruct } from './struct.js';

/** The uniform of {@link coarseSolveKernel}: layers with rows, and groups. */
export const CoarseSolveParams = uniformStruct('CoarseSolveParams', { nLayers: 'u32', nGroups: 'u32' });

/** Words per layer of the coarse layer table: first unit, end unit, row group + 1 (0: none), slots, the group of each slot. */
export const COARSE_LAYER_WORDS = 4 + COARSE_SLOTS;

/** The bindings of {@link coarseSolveKernel}, by name (binding k is the k-th). */
export const CoarseSolveBindings = bindingLayout({
  params: uniform(CoarseSolveParams),
  state: readOnly(State),
  accel: storage('array<f32>'),
  coarseRows: storage('array<f32>'),
  coarseLayers: readOnly('array<u32>'),
});

/** Invocations of the one workgroup. */
const NT = 128;
/** Sums per layer: A, B per slot, C per pair of slots (s <= t). */
const K = 1 + COARSE_SLOTS + (COARSE_SLOTS * (COARSE_SLOTS + 1)) / 2;

/**
 * The coarse shift in one workgroup (`solveCoarse` of `src/schedule/coarse.ts`, in float32): the
 * shift `c` per group minimising `F(c) = sum_i term_i (m_i(c) exp(p c_g(i)))^r` with
 * `m_i(c) = fixed_i + sum_s share_is exp(-p c_h(s))`, by damped Newton with a backtracking line
 * search from `c = 0`. All rows of a layer read the same groups, so gradient and Hessian follow
 * from per-layer sums `A = sum w`, `B_s = sum w pi_s`, `C_st = sum w pi_s pi_t` (a tree
 * reduction per layer); invocation 0 assembles them and solves the small system (Cholesky).
 * Near the minimum, where float32 cannot tell the line search's decrease from rounding
 * (decrement below 1e-6 of `F`), the full Newton step is taken (at most three times). Writes
 * `c` to `accel[${ACCEL_SHIFT0} + g]`, and per row the log factor of its column weight
 * `y = rho^(r-1) alpha` under the shift, `(r - 1) log(rho(c)/rho) + p c_g`, after its floats.
 * Overrides `P`, `R = q / p`.
 */
export function coarseSolveKernel(): Kernel<typeof CoarseSolveBindings> {
  const code = /* wgsl */ `
${State.wgsl}
${CoarseSolveParams.wgsl}
override P: f32;
override R: f32;
const NT: u32 = ${NT}u;
const K: u32 = ${K}u;
const SLOTS: u32 = ${COARSE_SLOTS}u;
const GMAX: u32 = ${COARSE_MAX_GROUPS}u;
/** A row with no term or no mass (log shifts are never this large). */
const LOG_NONE: f32 = -3.0e38;
${bindingsWgsl(CoarseSolveBindings)}
var<workgroup> red: array<f32, ${NT * K}>;
var<workgroup> c: array<f32, ${COARSE_MAX_GROUPS}>;
var<workgroup> trial: array<f32, ${COARSE_MAX_GROUPS}>;
var<workgroup> stepv: array<f32, ${COARSE_MAX_GROUPS}>;
var<workgroup> grad: array<f32, ${COARSE_MAX_GROUPS}>;
var<workgroup> hess: array<f32, ${COARSE_MAX_GROUPS * COARSE_MAX_GROUPS}>;
/** [0] F at c, [1] the Newton decrement, [2] the value at the trial point. */
var<workgroup> ctl: array<f32, 4>;
var<workgroup> flag: u32;

fn shiftAt(g: u32, atTrial: bool) -> f32 {
  return select(c[g], trial[g], atTrial);
}

/** log(rho_i(c) / rho_i) at the point, with the shares pi_s; a row with no term or no mass gives LOG_NONE. */
fn rowLogShift(i: u32, layer: u32, atTrial: bool, pi: ptr<function, array<f32, ${COARSE_SLOTS}>>) -> f32 {
  let o = i * ${COARSE_ROW_FLOATS}u;
  if (!(coarseRows[o] > 0.0)) { return LOG_NONE; }
  let L = layer * ${COARSE_LAYER_WORDS}u;
  let nSlots = coarseLayers[L + 3u];
  var m = coarseRows[o + 1u];
  for (var s = 0u; s < SLOTS; s++) {
    var e = 0.0;
    if (s < nSlots) { e = coarseRows[o + 2u + s] * exp(-P * shiftAt(coarseLayers[L + 4u + s], atTrial)); }
    (*pi)[s] = e;
    m += e;
  }
  if (!(m > 0.0)) { return LOG_NONE; }
  for (var s = 0u; s < SLOTS; s++) { (*pi)[s] = (*pi)[s] / m; }
  let g = coarseLayers[L + 2u];
  var lg = log(m);
  if (g > 0u) { lg += P * shiftAt(g - 1u, atTrial); }
  return lg;
}

/** The row's weight w = term (rho(c)/rho)^r and its shares pi_s at the point; w = 0 for a row with no term. */
fn rowAt(i: u32, layer: u32, atTrial: bool, pi: ptr<function, array<f32, ${COARSE_SLOTS}>>) -> f32 {
  let lg = rowLogShift(i, layer, atTrial, pi);
  if (lg == LOG_NONE) { return 0.0; }
  return coarseRows[i * ${COARSE_ROW_FLOATS}u] * exp(R * lg);
}

/** Sum red[lid * K + k], k < count, over the workgroup into red[k]. */
fn reduce(lid: u32, count: u32) {
  for (var half = NT / 2u; half > 0u; half = half / 2u) {
    workgroupBarrier();
    if (lid < half) {
      for (var k = 0u; k < count; k++) { red[lid * K + k] += red[(lid + half) * K + k]; }
    }
  }
  workgroupBarrier();
}

/** F at the trial point into ctl[2]. */
fn valueAtTrial(lid: u32) {
  var f = 0.0;
  var pi: array<f32, ${COARSE_SLOTS}>;
  for (var layer = 0u; layer < params.nLayers; layer++) {
    let L = layer * ${COARSE_LAYER_WORDS}u;
    for (var i = coarseLayers[L] + lid; i < coarseLayers[L + 1u]; i += NT) { f += rowAt(i, layer, true, &pi); }
  }
  red[lid * K] = f;
  reduce(lid, 1u);
  if (lid == 0u) { ctl[2] = red[0]; }
  workgroupBarrier();
}

fn hessAdd(a: u32, b: u32, x: f32) {
  hess[a * params.nGroups + b] += x;
}

/** F, gradient and Hessian at c (F into ctl[0]). */
fn derivatives(lid: u32) {
  let G = params.nGroups;
  if (lid == 0u) {
    ctl[0] = 0.0;
    for (var a = 0u; a < G; a++) { grad[a] = 0.0; }
    for (var a = 0u; a < G * G; a++) { hess[a] = 0.0; }
  }
  var pi: array<f32, ${COARSE_SLOTS}>;
  for (var layer = 0u; layer < params.nLayers; layer++) {
    let L = layer * ${COARSE_LAYER_WORDS}u;
    var sums: array<f32, ${K}>;
    for (var k = 0u; k < K; k++) { sums[k] = 0.0; }
    for (var i = coarseLayers[L] + lid; i < coarseLayers[L + 1u]; i += NT) {
      let w = rowAt(i, layer, false, &pi);
      sums[0] += w;
      var k = 1u + SLOTS;
      for (var s = 0u; s < SLOTS; s++) {
        sums[1u + s] += w * pi[s];
        for (var t = s; t < SLOTS; t++) {
          sums[k] += w * pi[s] * pi[t];
          k++;
        }
      }
    }
    for (var k = 0u; k < K; k++) { red[lid * K + k] = sums[k]; }
    reduce(lid, K);
    if (lid == 0u) {
      // d = p e_g - p sum_s pi_s e_h(s); Hessian r^2 sum w d d^T + r p^2 sum w (diag(pi) - pi pi^T).
      let nSlots = coarseLayers[L + 3u];
      let g1 = coarseLayers[L + 2u];
      let A = red[0];
      ctl[0] += A;
      let P2 = P * P;
      if (g1 > 0u) {
        grad[g1 - 1u] += R * P * A;
        hessAdd(g1 - 1u, g1 - 1u, R * R * P2 * A);
      }
      var k = 1u + SLOTS;
      for (var s = 0u; s < SLOTS; s++) {
        let hs = coarseLayers[L + 4u + s];
        let B = red[1u + s];
        if (s < nSlots) {
          grad[hs] -= R * P * B;
          hessAdd(hs, hs, R * P2 * B);
          if (g1 > 0u) {
            hessAdd(g1 - 1u, hs, -R * R * P2 * B);
            hessAdd(hs, g1 - 1u, -R * R * P2 * B);
          }
        }
        for (var t = s; t < SLOTS; t++) {
          if (t < nSlots) {
            let ht = coarseLayers[L + 4u + t];
            let C = red[k] * (R * R * P2 - R * P2);
            hessAdd(hs, ht, C);
            if (t != s) { hessAdd(ht, hs, C); }
          }
          k++;
        }
      }
    }
    workgroupBarrier();
  }
}

/** Invocation 0: regularise, factor and solve H step = grad; the decrement into ctl[1] (0 when the factorisation fails). */
fn newtonStep() {
  let G = params.nGroups;
  var trace = 0.0;
  for (var a = 0u; a < G; a++) { trace += hess[a * G + a]; }
  for (var a = 0u; a < G; a++) { hess[a * G + a] += 1e-6 * trace + 1e-30; }
  for (var i = 0u; i < G; i++) {
    for (var j = 0u; j <= i; j++) {
      var s = hess[i * G + j];
      for (var k = 0u; k < j; k++) { s -= hess[i * G + k] * hess[j * G + k]; }
      if (i == j) {
        if (!(s > 0.0)) {
          ctl[1] = 0.0;
          return;
        }
        hess[i * G + i] = sqrt(s);
      } else {
        hess[i * G + j] = s / hess[j * G + j];
      }
    }
  }
  for (var i = 0u; i < G; i++) {
    var x = grad[i];
    for (var k = 0u; k < i; k++) { x -= hess[i * G + k] * stepv[k]; }
    stepv[i] = x / hess[i * G + i];
  }
  for (var ii = 0u; ii < G; ii++) {
    let i = G - 1u - ii;
    var x = stepv[i];
    for (var k = i + 1u; k < G; k++) { x -= hess[k * G + i] * stepv[k]; }
    stepv[i] = x / hess[i * G + i];
  }
  var dec = 0.0;
  for (var a = 0u; a < G; a++) { dec += stepv[a] * grad[a]; }
  ctl[1] = dec;
}

@compute @workgroup_size(${NT})
fn main(@builtin(local_invocation_index) lid: u32) {
  if (lid == 0u) { flag = state.converged; }
  if (workgroupUniformLoad(&flag) != 0u) { return; }
  let G = params.nGroups;
  if (lid < GMAX) {
    c[lid] = 0.0;
    trial[lid] = 0.0;
    stepv[lid] = 0.0;
  }
  workgroupBarrier();
  if (G > 0u) {
    derivatives(lid);
    var trusted = 0u;
    for (var iteration = 0u; iteration < 30u; iteration++) {
      if (lid == 0u) {
        newtonStep();
        let F = ctl[0];
        // 0: stop; 1: line search; 2: the full step (below float32's resolution of the decrease).
        flag = select(0u, select(1u, 2u, ctl[1] <= 1e-6 * F), ctl[1] > 1e-12 * F);
      }
      let mode = workgroupUniformLoad(&flag);
      if (mode == 0u) { break; }
      var accepted = false;
      if (mode == 2u) {
        trusted++;
        if (lid < G) { trial[lid] = c[lid] - stepv[lid]; }
        accepted = true;
      } else {
        var t = 1.0;
        for (var k = 0u; k < 30u; k++) {
          if (lid < G) { trial[lid] = c[lid] - t * stepv[lid]; }
          workgroupBarrier();
          valueAtTrial(lid);
          if (lid == 0u) { flag = select(0u, 1u, ctl[2] <= ctl[0] - 0.25 * t * ctl[1]); }
          if (workgroupUniformLoad(&flag) != 0u) {
            accepted = true;
            break;
          }
          t = t / 2.0;
        }
      }
      if (!accepted) { break; }
      workgroupBarrier();
      if (lid < G) { c[lid] = trial[lid]; }
      workgroupBarrier();
      if (trusted >= 3u) { break; }
      derivatives(lid);
    }
  }
  workgroupBarrier();
  if (lid < G) { accel[${ACCEL_SHIFT0}u + lid] = c[lid]; }
  rowFactors(lid);
}

/** Per row, log(rho(c) / rho) from the model and the log factor of y under the shift (0 for a row with no term). */
fn rowFactors(lid: u32) {
  var pi: array<f32, ${COARSE_SLOTS}>;
  for (var layer = 0u; layer < params.nLayers; layer++) {
    let L = layer * ${COARSE_LAYER_WORDS}u;
    let g1 = coarseLayers[L + 2u];
    var shiftOfRow = 0.0;
    if (g1 > 0u) { shiftOfRow = P * c[g1 - 1u]; }
    for (var i = coarseLayers[L] + lid; i < coarseLayers[L + 1u]; i += NT) {
      var logShift = rowLogShift(i, layer, false, &pi);
      if (logShift == LOG_NONE) { logShift = 0.0; }
      coarseRows[i * ${COARSE_ROW_FLOATS}u + ${COARSE_ROW_Y}u] = (R - 1.0) * logShift + shiftOfRow;
    }
  }
}
`;
  return { name: 'coarseSolve', code, bindings: CoarseSolveBindings };
}
