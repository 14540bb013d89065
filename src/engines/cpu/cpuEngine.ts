import { normOverflowError } from '../../errors.js';
import { logAdd, powerOfTwoScale } from '../../math/powers.js';
import { logBiasMass } from '../../math/statistics.js';
import type { Arena } from '../../network/rescale.js';
import type { Problem } from '../../problem/problem.js';
import { AcceleratedSchedule } from '../../schedule/accelerated.js';
import type { LogPasses } from '../../schedule/blockStatistics.js';
import { StatisticsRangeError } from '../../schedule/blockStatistics.js';
import type { StatisticsSchedule } from '../../schedule/parallel.js';
import { ParallelSchedule } from '../../schedule/parallel.js';
import type { Engine, Evaluation, SweepRecord } from '../engine.js';
import type { Pass, Step, SweepPlan } from '../plan.js';
import { includesClass, sweepPlan } from '../plan.js';
import type { BlockSums } from './blockSums.js';
import { fitsLinear, LinearBlockSums, LogBlockSums, weightRange } from './blockSums.js';
import type { CpuAction } from './chain.js';
import { actionCost, passActions, sweepActions } from './chain.js';
import type { CpuEngineOptions } from './cpuEngineOptions.js';
import { linearKernels } from './cpuEngineOptions.js';
import type { KernelsName, PassSums, PowerPrecision } from './kernels.js';
import { statisticsPasses } from './statisticsPasses.js';
import { ThreadedKernels } from './threads/threadedKernels.js';
import { weightsInPlace } from './wasm/wasmKernels.js';

export type { CpuEngineOptions } from './cpuEngineOptions.js';

/**
 * The reference engine, in float64: it executes the schedule's {@link SweepPlan}, or a schedule on
 * linear per-unit statistics (`src/schedule/`): the {@link AcceleratedSchedule} (whose steps depend
 * on what each pass finds), and the {@link ParallelSchedule} while the passes are linear (one
 * exponential per unit and one logarithm per variable per sweep). Both run on the same log-safe
 * passes; where their statistics would leave the float64 range the engine continues with the
 * paper's parallel step on the plan. There every per-unit quantity (`alpha = a^p`, `rho`, `y`,
 * `In`, `Out`, `F`) is carried as a natural logarithm, so that no exponent or weight range
 * underflows or overflows; the passes over `P` are linear and fast while the range of `P` fits
 * float64 (vectors scaled per pass, sums checked) and log-sum-exp otherwise ({@link BlockSums}).
 * `P` is built once; each sweep reads it as the plan says (twice, once for `p = q` in the
 * parallel schedule; the alternating schedule re-reads only the blocks whose columns hold the
 * class just updated).
 */
