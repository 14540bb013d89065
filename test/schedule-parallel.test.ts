/**
 * The paper's parallel schedule on linear statistics (`src/schedule/parallel.ts`, issue 11 point
 * 1): what the CPU engine runs for `schedule: 'parallel'` while its passes are linear. The same
 * sweeps as the plan carried in logarithms (to rounding), the same reads of `P`, and the plan
 * from the factors before a sweep whose statistics leave the float64 range.
 */
import { describe, expect, it, vi } from 'vitest';
import { LinearBlockSums } from '../src/engines/cpu/blockSums.js';
import { CpuEngine } from '../src/engines/cpu/cpuEngine.js';
import { compileProblem } from '../src/problem/compile.js';
import { StatisticsRangeError } from '../src/schedule/blockStatistics.js';
import { ParallelSchedule } from '../src/schedule/parallel.js';
import { NETS } from './support/fixNets.js';

const relative = (a: number, b: number): number => Math.abs(a - b) / Math.abs(b);

describe('the parallel schedule on linear statistics', () => {
  it("runs the plan's sweeps to rounding: F, imbalance, steps and reads of P on every test net, (2, 2), (1, 2), (3, 1.5), biases included", async () => {
    const sweep = vi.spyOn(ParallelSchedule.prototype, 'sweep');
    try {
      for (const name of Object.keys(NETS)) {
        for (const [p, q] of [
          [2, 2],
          [1, 2],
          [3, 1.5],
        ]) {
          const problem = compileProblem(NETS[name](2), { p, q, includeBiases: true });
          const fast = new CpuEngine(problem, { schedule: 'parallel' });
          const logPlan = new CpuEngine(problem, { schedule: 'parallel', arithmetic: 'log' });
          sweep.mockClear();
          const [a, b] = [await fast.sweeps(40, 0), await logPlan.sweeps(40, 0)];
          const where = `${name} p=${p} q=${q}`;
          expect(sweep, where).toHaveBeenCalledTimes(40);
          expect(fast.arithmetic).toBe('linear');
          a.forEach((record, s) => {
            expect(relative(record.F, b[s].F), `${where} sweep ${s}`).toBeLessThan(1e-12);
            expect(Math.abs(record.maxLogImbalance - b[s].maxLogImbalance), `${where} sweep ${s}`).toBeLessThan(1e-9);
            expect(Math.abs(record.maxStep - b[s].maxStep), `${where} sweep ${s}`).toBeLessThan(1e-9);
            expect(record.passes).toBeCloseTo(b[s].passes, 12);
          });
          const [ua, ub] = [await fast.logFactors(), await logPlan.logFactors()];
          ua.forEach((u, v) => expect(Math.abs(u - ub[v]), where).toBeLessThan(1e-9));
        }
      }
    } finally {
      sweep.mockRestore();
    }
  });

  it('p != q on the linear route: a block that alone writes its rows reads P once (linearRowsColumns, no log pass), the same sweeps as two reads, fewer reads counted', async () => {
    const chained = vi.spyOn(LinearBlockSums.prototype, 'linearRowsColumns');
    const logChained = vi.spyOn(LinearBlockSums.prototype, 'rowsColumns');
    const logRows = vi.spyOn(LinearBlockSums.prototype, 'rows');
    try {
      for (const name of ['mlp', 'cnn']) {
        for (const [p, q] of [
          [1, 2],
          [3, 1.5],
        ]) {
          const where = `${name} p=${p} q=${q}`;
          const problem = compileProblem(NETS[name](2), { p, q, includeBiases: true });
          const once = new CpuEngine(problem, { schedule: 'parallel', kernels: 'js' });
          const twice = new CpuEngine(problem, { schedule: 'parallel', kernels: 'js', chainPasses: false });
          for (const spy of [chained, logChained, logRows]) spy.mockClear();
          const a = await once.sweeps(20, 0);
          expect(chained, where).toHaveBeenCalled();
          chained.mock.results.forEach((result) => expect(result.value, where).toBe(true));
          expect(logChained, where).not.toHaveBeenCalled();
          expect(logRows, where).not.toHaveBeenCalled();
          const b = await twice.sweeps(20, 0);
          a.forEach((record, s) => {
            expect(relative(record.F, b[s].F), `${where} sweep ${s}`).toBeLessThan(1e-12);
            expect(record.passes, `${where} sweep ${s}`).toBeLessThan(b[s].passes);
          });
        }
      }
    } finally {
      for (const spy of [chained, logChained, logRows]) spy.mockRestore();
    }
  });

  it('a sweep whose statistics leave the range: the plan in logarithms continues from the factors before it, and the schedule is not asked again', async () => {
    const problem = compileProblem(NETS.residual(3), { p: 2, q: 3 });
    const engine = new CpuEngine(problem, { schedule: 'parallel' });
    await engine.sweeps(3, -1);
    const before = await engine.logFactors();
    const sweep = vi.spyOn(ParallelSchedule.prototype, 'sweep').mockImplementationOnce(() => {
      throw new StatisticsRangeError('forced');
    });
    try {
      const after = await engine.sweeps(5, -1);
      const plan = await new CpuEngine(problem, { schedule: 'parallel', arithmetic: 'log', initial: before }).sweeps(5, -1);
      expect(after.length).toBe(5);
      after.forEach((record, s) => expect(relative(record.F, plan[s].F), `sweep ${s}`).toBeLessThan(1e-12));
      expect(sweep).toHaveBeenCalledTimes(1);
    } finally {
      sweep.mockRestore();
    }
  });
});
