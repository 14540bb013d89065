/**
 * The blocked float32 passes (assembly/blocked32.ts, `sums: 'blocked32'`): float32 products
 * added in float32 by blocks, the blocks in float64. They agree with the float64 sums on the
 * same float32 P within the bound of their arithmetic on ragged blocks (sizes that are not
 * multiples of 4 or of the 64-column block), whole or split into row ranges; a sum too small for
 * float32 arithmetic moves the kernels to float64 sums; the engine runs them only on float32 P
 * on the WebAssembly kernels, says so, and follows the float64 sums' sweeps.
 */
import { describe, expect, it } from 'vitest';
import { LinearBlockSums } from '../src/engines/cpu/blockSums.js';
import { CpuEngine } from '../src/engines/cpu/cpuEngine.js';
import { JsKernels } from '../src/engines/cpu/kernels.js';
import { WasmKernels } from '../src/engines/cpu/wasm/wasmKernels.js';
import { mlp } from '../src/network/builders.js';
import type { Network } from '../src/network/types.js';
import { compileProblem } from '../src/problem/compile.js';
import { NETS } from './support/fixNets.js';
import { compare, relative, splitDifference } from './support/kernelCompare.js';

/**
 * The bound of the blocked arithmetic: x rounded to float32, each product rounded, at most 16
 * additions per lane in float32 (64 columns or 4 rows per block), each a relative 2^-24.
 */
const BOUND = 20 * 2 ** -24;

const cases: [string, Network][] = [
  ['mlp 203-70-9-3 (rows of 3 blocks of 64 and a tail of 11)', mlp([203, 70, 9, 3], { seed: 3 })],
  ['mlp 13-9-7-3', mlp([13, 9, 7, 3], { seed: 4 })],
  ['mlp 6-11-5 (float64 weights)', mlp([6, 11, 5], { seed: 5, dtype: 'float64' })],
  ['cnn (grouped, depthwise)', NETS.cnn(2)],
  ['conv-residual', NETS['conv-residual'](3)],
];

describe('blocked float32 passes', () => {
  for (const [name, net] of cases) {
    it(`${name}: the float64 sums of the same float32 P within ${BOUND.toExponential(1)}, for p = 1, 2, 2.7`, () => {
      for (const p of [1, 2, 2.7]) {
        const problem = compileProblem(net, { p, q: 2 });
        const reference = new JsKernels(problem, 'float32', 0.5);
        const blocked = new WasmKernels(problem, 'float32', 0.5, 'blocked32');
        expect(blocked.sums).toBe('blocked32');
        const worst = compare(problem, reference, blocked, 17);
        expect(worst, `p = ${p}`).toBeLessThan(BOUND);
        blocked.dispose();
      }
    });
  }

  it('a pass split into ragged row ranges gives the sums of the whole pass', () => {
    for (const [name, net] of cases) {
      const kernels = new WasmKernels(compileProblem(net, { p: 2, q: 2 }), 'float32', 0.5, 'blocked32');
      // The column sums of a split pass group rows into blocks of four differently: float32 rounding apart.
      expect(splitDifference(compileProblem(net, { p: 2, q: 2 }), kernels, 7), name).toBeLessThan(BOUND);
      kernels.dispose();
    }
  });

  it('only float32 P on the WebAssembly kernels adds by blocks', async () => {
    const problem = compileProblem(mlp([20, 30, 10], { seed: 9 }), { p: 2, q: 2 });
    expect(new WasmKernels(problem, 'float64', 1, 'blocked32').sums).toBe('float64');
    const engines = [
      new CpuEngine(problem, { schedule: 'parallel', precision: 'float32', sums: 'blocked32' }),
      new CpuEngine(problem, { schedule: 'parallel', precision: 'float64', sums: 'blocked32' }),
      new CpuEngine(problem, { schedule: 'parallel', precision: 'float32', sums: 'blocked32', kernels: 'js' }),
      new CpuEngine(problem, { schedule: 'parallel', precision: 'float32' }),
    ];
    expect(engines.map((e) => e.passSums)).toEqual(['blocked32', 'float64', 'float64', 'float64']);
  });

  it('a row sum below what float32 arithmetic holds moves the kernels to float64 sums, with the float64 result', () => {
    const net = mlp([6, 9, 5], { seed: 2 });
    // Output 0 does not read hidden unit 0; with x of the other hidden units at e^-85 of unit 0's,
    // output 0's row sum is ~1e-37 of the largest x.
    net.blocks[1].weight[0] = 0;
    const problem = compileProblem(net, { p: 2, q: 2 });
    const lx = new Float64Array(problem.nUnits).fill(-85);
    const block = problem.blocks[1];
    lx[block.colUnit0] = 0;
    const wasm = new WasmKernels(problem, 'float32', 1, 'blocked32');
    const blocked = new LinearBlockSums(problem, wasm);
    const reference = new LinearBlockSums(problem, new JsKernels(problem, 'float32', 1));
    const [got, want] = [new Float64Array(block.rows), new Float64Array(block.rows)];
    expect(reference.rows(1, lx, want)).toBe(true);
    expect(blocked.rows(1, lx, got)).toBe(true);
    expect(wasm.sums).toBe('float64');
    for (let i = 0; i < block.rows; i++) expect(Math.abs(got[i] - want[i]), `row ${i}`).toBeLessThan(1e-12);
    expect(want[0]).toBeLessThan(-80);
  });

  it('the engine on blocked sums follows the float64 sums sweep by sweep, both schedules and three (p, q)', async () => {
    for (const [p, q] of [
      [2, 2],
      [1, 2],
      [3, 1.5],
    ]) {
      const problem = compileProblem(mlp([70, 130, 67, 9], { seed: 6 }), { p, q, includeBiases: true });
      for (const schedule of ['parallel', 'alternating'] as const) {
        const exact = new CpuEngine(problem, { schedule, precision: 'float32' });
        const blocked = new CpuEngine(problem, { schedule, precision: 'float32', sums: 'blocked32' });
        const [a, b] = [await exact.sweeps(25, 0), await blocked.sweeps(25, 0)];
        expect(blocked.passSums).toBe('blocked32');
        a.forEach((r, s) => {
          expect(relative(r.F, b[s].F), `${p},${q} ${schedule} sweep ${s}: F`).toBeLessThan(BOUND);
          expect(Math.abs(r.maxLogImbalance - b[s].maxLogImbalance), `${p},${q} ${schedule} sweep ${s}: imbalance`).toBeLessThan(4 * BOUND);
        });
      }
    }
  });
});
