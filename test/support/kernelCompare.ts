/**
 * Comparisons of two sets of CPU kernels (test/cpu-kernels.test.ts, test/cpu-blocked32.test.ts):
 * every pass of every block on random vectors, whole or split into row ranges.
 */
import type { PowerKernels } from '../../src/engines/cpu/kernels.js';
import type { Problem } from '../../src/problem/problem.js';
import { uniformStream } from './fixReference.js';

/** Every pass of the kernels. */
const PASSES = ['rowPass', 'columnPass', 'fusedPass', 'rowColumnPass'] as const;

export function relative(a: number, b: number): number {
  return a === b ? 0 : Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b));
}

/** Run every pass of every block on both kernels with the same random vectors; the largest relative difference. */
export function compare(problem: Problem, a: PowerKernels, b: PowerKernels, seed: number): number {
  const next = uniformStream(seed);
  let worst = 0;
  problem.blocks.forEach((block, k) => {
    for (let u = 0; u < problem.nUnits; u++) {
      const x = next();
      const y = next() < 0.2 ? 0 : next();
      a.x[u] = b.x[u] = x;
      a.y[u] = b.y[u] = y;
      // The row-then-column pass's weights A (S + B)^(r - 1): some rows without weight or bias.
      a.w[2 * u] = b.w[2 * u] = next() < 0.1 ? 0 : next();
      a.w[2 * u + 1] = b.w[2 * u + 1] = next() < 0.3 ? 0 : next();
    }
    for (const pass of PASSES) {
      a.C.fill(0.5);
      b.C.fill(0.5);
      a[pass](k);
      b[pass](k);
      if (pass !== 'columnPass') for (let i = 0; i < block.rows; i++) worst = Math.max(worst, relative(a.S[i], b.S[i]));
      if (pass !== 'rowPass') for (let u = 0; u < problem.nUnits; u++) worst = Math.max(worst, relative(a.C[u], b.C[u]));
    }
    for (let e = 0; e < block.rows * block.cols; e++) worst = Math.max(worst, relative(a.entry(k, e), b.entry(k, e)));
  });
  return worst;
}

/**
 * The largest relative difference between every pass of every block run whole and the same pass
 * run as three ranges of rows split at random (ragged) points; the split runs in reverse order.
 */
export function splitDifference(problem: Problem, kernels: PowerKernels, seed: number): number {
  const next = uniformStream(seed);
  let worst = 0;
  problem.blocks.forEach((block, k) => {
    for (let u = 0; u < problem.nUnits; u++) [kernels.x[u], kernels.y[u], kernels.w[2 * u], kernels.w[2 * u + 1]] = [next(), next(), next(), next()];
    const a = Math.floor(next() * (block.rows + 1));
    const b = a + Math.floor(next() * (block.rows - a + 1));
    const ranges = [
      [b, block.rows],
      [a, b],
      [0, a],
    ];
    for (const pass of PASSES) {
      kernels.C.fill(0.25);
      kernels.S.fill(-1);
      kernels[pass](k);
      const [S, C] = [kernels.S.slice(0, block.rows), kernels.C.slice()];
      kernels.C.fill(0.25);
      kernels.S.fill(-1);
      for (const [r0, r1] of ranges) kernels[pass](k, r0, r1);
      if (pass !== 'columnPass') for (let i = 0; i < block.rows; i++) worst = Math.max(worst, relative(S[i], kernels.S[i]));
      for (let u = 0; u < problem.nUnits; u++) worst = Math.max(worst, relative(C[u], kernels.C[u]));
    }
  });
  return worst;
}
