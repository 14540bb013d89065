import { ACCEL_SHIFT0, coarseRowFloats } from './accelerated.js';
import type { Kernel } from './bindings.js';
import { bindingLayout, bindingsWgsl, readOnly, storage, uniform } from './bindings.js';
import { choleskyWgsl } from './cholesky.js';
import type { NewtonCgSettings } from './coarseNewtonCg.js';
import { coarseNewtonCgWgsl } from './coarseNewtonCg.js';
import { State } from './common.js';
import { uniformStruct } from './struct.js';

/** The uniform of {@link coarseSolveKernel}: runs of rows, groups, pairs, where the pairs' part lists are in the solve table, and where the fractions and the row factors are in `accel`. */
export const CoarseSolveParams = uniformStruct('CoarseSolveParams', {
  nRuns: 'u32',
  nGroups: 'u32',
  nPairs: 'u32',
  partStartOffset: 'u32',
  partGroupOffset: 'u32',
  fraction0: 'u32',
  rowScale0: 'u32',
  groupPartsOffset: 'u32',
  partPairOffset: 'u32',
});

/** Words per run of rows in the solve table: first unit, end unit, row group + 1 (0: none), slots, then the pair of each slot. */
export function coarseRunWords(slots: number): number {
  return 4 + slots;
}

/** Most slots (blocks with shifted columns writing one row) the solve takes: its per-invocation sums grow as their square. */
export const COARSE_MAX_SLOTS = 10;

/** Sums per run: A, B per slot, C per pair of slots (s <= t). */
function sumsPerRun(slots: number): number {
  return 1 + slots + (slots * (slots + 1)) / 2;
}

/** Invocations of the one workgroup: fewer where each holds more sums. */
function invocations(slots: number): number {
  const K = sumsPerRun(slots);
  return K <= 16 ? 128 : K <= 32 ? 64 : 32;
}

/**
 * Workgroup memory of the solve specialised to `slots` and `groups` (the host checks it against
 * the device's limit): the dense solve keeps four vectors per group there, the solve by conjugate
 * gradients (`newtonCg`) keeps them in storage, so its bound does not depend on the groups.
 */
export function coarseSolveWorkgroupBytes(slots: number, groups: number, newtonCg = false): number {
  // The control scalars, the flag and the conjugate gradients' scalars: 9 floats, rounded up.
  return 4 * (invocations(slots) * sumsPerRun(slots) + (newtonCg ? 0 : 4 * Math.max(groups, 1)) + 12);
}

/** The per-group vectors of the solve: in workgroup memory for the dense solve, in the storage scratch with conjugate gradients. */
const GROUP_VECTORS = ['c', 'trial', 'stepv', 'grad'] as const;

/**
 * The solve's code with its per-group vectors read and written in the storage scratch `hess`
 * after the conjugate gradients' own (`vectorStart` of `coarseNewtonCg.ts`), and every workgroup
 * barrier a storage barrier too (except inside `sync` itself).
 */
function vectorsInStorage(code: string): string {
  let out = code;
  GROUP_VECTORS.forEach((name, k) => {
    out = out.replace(new RegExp(`\\b${name}\\[`, 'g'), `hess[vectorStart(${k}u) + `);
  });
  return out.replace(/(?<!storageBarrier\(\);\n {2})workgroupBarrier\(\);/g, 'sync();');
}

/** The bindings of {@link coarseSolveKernel}, by name (binding k is the k-th). */
export const CoarseSolveBindings = bindingLayout({
  params: uniform(CoarseSolveParams),
  state: readOnly(State),
  accel: storage('array<f32>'),
  coarseRows: storage('array<f32>'),
  /** The runs of rows ({@link coarseRunWords} words each), then per pair the start of its parts (CSR), then per part its group + 1 (0: unshifted). */
  solveTable: readOnly('array<u32>'),
  /** The Hessian, `nGroups^2` floats (factored in place); with conjugate gradients, their vectors and pair accumulators (`coarseNewtonCg.ts`). */
  hess: storage('array<f32>'),
});

