/**
 * Run one balance with a chosen backend and a uniform handle (result promise, progress, cancel).
 * The library decides where the run goes (`balance`, option `worker`):
 *
 * - `cpu`: the library's own module Web Worker, on a copy of the network; cancel terminates it.
 * - `webgpu`: on the page with an AbortSignal (the GPU does the work, the page stays responsive);
 *   if WebGPU fails the library finishes on the CPU and says why in `fallback`.
 * - `auto`: the library's one backend choice (`chooseBackend`): WebGPU on a hardware adapter,
 *   else the CPU in the library's worker, with `fallback` saying why (`no-webgpu`, `no-adapter`,
 *   `software-adapter`). The adapter chosen is the one the run uses (requested once).
 *
 * The caller's network is never modified: the worker gets a copy and `balance` returns a new one.
 */

import type { Backend, BalanceResult, GpuSource, Network, Schedule, SweepProgress } from '../../src/index.js';
import { BalanceAbortedError, balance, chooseBackend } from '../../src/index.js';

/** Sweeps per GPU submission for runs on the page: progress after every few sweeps. */
export const PAGE_SWEEPS_PER_BATCH = 4;

/** What one balance run needs, apart from the backend. */
export interface RunSettings {
  p: number;
  q: number;
  schedule: Schedule;
  tol: number;
  maxSweeps: number;
}

/** A run in flight. */
export interface RunHandle {
  /** Resolves with the result; rejects with an `AbortError` when cancelled. */
  result: Promise<BalanceResult>;
  /** Stop the run now; the network given to {@link startRun} stays as it was. */
  cancel(): void;
}

/** Why WebGPU cannot run in this browser, or null when it can. */
export async function webGpuUnavailable(): Promise<string | null> {
  if (!('gpu' in navigator) || !navigator.gpu) return 'this browser has no WebGPU (navigator.gpu is missing)';
  try {
    const adapter = await navigator.gpu.requestAdapter();
    return adapter ? null : 'the browser found no WebGPU adapter';
  } catch (error) {
    return `requesting a WebGPU adapter failed: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/** One `balance` call with a handle: progress in batches (the sweeps reported together, by a worker's message or a GPU batch, reach `onProgress` at once). */
function running(network: Network, settings: RunSettings, where: { backend: Backend } & GpuSource, onProgress: (items: SweepProgress[]) => void): RunHandle {
  const controller = new AbortController();
  let pending: SweepProgress[] = [];
  const flush = (): void => {
    const items = pending;
    pending = [];
    if (!controller.signal.aborted) onProgress(items);
  };
  const result = balance(network, {
    ...settings,
    ...where,
    // Small GPU batches: the first progress comes after a few sweeps (16 by default, which on a
    // large net or a slow adapter keeps the page silent for a long time), at one read-back per batch.
    sweepsPerBatch: PAGE_SWEEPS_PER_BATCH,
    signal: controller.signal,
    onSweep: (progress) => {
      if (pending.length === 0) queueMicrotask(flush);
      pending.push(progress);
    },
  });
  // A GPU run stops at its next batch boundary; the page does not wait for it.
  const aborted = new Promise<never>((_, reject) => {
    controller.signal.addEventListener('abort', () => reject(new BalanceAbortedError('cancelled')), { once: true });
  });
  result.catch(() => undefined);
  return { result: Promise.race([result, aborted]), cancel: () => controller.abort() };
}

/** Start one balance run (see the module comment for where it runs). */
export async function startRun(network: Network, settings: RunSettings, backend: Backend, onProgress: (items: SweepProgress[]) => void): Promise<RunHandle> {
  if (backend !== 'auto') return running(network, settings, { backend }, onProgress);
  // The page says why not WebGPU (no WebGPU, a software adapter) whatever the schedule; the
  // adapter chosen is the one the run uses (requested once).
  const choice = await chooseBackend('auto');
  if (choice.backend === 'webgpu') return running(network, settings, { backend: 'webgpu', ...choice.source }, onProgress);
  const handle = running(network, settings, { backend: 'cpu' }, onProgress);
  return { ...handle, result: handle.result.then((r) => ({ ...r, fallback: choice.fallback })) };
}
