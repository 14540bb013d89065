/**
 * The balance statistics as a pure function of (Problem, log factors): `In`, `Out`, `F` and the
 * largest imbalance, against the brute-force edge-list reference and the CPU engine.
 */
import { describe, expect, it } from 'vitest';
import { CpuEngine } from '../src/engines/cpu/cpuEngine.js';
import { WeightBalanceError } from '../src/errors.js';
import { balanceStatistics, maxLogImbalance } from '../src/math/statistics.js';
import { compileProblem } from '../src/problem/compile.js';
import type { Problem } from '../src/problem/problem.js';
import { NETS, scrambled } from './support/fixNets.js';
import type { Reference } from './support/fixReference.js';
import { inOut, objective, referenceProblem, uniformStream } from './support/fixReference.js';

/** The reference's log factors (its own variable numbering) from the problem's, unit by unit. */
function toReference(problem: Problem, ref: Reference, u: Float64Array): Float64Array {
  const out = new Float64Array(ref.nVars);
  for (let unit = 0; unit < problem.nUnits; unit++) {
    const v = problem.unitVar[unit];
    expect(ref.unitVar[unit] >= 0).toBe(v >= 0);
    if (v >= 0) out[ref.unitVar[unit]] = u[v];
  }
  return out;
}

const close = (a: number, b: number): number => Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), 1e-300);

describe('balanceStatistics', () => {
  it('equals the edge-list reference at random factors (ties, convolutions, biases, random p and q)', () => {
    const draw = uniformStream(17);
    for (const [name, make] of Object.entries(NETS)) {
      for (const includeBiases of [false, true]) {
        const p = 0.7 + 2.5 * draw();
        const q = 0.7 + 2.5 * draw();
        const net = make(5);
        const problem = compileProblem(net, { p, q, includeBiases });
        const ref = referenceProblem(net, p, q, includeBiases);
        const u = Float64Array.from({ length: problem.nVars }, () => 2 * draw() - 1);
        const stats = balanceStatistics(problem, u);
        const uRef = toReference(problem, ref, u);
        const expected = inOut(ref, uRef);
        for (let unit = 0; unit < problem.nUnits; unit++) {
          const v = problem.unitVar[unit];
          if (v < 0) continue;
          expect(close(stats.In[v], expected.In[ref.unitVar[unit]]), `${name} In`).toBeLessThan(1e-12);
          expect(close(stats.Out[v], expected.Out[ref.unitVar[unit]]), `${name} Out`).toBeLessThan(1e-12);
        }
        expect(close(stats.F, objective(ref, uRef)), `${name} F`).toBeLessThan(1e-12);
        expect(Math.abs(stats.maxLogImbalance - maxLogImbalance(stats.In, stats.Out))).toBeLessThan(1e-12);
        expect(stats.maxLogImbalance).toBeGreaterThan(0);
      }
    }
  });

  it('agrees with the CPU engine after its sweeps, and reads the problem only', async () => {
    for (const name of ['residual', 'cnn']) {
      for (const schedule of ['parallel', 'alternating'] as const) {
        const problem = compileProblem(NETS[name](2), { p: 1.5, q: 2.5 });
        const before = problem.blocks.map((b) => Float64Array.from(b.weight));
        const engine = new CpuEngine(problem, { schedule });
        await engine.sweeps(5, 0);
        const u = await engine.logFactors();
        const frozen = u.slice();
        const evaluation = await engine.evaluate();
        const stats = balanceStatistics(problem, u);
        const scale = Math.pow(engine.normScale, problem.q);
        expect(close(stats.F, evaluation.F * scale), `${name} ${schedule}`).toBeLessThan(1e-13);
        expect(Math.abs(stats.maxLogImbalance - evaluation.maxLogImbalance)).toBeLessThan(1e-12);
        expect(u).toEqual(frozen);
        problem.blocks.forEach((b, k) => expect(Float64Array.from(b.weight)).toEqual(before[k]));
      }
    }
  });

  it('is log-safe: on weights rescaled over 24 decades with p, q up to 24 (|w|^p over 500+ decades) it gives the statistics of the unscaled net', () => {
    for (const [name, p, q] of [
      ['cnn', 24, 24],
      ['residual', 24, 16],
      ['mlp', 20, 24],
    ] as const) {
      for (const includeBiases of [false, true]) {
        const base = NETS[name](3);
        // Factors 10^U(-12, 12) per variable: the same function, weights spread over 24 more decades.
        const { net, logFactors } = scrambled(base, referenceProblem(base, p, q, includeBiases), 40, 12);
        const problem = compileProblem(net, { p, q, includeBiases });
        const plain = balanceStatistics(compileProblem(base, { p, q, includeBiases }), new Float64Array(problem.nVars));
        // Undo the rescaling through the factors: u = -log(factor) per variable.
        const u = new Float64Array(problem.nVars);
        logFactors.forEach((layerFactors, k) => {
          layerFactors.forEach((l, c) => {
            const v = problem.unitVar[problem.layerUnit0[k] + c];
            if (v >= 0) u[v] = -l;
          });
        });
        const stats = balanceStatistics(problem, u);
        const label = `${name} p=${p} q=${q} biases=${includeBiases}`;
        expect(Number.isFinite(stats.maxLogImbalance), label).toBe(true);
        expect(Math.abs(stats.maxLogImbalance - plain.maxLogImbalance), label).toBeLessThan(1e-9);
        expect(Math.abs(stats.logF - plain.logF), label).toBeLessThan(1e-9);
        for (let v = 0; v < problem.nVars; v++) {
          expect(Math.abs(stats.logIn[v] - plain.logIn[v]), `${label} In ${v}`).toBeLessThan(1e-9);
          expect(Math.abs(stats.logOut[v] - plain.logOut[v]), `${label} Out ${v}`).toBeLessThan(1e-9);
        }
        // The scrambled weights' powers really leave float64: the largest over the smallest non-zero |w|^p.
        let small = Infinity;
        let large = 0;
        for (const b of net.blocks)
          for (const w of b.weight)
            if (w !== 0) {
              small = Math.min(small, Math.abs(w));
              large = Math.max(large, Math.abs(w));
            }
        expect(p * Math.log10(large / small), label).toBeGreaterThan(400);
      }
    }
  });

  it('refuses log factors of the wrong length', () => {
    const problem = compileProblem(NETS.mlp(1), { p: 2, q: 2 });
    expect(() => balanceStatistics(problem, new Float64Array(problem.nVars + 1))).toThrow(WeightBalanceError);
    expect(() => balanceStatistics(problem, new Float64Array(problem.nVars + 1))).toThrow(/needs? .*log factors/);
  });

  it('maxLogImbalance: the largest |log(Out / In)|, 0 without variables', () => {
    expect(maxLogImbalance(new Float64Array(0), new Float64Array(0))).toBe(0);
    expect(maxLogImbalance([1, 2, 4], [1, 1, 1])).toBeCloseTo(Math.log(4), 15);
    expect(maxLogImbalance([3, 1], [1, 1 / 8])).toBeCloseTo(Math.log(8), 15);
  });
});
