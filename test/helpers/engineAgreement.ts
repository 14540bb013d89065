/**
 * The WebGPU engine against the float64 CPU engine, sweep by sweep: the one comparison every GPU
 * engine test makes (objective, step, imbalance and passes of every sweep, monotone float32
 * objectives, the log factors, and the evaluation before and after).
 */
import { expect } from 'vitest';
import { CpuEngine } from '../../src/engines/cpu/cpuEngine.js';
import type { SweepRecord } from '../../src/engines/engine.js';
import type { WebGpuTuning } from '../../src/engines/webgpu/engine.js';
import { WebGpuEngine } from '../../src/engines/webgpu/engine.js';
import type { Network } from '../../src/network/types.js';
import type { Schedule } from '../../src/options.js';
import { compileProblem } from '../../src/problem/compile.js';
import type { GpuContext } from './gpu.js';

/** Relative agreement of objectives (float32 arithmetic, finished in float64). */
const F_TOLERANCE = 2e-5;
/** Absolute agreement of log factors. */
const U_TOLERANCE = 1e-4;
/** Relative increase of F that float32 rounding may show (the driver's MONOTONE_TOLERANCE.webgpu). */
export const MONOTONE = 1e-5;

export interface Case {
  p: number;
  q: number;
  schedule: Schedule;
  sweeps: number;
  includeBiases?: boolean;
  tuning?: WebGpuTuning;
  initial?: Float64Array;
}

export function relative(a: number, b: number): number {
  return Math.abs(a - b) / Math.abs(b);
}

/** Run both engines for the same sweeps and compare everything they report; returns the GPU's sweeps. */
export async function agree(context: GpuContext, net: Network, c: Case): Promise<SweepRecord[]> {
  const problem = compileProblem(net, { p: c.p, q: c.q, includeBiases: c.includeBiases });
  // The WebGPU engine reads P as the plan says (p != q: a row pass, then a column pass); the CPU
  // engine's row-then-column passes read a block once and equal its two reads to rounding
  // (test/cpu-rowcolumn.test.ts): the reference here reads as the GPU does, so passes compare too.
  const cpu = new CpuEngine(problem, { schedule: c.schedule, initial: c.initial, longEta: c.tuning?.longEta, chainPasses: false });
  const engine = await WebGpuEngine.create(problem, { schedule: c.schedule, initial: c.initial }, { device: context.device }, c.tuning);
  try {
    expect(engine.normScale).toBe(cpu.normScale);
    const start = [await cpu.evaluate(), await engine.evaluate()];
    expect(relative(start[1].F, start[0].F)).toBeLessThan(F_TOLERANCE);
    expect(Math.abs(start[1].maxLogImbalance - start[0].maxLogImbalance)).toBeLessThan(1e-4 * (1 + start[0].maxLogImbalance));

    const expected = await cpu.sweeps(c.sweeps, 0);
    const got = await engine.sweeps(c.sweeps, 0);
    expect(got).toHaveLength(c.sweeps);
    // The run did something: the objective fell measurably.
    expect(expected[c.sweeps - 1].F).toBeLessThan(start[0].F * (1 - 1e-3));
    for (let s = 0; s < c.sweeps; s++) {
      expect(relative(got[s].F, expected[s].F), `F after sweep ${s + 1}`).toBeLessThan(F_TOLERANCE);
      expect(Math.abs(got[s].maxStep - expected[s].maxStep), `step of sweep ${s + 1}`).toBeLessThan(1e-6 + 1e-3 * expected[s].maxStep);
      expect(Math.abs(got[s].maxLogImbalance - expected[s].maxLogImbalance), `imbalance after sweep ${s + 1}`).toBeLessThan(
        1e-4 + 1e-3 * expected[s].maxLogImbalance,
      );
      expect(got[s].passes, `passes of sweep ${s + 1}`).toBeCloseTo(expected[s].passes, 12);
      if (s > 0) expect(got[s].F, `monotone at sweep ${s + 1}`).toBeLessThanOrEqual(got[s - 1].F * (1 + MONOTONE));
    }
    const u = [await cpu.logFactors(), await engine.logFactors()];
    expect(u[1]).toHaveLength(problem.nVars);
    let worst = 0;
    for (let v = 0; v < problem.nVars; v++) worst = Math.max(worst, Math.abs(u[1][v] - u[0][v]));
    expect(worst, 'log factors').toBeLessThan(U_TOLERANCE);
    const end = [await cpu.evaluate(), await engine.evaluate()];
    expect(relative(end[1].F, end[0].F)).toBeLessThan(F_TOLERANCE);
    expect(Math.abs(end[1].maxLogImbalance - end[0].maxLogImbalance)).toBeLessThan(1e-3 * (1 + end[0].maxLogImbalance));
    return got;
  } finally {
    engine.dispose();
  }
}
