import type { BackendChoice, GpuSource } from './driver/backend.js';
import { chooseBackend } from './driver/backend.js';
import type { Fallback } from './driver/fallback.js';
import { EngineHandover } from './driver/handover.js';
import { defaultThreads, openThreads } from './driver/threads.js';
import { onPageMainThread, runInWorker } from './driver/worker/client.js';
import type { ThreadPool } from './engines/cpu/threads/pool.js';
import { weightMemoryOf } from './engines/cpu/wasm/memory.js';
import { prepareWasmKernels, wasmRangeFold } from './engines/cpu/wasm/wasmKernels.js';
import type { weightBuffer } from './engines/cpu/wasm/weightBuffer.js';
import { BalanceAbortedError, describeValue, normOverflowError, WeightBalanceError } from './errors.js';
import { largestWeight } from './math/powers.js';
import { refuseOverflow, rescaledCopy, rescaledInPlace, sharedArrays, withWeights } from './network/rescale.js';
import type { Network, UnitRef, WeightArray } from './network/types.js';
import { unitCount } from './network/types.js';
import type { Backend, BalanceKernels, NormExponents, Schedule } from './options.js';
import { refuseUnknownKeys, SCHEDULES } from './options.js';

/**
 * The default `tol` on the imbalance `max |log(Out/In)|`. Measured on two MATH §6 nets, the CNN
 * and the residual test net for (p, q) = (2, 2), (1, 2), (3, 1.5) (README, "Choosing tol"): at
 * 1e-4 the norm is within 2e-9 (relative) of its minimum (the gap falls like tol^2), 30x below
 * float32's rounding of the weights, which alone moves a float32 network's outputs by 5e-8 to
 * 1e-7 at every tol; 1e-6 costs about 1.6x the passes for a gap nobody can see in float32.
 */
export const DEFAULT_TOL = 1e-4;

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
  /** `max |log(Out/In)|` after this sweep: the run stops once it is `<= tol`. */
  maxLogImbalance: number;
  /** Reads of `P` so far, in units of all of `P`. */
  passes: number;
  backend: 'cpu' | 'webgpu';
}

/** Options of {@link balance}. */
export interface BalanceOptions extends NormExponents, GpuSource {
  /**
   * `accelerated` (the default, on every backend: the paper's update with a coarse layer
   * correction and a safeguarded longer step), `parallel` (the paper's update, any DAG) or
   * `alternating` (classes of non-adjacent units).
   */
  schedule?: Schedule;
  /**
   * Stop once the imbalance `max |log(Out/In)|` over the rescalable, non-frozen units is
   * `<= tol` (default 1e-4: see the README for why), or after `maxSweeps`.
   */
  tol?: number;
  /**
   * At most this many sweeps (default 10000). `0` evaluates only: the result reports the norm
   * and `maxLogImbalance` of the network as given, `sweeps: 0`, `converged: false`, and a copy
   * of the network.
   */
  maxSweeps?: number;
  /** `auto` (default: WebGPU when available, else CPU), `cpu` or `webgpu`. */
  backend?: Backend;
  /** Sweeps per GPU submission (default 16; the first submission is one sweep, so progress starts at once); the CPU reports every sweep. */
  sweepsPerBatch?: number;
  /** Called after every sweep. */
  onSweep?: (progress: SweepProgress) => void;
  /** Cancels the run; the promise rejects with an `AbortError` and the input stays intact. */
  signal?: AbortSignal;
  /**
   * On a page's main thread, a run on the CPU engine (`backend: 'cpu'`, or `auto` without a
   * hardware GPU) goes to a module Web Worker that the library provides, so that the page never
   * freezes: the network is copied to it (do not write to it until the run settles), `onSweep`
   * gets every sweep in order (delivered in batches at most 50 ms apart), `signal` terminates
   * it, errors are thrown again with their class and message, and the result is the in-thread
   * one. `false` runs on the calling thread. Node and workers always run on the calling thread;
   * where the worker cannot start (a content security policy, a network that cannot be copied)
   * the run is done on the calling thread. Default `true`.
   */
  worker?: boolean;
  /**
   * The most threads the CPU engine's passes over `P` use (default: the number of cores, at
   * most 8; 1 runs on the calling thread only). Each pass is split by rows over worker threads
   * sharing memory: `worker_threads` in Node, Web Workers in a cross-origin isolated page's
   * worker. Where they cannot run (a page's main thread, a page that is not cross-origin
   * isolated, no WebAssembly SIMD) the run uses one thread, without error; a network with
   * under 2^20 entries of `P` always does (starting workers would cost more than they save).
   * The result equals the one-thread run up to the order of float64 additions.
   */
  threads?: number;
  /**
   * The caller gives up the network's weight and bias arrays: the balanced values are written
   * over them, so that a run keeps no second copy of the weights (and with weights in a
   * {@link weightBuffer}, the CPU engine keeps nothing of their size at all). The result's
   * network then holds the input's arrays. Nothing is written before the run has its result: a
   * run that fails or is cancelled leaves them as they were. Default `false`.
   */
  inPlace?: boolean;
}