export class CpuEngine implements Engine {
  readonly backend = 'cpu' as const;
  readonly adapter = null;
  /** A power of two near the largest weight: `F` is `||W~ / normScale||_{p,q}^q`. */
  readonly normScale: number;
  private sums: BlockSums;
  private readonly scale: number;
  private readonly logBias: Float64Array;
  private readonly u: Float64Array;
  /** Per unit: `log alpha = p u` (0 for fixed units), and its negative. */
  private readonly la: Float64Array;
  private readonly lx: Float64Array;
  /** Per block: log row sums (rows) and log column sums (`cols * groups`). */
  private readonly lS: Float64Array[];
  private readonly lC: Float64Array[];
  private readonly lrho: Float64Array;
  private readonly ly: Float64Array;
  private readonly lIn: Float64Array;
  private readonly lOut: Float64Array;
  /** Per unit: `r log rho`, the terms of `log F`. */
  private readonly lrF: Float64Array;
  private lF = -Infinity;
  /** The plan's start and sweep as executed here (the parallel plan under the accelerated schedule: its fallback; a row pass and the column pass after it chained, see `chain.ts`). `evaluate()` reads nothing: both leave `In`, `Out` and `F` current. */
  private readonly actions: { readonly start: CpuAction[]; readonly sweep: CpuAction[] };
  /** What one sweep of the plan reads, in units of all of `P`. */
  private readonly sweepCost: number;
  /** The schedule on linear statistics running the sweeps (accelerated; parallel while the passes are linear), or `null`: the plan in logarithms. */
  private linear: StatisticsSchedule | null = null;
  /** The long-step exponent the accelerated schedule is told to use (tests only), if any. */
  private readonly longEta: number | undefined;
  /** The engine's passes for the schedules on linear statistics (`statisticsPasses.ts`). */
  private readonly logPasses: LogPasses;
  constructor(
    private readonly problem: Problem,
    options: CpuEngineOptions,
  ) {
    const { nUnits, nVars, blocks } = problem;
    const range = weightRange(problem);
    let largest = range.largest;
    if (problem.includeBiases) for (const b of blocks) if (b.bias) for (let i = 0; i < b.bias.length; i++) largest = Math.max(largest, Math.abs(b.bias[i]));
    const requested = options.precision ?? 'float64';
    // Float32 weights the kernels read in place (p = 2 or 1) are P unscaled: their squares or magnitudes, where those fit float32.
    const inPlace =
      requested === 'float32' &&
      options.kernels !== 'js' &&
      options.arithmetic !== 'log' &&
      fitsLinear(problem, 1, range, 'float32') &&
      weightsInPlace(problem, 'float32', 1, options.sums ?? 'float64') !== null;
    this.scale = inPlace ? 1 : powerOfTwoScale(largest);
    this.normScale = 1 / this.scale;
    const precision = fitsLinear(problem, this.scale, range, requested) ? requested : 'float64';
    const linear = options.arithmetic !== 'log' && fitsLinear(problem, this.scale, range, precision);
    this.sums = linear ? new LinearBlockSums(problem, linearKernels(problem, precision, this.scale, options)) : new LogBlockSums(problem, this.scale);
    this.logBias = logBiasMass(problem, this.scale);
    this.lrF = new Float64Array(nUnits);
    this.u = new Float64Array(nVars);
    if (options.initial) this.u.set(options.initial);
    this.la = new Float64Array(nUnits);
    this.lx = new Float64Array(nUnits);
    this.lS = blocks.map((b) => new Float64Array(b.rows));
    this.lC = blocks.map((b) => new Float64Array(b.cols * b.groups));
    this.lrho = new Float64Array(nUnits);
    this.ly = new Float64Array(nUnits);
    this.lIn = new Float64Array(nVars);
    this.lOut = new Float64Array(nVars);
    this.longEta = options.longEta;
    const chain = options.chainPasses !== false;
    this.logPasses = statisticsPasses(
      () => this.sums,
      (run) => this.pass(run),
      chain,
    );
    if (options.schedule === 'accelerated')
      this.linear = this.tryLinear(() => new AcceleratedSchedule(problem, this.logPasses, this.logBias, this.u, this.longEta));
    else if (options.schedule === 'parallel') this.linear = this.tryParallel();
    const plan = sweepPlan(problem, options.schedule === 'accelerated' ? 'parallel' : options.schedule);
    this.actions = {
      start: passActions(problem, plan.start, chain),
      sweep: sweepActions(problem, plan, chain),
    };
    this.sweepCost = actionCost(problem, this.actions.sweep);
    if (!this.linear) this.startPlan();
  }

  /** The parallel schedule on linear statistics from the current factors while the passes are linear, else `null`. */
  private tryParallel(): StatisticsSchedule | null {
    return this.sums.kind === 'linear' ? this.tryLinear(() => new ParallelSchedule(this.problem, this.logPasses, this.logBias, this.u)) : null;
  }

  /** A schedule on linear statistics from the current factors, or `null` when they do not fit the linear float64 range. */
  private tryLinear(create: () => StatisticsSchedule): StatisticsSchedule | null {
    try {
      return create();
    } catch (error) {
      if (error instanceof StatisticsRangeError) return null;
      throw error;
    }
  }

  /** Set up the plan's statistics at the current factors. */
  private startPlan(): void {
    this.setAlpha();
    this.execute(this.actions.start);
  }

  /** Which arithmetic the passes use now: `linear` `P`, or `log` (after a sum lost precision, or from the start). */
  get arithmetic(): 'linear' | 'log' {
    return this.sums.kind;
  }

  /** The element type of `P` now (`float64` in the log arithmetic). */
  get precision(): PowerPrecision {
    return this.sums instanceof LinearBlockSums ? this.sums.kernels.precision : 'float64';
  }

  /** Threads the passes over `P` run on now (1 but on the threaded WebAssembly kernels). */
  get threads(): number {
    return this.sums instanceof LinearBlockSums && this.sums.kernels instanceof ThreadedKernels ? this.sums.kernels.threads : 1;
  }

  /** How the passes add now (`float64` in the log arithmetic). */
  get passSums(): PassSums {
    return this.sums instanceof LinearBlockSums ? this.sums.kernels.sums : 'float64';
  }

  /** The kernels of the passes now (see {@link KernelsName}), or `log` (the log-sum-exp passes, in JS). */
  get kernels(): KernelsName | 'log' {
    return this.sums instanceof LinearBlockSums ? this.sums.kernels.name : 'log';
  }

