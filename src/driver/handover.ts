/**
 * The GPU -> CPU hand-over of a balance run, as one unit with a state you can read: which
 * engine runs, the last verified log factors, how many sweeps are verified, and why the run
 * left WebGPU (a typed {@link Fallback}). The driver (`balance`) asks it for batches of
 * verified sweeps; everything that can go wrong on the GPU ends here:
 *
 * - the engine cannot be set up, or fails in a batch or an evaluation (`gpu-error`,
 *   `device-lost`): the CPU continues from the last verified factors;
 * - a GPU batch increases `F` beyond float32 rounding (`not-monotone`): the batch is discarded;
 * - the GPU's steps stop shrinking above `tol` (`stalled`, float32's floor).
 *
 * On the CPU (the reference, float64) the same failures are errors: they are thrown.
 */

import type { CpuEngineOptions } from '../engines/cpu/cpuEngine.js';
import { CpuEngine } from '../engines/cpu/cpuEngine.js';
import type { ThreadPool } from '../engines/cpu/threads/pool.js';
import type { Engine, Evaluation, RescaledBlock, SweepRecord } from '../engines/engine.js';
import { DeviceLostError, ScheduleNotOnGpuError } from '../engines/engine.js';
import type { GpuTarget } from '../engines/webgpu/device.js';
import { createWebGpuEngine } from '../engines/webgpu/engine.js';
import { WeightBalanceError } from '../errors.js';
import { Arena } from '../network/rescale.js';
import type { BalanceKernels, Schedule } from '../options.js';
import type { Problem } from '../problem/problem.js';
import type { BackendChoice } from './backend.js';
import type { Fallback, FallbackKind } from './fallback.js';

/**
 * GPU sweeps without a new smallest imbalance (counted in whole batches: two batches of the
 * default 16) before the run moves to the CPU: float32 arithmetic has a floor (the imbalance
 * stalls near 1e-6 on small nets) below which a `tol` cannot be reached; the float64 CPU engine
 * finishes from the last verified factors. Sweeps, not batches: the imbalance may rise for a
 * sweep or two long before the floor, which two batches of one sweep would take for a stall.
 */
export const GPU_STALL_SWEEPS = 32;

/**
 * The smallest `tol` the CPU engine meets with float32 `P`: float32 rounding of `P` moves
 * `log(Out/In)` by at most 1.2e-7, under 2% of this; every sum stays float64. Below it, `P` is
 * float64 (the reference).
 */
export const FLOAT32_P_TOL = 1e-5;

/** The CPU engine's set-up for a run: float32 `P` where `tol` allows it. */
function cpuOptions(run: HandoverRun, initial?: Float64Array): CpuEngineOptions {
  return { schedule: run.schedule, precision: run.tol >= FLOAT32_P_TOL ? 'float32' : 'float64', initial, pool: run.pool };
}

/** Relative increase of F beyond which a sweep is not monotone (float64 CPU, float32 GPU). */
const MONOTONE_TOLERANCE = { cpu: 1e-12, webgpu: 1e-5 } as const;

/** The settings of a run that the hand-over needs. */
export interface HandoverRun {
  schedule: Schedule;
  tol: number;
  maxSweeps: number;
  /** Sweeps per GPU batch; the CPU runs one sweep per batch. */
  sweepsPerBatch: number;
  /** Worker threads for the CPU engine's passes (owned by the caller, who closes it); none: one thread. */
  pool?: ThreadPool | null;
}

/** A sweep whose factors were verified (monotone, read back). */
export interface VerifiedSweep extends SweepRecord {
  /** `||W~||_{p,q}` after the sweep. */
  norm: number;
  backend: 'cpu' | 'webgpu';
}

/** What the hand-over holds, for the driver and for tests. */
export interface HandoverState {
  backend: 'cpu' | 'webgpu';
  /** The adapter that ran (or was meant to run) the GPU part, if any. */
  adapter: string | null;
  fallback: Fallback | null;
  /** Sweeps verified so far (on either engine). */
  sweeps: number;
  /** The log factors after the last verified sweep, one per variable. */
  verified: Float64Array;
}

