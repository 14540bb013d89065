/**
 * A symmetric positive definite solve by one workgroup (WGSL), for the coarse solve: the matrix
 * `hess` (a `G x G` storage array, row-major) is regularised by `1e-6 trace + 1e-30` on its
 * diagonal, factored in place (`L L^T`, the lower triangle; right-looking, one column at a time,
 * the rows below it shared among the `NT` invocations), then `stepv = H^-1 grad` by the two
 * triangular solves. Needs the workgroup arrays `grad`, `stepv` (length `G`), `ctl` (`ctl[1]`
 * gets the Newton decrement `stepv . grad`, 0 when the factorisation fails; `ctl[3]` is used) and
 * the workgroup `flag`, the constant `NT` and the function's `G` argument uniform.
 */
export const choleskyWgsl = /* wgsl */ `
fn sync() {
  storageBarrier();
  workgroupBarrier();
}

/** Factor H (regularised) in place; returns false (uniformly) when a pivot is not positive. */
fn factor(lid: u32, G: u32) -> bool {
  sync();
  if (lid == 0u) {
    var trace = 0.0;
    for (var a = 0u; a < G; a++) { trace += hess[a * G + a]; }
    ctl[3] = 1e-6 * trace + 1e-30;
    flag = 0u;
  }
  sync();
  for (var a = lid; a < G; a += NT) { hess[a * G + a] += ctl[3]; }
  for (var j = 0u; j < G; j++) {
    sync();
    if (lid == 0u) {
      let s = hess[j * G + j];
      if (s > 0.0) { hess[j * G + j] = sqrt(s); } else { flag = 1u; }
    }
    if (workgroupUniformLoad(&flag) != 0u) { return false; }
    storageBarrier();
    let d = hess[j * G + j];
    for (var i = j + 1u + lid; i < G; i += NT) { hess[i * G + j] = hess[i * G + j] / d; }
    sync();
    for (var i = j + 1u + lid; i < G; i += NT) {
      let l = hess[i * G + j];
      for (var k = j + 1u; k <= i; k++) { hess[i * G + k] -= l * hess[k * G + j]; }
    }
  }
  sync();
  return true;
}

/** stepv = H^-1 grad and the decrement into ctl[1] (0 when H is not positive definite); every invocation calls it. */
fn newtonStep(lid: u32, G: u32) {
  if (!factor(lid, G)) {
    if (lid == 0u) { ctl[1] = 0.0; }
    workgroupBarrier();
    return;
  }
  for (var a = lid; a < G; a += NT) { stepv[a] = grad[a]; }
  for (var j = 0u; j < G; j++) {
    workgroupBarrier();
    if (lid == 0u) { stepv[j] = stepv[j] / hess[j * G + j]; }
    workgroupBarrier();
    for (var i = j + 1u + lid; i < G; i += NT) { stepv[i] -= hess[i * G + j] * stepv[j]; }
  }
  for (var jj = 0u; jj < G; jj++) {
    let j = G - 1u - jj;
    workgroupBarrier();
    if (lid == 0u) { stepv[j] = stepv[j] / hess[j * G + j]; }
    workgroupBarrier();
    for (var i = lid; i < j; i += NT) { stepv[i] -= hess[j * G + i] * stepv[j]; }
  }
  workgroupBarrier();
  if (lid == 0u) {
    var dec = 0.0;
    for (var a = 0u; a < G; a++) { dec += stepv[a] * grad[a]; }
    ctl[1] = dec;
  }
  workgroupBarrier();
}
`;