  async evaluate(): Promise<Evaluation> {
    if (this.linear) return this.linear.current();
    // The plan's start and each of its sweeps end with In, Out and F current at the factors
    // (plan.ts), and nothing else moves them: no read here (the first sweep uses the start's).
    return { F: this.objective(), maxLogImbalance: this.maxLogImbalance() };
  }

  async sweeps(count: number, tol: number): Promise<SweepRecord[]> {
    const records: SweepRecord[] = [];
    for (let s = 0; s < count; s++) {
      const record = this.linear ? this.linearSweep(tol) : this.plannedSweep();
      records.push(record);
      if (record.maxLogImbalance <= tol) break;
    }
    return records;
  }

  async logFactors(): Promise<Float64Array> {
    return this.linear ? this.linear.logFactors() : this.u.slice();
  }

  /**
   * One sweep on linear statistics; where they leave the float64 range, the paper's parallel step
   * from the factors before it for the rest of the run: on linear statistics after the
   * accelerated schedule if they fit there, else the plan in logarithms.
   */
  private linearSweep(tol: number): SweepRecord {
    const schedule = this.linear as StatisticsSchedule;
    // The factors before the sweep, where the plan (or the parallel step) continues if it fails.
    schedule.logFactors(this.u);
    try {
      return schedule.sweep(tol);
    } catch (error) {
      if (!(error instanceof StatisticsRangeError)) throw error;
      this.linear = schedule instanceof AcceleratedSchedule ? this.tryParallel() : null;
      if (this.linear) return this.linearSweep(tol);
      this.startPlan();
      return this.plannedSweep();
    }
  }

  /** One sweep of the plan: its steps, then the finishing passes, so that the imbalance is current. */
  private plannedSweep(): SweepRecord {
    const maxStep = this.execute(this.actions.sweep);
    return { F: this.objective(), maxLogImbalance: this.maxLogImbalance(), maxStep, passes: this.sweepCost };
  }

  /** Execute actions in order; returns the largest `|step|` of their updates (0 if none). */
  private execute(actions: readonly CpuAction[]): number {
    let maxStep = 0;
    for (const action of actions) {
      if (action.kind === 'pass') this.run(action.pass);
      else if (action.kind === 'update') maxStep = Math.max(maxStep, this.update(action.step));
      else this.runChained(action.rows, action.columns, action.chained);
    }
    return maxStep;
  }

  /** A rows pass and the columns pass after it, the `chained` blocks of both in one read each (row-then-column passes). */
  private runChained(rows: Pass, columns: Pass, chained: readonly number[]): void {
    const { lx, la, lS, lC, logBias } = this;
    const once = new Set(chained);
    for (const k of rows.blocks) {
      if (once.has(k)) this.pass(() => this.sums.rowsColumns(k, lx, la, logBias, lS[k], lC[k]));
      else this.pass(() => this.sums.rows(k, lx, lS[k]));
    }
    this.finishRows();
    for (const k of columns.blocks) if (!once.has(k)) this.pass(() => this.sums.columns(k, this.ly, lC[k]));
    this.accumulateOut(columns.blocks);
  }

  /** `max |log(Out/In)|` over the variables, from the log sums. */
  private maxLogImbalance(): number {
    let worst = 0;
    for (let v = 0; v < this.problem.nVars; v++) worst = Math.max(worst, Math.abs(this.lOut[v] - this.lIn[v]));
    return Number.isNaN(worst) ? Infinity : worst;
  }

  dispose(): void {
    this.sums.dispose();
  }

  /**
   * Dispose, handing over the memory that held `P`: the caller may place the rescaled weights
   * there (already paged in) instead of in new memory. The engine must not be used after.
   */
  release(): Arena {
    return this.sums.release();
  }

  /** Run a pass; when the linear arithmetic cannot give its sums, move to logarithms for the rest of the run and run it there. */
  private pass(run: () => boolean): void {
    if (run()) return;
    this.sums.dispose();
    this.sums = new LogBlockSums(this.problem, this.scale);
    if (!run()) throw new Error('the log-sum-exp passes reported a loss of precision');
  }

  /** `log alpha = p u` per unit from the log factors (0 for fixed units). */
  private setAlpha(): void {
    const { unitVar, p, nUnits } = this.problem;
    for (let unit = 0; unit < nUnits; unit++) {
      const v = unitVar[unit];
      const la = v >= 0 ? p * this.u[v] : 0;
      this.la[unit] = la;
      this.lx[unit] = -la;
    }
  }

