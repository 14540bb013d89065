/**
 * The CPU engine's passes without logarithms (`LinearBlockSums.linearRows/Columns/Fused`, issue 11
 * point 1): the sums the log passes give, exponentiated, on every kernel and element type, for
 * vectors spanning hundreds of decades (the power-of-two scaling); `false` where a sum loses
 * precision; the caller's vectors untouched.
 */
import { describe, expect, it } from 'vitest';
import { LinearBlockSums } from '../src/engines/cpu/blockSums.js';
import type { PassSums, PowerKernels, PowerPrecision } from '../src/engines/cpu/kernels.js';
import { JsKernels } from '../src/engines/cpu/kernels.js';
import { WasmKernels } from '../src/engines/cpu/wasm/wasmKernels.js';
import { sequential } from '../src/network/builders.js';
import { compileProblem } from '../src/problem/compile.js';
import type { Problem } from '../src/problem/problem.js';
import { NETS } from './support/fixNets.js';
import { uniformStream } from './support/fixReference.js';

type Make = (problem: Problem, precision: PowerPrecision, sums: PassSums) => PowerKernels;
const KERNELS: [string, Make][] = [
  ['js', (problem, precision) => new JsKernels(problem, precision, 0.5)],
  ['wasm', (problem, precision, sums) => new WasmKernels(problem, precision, 0.5, sums)],
];

/** Positive values per unit whose logarithms are uniform in `[-decades, decades] * ln 10`. */
function spread(n: number, decades: number, seed: number): Float64Array {
  const next = uniformStream(seed);
  return Float64Array.from({ length: n }, () => 10 ** (decades * (2 * next() - 1)));
}

function worst(a: Float64Array, b: Float64Array): number {
  let err = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) err = Math.max(err, Math.abs(a[i] - b[i]) / Math.abs(b[i]));
  return err;
}

describe('linear passes (no exp or log per unit)', () => {
  for (const [kernelName, make] of KERNELS) {
    for (const [precision, sums] of [
      ['float64', 'float64'],
      ['float32', 'float64'],
      ['float32', 'blocked32'],
    ] as [PowerPrecision, PassSums][]) {
      if (kernelName === 'js' && sums === 'blocked32') continue;
      it(`${kernelName}, ${precision} P, ${sums} sums: rows, columns and fused give exp of the log passes' sums (cnn, residual, mlp), vectors over ±100 decades`, () => {
        for (const name of ['cnn', 'residual', 'mlp']) {
          const problem = compileProblem(NETS[name](3), { p: 2, q: 2 });
          const linear = new LinearBlockSums(problem, make(problem, precision, sums));
          const reference = new LinearBlockSums(problem, make(problem, precision, sums));
          const x = spread(problem.nUnits, 100, 1);
          const y = spread(problem.nUnits, 100, 2);
          const [xCopy, yCopy] = [x.slice(), y.slice()];
          const [lx, ly] = [x.map(Math.log), y.map(Math.log)];
          const tolerance = sums === 'blocked32' ? 1e-6 : 1e-13;
          problem.blocks.forEach((b, k) => {
            const [S, lS] = [new Float64Array(b.rows), new Float64Array(b.rows)];
            const [C, lC] = [new Float64Array(problem.nUnits), new Float64Array(b.cols * b.groups)];
            expect(linear.linearRows(k, x, S)).toBe(true);
            expect(reference.rows(k, lx, lS)).toBe(true);
            expect(worst(S, lS.map(Math.exp)), `${name} block ${k} rows`).toBeLessThan(tolerance);
            expect(linear.linearColumns(k, y, C)).toBe(true);
            expect(reference.columns(k, ly, lC)).toBe(true);
            const columns = C.subarray(b.colUnit0, b.colUnit0 + b.cols * b.groups);
            expect(worst(columns, lC.map(Math.exp)), `${name} block ${k} columns`).toBeLessThan(tolerance);
            const [S2, C2] = [new Float64Array(b.rows), new Float64Array(problem.nUnits)];
            expect(linear.linearFused(k, x, y, S2, C2)).toBe(true);
            expect(worst(S2, S), `${name} block ${k} fused rows`).toBeLessThan(tolerance);
            expect(worst(C2.subarray(b.colUnit0, b.colUnit0 + b.cols * b.groups), columns)).toBeLessThan(tolerance);
          });
          expect(x).toEqual(xCopy);
          expect(y).toEqual(yCopy);
          linear.dispose();
          reference.dispose();
        }
      });
    }
  }

  for (const [kernelName, make] of KERNELS) {
    it(`${kernelName}: the row-then-column pass (linearRowsColumns) gives exp of rowsColumns' sums in one call, p != q, biases, alpha over ±30 decades`, () => {
      for (const name of ['cnn', 'residual', 'mlp']) {
        for (const [p, q] of [
          [1, 2],
          [3, 1.5],
        ]) {
          const problem = compileProblem(NETS[name](3), { p, q, includeBiases: true });
          const linear = new LinearBlockSums(problem, make(problem, 'float64', 'float64'));
          const reference = new LinearBlockSums(problem, make(problem, 'float64', 'float64'));
          const alpha = spread(problem.nUnits, 30, 3);
          const bias = spread(problem.nUnits, 20, 4);
          const x = alpha.map((a) => 1 / a);
          const la = alpha.map(Math.log);
          const [xCopy, laCopy, biasCopy] = [x.slice(), la.slice(), bias.slice()];
          problem.blocks.forEach((b, k) => {
            const [S, lS] = [new Float64Array(b.rows), new Float64Array(b.rows)];
            const [C, lC] = [new Float64Array(problem.nUnits), new Float64Array(b.cols * b.groups)];
            const label = `${name} (${p}, ${q}) block ${k}`;
            expect(linear.linearRowsColumns(k, x, la, bias, S, C), label).toBe(true);
            expect(reference.rowsColumns(k, x.map(Math.log), la, bias.map(Math.log), lS, lC), label).toBe(true);
            expect(worst(S, lS.map(Math.exp)), `${label} rows`).toBeLessThan(1e-12);
            expect(worst(C.subarray(b.colUnit0, b.colUnit0 + b.cols * b.groups), lC.map(Math.exp)), `${label} columns`).toBeLessThan(1e-11);
          });
          expect([x, la, bias]).toEqual([xCopy, laCopy, biasCopy]);
          linear.dispose();
          reference.dispose();
        }
      }
    });
  }

  it('a sum far below the largest entry of its vector (lost to the precision of the pass) gives false, not a wrong sum', () => {
    // One row reads two columns; its only non-zero weight is on the column whose entry is 1e-300 of the other's.
    const net = sequential([2], [{ type: 'dense', units: 2 }], { seed: 0, dtype: 'float64' });
    net.blocks[0].weight.set([0, 1, 1, 1]);
    const problem = compileProblem(net, { p: 2, q: 2 });
    for (const [kernelName, make] of KERNELS) {
      const sums = new LinearBlockSums(problem, make(problem, 'float64', 'float64'));
      const S = new Float64Array(2);
      expect(sums.linearRows(0, Float64Array.from([1, 1e-300, 0, 0]), S), kernelName).toBe(false);
      expect(sums.linearRows(0, Float64Array.from([1e-150, 1e-150, 0, 0]), S), kernelName).toBe(true);
      expect(S[0] / 1e-150 / (0.5 * 0.5)).toBeCloseTo(1, 12);
      sums.dispose();
    }
  });
});
