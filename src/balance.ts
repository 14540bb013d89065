import { BalanceAbortedError, WeightBalanceError } from './errors.js';
import { CpuEngine } from './engines/cpu/cpuEngine.js';
import type { CpuEngineOptions } from './engines/cpu/cpuEngine.js';
import { prepareWasmKernels } from './engines/cpu/wasm/wasmKernels.js';
import type { Engine, Evaluation, SweepRecord } from './engines/engine.js';
import type { GpuSource } from './engines/webgpu/device.js';
import { createWebGpuEngine } from './engines/webgpu/engine.js';
import { rescale, withWeights } from './network/rescale.js';
import { unitCount } from './network/types.js';
import type { Network, UnitRef } from './network/types.js';
import type { Backend, NormExponents, Schedule } from './options.js';
import { compileProblem } from './problem/compile.js';
import type { Problem } from './problem/problem.js';

/** Progress after one sweep. */
export interface SweepProgress {
  /** Sweeps done so far (1 after the first). */
  sweep: number;
  /** `||W~||_{p,q}` after this sweep. */
  norm: number;
  /** `norm / initialNorm`. */
  ratio: number;
  /** The largest log-factor change of this sweep. */
  maxStep: number;
  backend: 'cpu' | 'webgpu';
}

/** Options of {@link balance}. */
export interface BalanceOptions extends NormExponents, GpuSource {
  /** `parallel` (any DAG, default) or `alternating` (classes of non-adjacent units, about 4x fewer sweeps). */
  schedule?: Schedule;
  /** Stop when the largest log-factor change of a sweep falls below this (default 1e-6). */
  tol?: number;
  /** At most this many sweeps (default 10000). */
  maxSweeps?: number;
  /** `auto` (default: WebGPU when available, else CPU), `cpu` or `webgpu`. */
  backend?: Backend;
  /** Sweeps per GPU submission (default 16); the CPU reports every sweep. */
  sweepsPerBatch?: number;
  /** Called after every sweep. */
  onSweep?: (progress: SweepProgress) => void;
  /** Cancels the run; the promise rejects with an `AbortError` and the input stays intact. */
  signal?: AbortSignal;
}

/** The outcome of {@link balance}. */
export interface BalanceResult {
  /** The balanced network: new arrays, same precision; the input is untouched. */
  network: Network;
  /** `log a` per layer and unit (zero for fixed and frozen units). */
  logFactors: Float64Array[];
  /** `||W~||_{p,q}` before the first sweep and after each sweep. */
  history: number[];
  initialNorm: number;
  finalNorm: number;
  sweeps: number;
  /** Whether the stopping rule was met before `maxSweeps`. */
  converged: boolean;
  /** `max_h |log(Out[h] / In[h])|` at the returned factors. */
  maxLogImbalance: number;
  /** Rescalable units left at factor 1 because the minimum is not attained for them. */
  frozenUnits: UnitRef[];
  p: number;
  q: number;
  schedule: Schedule;
  /** The engine that finished the run. */
  backend: 'cpu' | 'webgpu';
  /** The adapter that ran the GPU part, if any. */
  adapter: string | null;
  /** Why the run left (or never reached) WebGPU, when it fell back to the CPU. */
  fallback: string | null;
  /** Wall time in milliseconds. */
  ms: number;
  /**
   * The element type of `P` on the engine that finished: `float32` on WebGPU, and on the CPU
   * when `tol >= 1e-5` (float32 rounding of `P` moves `log(Out/In)` by at most 1.2e-7; every sum
   * is float64); `float64` otherwise (the reference).
   */
  precision: 'float32' | 'float64';
  /** Wall time of the phases, in milliseconds: before the first sweep, the sweeps, the final evaluation and rescaling. */
  phases: { setupMs: number; sweepsMs: number; rescaleMs: number };
}

/** The smallest `tol` the CPU engine meets with float32 `P` (its rounding moves `log(Out/In)` by at most 1.2e-7, under 2% of this). */
export const FLOAT32_P_TOL = 1e-5;

/**
 * GPU sweeps without a new smallest step (counted in whole batches: two batches of the default
 * 16) before the run moves to the CPU: float32 arithmetic has a floor (the largest step stalls
 * near 1e-7 on small nets) below which a `tol` cannot be reached; the float64 CPU engine finishes
 * from the last verified factors. Sweeps, not batches: the largest step may rise for a sweep or
 * two long before the floor, which two batches of one sweep would take for a stall.
 */
const GPU_STALL_SWEEPS = 32;

/** Relative increase of F beyond which a sweep is not monotone (float64 CPU, float32 GPU). */
const MONOTONE_TOLERANCE = { cpu: 1e-12, webgpu: 1e-5 } as const;

