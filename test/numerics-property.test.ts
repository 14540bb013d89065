/**
 * Property suite of the numerics (issue 14): random small networks with p, q up to 32 and
 * weights over 12 decades. On every run: no `converged: true` with a non-finite imbalance,
 * `finalNorm` equal to `lpqNorm` of the returned network, a monotone history, the CPU engine's
 * fast (linear) and log-sum-exp arithmetics agreeing sweep by sweep, and the WebGPU engine
 * (float32, in logarithms) reaching the CPU's norm. Every failure names the seed of its case
 * (`wideCase(seed)` in test/support/wideNets.ts rebuilds it). Sized for CI: about 20 s.
 */
import { describe, expect, it } from 'vitest';
import type { BalanceResult } from '../src/balance.js';
import { balance } from '../src/balance.js';
import { CpuEngine } from '../src/engines/cpu/cpuEngine.js';
import { lpqNorm } from '../src/math/norm.js';
import { compileProblem } from '../src/problem/compile.js';
import { gpuIt, useGpu } from './helpers/gpu.js';
import { wideCase } from './support/wideNets.js';

const CPU_CASES = 120;
const GPU_CASES = 10;

function relative(a: number, b: number): number {
  return a === b ? 0 : Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b));
}

/**
 * The properties every run must have, whatever the engine: `tolerance` bounds the relative
 * difference of `finalNorm` and `lpqNorm`, and of a rise of the norm between sweeps (the driver
 * allows float32 F to rise by 1e-5 relative).
 */
function expectSound(result: BalanceResult, includeBiases: boolean, label: string, tolerance: number): void {
  expect(Number.isFinite(result.maxLogImbalance), `${label}: imbalance ${result.maxLogImbalance}`).toBe(true);
  expect(Number.isFinite(result.finalNorm), `${label}: finalNorm ${result.finalNorm}`).toBe(true);
  const { p, q } = result;
  const norm = lpqNorm(result.network, p, q, { includeBiases });
  expect(relative(result.finalNorm, norm), `${label}: finalNorm ${result.finalNorm} against lpqNorm ${norm}`).toBeLessThan(tolerance);
  for (let s = 1; s < result.history.length; s++) {
    expect(result.history[s], `${label}: sweep ${s}`).toBeLessThanOrEqual(result.history[s - 1] * (1 + tolerance));
  }
  expect(result.finalNorm, label).toBeLessThanOrEqual(result.initialNorm * (1 + 1e-12));
}

describe('numerics over 12-decade weights and exponents up to 32 (property suite)', () => {
  it(`CPU engine, ${CPU_CASES} random nets: finite imbalance, finalNorm = lpqNorm(network), monotone`, async () => {
    let converged = 0;
    for (let seed = 1; seed <= CPU_CASES; seed++) {
      const c = wideCase(seed);
      const result = await balance(c.net, { p: c.p, q: c.q, includeBiases: c.includeBiases, backend: 'cpu', tol: 1e-7, maxSweeps: 4000 });
      expectSound(result, c.includeBiases, c.label, 1e-10);
      if (result.converged) converged++;
    }
    // Most cases converge within the budget (a check on the suite itself, not a tolerance).
    expect(converged).toBeGreaterThan(CPU_CASES / 2);
  }, 120_000);

  it('CPU engine: the linear and the log-sum-exp arithmetics agree sweep by sweep, both schedules', async () => {
    const kinds = { linear: 0, log: 0 };
    for (let seed = 1; seed <= CPU_CASES / 2; seed++) {
      const c = wideCase(seed);
      for (const schedule of ['parallel', 'alternating'] as const) {
        const problem = compileProblem(c.net, c);
        const fast = new CpuEngine(problem, { schedule });
        const exact = new CpuEngine(problem, { schedule, arithmetic: 'log' });
        expect(exact.arithmetic).toBe('log');
        // tol -1: no imbalance meets it, so both run all 60 sweeps (with tol 0 the linear
        // arithmetic may stop first, at an imbalance that rounds to exactly 0).
        const a = await fast.sweeps(60, -1);
        const b = await exact.sweeps(60, -1);
        expect(a.length).toBe(b.length);
        a.forEach((record, s) => {
          expect(relative(record.F, b[s].F), `${c.label}, ${schedule}, sweep ${s}: F`).toBeLessThan(1e-11);
        });
        const [ua, ub] = [await fast.logFactors(), await exact.logFactors()];
        ua.forEach((u, v) => expect(Math.abs(u - ub[v]), `${c.label}, ${schedule}: u[${v}]`).toBeLessThan(1e-8 * (1 + Math.abs(u))));
        kinds[fast.arithmetic]++;
      }
    }
    // The suite exercises both arithmetics (the move from one to the other: test/numerics-edges).
    expect(kinds.linear).toBeGreaterThan(0);
    expect(kinds.log).toBeGreaterThan(0);
  }, 120_000);

  const gpu = useGpu();
  gpuIt(
    gpu,
    `WebGPU engine, ${GPU_CASES} random nets: sound, and at the CPU's norm`,
    async ({ gpu: dawn }) => {
      for (let seed = 1; seed <= GPU_CASES; seed++) {
        const c = wideCase(seed);
        const options = { p: c.p, q: c.q, includeBiases: c.includeBiases, tol: 1e-6, maxSweeps: 1500 };
        const onGpu = await balance(c.net, { ...options, backend: 'webgpu', gpu: dawn });
        const onCpu = await balance(c.net, { ...options, backend: 'cpu' });
        expectSound(onGpu, c.includeBiases, `${c.label} (webgpu)`, 1e-5);
        // The float64 CPU engine is the reference: at least as low as float32 WebGPU, and close to it.
        expect(onCpu.finalNorm, c.label).toBeLessThanOrEqual(onGpu.finalNorm * (1 + 1e-5));
        expect(relative(onCpu.finalNorm, onGpu.finalNorm), c.label).toBeLessThan(1e-3);
      }
    },
    300_000,
  );
});
