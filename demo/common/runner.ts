/**
 * Run one balance with a chosen backend and a uniform handle (result promise, progress, cancel):
 *
 * - `cpu`: in a module Web Worker on a copy of the network; cancel terminates the worker.
 * - `webgpu`: `balance` on the page with an AbortSignal (the GPU does the work, the page stays
 *   responsive); if WebGPU fails the library finishes on the CPU and says why in `fallback`.
 * - `auto`: the library's one backend choice (`chooseBackend`): WebGPU on a hardware adapter,
 *   else the CPU worker, with `fallback` saying why (`no-webgpu`, `no-adapter`, `software-adapter`).
 *   The adapter chosen is the one the run uses (requested once).
 *
 * The caller's network is never modified: the worker gets a copy and `balance` returns a new one.
 */

import type { Backend, BalanceResult, GpuSource, Network, SweepProgress } from '../../src/index.js';
import { BalanceAbortedError, balance, chooseBackend, WeightBalanceError } from '../../src/index.js';
import type { RunMessage, RunSettings, WorkerReply } from './protocol.js';

/** Sweeps per GPU submission for runs on the page: progress after every few sweeps. */
export const PAGE_SWEEPS_PER_BATCH = 4;

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

function inWorker(network: Network, settings: RunSettings, onProgress: (items: SweepProgress[]) => void): RunHandle {
  const worker = new Worker(new URL('./balanceWorker.ts', import.meta.url), { type: 'module', name: 'balance-cpu' });
  let settle: { resolve(r: BalanceResult): void; reject(e: Error): void } | null = null;
  const result = new Promise<BalanceResult>((resolve, reject) => {
    settle = { resolve, reject };
  });
  const finish = (outcome: BalanceResult | Error): void => {
    worker.terminate();
    const s = settle;
    settle = null;
    if (!s) return;
    if (outcome instanceof Error) s.reject(outcome);
    else s.resolve(outcome);
  };
  worker.onmessage = (event: MessageEvent<WorkerReply>) => {
    const reply = event.data;
    if (reply.type === 'progress') {
      if (settle) onProgress(reply.items);
    } else if (reply.type === 'done') {
      finish(reply.result);
    } else {
      const error = reply.name === 'WeightBalanceError' ? new WeightBalanceError(reply.message) : new Error(reply.message);
      error.name = reply.name;
      finish(error);
    }
  };
  worker.onerror = (event) => {
    event.preventDefault();
    finish(new Error(`the balance worker failed: ${event.message}`));
  };
  worker.onmessageerror = () => finish(new Error('the balance worker sent a message that could not be read'));
  // postMessage copies the network (structured clone): the worker never sees the page's arrays.
  const message: RunMessage = { type: 'run', network, settings };
  worker.postMessage(message);
  return { result, cancel: () => finish(new BalanceAbortedError('cancelled')) };
}

function onPage(network: Network, settings: RunSettings, source: GpuSource, onProgress: (items: SweepProgress[]) => void): RunHandle {
  const controller = new AbortController();
  // Small GPU batches: the first progress comes after a few sweeps (16 by default, which on a
  // large net or a slow adapter keeps the page silent for a long time), at one read-back per batch.
  const running = balance(network, {
    ...settings,
    ...source,
    backend: 'webgpu',
    sweepsPerBatch: PAGE_SWEEPS_PER_BATCH,
    signal: controller.signal,
    onSweep: (progress) => onProgress([progress]),
  });
  // The driver stops at the next sweep (or GPU batch) boundary; the page does not wait for it.
  const aborted = new Promise<never>((_, reject) => {
    controller.signal.addEventListener('abort', () => reject(new BalanceAbortedError('cancelled')), { once: true });
  });
  running.catch(() => undefined);
  return { result: Promise.race([running, aborted]), cancel: () => controller.abort() };
}

/** Start one balance run (see the module comment for where it runs). */
export async function startRun(network: Network, settings: RunSettings, backend: Backend, onProgress: (items: SweepProgress[]) => void): Promise<RunHandle> {
  if (backend === 'cpu') return inWorker(network, settings, onProgress);
  // Throws a WeightBalanceError for 'webgpu' with no WebGPU at all.
  const choice = await chooseBackend(backend);
  if (choice.backend === 'cpu') {
    const handle = inWorker(network, settings, onProgress);
    return { ...handle, result: handle.result.then((r) => ({ ...r, fallback: choice.fallback })) };
  }
  return onPage(network, settings, choice.source, onProgress);
}
