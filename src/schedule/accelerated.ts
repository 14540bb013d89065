import { updateExponent } from '../options.js';
import type { Problem } from '../problem/problem.js';
import type { CoarseLayout, LogPasses } from './blockStatistics.js';
import { BlockStatistics, coarseLayout } from './blockStatistics.js';
import { solveCoarse } from './coarse.js';
import type { CoarseSpace } from './coarseSpace.js';
import { coarseSpace } from './coarseSpace.js';

/** What one accelerated sweep did. */
export interface AcceleratedRecord {
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
 * The accelerated schedule (two-level, float64, on the CPU engine's passes): every sweep
 *
 * 1. shifts whole groups of units (layers, split by convolution group: `coarseSpace.ts`) by the
 *    minimiser of `F` over such shifts (the coarse correction of `coarse.ts`: a Newton solve on
 *    a few variables, no pass over `P`; exact when the space is, otherwise the minimiser of a
 *    model with the exact gradient, and step 3 then judges from the point before the shift);
 * 2. takes the per-unit step `u += log(Out/In) / (p + q)` from there (the step that balances a
 *    unit whose neighbours stay put: twice the paper's parallel exponent for `q <= p`, and
 *    between it and twice for `q > p`; with tie groups and after the first fallback, the
 *    alternating exponent, twice the paper's) and evaluates the
 *    new factors (one pass over `P` for `p = q`, two otherwise);
 * 3. if `F` did not fall by a share of the first-order prediction (Armijo), discards that point
 *    and takes the paper's parallel step from the start of step 2 instead, which never
 *    increases `F` (MATH.md §4), and evaluates it.
 *
 * The coarse step removes the slow directions (layer-, branch- and channel-wide) and the long
 * step the fast per-unit ones, so the pass count hardly grows with depth. `F` never increases from one sweep to the
 * next, the fixed points are the balanced points (the coarse shift is zero there and the unit
 * steps vanish), and no parameter is asked of the user.
 */
export class AcceleratedSchedule {
  private readonly stats: BlockStatistics;
  private readonly space: CoarseSpace;
  private readonly layout: CoarseLayout;
  private readonly u: Float64Array;
  private readonly safeEta: number;
  /** The long step's exponent: `1/(p+q)` first, the alternating exponent after a fallback. */
  private longEta: number;
  private readonly shortLongEta: number;
  private readonly groupOfVar: Int32Array;
  /** Scratch of a sweep: the factors at its start, its long step, the points it may return to. */
  private readonly start: Float64Array;
  private readonly long: Float64Array;
  private readonly bases: [Snapshot, Snapshot];

  /**
   * `sums` runs the passes over `P` (the CPU engine's log-safe block sums) and `logBias` is the
   * log bias mass per unit. Throws a `StatisticsRangeError` (from here or from `sweep`) when the
   * linear statistics leave the float64 range: the caller then takes the paper's step.
   * `longEta` overrides the long step's exponent (tests only: a step far too long must still
   * never raise `F`).
   */
  constructor(
    private readonly problem: Problem,
    sums: LogPasses,
    logBias: Float64Array,
    initial?: Float64Array,
    longEta?: number,
  ) {
    this.stats = new BlockStatistics(problem, sums, logBias);
    this.space = coarseSpace(problem);
    this.layout = coarseLayout(problem, this.space);
    this.u = new Float64Array(problem.nVars);
    if (initial) this.u.set(initial);
    const exponents = acceleratedExponents(problem);
    this.safeEta = exponents.safeEta;
    this.shortLongEta = Math.min(longEta ?? Infinity, exponents.shortLongEta);
    this.longEta = longEta ?? exponents.longEta;
    this.groupOfVar = new Int32Array(problem.nVars).fill(-1);
    for (let unit = 0; unit < problem.nUnits; unit++) {
      const v = problem.unitVar[unit];
      if (v >= 0) this.groupOfVar[v] = this.space.unitGroup[unit];
    }
    const n = problem.nVars;
    this.start = new Float64Array(n);
    this.long = new Float64Array(n);
    const point = (): Snapshot => ({ u: new Float64Array(n), In: new Float64Array(n), Out: new Float64Array(n), F: 0 });
    this.bases = [point(), point()];
    this.stats.evaluate(this.u);
  }

  /** `F` and the imbalance at the current factors (exact: from the last pass or an exact shift). */
  current(): { F: number; maxLogImbalance: number } {
    return { F: this.stats.F, maxLogImbalance: this.stats.maxLogImbalance() };
  }

  /** The current log factors, copied into `into` (a new array by default). */
  logFactors(into = new Float64Array(this.u.length)): Float64Array {
    into.set(this.u);
    return into;
  }

  /** `In` and `Out` per variable at the current factors (copies, relative to the engine's scale). */
  statistics(): { In: Float64Array; Out: Float64Array } {
    return { In: this.stats.In.slice(), Out: this.stats.Out.slice() };
  }

  /** Reads of `P` so far, the initial evaluation included. */
  get passes(): number {
    return this.stats.passes;
  }

  /** One sweep (see the class comment); returns early, with no pass, when the coarse shift alone meets `tol`. */
  sweep(tol: number): AcceleratedRecord {
    const { stats, u, start, long } = this;
    const before = stats.passes;
    start.set(u);
    let base = this.snapshot(this.bases[0]);
    const rows = stats.coarseRows(this.space, this.layout);
    const c = solveCoarse(rows, this.space.nGroups, this.problem.p, this.problem.r);
    if (c.some((x) => x !== 0)) {
      for (let v = 0; v < u.length; v++) if (this.groupOfVar[v] >= 0) u[v] += c[this.groupOfVar[v]];
      stats.shift(this.space, rows, c);
      if (this.space.exact) {
        base = this.snapshot(this.bases[1]);
        const imbalance = stats.maxLogImbalance();
        if (imbalance <= tol) return { F: stats.F, maxLogImbalance: imbalance, maxStep: largestChange(start, u), passes: 0 };
      }
    }
    step(u, stats.In, stats.Out, this.longEta, long);
    stats.evaluate(long);
    if (stats.F <= base.F - SUFFICIENT * predictedDecrease(this.problem.q, base, long)) u.set(long);
    else {
      // From now on the shorter long step: a net where 1/(p+q) overshoots once (rows with few
      // columns, ties) tends to make it overshoot again.
      this.longEta = this.shortLongEta;
      step(base.u, base.In, base.Out, this.safeEta, u);
      stats.evaluate(u);
    }
    return { F: stats.F, maxLogImbalance: stats.maxLogImbalance(), maxStep: largestChange(start, u), passes: stats.passes - before };
  }

  /** The factors and statistics now, copied into `into`. */
  private snapshot(into: Snapshot): Snapshot {
    into.u.set(this.u);
    into.In.set(this.stats.In);
    into.Out.set(this.stats.Out);
    into.F = this.stats.F;
    return into;
  }
}

/** A point of a sweep: its log factors, `In`, `Out` and `F`. */
interface Snapshot {
  readonly u: Float64Array;
  readonly In: Float64Array;
  readonly Out: Float64Array;
  F: number;
}

/** The exponents of the accelerated schedule's steps on a problem (both engines take them from here). */
export interface AcceleratedExponents {
  /** The long step's exponent at the start of a run. */
  longEta: number;
  /** The long step's exponent after its first fallback (the alternating exponent). */
  shortLongEta: number;
  /** The paper's parallel exponent of the safe step. */
  safeEta: number;
}

/**
 * 1/(p+q) balances a unit whose neighbours stay put when it is one of many columns of its rows;
 * a tie group (residual connections) is not: it takes the alternating exponent (equal to 1/(p+q)
 * for q <= p, smaller for q > p), as every net does after a fallback. A depthwise channel is one
 * column of its rows too, but the coarse space shifts every channel of every layer on its own
 * and so removes what the longer step excites there.
 */
export function acceleratedExponents(problem: Problem): AcceleratedExponents {
  const shortLongEta = updateExponent(problem.p, problem.q, 'alternating');
  return {
    longEta: hasTies(problem) ? shortLongEta : 1 / (problem.p + problem.q),
    shortLongEta,
    safeEta: updateExponent(problem.p, problem.q, 'parallel'),
  };
}

/**
 * The share of the first-order decrease a long step must achieve (Armijo's condition): a step
 * that lowers `F` by less, although it lowers it, may not lower the imbalance, and is replaced by
 * the paper's step, whose decrease is guaranteed.
 */
const SUFFICIENT = 1e-4;

/** `-dF . (long - u)` at the snapshot, with `dF/du_v = q (In_v - Out_v)` (MATH.md §3); at most 0 counts as 0. */
function predictedDecrease(q: number, base: { u: Float64Array; In: Float64Array; Out: Float64Array }, long: Float64Array): number {
  let decrease = 0;
  for (let v = 0; v < long.length; v++) {
    const d = long[v] - base.u[v];
    if (d !== 0) decrease += q * (base.Out[v] - base.In[v]) * d;
  }
  return Math.max(decrease, 0);
}

/** Whether a variable has more than one unit (a tie group). */
function hasTies(problem: Problem): boolean {
  const seen = new Uint8Array(problem.nVars);
  for (const v of problem.unitVar) {
    if (v < 0) continue;
    if (seen[v]) return true;
    seen[v] = 1;
  }
  return false;
}

/** `next = u + eta * log(Out/In)` per variable; a variable whose ratio is not finite (underflow) stays. */
function step(u: Float64Array, In: Float64Array, Out: Float64Array, eta: number, next: Float64Array): void {
  for (let v = 0; v < u.length; v++) {
    const d = eta * Math.log(Out[v] / In[v]);
    next[v] = Number.isFinite(d) ? u[v] + d : u[v];
  }
}

function largestChange(a: Float64Array, b: Float64Array): number {
  let worst = 0;
  for (let v = 0; v < a.length; v++) worst = Math.max(worst, Math.abs(b[v] - a[v]));
  return worst;
}
