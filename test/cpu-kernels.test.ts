/**
 * The CPU kernels (issue 11.1): the WebAssembly SIMD passes over P (row, column, fused; float32
 * and float64 P) and their build of P give the JS kernels' sums on dense, grouped and
 * depthwise blocks with every tail length; the engine gives the same sweeps on either kernel;
 * the committed WebAssembly module is the one its source compiles to.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CpuEngine } from '../src/engines/cpu/cpuEngine.js';
import type { PowerPrecision } from '../src/engines/cpu/kernels.js';
import { JsKernels } from '../src/engines/cpu/kernels.js';
import { WasmKernels, wasmKernelsAvailable, wasmSimd } from '../src/engines/cpu/wasm/wasmKernels.js';
import { mlp } from '../src/network/builders.js';
import type { Network } from '../src/network/types.js';
import { compileProblem } from '../src/problem/compile.js';
import { NETS } from './support/fixNets.js';
import { compare, relative, splitDifference } from './support/kernelCompare.js';

const cases: [string, Network][] = [
  ['mlp 13-9-7-3 (float32)', mlp([13, 9, 7, 3], { seed: 4 })],
  ['mlp 6-11-5 (float64)', mlp([6, 11, 5], { seed: 5, dtype: 'float64' })],
  ['cnn (grouped, depthwise)', NETS.cnn(2)],
  ['conv-residual', NETS['conv-residual'](3)],
];

describe('WebAssembly SIMD kernels', () => {
  it('are available in this Node (the tests below need them)', () => {
    expect(wasmKernelsAvailable()).toBe(true);
  });

  for (const [name, net] of cases) {
    for (const precision of ['float32', 'float64'] as PowerPrecision[]) {
      it(`${name}, ${precision} P: the same P and sums as the JS kernels, for p = 1, 2, 2.7`, () => {
        for (const p of [1, 2, 2.7]) {
          const problem = compileProblem(net, { p, q: 2 });
          const scale = 0.5;
          const js = new JsKernels(problem, precision, scale);
          const wasm = new WasmKernels(problem, precision, scale);
          expect(compare(problem, js, wasm, 11), `p = ${p}`).toBeLessThan(precision === 'float32' ? 1e-6 : 1e-13);
          wasm.dispose();
        }
      });
    }
  }

  it('a pass split into row ranges [r0, r1) gives the sums of the whole pass (JS and WASM, ragged splits)', () => {
    for (const [name, net] of cases) {
      const problem = compileProblem(net, { p: 2, q: 2 });
      for (const precision of ['float32', 'float64'] as PowerPrecision[]) {
        for (const kernels of [new JsKernels(problem, precision, 0.5), new WasmKernels(problem, precision, 0.5)]) {
          expect(splitDifference(problem, kernels, 7), `${name} ${precision} ${kernels.name}`).toBeLessThan(1e-13);
          kernels.dispose();
        }
      }
    }
  });

  it('the engine runs the same sweeps on WASM and JS kernels, float32 and float64 P, both schedules', async () => {
    for (const [p, q] of [
      [2, 2],
      [1, 2],
      [3, 1.5],
    ]) {
      const problem = compileProblem(NETS.residual(1), { p, q, includeBiases: true });
      for (const schedule of ['parallel', 'alternating'] as const) {
        for (const precision of ['float32', 'float64'] as const) {
          const js = new CpuEngine(problem, { schedule, precision, kernels: 'js' });
          const wasm = new CpuEngine(problem, { schedule, precision, kernels: 'wasm' });
          expect([js.kernels, wasm.kernels, wasm.precision]).toEqual(['js', wasmSimd() === 'relaxed' ? 'wasm-relaxed-simd' : 'wasm-simd', precision]);
          const [a, b] = [await js.sweeps(30, 0), await wasm.sweeps(30, 0)];
          a.forEach((r, s) => expect(relative(r.F, b[s].F), `${p},${q} ${schedule} ${precision} sweep ${s}`).toBeLessThan(1e-13));
        }
      }
    }
  });

  it('float32 P stays within float32 rounding of the float64 reference, and says so', async () => {
    const problem = compileProblem(mlp([20, 30, 10], { seed: 9 }), { p: 2, q: 2 });
    const f32 = new CpuEngine(problem, { schedule: 'parallel', precision: 'float32' });
    const f64 = new CpuEngine(problem, { schedule: 'parallel', precision: 'float64' });
    expect([f32.precision, f64.precision]).toEqual(['float32', 'float64']);
    const [a, b] = [await f32.sweeps(20, 0), await f64.sweeps(20, 0)];
    a.forEach((r, s) => expect(relative(r.F, b[s].F)).toBeLessThan(2 ** -23));
    // A range that float32 P cannot hold (p = 12 over 5 decades) runs in float64.
    const wide = mlp([5, 4, 3], { seed: 1 });
    wide.blocks[0].weight[0] = 1e-5;
    expect(new CpuEngine(compileProblem(wide, { p: 12, q: 2 }), { schedule: 'parallel', precision: 'float32' }).precision).toBe('float64');
  });

  it('the committed module is what assembly/passes.ts compiles to', () => {
    expect(() => execFileSync(process.execPath, ['scripts/build-wasm.mjs', '--check'], { stdio: 'pipe' })).not.toThrow();
  });
});