/**
 * The coarse shift in one workgroup (`solveCoarse` of `src/schedule/coarse.ts`, in float32): the
 * shift `c` per group minimising `F(c) = sum_i term_i (m_i(c) exp(p c_g(i)))^r` with
 * `m_i(c) = fixed_i + sum_s share_is E_s(c)`, `E_s(c) = sum_t f_t exp(-p c_h(t))` over the
 * shifted parts `t` of the pair of slot `s` (its fractions `f_t`, `pairFractions`), by damped
 * Newton with a backtracking line search from `c = 0`. The rows come in *runs* (consecutive
 * units with one row group and the same pairs per slot), so gradient and Hessian follow from
 * per-run sums `A = sum w`, `B_s = sum w a_s`, `C_st = sum w a_s a_t` (`a_s = share_is / m_i`, a
 * tree reduction per run); then every invocation adds the run's terms to the Hessian rows it
 * owns (no two write one row). The Hessian lives in a storage buffer; the Newton system is
 * solved by the whole workgroup (`cholesky.ts`). Near the minimum, where float32 cannot tell
 * the line search's decrease from rounding (decrement below 1e-6 of `F`), the full Newton step
 * is taken (at most three times). Writes `c` to `accel[${ACCEL_SHIFT0} + g]`, per pair the log
 * factor of its row sums under the shift (`log sum_t f_t exp(-p c_h(t))`, at `rowScale0`), and
 * per row the log factor of its column weight `y = rho^(r-1) alpha` under the shift,
 * `(r - 1) log(rho(c)/rho) + p c_g`, after its floats. With `newtonCg` (past
 * `MAX_COARSE_GROUPS` groups, as on the CPU) no Hessian is formed: at most `iterations` Newton
 * steps, each direction by conjugate gradients on Hessian products (`coarseNewtonCg.ts`, `hess`
 * is then its scratch). Specialised to `slots`, `groups` and `newtonCg`; overrides `P`, `R = q / p`.
 */
