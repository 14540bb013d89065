/**
 * The coarse solve's derivatives and Newton direction past `MAX_COARSE_GROUPS` groups (WGSL, one
 * workgroup; `newtonStepCg` of `src/schedule/coarseCg.ts` in float32): no Hessian is formed. `F`,
 * the gradient and the Hessian's diagonal come from one walk over the runs of rows, and each
 * product with the Hessian from another: per run, the rows' sums are reduced over the workgroup
 * and invocation 0 adds them to the row group's entry and to per-pair accumulators (`X`, `Y`, one
 * invocation, so no two write one word); then each group gathers its parts' terms through the
 * group -> parts CSR (`coarseGather.ts`: no float atomics). The direction is by conjugate
 * gradients preconditioned by the diagonal, from zero, to a preconditioned residual of 0.1 of the
 * gradient's or 200 products, stopping on a curvature that is not positive, as on the CPU; every
 * decision is a flag the workgroup loads uniformly.
 *
 * The storage array `hess` is scratch of `10 G + 2 nPairs` floats: `x`, the residual, `z`, the
 * direction, the product and the inverse diagonal (`G` each), then `X` and `Y` per pair, then the
 * kernel's own vectors (`c`, `trial`, `stepv`, `grad`, moved there by the kernel so that the
 * workgroup memory does not grow with the groups). Needs the kernel's `ctl` (`ctl[3]`: the
 * diagonal shift), `red`, `flag`, the
 * constants `NT`, `K` (at least `1 + 2 S`), `S`, `RUN_WORDS`, and its `runFactors`, `rowAt`, `reduce`.
 */
/** The CPU's inexact Newton-CG settings (`schedule/coarse.ts`, `schedule/coarseCg.ts`), passed in so both engines read one definition. */
export interface NewtonCgSettings {
  /** Newton steps per solve. */
  iterations: number;
  /** Conjugate gradients stop at this preconditioned residual over the gradient's. */
  tolerance: number;
  /** At most this many Hessian products per direction. */
  products: number;
}

