import { biasPower, columnPass, fusedPass, largestWeight, powerMatrix, powerOfTwoScale, rowPass } from '../../math/passes.js';
import { updateExponent } from '../../options.js';
import type { Problem } from '../../problem/problem.js';
import type { Engine, EngineOptions, Evaluation, SweepRecord } from '../engine.js';

/**
 * The reference engine, in float64. `P` is built once; each sweep reads it twice (once for
 * `p = q` in the parallel schedule) and calls no `pow` per weight. The alternating schedule
 * re-reads only the blocks whose columns hold the class just updated.
 */
export class CpuEngine implements Engine {
  readonly backend = 'cpu' as const;
  readonly adapter = null;
  /** `P` holds `|w / normScale|^p`, a power of two near the largest weight: no overflow for any weight scale. */
  readonly normScale: number;
  private readonly P: Float64Array[];
  private readonly bias: Float64Array;
  private readonly u: Float64Array;
  private readonly alpha: Float64Array;
  private readonly invAlpha: Float64Array;
  private readonly S: Float64Array[];
  private readonly rho: Float64Array;
  private readonly y: Float64Array;
  private readonly C: Float64Array;
  private readonly In: Float64Array;
  private readonly Out: Float64Array;
  /** Blocks whose columns hold a variable of each class. */
  private readonly classBlocks: number[][];
  private readonly eta: number;
  private fresh = false;

  constructor(private readonly problem: Problem, private readonly options: EngineOptions) {
    const { nUnits, nVars, blocks } = problem;
    const scale = powerOfTwoScale(largestWeight(blocks, problem.includeBiases));
    this.normScale = 1 / scale;
    this.P = blocks.map((b) => powerMatrix(b, problem.p, scale));
    this.bias = biasPower(problem, scale);
    this.u = new Float64Array(nVars);
    if (options.initial) this.u.set(options.initial);
    this.alpha = new Float64Array(nUnits);
    this.invAlpha = new Float64Array(nUnits);
    this.S = blocks.map((b) => new Float64Array(b.rows));
    this.rho = new Float64Array(nUnits);
    this.y = new Float64Array(nUnits);
    this.C = new Float64Array(nUnits);
    this.In = new Float64Array(nVars);
    this.Out = new Float64Array(nVars);
    this.eta = updateExponent(problem.p, problem.q, options.schedule);
    this.classBlocks = Array.from({ length: problem.nClasses }, () => [] as number[]);
    blocks.forEach((b, k) => {
      const classes = new Set<number>();
      for (let c = b.colUnit0; c < b.colUnit0 + b.cols * b.groups; c++) {
        const v = problem.unitVar[c];
        if (v >= 0) classes.add(problem.varClass[v]);
      }
      for (const c of classes) this.classBlocks[c].push(k);
    });
    this.setAlpha();
    this.rowPasses(blocks.map((_, k) => k));
  }

  async evaluate(): Promise<Evaluation> {
    this.evaluateAll();
    let worst = 0;
    for (let v = 0; v < this.problem.nVars; v++) worst = Math.max(worst, Math.abs(Math.log(this.Out[v] / this.In[v])));
    return { F: this.objective(), maxLogImbalance: worst };
  }

  async sweeps(count: number, tol: number): Promise<SweepRecord[]> {
    const records: SweepRecord[] = [];
    for (let s = 0; s < count; s++) {
      const record = this.options.schedule === 'parallel' ? this.parallelSweep() : this.alternatingSweep();
      records.push(record);
      if (record.maxStep < tol) break;
    }
    return records;
  }

  async logFactors(): Promise<Float64Array> {
    return this.u.slice();
  }

  /** `In` and `Out` per variable at the current factors (copies, in the network's own scale). */
  statistics(): { In: Float64Array; Out: Float64Array } {
    this.evaluateAll();
    const unscale = Math.pow(this.normScale, this.problem.q);
    return { In: this.In.map((x) => x * unscale), Out: this.Out.map((x) => x * unscale) };
  }

  dispose(): void {
    this.P.length = 0;
  }

  /** alpha = a^p per unit from the log factors (1 for fixed units). */
  private setAlpha(): void {
    const { unitVar, p, nUnits } = this.problem;
    for (let unit = 0; unit < nUnits; unit++) {
      const v = unitVar[unit];
      const a = v >= 0 ? Math.exp(p * this.u[v]) : 1;
      this.alpha[unit] = a;
      this.invAlpha[unit] = 1 / a;
    }
  }

  private rowPasses(blockIndices: number[]): void {
    for (const k of blockIndices) rowPass(this.problem.blocks[k], this.P[k], this.invAlpha, this.S[k]);
    this.fresh = false;
  }

