import { updateExponent } from '../options.js';
import type { Problem } from '../problem/problem.js';
import type { LogPasses } from './blockStatistics.js';
import { BlockStatistics } from './blockStatistics.js';

/** What one sweep of a schedule on the linear statistics did. */
export interface StatisticsRecord {
  /** `F` at the factors after the sweep. */
  F: number;
  /** `max |log(Out/In)|` at the factors after the sweep. */
  maxLogImbalance: number;
  /** The largest log-factor change of the sweep. */
  maxStep: number;
  /** Reads of `P` by the sweep, in units of all of `P`. */
  passes: number;
}

/**
 * A schedule that keeps its per-unit statistics linear ({@link BlockStatistics}): the accelerated
 * schedule, and the paper's parallel one below. Its constructor and `sweep` throw a
 * `StatisticsRangeError` when a statistic leaves the float64 range; the engine then continues
 * in its log-safe arithmetic from the factors before the sweep.
 */
export interface StatisticsSchedule {
  sweep(tol: number): StatisticsRecord;
  /** `F` and the imbalance at the current factors. */
  current(): { F: number; maxLogImbalance: number };
  /** The current log factors, copied into `into` (a new array by default). */
  logFactors(into?: Float64Array): Float64Array;
}

/**
 * The paper's parallel schedule (MATH.md §4: `u += eta log(Out/In)` for every variable at once)
 * on linear statistics: one exponential per unit and one logarithm per variable per sweep, where
 * the engine's own plan carries every per-unit quantity as a logarithm. Each sweep reads `P` as
 * the plan does: once for `p = q` (the fused pass), else a row pass and a column pass.
 */
export class ParallelSchedule implements StatisticsSchedule {
  private readonly stats: BlockStatistics;
  private readonly u: Float64Array;
  private readonly eta: number;

  constructor(problem: Problem, sums: LogPasses, logBias: Float64Array, initial?: Float64Array) {
    this.stats = new BlockStatistics(problem, sums, logBias);
    this.u = new Float64Array(problem.nVars);
    if (initial) this.u.set(initial);
    this.eta = updateExponent(problem.p, problem.q, 'parallel');
    this.stats.evaluate(this.u);
  }

  current(): { F: number; maxLogImbalance: number } {
    return { F: this.stats.F, maxLogImbalance: this.stats.maxLogImbalance() };
  }

  logFactors(into = new Float64Array(this.u.length)): Float64Array {
    into.set(this.u);
    return into;
  }

  sweep(): StatisticsRecord {
    const { stats, u, eta } = this;
    const { In, Out } = stats;
    const before = stats.passes;
    let maxStep = 0;
    for (let v = 0; v < u.length; v++) {
      const d = eta * Math.log(Out[v] / In[v]);
      if (!Number.isFinite(d)) throw new Error(`variable ${v} has In ${In[v]} and Out ${Out[v]}: a degenerate unit was not frozen`);
      u[v] += d;
      maxStep = Math.max(maxStep, Math.abs(d));
    }
    stats.evaluate(u);
    return { F: stats.F, maxLogImbalance: stats.maxLogImbalance(), maxStep, passes: stats.passes - before };
  }
}
