import type { EngineKind, Schedule } from '../options.js';

/** What one sweep did: the objective and the imbalance after it, what it moved and what it read. */
export interface SweepRecord {
  /** `F = ||W~||_{p,q}^q` after the sweep (relative to the engine's `normScale`). */
  F: number;
  /** `max_h |log(Out[h] / In[h])|` over the variables at the factors after the sweep (the stopping rule). */
  maxLogImbalance: number;
  /** The largest log-factor change the sweep applied. */
  maxStep: number;
  /** Reads of `P` by the sweep, in units of all of `P` (a pass over half the entries counts 0.5). */
  passes: number;
}

/** The state of an engine at its current factors. */
export interface Evaluation {
  /** `F = ||W~||_{p,q}^q` (relative to the engine's `normScale`). */
  F: number;
  /** `max_h |log(Out[h] / In[h])|` over the variables (0 when there are none). */
  maxLogImbalance: number;
}

/** One block rescaled by an engine: new float32 arrays in the block's layout. */
export interface RescaledBlock {
  weight: Float32Array;
  /** `null` when the block has no biases. */
  bias: Float32Array | null;
}

/**
 * The arithmetic of the fix on one kind of hardware. Engines own no policy: the driver
 * (`balance`) decides when to stop, checks monotonicity and falls back. Each engine executes the
 * schedule's `SweepPlan` (`plan.ts`, from `sweepPlan(problem, options.schedule)`): its
 * `start` passes at set-up, its `evaluate` passes in `evaluate()`, and its steps in order for
 * every sweep; the schedule itself is written only in the plan.
 */
export interface Engine {
  readonly backend: EngineKind;
  /** A description of the adapter that runs the arithmetic (`null` on the CPU). */
  readonly adapter: string | null;
  /**
   * The scale of the reported objectives (default 1): every `F` is `||W~ / normScale||_{p,q}^q`,
   * so that `||W~||_{p,q} = normScale * F^(1/q)` stays finite for any weight magnitude.
   */
  readonly normScale?: number;
  /** The objective and imbalance at the current factors. */
  evaluate(): Promise<Evaluation>;
  /**
   * Run up to `count` sweeps of the schedule. Stops after the first sweep that leaves
   * `max |log(Out/In)| <= tol` (that sweep is applied and reported).
   */
  sweeps(count: number, tol: number): Promise<SweepRecord[]>;
  /** The log factors `u = log a`, one per variable of the problem. */
  logFactors(): Promise<Float64Array>;
  /**
   * Optional: the final rescaling in the engine's arithmetic (float32 on the GPU), with `log a`
   * given per global unit of the problem (zero for fixed and frozen units): every weight times
   * `a[row] / a[col]`, every bias times `a[row]`. One entry per block of the problem, in block
   * order; the problem's arrays are not touched. The driver uses it for float32 networks only.
   */
  rescaleWeights?(logFactorsPerUnit: Float64Array): Promise<RescaledBlock[]>;
  /** Free what the engine holds. Safe to call twice. */
  dispose(): void;
}

/** How an engine is set up. */
export interface EngineOptions {
  schedule: Schedule;
  /** Start from these log factors (one per variable) instead of zero. */
  initial?: Float64Array;
}

/**
 * Thrown by a GPU engine that cannot run the schedule on this problem (the accelerated
 * schedule where a row is written by more blocks reading shifted groups than the GPU's coarse
 * solve takes, the coarse space has more groups than it solves densely, or the solve needs more
 * workgroup memory than the device has): the driver then
 * runs the same schedule on the CPU engine and reports `cpu-schedule`.
 */
export class ScheduleNotOnGpuError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScheduleNotOnGpuError';
  }
}

/**
 * Thrown by a GPU engine once its device is lost (destroyed, a driver reset): the driver
 * reports such a hand-over as `device-lost` rather than as any other GPU error.
 */
export class DeviceLostError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeviceLostError';
  }
}