/** Check the run options other than the exponents (shared with the CLI, which checks them before reading any file). */
export function validateRunOptions(options: BalanceOptions): Required<Pick<BalanceOptions, 'schedule' | 'tol' | 'maxSweeps' | 'backend' | 'sweepsPerBatch'>> {
  const { schedule = 'parallel', tol = 1e-6, maxSweeps = 10000, backend = 'auto', sweepsPerBatch = 16 } = options;
  if (schedule !== 'parallel' && schedule !== 'alternating') throw new WeightBalanceError(`schedule must be 'parallel' or 'alternating', got '${String(schedule)}'`);
  if (typeof tol !== 'number' || !(tol >= 0) || !Number.isFinite(tol)) throw new WeightBalanceError(`tol must be a finite number >= 0, got ${String(tol)}`);
  if (!Number.isInteger(maxSweeps) || maxSweeps < 0) throw new WeightBalanceError(`maxSweeps must be an integer >= 0, got ${String(maxSweeps)}`);
  if (backend !== 'auto' && backend !== 'cpu' && backend !== 'webgpu') throw new WeightBalanceError(`backend must be 'auto', 'cpu' or 'webgpu', got '${String(backend)}'`);
  if (!Number.isInteger(sweepsPerBatch) || sweepsPerBatch < 1) throw new WeightBalanceError(`sweepsPerBatch must be a positive integer, got ${String(sweepsPerBatch)}`);
  if (options.onSweep !== undefined && typeof options.onSweep !== 'function') throw new WeightBalanceError(`onSweep must be a function, got ${typeof options.onSweep}`);
  return { schedule, tol, maxSweeps, backend, sweepsPerBatch };
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new BalanceAbortedError();
}

/** Per-unit log factors (global unit numbering) from per-variable ones: zero for fixed and frozen units. */
export function unitLogFactors(problem: Problem, u: Float64Array): Float64Array {
  const out = new Float64Array(problem.nUnits);
  for (let unit = 0; unit < out.length; unit++) {
    const v = problem.unitVar[unit];
    if (v >= 0) out[unit] = u[v];
  }
  return out;
}

/** Per-layer log factors from per-variable ones. */
export function layerLogFactors(net: Network, problem: Problem, u: Float64Array): Float64Array[] {
  const perUnit = unitLogFactors(problem, u);
  return net.layers.map((layer, k) => perUnit.slice(problem.layerUnit0[k], problem.layerUnit0[k] + unitCount(layer)));
}