/** The outcome of {@link balance}. */
export interface BalanceResult {
  /**
   * The balanced network: new arrays, same precision; the input is untouched (with `inPlace`:
   * the input's own arrays, holding the balanced values). After a run on the
   * CPU engine the arrays are placed in the memory that held `P` (already paged in), so several
   * may be views of one `ArrayBuffer` (a WebAssembly memory's, which cannot be transferred to a
   * worker: transfer copies, `weight.slice()`); after a run on worker threads (`result.threads`
   * > 1) that buffer is a `SharedArrayBuffer` (posting such an array to a worker shares it rather
   * than copying it: `weight.slice()` gives an array of one's own). Every weight and bias is finite: a balanced value
   * beyond the largest number of its precision (float32 weights whose norm is near the float32
   * limit) is a {@link WeightBalanceError}, checked as the values are written.
   */
  network: Network;
  /** `log a` per layer and unit (zero for fixed and frozen units). */
  logFactors: Float64Array[];
  /** `||W~||_{p,q}` before the first sweep and after each sweep. */
  history: number[];
  initialNorm: number;
  finalNorm: number;
  sweeps: number;
  /**
   * Reads of `P` by the sweeps, in units of all of `P` (what a run costs: a sweep reads `P`
   * once or twice, a few times more on a fallback); the evaluation before the first sweep is
   * not counted.
   */
  passes: number;
  /** Whether the stopping rule (`maxLogImbalance <= tol`) was met within `maxSweeps`. */
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
  /**
   * Why the run left (or never reached) WebGPU, or why the GPU's final rescaling moved to the
   * host; `null` when nothing fell back. Read `kind`; `message` is for people.
   */
  fallback: Fallback | null;
  /** Wall time in milliseconds. */
  ms: number;
  /**
   * The element type of `P` on the engine that finished: `float32` on WebGPU, and on the CPU
   * when `tol >= 1e-5` (float32 rounding of `P` moves `log(Out/In)` by at most 1.2e-7; every sum
   * is float64); `float64` otherwise (the reference).
   */
  precision: 'float32' | 'float64';
  /** Threads the CPU engine's passes ran on at the end of the run (1: one thread, or WebGPU). */
  threads: number;
  /**
   * The kernels of the passes over `P` at the end of the run: `webgpu`; on the CPU `wasm-relaxed-simd`
   * (WebAssembly relaxed SIMD, fused multiply-adds: Chrome, Node 22+), `wasm-simd` (WebAssembly
   * SIMD), `js` (plain loops, where WebAssembly SIMD is missing) or `log` (log-sum-exp passes, for
   * a `P` whose range does not fit linear sums). Only the rounding of the sums differs between them.
   */
  kernels: BalanceKernels;
  /** Wall time of the phases, in milliseconds: before the first sweep, the sweeps, the final evaluation and rescaling. */
  phases: { setupMs: number; sweepsMs: number; rescaleMs: number };
}

