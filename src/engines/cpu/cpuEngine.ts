import { biasPower, columnPass, fusedPass, largestWeight, powerMatrix, powerOfTwoScale, rowPass } from '../../math/passes.js';
import type { Problem } from '../../problem/problem.js';
import type { Engine, EngineOptions, Evaluation, SweepRecord } from '../engine.js';
import { includesClass, passCost, sweepPlan } from '../plan.js';
import { AcceleratedSchedule } from '../../schedule/accelerated.js';
import type { Pass, Step, SweepPlan } from '../plan.js';
import { finishRowSums, maxLogImbalance, objective, outFromColumnSums, unitPowers } from '../../math/statistics.js';

/**
 * The reference engine, in float64: it executes the schedule's {@link SweepPlan}, or, for the
 * accelerated schedule, the {@link AcceleratedSchedule} (whose steps depend on what each pass
 * finds). `P` is built once; each sweep reads it twice (once for `p = q` in the parallel
 * schedule) and calls no `pow` per weight. The alternating schedule re-reads only the blocks
 * whose columns hold the class just updated.
 */
export class CpuEngine implements Engine {
  readonly backend = 'cpu' as const;
  readonly adapter = null;
  /** `P` holds `|w / normScale|^p`, a power of two near the largest weight: no overflow for any weight scale. */
  readonly normScale: number;
  private readonly plan: SweepPlan | null;
  /** The executor of the accelerated schedule (`null` for the planned schedules). */
  private readonly accelerated: AcceleratedSchedule | null;
  /** What one sweep of the plan reads, in units of all of `P`. */
  private readonly sweepCost: number;
  private readonly P: Float64Array[];
  private readonly bias: Float64Array;
  private readonly u: Float64Array;
  private readonly alpha: Float64Array;
  private readonly invAlpha: Float64Array;
  /** Row sums per block, and per unit: `rho`, the column weights `y`, the column sums `C`. */
  private readonly S: Float64Array[];
  private readonly rho: Float64Array;
  private readonly y: Float64Array;
  private readonly C: Float64Array;
  /** `In` and `Out` per variable. */
  private readonly In: Float64Array;
  private readonly Out: Float64Array;

  constructor(private readonly problem: Problem, options: EngineOptions) {
    const { nUnits, nVars, blocks } = problem;
    const scale = powerOfTwoScale(largestWeight(blocks, problem.includeBiases));
    this.normScale = 1 / scale;
    this.P = blocks.map((b) => powerMatrix(b, problem.p, scale));
    this.bias = biasPower(problem, scale);
    this.u = new Float64Array(nVars);
    if (options.initial) this.u.set(options.initial);
    this.accelerated = options.schedule === 'accelerated' ? new AcceleratedSchedule(problem, this.P, this.bias, this.u) : null;
    this.plan = this.accelerated ? null : sweepPlan(problem, options.schedule);
    const plan = this.plan;
    this.sweepCost = plan ? passCost(problem, [...plan.steps.flatMap((step) => [...step.prepare, ...step.refresh]), ...plan.finish]) : 0;
    this.alpha = new Float64Array(nUnits);
    this.invAlpha = new Float64Array(nUnits);
    this.S = blocks.map((b) => new Float64Array(b.rows));
    this.rho = new Float64Array(nUnits);
    this.y = new Float64Array(nUnits);
    this.C = new Float64Array(nUnits);
    this.In = new Float64Array(nVars);
    this.Out = new Float64Array(nVars);
    this.setAlpha();
    plan?.start.forEach((pass) => this.run(pass));
  }

  async evaluate(): Promise<Evaluation> {
    if (this.accelerated) return this.accelerated.current();
    this.plan?.evaluate.forEach((pass) => this.run(pass));
    return { F: this.objective(), maxLogImbalance: maxLogImbalance(this.In, this.Out) };
  }