/** Whether every block's weights and biases are float32 (the networks the GPU may rescale). */
function isFloat32(net: Network): boolean {
  return net.blocks.every((b) => b.weight instanceof Float32Array && (!b.bias || b.bias instanceof Float32Array));
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Balance a network: among all rescalings of its hidden units that leave its function
 * unchanged, find the one with the smallest entrywise `l_{p,q}` norm, by multiplicative
 * updates of all hidden units (MATH.md §4). Monotone, no learning rate, to the global minimum.
 *
 * Bad input is refused before any work with a {@link WeightBalanceError}. The input network
 * is never modified: not by an error, a lost GPU device or a cancelled run.
 *
 * @example
 * const net = mlp([200, 2500, 1250, 10], { seed: 0 });
 * const { network, history } = await balance(net, { p: 2, q: 2 });
 */
export async function balance(net: Network, options: BalanceOptions): Promise<BalanceResult> {
  const started = performance.now();
  if (!options || typeof options !== 'object') throw new WeightBalanceError('balance needs options { p, q }');
  const run = validateRunOptions(options);
  const problem = compileProblem(net, { p: options.p, q: options.q, includeBiases: options.includeBiases });
  throwIfAborted(options.signal);

  await prepareWasmKernels(); // the CPU engine's kernels, compiled off the main thread's synchronous path
  let fallback: string | null = null;
  let adapter: string | null = null;
  let gpuEngine: Engine | null = null;
  if (run.backend !== 'cpu') {
    try {
      gpuEngine = await createWebGpuEngine(problem, { schedule: run.schedule }, options);
      adapter = gpuEngine.adapter;
    } catch (error) {
      fallback = `WebGPU unavailable: ${message(error)}`;
    }
  }
  const cpuOptions: CpuEngineOptions = { schedule: run.schedule, precision: run.tol >= FLOAT32_P_TOL ? 'float32' : 'float64' };
  let current: Engine = gpuEngine ?? new CpuEngine(problem, cpuOptions);

  const q = problem.q;
  const norm = (F: number): number => (current.normScale ?? 1) * Math.pow(F, 1 / q);
  let verified: Float64Array = new Float64Array(problem.nVars);
  /**
   * `F` where the next batch starts, in the arithmetic of the engine that runs it (`null`: not yet
   * evaluated there). The monotone check compares an engine only with itself: a float32 `F` may
   * read 1e-7 low, which a float64 sweep from the same factors would otherwise "increase".
   */
  let startF: number | null = null;
  /** Leave the GPU: the CPU engine continues from the last verified factors. */
  const switchToCpu = (reason: string): void => {
    fallback = reason;
    current.dispose();
    current = new CpuEngine(problem, { ...cpuOptions, initial: verified });
    startF = null;
  };
  /** Evaluate on the current engine; a GPU failure moves the run to the CPU. */
  const evaluate = async (stage: string): Promise<Evaluation> => {
    try {
      return await current.evaluate();
    } catch (error) {
      if (current.backend === 'cpu') throw error;
      switchToCpu(`WebGPU failed ${stage}: ${message(error)}`);
      return current.evaluate();
    }
  };
  const history: number[] = [];
  let sweeps = 0;
  let converged = false;
  let smallestStep = Infinity;
  let sweepsSinceSmallest = 0;
  let lastYield = performance.now();
  try {
    const first = await evaluate('before the first sweep');
    startF = first.F;
    history.push(norm(first.F));
    const sweepsStarted = performance.now();
    while (sweeps < run.maxSweeps && !converged) {
      throwIfAborted(options.signal);
      const count = current.backend === 'cpu' ? 1 : Math.min(run.sweepsPerBatch, run.maxSweeps - sweeps);
      let records: SweepRecord[];
      try {
        startF ??= (await current.evaluate()).F;
        records = await current.sweeps(count, run.tol);
        if (records.length === 0) throw new Error(`the ${current.backend} engine ran no sweep when asked for ${count}`);
        const factors = await current.logFactors();
        checkMonotone(startF, records, current.backend);
        verified = factors;
      } catch (error) {
        if (current.backend === 'cpu') throw error;
        switchToCpu(`WebGPU failed after ${sweeps} verified sweeps: ${message(error)}`);
        continue;
      }
      startF = records[records.length - 1].F;
      for (const record of records) {
        sweeps++;
        const value = norm(record.F);
        history.push(value);
        converged = record.maxStep < run.tol;
        options.onSweep?.({ sweep: sweeps, norm: value, ratio: value / history[0], maxStep: record.maxStep, backend: current.backend });
      }
      if (current.backend === 'webgpu' && !converged && sweeps < run.maxSweeps) {
        const smallest = Math.min(...records.map((r) => r.maxStep));
        sweepsSinceSmallest = smallest < smallestStep ? 0 : sweepsSinceSmallest + records.length;
        smallestStep = Math.min(smallestStep, smallest);
        if (sweepsSinceSmallest >= GPU_STALL_SWEEPS) {
          switchToCpu(`WebGPU stalled at its float32 precision floor after ${sweeps} sweeps (largest step ${smallest.toExponential(2)}, tol ${run.tol}): the CPU engine finished`);
        }
      }
      if (performance.now() - lastYield > 30) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        lastYield = performance.now();
      }
    }
    throwIfAborted(options.signal);
    const rescaleStarted = performance.now();
    const evaluation = await evaluate('at the final evaluation');
    const precision = current instanceof CpuEngine ? current.precision : 'float32';
    const logFactors = layerLogFactors(net, problem, verified);
    // A float32 network that finished on the GPU is rescaled there (the engine is still alive:
    // it is disposed in `finally`); float64 networks keep the exact float64 host arithmetic.
    let network: Network | null = null;
    if (current.backend === 'webgpu' && current.rescaleWeights && isFloat32(net)) {
      try {
        network = withWeights(net, await current.rescaleWeights(unitLogFactors(problem, verified)));
      } catch (error) {
        fallback = `WebGPU failed at the final rescaling: ${message(error)}; rescaled on the CPU`;
      }
    }
    // The CPU engine's P is not needed any more: free it before the rescaled copy is made.
    if (current.backend === 'cpu') current.dispose();
    network ??= rescale(net, logFactors);
    const ended = performance.now();
    return {
      network,
      logFactors,
      history,
      initialNorm: history[0],
      finalNorm: history[history.length - 1],
      sweeps,
      // Never "converged" at a non-finite imbalance, whatever the engine (issue 14).
      converged: converged && Number.isFinite(evaluation.maxLogImbalance),
      maxLogImbalance: evaluation.maxLogImbalance,
      frozenUnits: problem.frozen,
      p: problem.p,
      q: problem.q,
      schedule: run.schedule,
      backend: current.backend,
      adapter,
      fallback,
      ms: ended - started,
      precision,
      phases: { setupMs: sweepsStarted - started, sweepsMs: rescaleStarted - sweepsStarted, rescaleMs: ended - rescaleStarted },
    };
  } finally {
    current.dispose();
  }
}

/** Throw unless every record's `F` is at most the previous one, starting from `previous` (all in one engine's arithmetic). */
function checkMonotone(previous: number, records: SweepRecord[], backend: 'cpu' | 'webgpu'): void {
  for (const record of records) {
    if (!Number.isFinite(record.F) || record.F > previous * (1 + MONOTONE_TOLERANCE[backend])) {
      throw new WeightBalanceError(`the norm increased from ${previous} to ${record.F} (${backend}): not monotone`);
    }
    previous = record.F;
  }
}
