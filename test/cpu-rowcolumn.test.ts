/**
 * The row-then-column passes (issue 11: one read of P per sweep for every (p, q)): a row's
 * column weight y = rho^(r-1) alpha needs only its own row sum when its unit is written by one
 * block, so the kernels add each row into the column sums right after its sum. On every kernel
 * (JS, WebAssembly float32 / float64 P, blocked float32 sums) the pass equals a row pass, then
 * the weights `A (S + B)^(r - 1)`, then a column pass; the engine's sweeps with the chained
 * passes equal its sweeps with a read each (`chainPasses: false`) to rounding, on dense,
 * grouped, depthwise, residual and DAG nets with ragged sizes, for r above, at and below 1, in
 * every schedule, and a weight the kernel cannot hold falls back to the two reads.
 */
import { describe, expect, it } from 'vitest';
import { LinearBlockSums } from '../src/engines/cpu/blockSums.js';
import { CpuEngine } from '../src/engines/cpu/cpuEngine.js';
import type { PowerKernels } from '../src/engines/cpu/kernels.js';
import { JsKernels } from '../src/engines/cpu/kernels.js';
import { columnWeight } from '../src/engines/cpu/passes.js';
import { WasmKernels } from '../src/engines/cpu/wasm/wasmKernels.js';
import { mlp } from '../src/network/builders.js';
import type { Network } from '../src/network/types.js';
import type { Schedule } from '../src/options.js';
import { compileProblem } from '../src/problem/compile.js';
import type { Problem } from '../src/problem/problem.js';
import { NETS } from './support/fixNets.js';
import { uniformStream } from './support/fixReference.js';
import { relative } from './support/kernelCompare.js';

const cases: [string, Network][] = [
  ['mlp 13-9-7-3 (ragged rows and columns)', mlp([13, 9, 7, 3], { seed: 4 })],
  ['mlp 203-70-9-3 (float64 weights)', mlp([203, 70, 9, 3], { seed: 3, dtype: 'float64' })],
  ['cnn (grouped, depthwise)', NETS.cnn(2)],
  ['conv-residual', NETS['conv-residual'](3)],
  ['dag (layers written by two blocks)', NETS.dag(5)],
];

/** (p, q): r = q / p above 1 (r - 1 = 1 and 0.5), at 1, below 1 (r - 1 = -0.5). */
const EXPONENTS: [number, number][] = [
  [1, 2],
  [2, 3],
  [2, 2],
  [3, 1.5],
];

const kernelsOf: [string, (problem: Problem) => PowerKernels, number][] = [
  ['js float64', (problem) => new JsKernels(problem, 'float64', 0.5), 1e-14],
  ['js float32', (problem) => new JsKernels(problem, 'float32', 0.5), 1e-14],
  ['wasm float64', (problem) => new WasmKernels(problem, 'float64', 0.5), 1e-14],
  ['wasm float32', (problem) => new WasmKernels(problem, 'float32', 0.5), 1e-14],
  // Float32 products: the in-kernel weight may round to a neighbouring float32.
  ['wasm blocked32', (problem) => new WasmKernels(problem, 'float32', 0.5, 'blocked32'), 1e-6],
];

/** The largest relative difference between the row-then-column pass and a row pass, the weights, a column pass, over every block. */
function chainedAgainstTwoPasses(problem: Problem, kernels: PowerKernels, seed: number): number {
  const next = uniformStream(seed);
  const e = problem.r - 1;
  let worst = 0;
  problem.blocks.forEach((block, k) => {
    for (let u = 0; u < problem.nUnits; u++) {
      kernels.x[u] = next();
      kernels.w[2 * u] = next() < 0.1 ? 0 : next();
      kernels.w[2 * u + 1] = next() < 0.3 ? 0 : 4 * next();
    }
    kernels.C.fill(0);
    kernels.rowColumnPass(k);
    const [S, C] = [kernels.S.slice(0, block.rows), kernels.C.slice()];
    kernels.C.fill(0);
    kernels.rowPass(k);
    for (let i = 0; i < block.rows; i++) kernels.y[block.rowUnit0 + i] = columnWeight(kernels.S[i], kernels.w, block.rowUnit0 + i, e);
    kernels.columnPass(k);
    for (let i = 0; i < block.rows; i++) worst = Math.max(worst, relative(S[i], kernels.S[i]));
    for (let u = 0; u < problem.nUnits; u++) worst = Math.max(worst, relative(C[u], kernels.C[u]));
    expect(C.some((c) => c > 0) || block.cols * block.groups === 0).toBe(true);
  });
  return worst;
}