function text(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function failureKind(error: unknown): FallbackKind {
  if (error instanceof ScheduleNotOnGpuError) return 'cpu-schedule';
  return error instanceof DeviceLostError ? 'device-lost' : 'gpu-error';
}

/** Why `records` are not monotone from `previous` (all in one engine's arithmetic), or `null`. */
export function monotoneViolation(previous: number, records: SweepRecord[], backend: 'cpu' | 'webgpu'): string | null {
  for (const record of records) {
    if (!Number.isFinite(record.F) || record.F > previous * (1 + MONOTONE_TOLERANCE[backend])) {
      return `the norm increased from ${previous} to ${record.F} (${backend}): not monotone`;
    }
    previous = record.F;
  }
  return null;
}

/** The engine of a run and its hand-over from the GPU to the CPU (see the module comment). */
export class EngineHandover {
  private engine: Engine;
  private fallback: Fallback | null;
  private readonly adapter: string | null;
  private verified: Float64Array;
  private sweeps = 0;
  /**
   * `F` where the next batch starts, in the arithmetic of the engine that runs it (`null`: not
   * yet evaluated there). The monotone check compares an engine only with itself: a float32 `F`
   * may read 1e-7 low, which a float64 sweep from the same factors would otherwise "increase".
   */
  private startF: number | null = null;
  private smallestStep = Infinity;
  /** GPU batches asked for so far (the first is one sweep). */
  private gpuBatches = 0;
  private sweepsSinceSmallest = 0;

  private constructor(
    private readonly problem: Problem,
    private readonly run: HandoverRun,
    engine: Engine,
    choice: BackendChoice,
    fallback: Fallback | null,
  ) {
    this.engine = engine;
    this.adapter = engine.adapter ?? choice.adapter;
    this.fallback = fallback;
    this.verified = new Float64Array(problem.nVars);
  }

  /** Start on the chosen backend; a GPU engine that cannot be set up hands over at once. */
  static async open(problem: Problem, run: HandoverRun, choice: BackendChoice): Promise<EngineHandover> {
    if (choice.backend === 'webgpu') {
      try {
        // The choice's adapter or device are WebGPU's own objects, typed structurally in the public API.
        const engine = await createWebGpuEngine(problem, { schedule: run.schedule }, choice.source as GpuTarget);
        return new EngineHandover(problem, run, engine, choice, null);
      } catch (error) {
        const kind = failureKind(error);
        const fallback = { kind, message: kind === 'cpu-schedule' ? `${text(error)}: the CPU engine runs it` : `WebGPU unavailable: ${text(error)}` };
        return new EngineHandover(problem, run, new CpuEngine(problem, cpuOptions(run)), choice, fallback);
      }
    }
    return new EngineHandover(problem, run, new CpuEngine(problem, cpuOptions(run)), choice, choice.fallback);
  }

  /** The state now (a snapshot). */
  get state(): HandoverState {
    return { backend: this.engine.backend, adapter: this.adapter, fallback: this.fallback, sweeps: this.sweeps, verified: this.verified };
  }

  /** The element type of `P` on the engine that runs now: float32 on WebGPU; on the CPU as its set-up chose. */
  get precision(): 'float32' | 'float64' {
    return this.engine instanceof CpuEngine ? this.engine.precision : 'float32';
  }

  /** The kernels of the passes now: the CPU engine's (see `CpuEngine.kernels`), or `webgpu`. */
  get kernels(): BalanceKernels {
    return this.engine instanceof CpuEngine ? this.engine.kernels : 'webgpu';
  }

  /** Threads the CPU engine's passes run on now (1 on WebGPU). */
  get threads(): number {
    return this.engine instanceof CpuEngine ? this.engine.threads : 1;
  }

  /**
   * Free the CPU engine's `P` once the run is over (its factors are verified), before the caller
   * makes the rescaled copy of the network, and hand over its memory (none on the GPU): the copy
   * may be placed there, so that the peak memory is the network and `P`, and the copy writes
   * into memory already paged in.
   */
  releaseCpu(): Arena {
    return this.engine instanceof CpuEngine ? this.engine.release() : new Arena();
  }

  /** `||W~||_{p,q}` for an objective `F` of the current engine. */
  private norm(F: number): number {
    return (this.engine.normScale ?? 1) * Math.pow(F, 1 / this.problem.q);
  }

  /** Leave the GPU: the CPU engine continues from the last verified factors. */
  private handOver(kind: FallbackKind, message: string): void {
    this.fallback = { kind, message };
    this.engine.dispose();
    this.engine = new CpuEngine(this.problem, cpuOptions(this.run, this.verified));
    this.startF = null;
  }

  /** Evaluate at the verified factors; a GPU failure hands over (`stage` says when, for the message). */
  async evaluate(stage: string): Promise<Evaluation & { norm: number }> {
    let evaluation: Evaluation;
    try {
      evaluation = await this.engine.evaluate();
    } catch (error) {
      if (this.engine.backend === 'cpu') throw error;
      this.handOver(failureKind(error), `WebGPU failed ${stage}: ${text(error)}`);
      evaluation = await this.engine.evaluate();
    }
    this.startF = evaluation.F;
    return { ...evaluation, norm: this.norm(evaluation.F) };
  }

  /**
   * Run the next batch (one sweep on the CPU; on the GPU one sweep first, so that the first
   * progress comes right after the first sweep, then up to `sweepsPerBatch`; never past
   * `maxSweeps`) and return its sweeps once verified. A failed or non-monotone GPU batch is
   * discarded (empty result) and the CPU takes over; a stalled GPU hands over after its batch.
   */
  async next(): Promise<VerifiedSweep[]> {
    const backend = this.engine.backend;
    const count = backend === 'cpu' || this.gpuBatches++ === 0 ? 1 : Math.min(this.run.sweepsPerBatch, this.run.maxSweeps - this.sweeps);
    let records: SweepRecord[];
    let factors: Float64Array;
    let startF: number;
    try {
      startF = this.startF ?? (await this.engine.evaluate()).F;
      records = await this.engine.sweeps(count, this.run.tol);
      if (records.length === 0) throw new Error(`the ${backend} engine ran no sweep when asked for ${count}`);
      factors = await this.engine.logFactors();
    } catch (error) {
      if (backend === 'cpu') throw error;
      this.handOver(failureKind(error), `WebGPU failed after ${this.sweeps} verified sweeps: ${text(error)}`);
      return [];
    }
    const violation = monotoneViolation(startF, records, backend);
    if (violation) {
      if (backend === 'cpu') throw new WeightBalanceError(violation);
      this.handOver('not-monotone', `WebGPU failed after ${this.sweeps} verified sweeps: ${violation}`);
      return [];
    }
    this.verified = factors;
    this.startF = records[records.length - 1].F;
    this.sweeps += records.length;
    const verified = records.map((r) => ({ ...r, norm: this.norm(r.F), backend }));
    if (backend === 'webgpu') this.watchStall(records);
    return verified;
  }

  /** Hand over when the GPU's smallest imbalance has not improved for {@link GPU_STALL_SWEEPS} sweeps (and the run is not over). */
  private watchStall(records: SweepRecord[]): void {
    const converged = records[records.length - 1].maxLogImbalance <= this.run.tol;
    if (converged || this.sweeps >= this.run.maxSweeps) return;
    const smallest = Math.min(...records.map((r) => r.maxLogImbalance));
    this.sweepsSinceSmallest = smallest < this.smallestStep ? 0 : this.sweepsSinceSmallest + records.length;
    this.smallestStep = Math.min(this.smallestStep, smallest);
    if (this.sweepsSinceSmallest >= GPU_STALL_SWEEPS) {
      this.handOver(
        'stalled',
        `WebGPU stalled at its float32 precision floor after ${this.sweeps} sweeps (imbalance ${smallest.toExponential(2)}, tol ${this.run.tol}): the CPU engine finished`,
      );
    }
  }

  /**
   * The rescaled float32 blocks computed on the GPU when the run finished there, else `null`
   * (then the host rescales). A failure here is reported (`gpu-error`/`device-lost`) and
   * returns `null`: the run's factors are already verified, only the rescaling moves to the host.
   */
  async rescaleOnGpu(logFactorsPerUnit: Float64Array): Promise<RescaledBlock[] | null> {
    if (this.engine.backend !== 'webgpu' || !this.engine.rescaleWeights) return null;
    try {
      return await this.engine.rescaleWeights(logFactorsPerUnit);
    } catch (error) {
      this.fallback = { kind: failureKind(error), message: `WebGPU failed at the final rescaling: ${text(error)}; rescaled on the CPU` };
      return null;
    }
  }

  /** Free the engine. Safe to call twice. */
  dispose(): void {
    this.engine.dispose();
  }
}
