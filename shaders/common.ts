/**
 * WGSL shared by the kernels of the fix. Every quantity that can overflow or underflow float32
 * (`|w|^p`, `rho^r`, `alpha = a^p`) is carried as a natural logarithm, and sums of
 * exponentials are accumulated as log-sum-exp pairs `(m, s)` meaning `exp(m) * s`, so that
 * exponents up to 32 and weights from 1e-8 to 1e4 stay in range.
 */
import { uniformStruct } from './struct.js';

/** The logarithm of zero on the GPU (a finite sentinel: WGSL has no infinity literal). */
export const LOG_ZERO = -1e30;

/** Workgroup size of the per-element, per-unit and per-variable kernels. */
export const WORKGROUP = 256;

/** Log-sum-exp helpers: `lseAdd` adds one term given as a log, `lseMerge` joins two pairs. */
export const lseWgsl = /* wgsl */ `
const LOG_ZERO: f32 = ${LOG_ZERO};
const LOG_VALID: f32 = ${LOG_ZERO / 10};

fn lseAdd(acc: vec2f, v: f32) -> vec2f {
  if (v <= LOG_VALID) { return acc; }
  if (v > acc.x) { return vec2f(v, acc.y * exp(acc.x - v) + 1.0); }
  return vec2f(acc.x, acc.y + exp(v - acc.x));
}

fn lseMerge(a: vec2f, b: vec2f) -> vec2f {
  if (b.y <= 0.0) { return a; }
  if (a.y <= 0.0) { return b; }
  let m = max(a.x, b.x);
  return vec2f(m, a.y * exp(a.x - m) + b.y * exp(b.x - m));
}

fn lseLog(a: vec2f) -> f32 {
  return select(LOG_ZERO, a.x + log(a.y), a.y > 0.0);
}
`;

/**
 * The run state shared by all kernels of a batch (a storage buffer): the sweep slot being
 * written, whether the stopping rule has been met (later sweeps of the batch are then no-ops),
 * and the tolerance.
 */
export const State = uniformStruct('State', { sweep: 'u32', converged: 'u32', tol: 'f32' });

/** The flat workgroup index of a grid folded into two dimensions. */
export const gridWgsl = /* wgsl */ `
fn flatWorkgroup(wid: vec3u, nwg: vec3u) -> u32 {
  return wid.y * nwg.x + wid.x;
}
`;