/** Every key {@link BalanceOptions} has: any other is refused by name. */
const BALANCE_OPTION_KEYS: ReadonlyArray<keyof BalanceOptions> = [
  'p',
  'q',
  'includeBiases',
  'schedule',
  'tol',
  'maxSweeps',
  'backend',
  'sweepsPerBatch',
  'onSweep',
  'signal',
  'worker',
  'gpu',
  'adapter',
  'device',
  'threads',
  'inPlace',
];

/**
 * Check the run options other than the exponents (shared with the CLI, which checks them before
 * reading any file). Unknown keys are refused by name.
 */
export function validateRunOptions(
  options: BalanceOptions,
): Required<Pick<BalanceOptions, 'schedule' | 'tol' | 'maxSweeps' | 'backend' | 'sweepsPerBatch' | 'threads'>> {
  refuseUnknownKeys(options, BALANCE_OPTION_KEYS, 'balance');
  const { backend = 'auto' } = options;
  const { schedule = 'accelerated', tol = DEFAULT_TOL, maxSweeps = 10000, sweepsPerBatch = 16, threads = defaultThreads() } = options;
  if (!SCHEDULES.includes(schedule))
    throw new WeightBalanceError(`schedule must be one of ${SCHEDULES.map((s) => `'${s}'`).join(', ')}, got '${String(schedule)}'`);
  if (typeof tol !== 'number' || !(tol >= 0) || !Number.isFinite(tol)) throw new WeightBalanceError(`tol must be a finite number >= 0, got ${String(tol)}`);
  if (!Number.isInteger(maxSweeps) || maxSweeps < 0) throw new WeightBalanceError(`maxSweeps must be an integer >= 0, got ${String(maxSweeps)}`);
  if (backend !== 'auto' && backend !== 'cpu' && backend !== 'webgpu')
    throw new WeightBalanceError(`backend must be 'auto', 'cpu' or 'webgpu', got '${String(backend)}'`);
  if (!Number.isInteger(sweepsPerBatch) || sweepsPerBatch < 1)
    throw new WeightBalanceError(`sweepsPerBatch must be a positive integer, got ${String(sweepsPerBatch)}`);
  if (!Number.isInteger(threads) || threads < 1) throw new WeightBalanceError(`threads must be a positive integer, got ${String(threads)}`);
  if (options.onSweep !== undefined && typeof options.onSweep !== 'function')
    throw new WeightBalanceError(`onSweep must be a function, got ${typeof options.onSweep}`);
  for (const key of ['worker', 'inPlace'] as const) {
    if (options[key] !== undefined && typeof options[key] !== 'boolean')
      throw new WeightBalanceError(`${key} must be true or false, got ${describeValue(options[key])}`);
  }
  return { schedule, tol, maxSweeps, backend, sweepsPerBatch, threads };
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

/**
 * Balance a network: among all rescalings of its hidden units that leave its function
 * unchanged, find the one with the smallest entrywise `l_{p,q}` norm, by multiplicative
 * updates of all hidden units (MATH.md §4). Monotone, no learning rate, to the global minimum.
 *
 * Bad input is refused before any work with a {@link WeightBalanceError}. The input network
 * is never modified (unless `inPlace` gives its arrays up for the result): not by an error, a
 * lost GPU device or a cancelled run. On a page's main
 * thread a CPU run goes to the library's Web Worker (option `worker`).
 *
 * @example
 * const net = mlp([200, 2500, 1250, 10], { seed: 0 });
 * const { network, history } = await balance(net, { p: 2, q: 2 });
 */
export async function balance(net: Network, options: BalanceOptions): Promise<BalanceResult> {
  const started = performance.now();
  if (!options || typeof options !== 'object') throw new WeightBalanceError('balance needs options { p, q }');
  const run = validateRunOptions(options);
  if (options.inPlace) refuseSharedArrays(net);
  const result = await balanceSomewhere(net, options, run, started);
  return options.inPlace ? intoInput(net, result) : result;
}

/** {@link balance} on this thread, or on a page's main thread in the library's worker (a CPU run). */
async function balanceSomewhere(net: Network, options: BalanceOptions, run: RunOptions, started: number): Promise<BalanceResult> {
  if (options.worker === false || !onPageMainThread()) return balanceHere(net, options, run, started);
  // A page's main thread: the backend first, then a CPU run goes to the library's worker.
  const choice = await chooseBackend(run.backend, options);
  if (choice.backend === 'webgpu') return balanceHere(net, options, run, started, choice);
  return balanceInWorker(net, options, run, choice, started);
}

/** `inPlace` writes each array once: two that share memory cannot both hold their balanced values. */
function refuseSharedArrays(net: Network): void {
  if (!net || !Array.isArray(net.blocks) || !net.blocks.every((b) => ArrayBuffer.isView(b?.weight) && (!b.bias || ArrayBuffer.isView(b.bias)))) return; // refused by name by the validation
  const shared = sharedArrays(net, (a) => weightMemoryOf(a) ?? a.buffer);
  if (shared) throw new WeightBalanceError(`inPlace needs every weight and bias array to be its own, but ${shared[0]} and ${shared[1]} share memory`);
}

/**
 * `inPlace`: the result holding the input's arrays, the balanced values written over them where
 * the run made arrays of its own (on the GPU, in the library's worker, or a copy where writing
 * in place was not sure to fit).
 */
function intoInput(net: Network, result: BalanceResult): BalanceResult {
  const own = net.blocks.map((b) => ({ weight: b.weight, bias: b.bias ?? null }));
  const made = result.network.blocks;
  if (own.every((b, k) => b.weight === made[k].weight && b.bias === (made[k].bias ?? null))) return result;
  own.forEach((b, k) => {
    b.weight.set(made[k].weight);
    if (b.bias) b.bias.set(made[k].bias as WeightArray);
  });
  return { ...result, network: withWeights(net, own) };
}

/**
 * A CPU run in the library's worker (`driver/worker/`): the same result as on this thread, with
 * the backend choice's `fallback` and this thread's wall time.
 */
async function balanceInWorker(net: Network, options: BalanceOptions, run: RunOptions, choice: BackendChoice, started: number): Promise<BalanceResult> {
  const { p, q, includeBiases, signal, onSweep } = options;
  const result = await runInWorker<SweepProgress, BalanceResult>({
    network: net,
    settings: { p, q, includeBiases, schedule: run.schedule, tol: run.tol, maxSweeps: run.maxSweeps, threads: run.threads },
    onSweep,
    signal,
    inThread: () => balanceHere(net, options, run, started, choice),
  });
  return { ...result, fallback: choice.fallback, ms: performance.now() - started };
}

/** The options of a run once checked. */
type RunOptions = ReturnType<typeof validateRunOptions>;

/** A run on this thread; `chosen` is the backend when it was chosen already. */
async function balanceHere(net: Network, options: BalanceOptions, run: RunOptions, started: number, chosen?: BackendChoice): Promise<BalanceResult> {
  await prepareWasmKernels(); // the CPU engine's kernels, compiled off the main thread's synchronous path; validation reads the values with them
  const problem = compileProblem(net, { p: options.p, q: options.q, includeBiases: options.includeBiases }, wasmRangeFold() ?? undefined);
  throwIfAborted(options.signal);
  const choice = chosen ?? (await chooseBackend(run.backend, options));
  const pool = await openThreads(problem, run.threads, choice.backend);
  try {
    throwIfAborted(options.signal);
    return await balanceOnEngines(net, problem, { ...run, pool }, options, choice, started);
  } finally {
    await pool?.close(); // the run's workers end with it: after a result, an error or a cancel
  }
}

/** The run once its problem, backend and threads are settled: the engines' sweeps, the final evaluation and the rescaled network. */
async function balanceOnEngines(
  net: Network,
  problem: Problem,
  run: RunOptions & { pool: ThreadPool | null },
  options: BalanceOptions,
  choice: BackendChoice,
  started: number,
): Promise<BalanceResult> {
  const handover = await EngineHandover.open(problem, run, choice);
  try {
    const first = await handover.evaluate('before the first sweep');
    const history = [first.norm];
    refuseInfiniteNorm(history[0], problem.p, problem.q);
    const sweepsStarted = performance.now();
    const swept = await sweepLoop(handover, run, options, history, first.maxLogImbalance <= run.tol);
    throwIfAborted(options.signal);
    const rescaleStarted = performance.now();
    const evaluation = await handover.evaluate('at the final evaluation');
    const { precision, threads, kernels } = handover;
    const { network, logFactors } = await rescaledNetwork(net, problem, handover, options.inPlace === true);
    const state = handover.state;
    const ended = performance.now();
    return {
      network,
      logFactors,
      history,
      initialNorm: history[0],
      finalNorm: history[history.length - 1],
      sweeps: state.sweeps,
      passes: swept.passes,
      // Never "converged" at a non-finite imbalance, whatever the engine (issue 14).
      converged: swept.converged && Number.isFinite(evaluation.maxLogImbalance),
      maxLogImbalance: evaluation.maxLogImbalance,
      frozenUnits: problem.frozen,
      p: problem.p,
      q: problem.q,
      schedule: run.schedule,
      backend: state.backend,
      adapter: state.adapter,
      fallback: state.fallback,
      ms: ended - started,
      precision,
      threads,
      kernels,
      phases: { setupMs: sweepsStarted - started, sweepsMs: rescaleStarted - sweepsStarted, rescaleMs: ended - rescaleStarted },
    };
  } finally {
    handover.dispose();
  }
}

/**
 * The sweeps of a run: verified batches from the hand-over until the imbalance meets `tol` or
 * `maxSweeps` is reached, with progress after every sweep, the abort signal checked before every
 * batch, and the event loop given a turn every 30 ms. Appends to `history`.
 */
async function sweepLoop(
  handover: EngineHandover,
  run: RunOptions,
  options: BalanceOptions,
  history: number[],
  converged: boolean,
): Promise<{ converged: boolean; passes: number }> {
  let passes = 0;
  let lastYield = performance.now();
  while (handover.state.sweeps < run.maxSweeps && !converged) {
    throwIfAborted(options.signal);
    for (const record of await handover.next()) {
      history.push(record.norm);
      passes += record.passes;
      converged = record.maxLogImbalance <= run.tol;
      options.onSweep?.({
        sweep: history.length - 1,
        norm: record.norm,
        ratio: record.norm / history[0],
        maxStep: record.maxStep,
        maxLogImbalance: record.maxLogImbalance,
        passes,
        backend: record.backend,
      });
    }
    if (performance.now() - lastYield > 30) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      lastYield = performance.now();
    }
  }
  return { converged, passes };
}

