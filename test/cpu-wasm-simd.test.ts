/**
 * The two builds of the WebAssembly kernels (issue 11.1): plain SIMD and relaxed SIMD (fused
 * multiply-adds, chosen at run time where `WebAssembly.validate` accepts them; Node 20 only
 * behind `--experimental-wasm-relaxed-simd`, which this file sets). Forced each in turn, every
 * pass (row, column, fused, row-then-column for r - 1 = 1, 0.5, 0, -0.5) gives the JS kernels'
 * float64 sums to reassociation on blocks of every width and row count around the kernels' steps
 * (two and four columns, four rows: 1 to 9, 15 to 17, 33 columns; 1 to 9 and 13 rows), on
 * grouped and depthwise blocks, split into row ranges as the threads split them, and split over
 * worker threads; with relaxed SIMD in neither engine, `auto` falls back to plain SIMD.
 */
import { setFlagsFromString } from 'node:v8';
import { afterAll, describe, expect, it } from 'vitest';
import { balance } from '../src/balance.js';
import { CpuEngine } from '../src/engines/cpu/cpuEngine.js';
import type { PowerPrecision } from '../src/engines/cpu/kernels.js';
import { JsKernels } from '../src/engines/cpu/kernels.js';
import { ThreadPool } from '../src/engines/cpu/threads/pool.js';
import type { WasmSimd } from '../src/engines/cpu/wasm/wasmKernels.js';
import { chooseWasmSimd, prepareSharedKernels, WasmKernels, wasmKernelsAvailable, wasmSimd } from '../src/engines/cpu/wasm/wasmKernels.js';
import { mlp } from '../src/network/builders.js';
import type { Network } from '../src/network/types.js';
import { compileProblem } from '../src/problem/compile.js';
import { NETS } from './support/fixNets.js';
import { compare, relative, splitDifference } from './support/kernelCompare.js';

/** (p, q): r - 1 = 1, 0.5, 0, -0.5 in the row-then-column pass. */
const EXPONENTS: [number, number][] = [
  [1, 2],
  [2, 3],
  [2, 2],
  [3, 1.5],
];
const COLUMNS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 33];
const ROWS = [1, 2, 3, 4, 5, 8, 9, 13];
/** Float64 sums of non-negative terms, reassociated (and fused): a few units in the last place. */
const BOUND = 1e-14;

/** Every (rows, cols) above as the first block of a net (its second block is 3 x rows). */
function shapes(): [string, Network][] {
  const nets: [string, Network][] = [];
  for (const cols of COLUMNS) for (const rows of ROWS) nets.push([`${rows} x ${cols}`, mlp([cols, rows, 3], { seed: rows * 100 + cols })]);
  nets.push(['cnn (grouped, depthwise)', NETS.cnn(2)], ['conv-residual', NETS['conv-residual'](3)]);
  return nets;
}

setFlagsFromString('--experimental-wasm-relaxed-simd');

afterAll(() => chooseWasmSimd('auto'));

describe('the choice of build', () => {
  it('auto: relaxed SIMD where the engine validates it, else plain SIMD', () => {
    chooseWasmSimd('auto');
    expect(wasmSimd()).toBe('relaxed');
    setFlagsFromString('--no-experimental-wasm-relaxed-simd');
    try {
      chooseWasmSimd('auto');
      expect(wasmSimd()).toBe('plain');
      expect(wasmKernelsAvailable()).toBe(true);
    } finally {
      setFlagsFromString('--experimental-wasm-relaxed-simd');
      chooseWasmSimd('auto');
    }
  });
});

describe.each(['plain', 'relaxed'] as WasmSimd[])('WebAssembly kernels, %s SIMD', (simd) => {
  it('compile and say which build runs', () => {
    chooseWasmSimd(simd);
    expect(wasmKernelsAvailable()).toBe(true);
    const kernels = new WasmKernels(compileProblem(mlp([5, 7, 3], { seed: 1 }), { p: 2, q: 2 }), 'float32', 0.5);
    expect([wasmSimd(), kernels.simd]).toEqual([simd, simd]);
    kernels.dispose();
  });

  for (const precision of ['float32', 'float64'] as PowerPrecision[]) {
    it(`${precision} P: every pass equals the JS kernels' float64 sums on every width and row count, r - 1 = 1, 0.5, 0, -0.5`, () => {
      chooseWasmSimd(simd);
      for (const [name, net] of shapes()) {
        for (const [p, q] of EXPONENTS) {
          const problem = compileProblem(net, { p, q });
          const js = new JsKernels(problem, precision, 0.5);
          const wasm = new WasmKernels(problem, precision, 0.5);
          expect(wasm.simd).toBe(simd);
          expect(compare(problem, js, wasm, p * 10 + q), `${name} p=${p} q=${q}`).toBeLessThan(BOUND);
          expect(splitDifference(problem, wasm, 3), `${name} split, p=${p} q=${q}`).toBeLessThan(BOUND);
          wasm.dispose();
        }
      }
    });
  }

  it('over worker threads: the sweeps of the one-thread JS engine', async () => {
    chooseWasmSimd(simd);
    expect(await prepareSharedKernels()).not.toBeNull();
    const pool = await ThreadPool.open(2);
    expect(pool).not.toBeNull();
    try {
      for (const [p, q] of [
        [2, 2],
        [1, 2],
      ]) {
        const problem = compileProblem(mlp([37, 30, 23, 5], { seed: 8 }), { p, q });
        const js = new CpuEngine(problem, { schedule: 'parallel', precision: 'float32', kernels: 'js' });
        const split = new CpuEngine(problem, { schedule: 'parallel', precision: 'float32', pool: pool as ThreadPool, minEntriesPerChunk: 1 });
        try {
          expect(split.threads).toBe(2);
          const [a, b] = [await js.sweeps(10, 0), await split.sweeps(10, 0)];
          a.forEach((r, s) => expect(relative(r.F, b[s].F), `(${p}, ${q}) sweep ${s}`).toBeLessThan(1e-12));
        } finally {
          js.dispose();
          split.dispose();
        }
      }
    } finally {
      await pool?.close();
    }
  });
});

describe('the result says which build ran', () => {
  it('balance() reports wasm-simd or wasm-relaxed-simd as forced, on one thread and on two', async () => {
    const net = mlp([24, 40, 30, 6], { seed: 5 });
    for (const simd of ['plain', 'relaxed'] as const) {
      chooseWasmSimd(simd);
      for (const threads of [1, 2]) {
        const result = await balance(net, { p: 2, q: 2, backend: 'cpu', threads, tol: 1e-4 });
        expect(result.kernels, `${simd}, ${threads} threads`).toBe(simd === 'relaxed' ? 'wasm-relaxed-simd' : 'wasm-simd');
        expect(result.converged).toBe(true);
      }
    }
    chooseWasmSimd('auto');
  });
});