  /** Execute one pass of the plan (a rows or fused pass ends with the row finish). */
  private run(pass: Pass): void {
    const { lx, la, lS, lC } = this;
    switch (pass.kind) {
      case 'rows':
        for (const k of pass.blocks) this.pass(() => this.sums.rows(k, lx, lS[k]));
        this.finishRows();
        break;
      case 'columns':
        for (const k of pass.blocks) this.pass(() => this.sums.columns(k, this.ly, lC[k]));
        this.accumulateOut(pass.blocks);
        break;
      case 'fused':
        // p = q: y = alpha does not depend on the row sums, so one read of P gives both.
        for (const k of pass.blocks) this.pass(() => this.sums.fused(k, lx, la, lS[k], lC[k]));
        this.finishRows();
        this.accumulateOut(pass.blocks);
        break;
    }
  }

  /** `log rho = log alpha + log(row sums + bias mass)`, `log In` per variable, `log y = (r - 1) log rho + log alpha`, and `log F`. */
  private finishRows(): void {
    const { blocks, unitVar, r, nUnits } = this.problem;
    const { lrho, la, ly, lIn, lrF } = this;
    lrho.set(this.logBias);
    blocks.forEach((b, k) => {
      const lS = this.lS[k];
      for (let i = 0; i < b.rows; i++) lrho[b.rowUnit0 + i] = logAdd(lrho[b.rowUnit0 + i], lS[i]);
    });
    lIn.fill(-Infinity);
    // log F = log sum_unit rho^r, added relative to the largest term: one exp per unit.
    let largest = -Infinity;
    for (let unit = 0; unit < nUnits; unit++) {
      if (lrho[unit] === -Infinity) {
        ly[unit] = -Infinity;
        lrF[unit] = -Infinity;
        continue;
      }
      const value = lrho[unit] + la[unit];
      lrho[unit] = value;
      ly[unit] = (r - 1) * value + la[unit];
      const term = r * value;
      lrF[unit] = term;
      if (term > largest) largest = term;
      const v = unitVar[unit];
      if (v >= 0) lIn[v] = logAdd(lIn[v], term);
    }
    let sum = 0;
    if (largest > -Infinity) for (let unit = 0; unit < nUnits; unit++) sum += Math.exp(lrF[unit] - largest);
    this.lF = largest + Math.log(sum);
  }

  /**
   * `F = exp(log F)`, refused when it leaves the float64 range (a norm below about `1e-308^(1/q)` of
   * the largest weight, or above); `Infinity` when the norm itself overflows (the driver refuses that).
   */
  private objective(): number {
    const F = Math.exp(this.lF);
    // The norm itself is not a float64 number: F = Infinity, and the driver refuses the run with the reason (p or q too small).
    if (F === Infinity && !(this.normScale * Math.exp(this.lF / this.problem.q) < Infinity)) return F;
    if (this.lF > -Infinity && !(F > 0 && F < Infinity)) {
      // F >= 1 relative to the largest weight (its row alone gives rho >= 1): only an overflow gets here.
      throw normOverflowError(Infinity, this.problem.p, this.problem.q);
    }
    return F;
  }

  /** `log Out[v] = log sum` over the units of `v` and the given blocks reading them of `C / alpha`. */
  private accumulateOut(blockIndices: readonly number[]): void {
    const { blocks, unitVar } = this.problem;
    for (const k of blockIndices) {
      const b = blocks[k];
      for (let c = 0; c < b.cols * b.groups; c++) {
        const v = unitVar[b.colUnit0 + c];
        if (v >= 0) this.lOut[v] = -Infinity;
      }
    }
    for (const k of blockIndices) {
      const b = blocks[k];
      const lC = this.lC[k];
      for (let c = 0; c < lC.length; c++) {
        const v = unitVar[b.colUnit0 + c];
        if (v >= 0) this.lOut[v] = logAdd(this.lOut[v], lC[c] + this.lx[b.colUnit0 + c]);
      }
    }
  }

  /** The update of one step of the plan (its passes are actions of their own). Returns its largest `|step|`. */
  private update(step: Step): number {
    const { varClass, nVars } = this.problem;
    // The accelerated update runs on AcceleratedSchedule (see `sweeps`); this plan is the parallel one.
    if (step.update.kind !== 'multiplicative') throw new Error(`internal: the CPU engine's plan has an ${step.update.kind} step`);
    const { eta } = step.update;
    let maxStep = 0;
    for (let v = 0; v < nVars; v++) {
      if (!includesClass(step.variables, varClass[v])) continue;
      const d = eta * (this.lOut[v] - this.lIn[v]);
      if (!Number.isFinite(d)) throw new Error(`variable ${v} has log In ${this.lIn[v]} and log Out ${this.lOut[v]}: a degenerate unit was not frozen`);
      this.u[v] += d;
      maxStep = Math.max(maxStep, Math.abs(d));
    }
    this.setAlpha();
    return maxStep;
  }
}