export function coarseNewtonCgWgsl(S: number, K: number, cg: NewtonCgSettings): string {
  return /* wgsl */ `
fn sync() {
  storageBarrier();
  workgroupBarrier();
}

/** Conjugate gradients stop at this preconditioned residual over the gradient's, squared (the CPU's CG_TOLERANCE, squared). */
const CG_TARGET: f32 = ${cg.tolerance * cg.tolerance};
/** At most this many Hessian products per direction (the CPU's CG_ITERATIONS). */
const CG_PRODUCTS: u32 = ${cg.products}u;
/** [0] rz, [1] its target, [2] the dot product just reduced. */
var<workgroup> cgs: array<f32, 4>;

fn vX() -> u32 { return 0u; }
fn vR() -> u32 { return params.nGroups; }
fn vZ() -> u32 { return 2u * params.nGroups; }
fn vD() -> u32 { return 3u * params.nGroups; }
fn vQ() -> u32 { return 4u * params.nGroups; }
fn vInv() -> u32 { return 5u * params.nGroups; }
fn vPairX() -> u32 { return 6u * params.nGroups; }
fn vPairY() -> u32 { return 6u * params.nGroups + params.nPairs; }
/** Where the kernel's k-th per-group vector (the shift, the trial point, the step, the gradient) is. */
fn vectorStart(k: u32) -> u32 { return (6u + k) * params.nGroups + 2u * params.nPairs; }

/** exp(-p c_h) f_t of part t (0 for an unshifted part), and its group + 1. */
fn partShare(t: u32) -> vec2f {
  let h = solveTable[params.partGroupOffset + t];
  if (h == 0u) { return vec2f(0.0, 0.0); }
  return vec2f(accel[params.fraction0 + t] * exp(-P * c[h - 1u]), f32(h));
}

/** Per slot of run \`run\`, the sum over its pair's shifted parts of f_t exp(-p c_h) v_h (v at hess[v0 ..]). */
fn runProducts(run: u32, v0: u32) -> array<f32, ${S}> {
  var V: array<f32, ${S}>;
  let o = run * RUN_WORDS;
  for (var s = 0u; s < S; s++) {
    V[s] = 0.0;
    if (s >= solveTable[o + 3u]) { continue; }
    let pair = solveTable[o + 4u + s];
    for (var t = solveTable[params.partStartOffset + pair]; t < solveTable[params.partStartOffset + pair + 1u]; t++) {
      let e = partShare(t);
      if (e.y > 0.0) { V[s] += e.x * hess[v0 + u32(e.y) - 1u]; }
    }
  }
  return V;
}

/** Zero the pair accumulators and \`count\` floats from \`v0\` of the scratch. */
fn clearScratch(lid: u32, v0: u32, count: u32) {
  sync();
  for (var k = lid; k < 2u * params.nPairs; k += NT) { hess[vPairX() + k] = 0.0; }
  for (var k = lid; k < count; k += NT) { hess[v0 + k] = 0.0; }
  sync();
}

/** Invocation 0 adds a run's reduced sums red[1 + s] (times \`xScale\`) and red[1 + S + s] to its pairs' X and Y. */
fn addToPairs(run: u32, xScale: f32) {
  let o = run * RUN_WORDS;
  for (var s = 0u; s < solveTable[o + 3u]; s++) {
    let pair = solveTable[o + 4u + s];
    hess[vPairX() + pair] += xScale * red[1u + s];
    hess[vPairY() + pair] += red[1u + S + s];
  }
}

/** F into ctl[0], the gradient into grad, 1 / (diagonal + shift) at vInv, the shift (1e-12 of the trace) into ctl[3]. */
fn derivatives(lid: u32) {
  let G = params.nGroups;
  clearScratch(lid, vInv(), G);
  for (var a = lid; a < G; a += NT) { grad[a] = 0.0; }
  if (lid == 0u) { ctl[0] = 0.0; }
  var a: array<f32, ${S}>;
  for (var run = 0u; run < params.nRuns; run++) {
    let E = runFactors(run, false);
    var sums: array<f32, ${K}>;
    for (var k = 0u; k < K; k++) { sums[k] = 0.0; }
    for (var i = solveTable[run * RUN_WORDS] + lid; i < solveTable[run * RUN_WORDS + 1u]; i += NT) {
      let w = rowAt(i, run, false, E, &a);
      if (w == 0.0) { continue; }
      sums[0] += w;
      for (var s = 0u; s < S; s++) {
        sums[1u + s] += w * a[s];
        sums[1u + S + s] += w * a[s] * a[s];
      }
    }
    for (var k = 0u; k < 1u + 2u * S; k++) { red[lid * K + k] = sums[k]; }
    reduce(lid, 1u + 2u * S);
    if (lid == 0u) {
      ctl[0] += red[0];
      let g1 = solveTable[run * RUN_WORDS + 2u];
      if (g1 > 0u) {
        grad[g1 - 1u] += R * P * red[0];
        hess[vInv() + g1 - 1u] += R * R * P * P * red[0];
      }
      addToPairs(run, 1.0);
    }
    workgroupBarrier();
  }
  sync();
  for (var g = lid; g < G; g += NT) {
    var d = hess[vInv() + g];
    for (var q = solveTable[params.groupPartsOffset + g]; q < solveTable[params.groupPartsOffset + g + 1u]; q++) {
      let t = solveTable[params.groupPartsOffset + G + 1u + q];
      let pair = solveTable[params.partPairOffset + t];
      let share = partShare(t).x;
      let X = hess[vPairX() + pair];
      grad[g] -= R * P * share * X;
      d += share * R * P * P * X + share * share * (R * R - R) * P * P * hess[vPairY() + pair];
    }
    hess[vInv() + g] = d;
  }
  sync();
  if (lid == 0u) {
    var trace = 0.0;
    for (var g = 0u; g < G; g++) { trace += hess[vInv() + g]; }
    ctl[3] = 1e-12 * trace + 1e-30;
  }
  sync();
  for (var g = lid; g < G; g += NT) { hess[vInv() + g] = 1.0 / (hess[vInv() + g] + ctl[3]); }
  sync();
}

/** The product (at vQ) of the Hessian at c, plus ctl[3] times the identity, with the direction (at vD). */
fn hessianTimes(lid: u32) {
  let G = params.nGroups;
  clearScratch(lid, vQ(), 0u);
  for (var g = lid; g < G; g += NT) { hess[vQ() + g] = ctl[3] * hess[vD() + g]; }
  sync();
  var a: array<f32, ${S}>;
  for (var run = 0u; run < params.nRuns; run++) {
    let E = runFactors(run, false);
    let V = runProducts(run, vD());
    let g1 = solveTable[run * RUN_WORDS + 2u];
    var own = 0.0;
    if (g1 > 0u) { own = hess[vD() + g1 - 1u]; }
    var sums: array<f32, ${K}>;
    for (var k = 0u; k < K; k++) { sums[k] = 0.0; }
    for (var i = solveTable[run * RUN_WORDS] + lid; i < solveTable[run * RUN_WORDS + 1u]; i += NT) {
      let w = rowAt(i, run, false, E, &a);
      if (w == 0.0) { continue; }
      var sv = 0.0;
      for (var s = 0u; s < S; s++) { sv += a[s] * V[s]; }
      let b = w * R * R * P * P * (own - sv);
      sums[0] += b;
      for (var s = 0u; s < S; s++) {
        sums[1u + s] += w * a[s];
        sums[1u + S + s] += a[s] * (w * R * P * P * sv + b);
      }
    }
    for (var k = 0u; k < 1u + 2u * S; k++) { red[lid * K + k] = sums[k]; }
    reduce(lid, 1u + 2u * S);
    if (lid == 0u) {
      if (g1 > 0u) { hess[vQ() + g1 - 1u] += red[0]; }
      addToPairs(run, R * P * P);
    }
    workgroupBarrier();
  }
  sync();
  for (var g = lid; g < G; g += NT) {
    var out = hess[vQ() + g];
    let v = hess[vD() + g];
    for (var q = solveTable[params.groupPartsOffset + g]; q < solveTable[params.groupPartsOffset + g + 1u]; q++) {
      let t = solveTable[params.groupPartsOffset + G + 1u + q];
      let pair = solveTable[params.partPairOffset + t];
      out += partShare(t).x * (v * hess[vPairX() + pair] - hess[vPairY() + pair]);
    }
    hess[vQ() + g] = out;
  }
  sync();
}

/** The dot product of the scratch vectors at u0 and v0 into cgs[2], seen by every invocation. */
fn dotScratch(lid: u32, u0: u32, v0: u32) {
  var sum = 0.0;
  for (var g = lid; g < params.nGroups; g += NT) { sum += hess[u0 + g] * hess[v0 + g]; }
  red[lid * K] = sum;
  reduce(lid, 1u);
  if (lid == 0u) { cgs[2] = red[0]; }
  workgroupBarrier();
}

/** stepv = an approximation of H^-1 grad by preconditioned conjugate gradients, and the decrement into ctl[1]. */
fn newtonStep(lid: u32, G: u32) {
  for (var g = lid; g < G; g += NT) {
    hess[vX() + g] = 0.0;
    hess[vR() + g] = grad[g];
    let z = grad[g] * hess[vInv() + g];
    hess[vZ() + g] = z;
    hess[vD() + g] = z;
  }
  sync();
  dotScratch(lid, vR(), vZ());
  if (lid == 0u) {
    cgs[0] = cgs[2];
    cgs[1] = CG_TARGET * cgs[2];
  }
  var products = 0u;
  loop {
    if (lid == 0u) { flag = select(0u, 1u, cgs[0] > cgs[1] && products < CG_PRODUCTS); }
    if (workgroupUniformLoad(&flag) == 0u) { break; }
    hessianTimes(lid);
    products++;
    dotScratch(lid, vD(), vQ());
    if (lid == 0u) { flag = select(0u, 1u, cgs[2] > 0.0); }
    if (workgroupUniformLoad(&flag) == 0u) { break; }
    let alpha = cgs[0] / cgs[2];
    for (var g = lid; g < G; g += NT) {
      hess[vX() + g] += alpha * hess[vD() + g];
      let r = hess[vR() + g] - alpha * hess[vQ() + g];
      hess[vR() + g] = r;
      hess[vZ() + g] = r * hess[vInv() + g];
    }
    sync();
    dotScratch(lid, vR(), vZ());
    let beta = cgs[2] / cgs[0];
    for (var g = lid; g < G; g += NT) { hess[vD() + g] = hess[vZ() + g] + beta * hess[vD() + g]; }
    workgroupBarrier();
    if (lid == 0u) { cgs[0] = cgs[2]; }
    sync();
  }
  // As on the CPU: a product whose curvature stopped the loop counts (the step is x); with none, the step is z.
  let src0 = select(vZ(), vX(), products > 0u);
  for (var g = lid; g < G; g += NT) { stepv[g] = hess[src0 + g]; }
  workgroupBarrier();
  if (lid == 0u) {
    var dec = 0.0;
    for (var g = 0u; g < G; g++) { dec += stepv[g] * grad[g]; }
    ctl[1] = dec;
  }
  workgroupBarrier();
}
`;
}