  async sweeps(count: number, tol: number): Promise<SweepRecord[]> {
    const records: SweepRecord[] = [];
    for (let s = 0; s < count; s++) {
      const record = this.accelerated ? this.accelerated.sweep(tol) : this.plannedSweep();
      records.push(record);
      if (record.maxLogImbalance <= tol) break;
    }
    return records;
  }

  async logFactors(): Promise<Float64Array> {
    return this.accelerated ? this.accelerated.logFactors() : this.u.slice();
  }

  /** One sweep of the plan: its steps, then the finishing passes, so that the imbalance is current. */
  private plannedSweep(): SweepRecord {
    const plan = this.plan as SweepPlan;
    let maxStep = 0;
    for (const step of plan.steps) maxStep = Math.max(maxStep, this.step(step));
    plan.finish.forEach((pass) => this.run(pass));
    return { F: this.objective(), maxLogImbalance: maxLogImbalance(this.In, this.Out), maxStep, passes: this.sweepCost };
  }

  dispose(): void {
    this.P.length = 0;
  }

  /** alpha = a^p per unit from the log factors (1 for fixed units). */
  private setAlpha(): void {
    unitPowers(this.problem, this.u, this.alpha, this.invAlpha);
  }

  /** Execute one pass of the plan (a rows or fused pass ends with the row finish). */
  private run(pass: Pass): void {
    const { blocks } = this.problem;
    switch (pass.kind) {
      case 'rows':
        for (const k of pass.blocks) rowPass(blocks[k], this.P[k], this.invAlpha, this.S[k]);
        this.finishRows();
        break;
      case 'columns':
        this.clearColumns(pass.blocks);
        for (const k of pass.blocks) columnPass(blocks[k], this.P[k], this.y, this.C);
        this.accumulateOut(pass.blocks);
        break;
      case 'fused':
        // p = q: y = alpha does not depend on the row sums, so one read of P gives both.
        this.y.set(this.alpha);
        this.clearColumns(pass.blocks);
        for (const k of pass.blocks) fusedPass(blocks[k], this.P[k], this.invAlpha, this.y, this.S[k], this.C);
        this.finishRows();
        this.accumulateOut(pass.blocks);
        break;
    }
  }

  /** One step of the plan: prepare, update the step's variables, refresh. Returns its largest `|step|`. */
  private step(step: Step): number {
    step.prepare.forEach((pass) => this.run(pass));
    const { varClass, nVars } = this.problem;
    const { eta } = step.update;
    let maxStep = 0;
    for (let v = 0; v < nVars; v++) {
      if (!includesClass(step.variables, varClass[v])) continue;
      const d = eta * Math.log(this.Out[v] / this.In[v]);
      if (!Number.isFinite(d)) continue; // |w|^p underflowed: leave this factor where it is
      this.u[v] += d;
      maxStep = Math.max(maxStep, Math.abs(d));
    }
    this.setAlpha();
    step.refresh.forEach((pass) => this.run(pass));
    return maxStep;
  }

  /** rho = alpha * (row sums + bias mass), In per variable, and y = rho^(r-1) * alpha. */
  private finishRows(): void {
    const { blocks } = this.problem;
    const rho = this.rho;
    rho.set(this.bias);
    blocks.forEach((b, k) => {
      const S = this.S[k];
      for (let i = 0; i < b.rows; i++) rho[b.rowUnit0 + i] += S[i];
    });
    finishRowSums(this.problem, this.alpha, rho, this.y, this.In);
  }

  private objective(): number {
    return objective(this.problem.r, this.rho);
  }

  /** Zero the column sums C over the given blocks' columns. */
  private clearColumns(blockIndices: readonly number[]): void {
    for (const k of blockIndices) {
      const b = this.problem.blocks[k];
      this.C.fill(0, b.colUnit0, b.colUnit0 + b.cols * b.groups);
    }
  }

  /** Out per variable with a unit among the given blocks' columns, from the column sums C. */
  private accumulateOut(blockIndices: readonly number[]): void {
    const { blocks } = this.problem;
    outFromColumnSums(this.problem, blockIndices.map((k) => blocks[k]), this.C, this.invAlpha, this.Out);
  }
}