export function coarseSolveKernel(slots: number, groups: number, newtonCg?: NewtonCgSettings): Kernel<typeof CoarseSolveBindings> {
  const cg = newtonCg !== undefined;
  const iterations = newtonCg?.iterations ?? 30;
  const S = Math.max(slots, 1);
  const G = Math.max(groups, 1);
  const K = sumsPerRun(S);
  const NT = invocations(S);
  const FLOATS = coarseRowFloats(S);
  const code = /* wgsl */ `
${State.wgsl}
${CoarseSolveParams.wgsl}
override P: f32;
override R: f32;
const NT: u32 = ${NT}u;
const K: u32 = ${K}u;
const S: u32 = ${S}u;
const FLOATS: u32 = ${FLOATS}u;
const RUN_WORDS: u32 = ${coarseRunWords(S)}u;
/** A row with no term or no mass (log shifts are never this large). */
const LOG_NONE: f32 = -3.0e38;
${bindingsWgsl(CoarseSolveBindings)}
var<workgroup> red: array<f32, ${NT * K}>;
${cg ? '' : GROUP_VECTORS.map((name) => `var<workgroup> ${name}: array<f32, ${G}>;`).join('\n')}
/** [0] F at c, [1] the Newton decrement, [2] the value at the trial point, [3] the regularisation. */
var<workgroup> ctl: array<f32, 4>;
var<workgroup> flag: u32;

fn shiftAt(g: u32, atTrial: bool) -> f32 {
  return select(c[g], trial[g], atTrial);
}

/** The fraction-weighted factor of pair \`pair\`'s shifted parts at the point (with \`unshifted\`, its unshifted parts count 1). */
fn pairSum(pair: u32, atTrial: bool, unshifted: bool) -> f32 {
  var e = 0.0;
  for (var t = solveTable[params.partStartOffset + pair]; t < solveTable[params.partStartOffset + pair + 1u]; t++) {
    let h = solveTable[params.partGroupOffset + t];
    let f = accel[params.fraction0 + t];
    if (h > 0u) { e += f * exp(-P * shiftAt(h - 1u, atTrial)); } else if (unshifted) { e += f; }
  }
  return e;
}

/** log sum_t f_t exp(-p c_h(t)) of a pair at c (unshifted parts count 1); a pair of one group is exact, with no exp and log. */
fn pairLogFactor(pair: u32) -> f32 {
  let t0 = solveTable[params.partStartOffset + pair];
  if (solveTable[params.partStartOffset + pair + 1u] == t0 + 1u) {
    let h = solveTable[params.partGroupOffset + t0];
    return select(0.0, -P * c[max(h, 1u) - 1u], h > 0u);
  }
  let scale = pairSum(pair, false, true);
  return select(0.0, log(scale), scale > 0.0);
}

/** E_s of every slot of run \`run\` at the point. */
fn runFactors(run: u32, atTrial: bool) -> array<f32, ${S}> {
  var E: array<f32, ${S}>;
  let o = run * RUN_WORDS;
  for (var s = 0u; s < S; s++) {
    E[s] = 0.0;
    if (s < solveTable[o + 3u]) { E[s] = pairSum(solveTable[o + 4u + s], atTrial, false); }
  }
  return E;
}

/** log(rho_i(c) / rho_i) at the point, with a_s = share_is / m_i; a row with no term or no mass gives LOG_NONE. */
fn rowLogShift(i: u32, run: u32, atTrial: bool, E: array<f32, ${S}>, a: ptr<function, array<f32, ${S}>>) -> f32 {
  let o = i * FLOATS;
  if (!(coarseRows[o] > 0.0)) { return LOG_NONE; }
  var m = coarseRows[o + 1u];
  for (var s = 0u; s < S; s++) { m += coarseRows[o + 2u + s] * E[s]; }
  if (!(m > 0.0)) { return LOG_NONE; }
  for (var s = 0u; s < S; s++) { (*a)[s] = coarseRows[o + 2u + s] / m; }
  let g = solveTable[run * RUN_WORDS + 2u];
  var lg = log(m);
  if (g > 0u) { lg += P * shiftAt(g - 1u, atTrial); }
  return lg;
}

/** The row's weight w = term (rho(c)/rho)^r at the point; 0 for a row with no term. */
fn rowAt(i: u32, run: u32, atTrial: bool, E: array<f32, ${S}>, a: ptr<function, array<f32, ${S}>>) -> f32 {
  let lg = rowLogShift(i, run, atTrial, E, a);
  if (lg == LOG_NONE) { return 0.0; }
  return coarseRows[i * FLOATS] * exp(R * lg);
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
  var a: array<f32, ${S}>;
  for (var run = 0u; run < params.nRuns; run++) {
    let E = runFactors(run, true);
    for (var i = solveTable[run * RUN_WORDS] + lid; i < solveTable[run * RUN_WORDS + 1u]; i += NT) { f += rowAt(i, run, true, E, &a); }
  }
  red[lid * K] = f;
  reduce(lid, 1u);
  if (lid == 0u) { ctl[2] = red[0]; }
  workgroupBarrier();
}

${newtonCg ? coarseNewtonCgWgsl(S, K, newtonCg) : denseDerivativesWgsl(S, K)}
@compute @workgroup_size(${NT})
fn main(@builtin(local_invocation_index) lid: u32) {
  if (lid == 0u) { flag = state.converged; }
  if (workgroupUniformLoad(&flag) != 0u) { return; }
  let G = params.nGroups;
  for (var a = lid; a < ${G}u; a += NT) {
    c[a] = 0.0;
    trial[a] = 0.0;
    stepv[a] = 0.0;
  }
  workgroupBarrier();
  if (G > 0u) {
    derivatives(lid);
    var trusted = 0u;
    for (var iteration = 0u; iteration < ${iterations}u; iteration++) {
      newtonStep(lid, G);
      if (lid == 0u) {
        let F = ctl[0];
        // 0: stop; 1: line search; 2: the full step (below float32's resolution of the decrease).
        flag = select(0u, select(1u, 2u, ctl[1] <= 1e-6 * F), ctl[1] > 1e-12 * F);
      }
      let mode = workgroupUniformLoad(&flag);
      if (mode == 0u) { break; }
      var accepted = false;
      if (mode == 2u) {
        trusted++;
        for (var a = lid; a < G; a += NT) { trial[a] = c[a] - stepv[a]; }
        accepted = true;
      } else {
        var t = 1.0;
        for (var k = 0u; k < 30u; k++) {
          for (var a = lid; a < G; a += NT) { trial[a] = c[a] - t * stepv[a]; }
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
      for (var a = lid; a < G; a += NT) { c[a] = trial[a]; }
      workgroupBarrier();
      // No derivatives after the last step: nothing reads them.
      if (trusted >= 3u || iteration + 1u == ${iterations}u) { break; }
      derivatives(lid);
    }
  }
  workgroupBarrier();
  for (var a = lid; a < G; a += NT) { accel[${ACCEL_SHIFT0}u + a] = c[a]; }
  for (var pair = lid; pair < params.nPairs; pair += NT) { accel[params.rowScale0 + pair] = pairLogFactor(pair); }
  rowFactors(lid);
}

/** Per row, log(rho(c) / rho) from the model and the log factor of y under the shift (0 for a row with no term). */
fn rowFactors(lid: u32) {
  var a: array<f32, ${S}>;
  for (var run = 0u; run < params.nRuns; run++) {
    let E = runFactors(run, false);
    let g1 = solveTable[run * RUN_WORDS + 2u];
    var shiftOfRow = 0.0;
    if (g1 > 0u) { shiftOfRow = P * c[g1 - 1u]; }
    for (var i = solveTable[run * RUN_WORDS] + lid; i < solveTable[run * RUN_WORDS + 1u]; i += NT) {
      var logShift = rowLogShift(i, run, false, E, &a);
      if (logShift == LOG_NONE) { logShift = 0.0; }
      coarseRows[i * FLOATS + FLOATS - 1u] = (R - 1.0) * logShift + shiftOfRow;
    }
  }
}
`;
  return { name: cg ? 'coarseSolveCg' : 'coarseSolve', code: cg ? vectorsInStorage(code) : code, bindings: CoarseSolveBindings };
}