  /** rho = alpha * (row sums + bias mass), In per variable, and y = rho^(r-1) * alpha. */
  private rowStatistics(): void {
    const { blocks, unitVar, r, nUnits } = this.problem;
    const rho = this.rho;
    rho.set(this.bias);
    blocks.forEach((b, k) => {
      const S = this.S[k];
      for (let i = 0; i < b.rows; i++) rho[b.rowUnit0 + i] += S[i];
    });
    this.In.fill(0);
    for (let unit = 0; unit < nUnits; unit++) {
      const value = rho[unit] * this.alpha[unit];
      rho[unit] = value;
      this.y[unit] = value > 0 ? (r === 1 ? 1 : Math.pow(value, r - 1)) * this.alpha[unit] : 0;
      const v = unitVar[unit];
      if (v >= 0) this.In[v] += r === 1 ? value : Math.pow(value, r);
    }
  }

  private objective(): number {
    const { r } = this.problem;
    let F = 0;
    for (let unit = 0; unit < this.rho.length; unit++) {
      const value = this.rho[unit];
      if (value > 0) F += r === 1 ? value : Math.pow(value, r);
    }
    return F;
  }

  /** Out per variable from the column sums C over the given blocks' columns. */
  private columnStatistics(blockIndices: number[]): void {
    const { blocks, unitVar } = this.problem;
    for (const k of blockIndices) {
      const b = blocks[k];
      this.C.fill(0, b.colUnit0, b.colUnit0 + b.cols * b.groups);
    }
    for (const k of blockIndices) columnPass(blocks[k], this.P[k], this.y, this.C);
    this.accumulateOut(blockIndices.map((k) => blocks[k]), unitVar);
  }

  private accumulateOut(blockList: { colUnit0: number; cols: number; groups: number }[], unitVar: Int32Array): void {
    const seen = new Set<number>();
    for (const b of blockList) {
      if (seen.has(b.colUnit0)) continue;
      seen.add(b.colUnit0);
      for (let unit = b.colUnit0; unit < b.colUnit0 + b.cols * b.groups; unit++) {
        const v = unitVar[unit];
        if (v >= 0) this.Out[v] = 0;
      }
    }
    seen.clear();
    for (const b of blockList) {
      if (seen.has(b.colUnit0)) continue;
      seen.add(b.colUnit0);
      for (let unit = b.colUnit0; unit < b.colUnit0 + b.cols * b.groups; unit++) {
        const v = unitVar[unit];
        if (v >= 0) this.Out[v] += this.C[unit] * this.invAlpha[unit];
      }
    }
  }

  /** Row and column statistics for every variable at the current factors. */
  private evaluateAll(): void {
    if (this.fresh) return;
    const all = this.problem.blocks.map((_, k) => k);
    if (this.problem.r === 1 && this.options.schedule === 'parallel') {
      // p = q: y = alpha does not depend on the row sums, so one read of P gives both.
      this.y.set(this.alpha);
      this.C.fill(0);
      this.problem.blocks.forEach((b, k) => fusedPass(b, this.P[k], this.invAlpha, this.y, this.S[k], this.C));
      this.rowStatistics();
      this.accumulateOut(this.problem.blocks, this.problem.unitVar);
    } else {
      this.rowStatistics();
      this.columnStatistics(all);
    }
    this.fresh = true;
  }

  private step(vars: (v: number) => boolean): number {
    let maxStep = 0;
    for (let v = 0; v < this.problem.nVars; v++) {
      if (!vars(v)) continue;
      const d = this.eta * Math.log(this.Out[v] / this.In[v]);
      if (!Number.isFinite(d)) continue; // |w|^p underflowed: leave this factor where it is
      this.u[v] += d;
      maxStep = Math.max(maxStep, Math.abs(d));
    }
    this.setAlpha();
    return maxStep;
  }

  private parallelSweep(): SweepRecord {
    this.evaluateAll();
    const maxStep = this.step(() => true);
    this.fresh = false;
    if (this.problem.r === 1) this.evaluateAll();
    else {
      this.rowPasses(this.problem.blocks.map((_, k) => k));
      this.evaluateAll();
    }
    return { F: this.objective(), maxStep };
  }

  private alternatingSweep(): SweepRecord {
    const { varClass } = this.problem;
    let maxStep = 0;
    for (let c = 0; c < this.problem.nClasses; c++) {
      this.rowStatistics();
      this.columnStatistics(this.classBlocks[c]);
      maxStep = Math.max(maxStep, this.step((v) => varClass[v] === c));
      this.rowPasses(this.classBlocks[c]);
    }
    this.rowStatistics();
    this.fresh = false;
    return { F: this.objective(), maxStep };
  }
}