/**
 * The network rescaled by the hand-over's verified factors: on the GPU for a float32 network that
 * finished there, else on the host in float64 arithmetic, into the memory that held the CPU
 * engine's `P` (freed first): the peak memory is the network and `P`. Every value of the result
 * is finite: one that leaves its precision is refused as it is written (on the host) or by one
 * read of the GPU's arrays, so a writer need not read them again to check them.
 */
async function rescaledNetwork(
  net: Network,
  problem: Problem,
  handover: EngineHandover,
  inPlace: boolean,
): Promise<{ network: Network; logFactors: Float64Array[] }> {
  const { verified } = handover.state;
  const logFactors = layerLogFactors(net, problem, verified);
  const onGpu = isFloat32(net) ? await handover.rescaleOnGpu(unitLogFactors(problem, verified)) : null;
  const arena = handover.releaseCpu();
  if (onGpu) return { network: withWeights(net, refuseOverflow(net, onGpu)), logFactors };
  const largest = problem.weightRange?.largest ?? largestWeight(problem.blocks, false);
  const network = (inPlace ? rescaledInPlace(net, logFactors, largest, arena) : null) ?? rescaledCopy(net, logFactors, arena);
  return { network, logFactors };
}

/**
 * Refuse a network whose `l_{p,q}` norm is not a finite float64 number: with a very small `p` or
 * `q` (e.g. `p = 1e-9`), the row sums of `|w|^p` raised to `q/p` overflow, no sweep could then
 * be checked for monotone decrease, and the result would be meaningless.
 */
function refuseInfiniteNorm(norm: number, p: number, q: number): void {
  if (Number.isFinite(norm)) return;
  throw normOverflowError(norm, p, q);
}