/** The dense solve's gradient and Hessian (F, `grad`, `hess` as a `G x G` matrix) and its Cholesky step. */
function denseDerivativesWgsl(S: number, K: number): string {
  return /* wgsl */ `
/** Where C_st (s <= t) is among a run's sums. */
fn cIndex(s: u32, t: u32) -> u32 {
  let lo = min(s, t);
  return 1u + S + lo * S - (lo * (lo - 1u)) / 2u + max(s, t) - lo;
}

/** The run's sums at c, reduced into red[0 .. K). */
fn runSums(lid: u32, run: u32, E: array<f32, ${S}>) {
  var sums: array<f32, ${K}>;
  for (var k = 0u; k < K; k++) { sums[k] = 0.0; }
  var a: array<f32, ${S}>;
  for (var i = solveTable[run * RUN_WORDS] + lid; i < solveTable[run * RUN_WORDS + 1u]; i += NT) {
    let w = rowAt(i, run, false, E, &a);
    if (w == 0.0) { continue; }
    sums[0] += w;
    for (var s = 0u; s < S; s++) {
      sums[1u + s] += w * a[s];
      for (var t = s; t < S; t++) { sums[cIndex(s, t)] += w * a[s] * a[t]; }
    }
  }
  for (var k = 0u; k < K; k++) { red[lid * K + k] = sums[k]; }
  reduce(lid, K);
}

/**
 * The run's terms of the gradient and of the Hessian rows invocation \`lid\` owns (group a):
 * with d = p e_g - p sum_s a_s sum_t e_t e_h(t), grad += r sum w d and
 * H += r^2 sum w d d^T + r p^2 sum w (diag(pi) - pi pi^T), pi = sum_s a_s sum_t e_t e_h(t).
 */
fn addRun(lid: u32, run: u32) {
  let G = params.nGroups;
  let o = run * RUN_WORDS;
  let g1 = solveTable[o + 2u];
  let nSlots = solveTable[o + 3u];
  let A = red[0];
  let P2 = P * P;
  for (var a = lid; a < G; a += NT) {
    if (g1 == a + 1u) {
      grad[a] += R * P * A;
      hess[a * G + a] += R * R * P2 * A;
    }
    for (var s = 0u; s < nSlots; s++) {
      let pair = solveTable[o + 4u + s];
      let B = red[1u + s];
      for (var t = solveTable[params.partStartOffset + pair]; t < solveTable[params.partStartOffset + pair + 1u]; t++) {
        let h = solveTable[params.partGroupOffset + t];
        if (h == 0u) { continue; }
        let e = accel[params.fraction0 + t] * exp(-P * c[h - 1u]);
        if (g1 == a + 1u) { hess[a * G + h - 1u] -= R * R * P2 * B * e; }
        if (h != a + 1u) { continue; }
        grad[a] -= R * P * B * e;
        hess[a * G + a] += R * P2 * B * e;
        if (g1 > 0u) { hess[a * G + g1 - 1u] -= R * R * P2 * B * e; }
        for (var s2 = 0u; s2 < nSlots; s2++) {
          let pair2 = solveTable[o + 4u + s2];
          let C = (R * R - R) * P2 * red[cIndex(s, s2)] * e;
          for (var u = solveTable[params.partStartOffset + pair2]; u < solveTable[params.partStartOffset + pair2 + 1u]; u++) {
            let h2 = solveTable[params.partGroupOffset + u];
            if (h2 > 0u) { hess[a * G + h2 - 1u] += C * accel[params.fraction0 + u] * exp(-P * c[h2 - 1u]); }
          }
        }
      }
    }
  }
}

/** F, gradient and Hessian at c (F into ctl[0]). */
fn derivatives(lid: u32) {
  let G = params.nGroups;
  sync();
  for (var a = lid; a < G; a += NT) {
    grad[a] = 0.0;
    for (var b = 0u; b < G; b++) { hess[a * G + b] = 0.0; }
  }
  if (lid == 0u) { ctl[0] = 0.0; }
  for (var run = 0u; run < params.nRuns; run++) {
    runSums(lid, run, runFactors(run, false));
    if (lid == 0u) { ctl[0] += red[0]; }
    addRun(lid, run);
    workgroupBarrier();
  }
  sync();
}
${choleskyWgsl}
`;
}