describe('the row-then-column pass', () => {
  for (const [name, make, bound] of kernelsOf) {
    it(`${name}: a row pass, the weights A (S + B)^(r - 1) per row, then a column pass (r - 1 = 1, 0.5, 0, -0.5)`, () => {
      for (const [caseName, net] of cases) {
        for (const [p, q] of EXPONENTS) {
          const problem = compileProblem(net, { p, q });
          const kernels = make(problem);
          expect(chainedAgainstTwoPasses(problem, kernels, 7 + p), `${caseName} p=${p} q=${q}`).toBeLessThan(bound);
          kernels.dispose();
        }
      }
    });
  }

  it('a row with no mass (S + B = 0) gets weight 0 for r < 1, where (S + B)^(r - 1) would be infinite', () => {
    expect(columnWeight(0, Float64Array.of(1, 0), 0, -0.5)).toBe(0);
    expect(columnWeight(0, Float64Array.of(1, 0.25), 0, -0.5)).toBe(2);
    expect(columnWeight(3, Float64Array.of(0.5, 1), 0, 1)).toBe(2);
  });
});

describe('the engine with the row-then-column passes', () => {
  const schedules: Schedule[] = ['parallel', 'alternating', 'accelerated'];
  const kernels: [string, { kernels: 'js' | 'wasm'; precision: 'float32' | 'float64' }][] = [
    ['js', { kernels: 'js', precision: 'float64' }],
    ['wasm float32 P', { kernels: 'wasm', precision: 'float32' }],
  ];
  for (const [kernelName, options] of kernels) {
    it(`${kernelName}: every sweep equals the sweeps with a read each (chainPasses: false) to rounding, and reads less`, async () => {
      for (const [c, [caseName, net]] of cases.entries()) {
        for (const schedule of schedules) {
          for (const [p, q] of [
            [1, 2],
            [3, 1.5],
          ]) {
            const problem = compileProblem(net, { p, q, includeBiases: c % 2 === 0 });
            const label = `${caseName} ${schedule} p=${p} q=${q}`;
            const chained = new CpuEngine(problem, { schedule, ...options });
            const twice = new CpuEngine(problem, { schedule, ...options, chainPasses: false });
            expect(chained.arithmetic, label).toBe('linear');
            const a = await chained.sweeps(8, 0);
            const b = await twice.sweeps(8, 0);
            expect(a.length, label).toBe(b.length);
            a.forEach((record, s) => {
              expect(relative(record.F, b[s].F), `${label} sweep ${s}`).toBeLessThan(1e-12);
              expect(Math.abs(record.maxLogImbalance - b[s].maxLogImbalance), `${label} sweep ${s}`).toBeLessThan(1e-10);
              if (schedule !== 'accelerated') expect(record.passes, label).toBeLessThan(b[s].passes);
            });
            const [ua, ub] = [await chained.logFactors(), await twice.logFactors()];
            for (let v = 0; v < ua.length; v++) expect(Math.abs(ua[v] - ub[v]), label).toBeLessThan(1e-10);
            chained.dispose();
            twice.dispose();
          }
        }
      }
    });
  }

  it('where a weight leaves what the kernel holds (a bias mass beyond float64 over the scale of x), the two reads give the sums', async () => {
    const problem = compileProblem(mlp([9, 6, 5, 3], { seed: 2, dtype: 'float64' }), { p: 1, q: 2, includeBiases: true });
    const engine = new CpuEngine(problem, { schedule: 'parallel', kernels: 'js' });
    const reference = new CpuEngine(problem, { schedule: 'parallel', kernels: 'js', chainPasses: false });
    const sums = (engine as unknown as { sums: LinearBlockSums }).sums;
    expect(sums).toBeInstanceOf(LinearBlockSums);
    // A huge log bias mass: B = exp(logBias - m) overflows, so the chained pass must not be trusted.
    const logBias = new Float64Array(problem.nUnits).fill(800);
    const [lx, la] = [new Float64Array(problem.nUnits), new Float64Array(problem.nUnits)];
    const k = 1;
    const b = problem.blocks[k];
    const [lS, lC] = [new Float64Array(b.rows), new Float64Array(b.cols * b.groups)];
    let kernelCalls = 0;
    const kernels = sums.kernels;
    const original = kernels.rowColumnPass.bind(kernels);
    kernels.rowColumnPass = (...args) => {
      kernelCalls++;
      original(...args);
    };
    expect(sums.rowsColumns(k, lx, la, logBias, lS, lC)).toBe(true);
    expect(kernelCalls).toBe(0);
    const ref = (reference as unknown as { sums: LinearBlockSums }).sums;
    const [rS, rC] = [new Float64Array(b.rows), new Float64Array(b.cols * b.groups)];
    ref.rows(k, lx, rS);
    const ly = new Float64Array(problem.nUnits);
    for (let i = 0; i < b.rows; i++) ly[b.rowUnit0 + i] = 1 * (Math.max(800, rS[i]) + Math.log1p(Math.exp(-Math.abs(800 - rS[i]))));
    ref.columns(k, ly, rC);
    for (let i = 0; i < b.rows; i++) expect(lS[i]).toBe(rS[i]);
    for (let c = 0; c < rC.length; c++) expect(Math.abs(lC[c] - rC[c])).toBeLessThan(1e-12);
    engine.dispose();
    reference.dispose();
  });
});
