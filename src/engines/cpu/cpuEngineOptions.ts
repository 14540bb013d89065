import type { Problem } from '../../problem/problem.js';
import type { EngineOptions } from '../engine.js';
import type { PassSums, PowerKernels, PowerPrecision } from './kernels.js';
import { JsKernels } from './kernels.js';
import type { ThreadPool } from './threads/pool.js';
import { ThreadedKernels } from './threads/threadedKernels.js';
import { sharedKernels, WasmKernels, wasmBytes, wasmKernelsAvailable } from './wasm/wasmKernels.js';

/** How the CPU engine is set up. */
export interface CpuEngineOptions extends EngineOptions {
  /**
   * `auto` (default): linear `P` when its range fits, moving to logarithms if a sum would lose
   * precision; `log`: logarithms from the start (the reference the tests compare).
   */
  arithmetic?: 'auto' | 'log';
  /**
   * The element type of a linear `P` (default `float64`, the reference). `float32` halves memory
   * and traffic; every sum is still float64. Falls back to float64 when the range of `P` does
   * not fit float32.
   */
  precision?: PowerPrecision;
  /** `auto` (default): WebAssembly SIMD where available, else JS; or force one. */
  kernels?: 'auto' | 'js' | 'wasm';
  /**
   * How the passes over a float32 `P` add on the WebAssembly kernels (default `float64`; see
   * {@link PassSums}): `blocked32` is about twice as fast and adds a relative error of ~1e-7 to
   * the sums. The JS kernels and float64 `P` always add in float64.
   */
  sums?: PassSums;
  /**
   * Worker threads to split the passes over `P` by rows (the WebAssembly SIMD kernels on a
   * shared memory): the pool stays its owner's, who closes it; the engine only loads and unloads
   * it. Without one, or on the JS or log passes, the passes run on the calling thread.
   */
  pool?: ThreadPool | null;
  /** Entries of `P` per chunk of a pass below which a block is not split (tests lower it). */
  minEntriesPerChunk?: number;
  /** The accelerated schedule's long-step exponent instead of its own (tests only: a step far too long must fall back). */
  longEta?: number;
  /**
   * Whether a row pass and the column pass after it read a block once where they can (default
   * `true`: the row-then-column passes, see `chain.ts`); `false`: a read each, the reference the
   * tests compare with.
   */
  chainPasses?: boolean;
}

/** The kernels for a linear `P`: WebAssembly SIMD when available and `P` fits its memory (on the pool's threads when given), else JS. */
export function linearKernels(problem: Problem, precision: PowerPrecision, scale: number, options: CpuEngineOptions): PowerKernels {
  const { kernels: choice, pool } = options;
  const wasm = choice !== 'js' && wasmKernelsAvailable() && Number.isFinite(wasmBytes(problem, precision));
  if (choice === 'wasm' && !wasm) throw new Error('the WebAssembly SIMD kernels are not available here');
  const shared = wasm && pool ? sharedKernels() : null;
  if (shared && pool && Number.isFinite(wasmBytes(problem, precision, pool.size - 1))) {
    return new ThreadedKernels(problem, precision, scale, options.sums, shared, pool, options.minEntriesPerChunk);
  }
  return wasm ? new WasmKernels(problem, precision, scale, options.sums) : new JsKernels(problem, precision, scale);
}
