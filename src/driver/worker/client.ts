/**
 * The page side of a CPU run in the library's balance worker (`balanceWorker.ts`). On a page's main
 * thread `balance` posts a CPU run here so that the sweeps never block the page: the network goes
 * to a module Web Worker as a copy, its arrays in parts between which the page runs
 * (`networkParts.ts`), progress comes back in batches and is handed
 * to `onSweep` sweep by sweep, the result's arrays are transferred back, an error is thrown again
 * as the same class with the same message, and an abort terminates the worker at once.
 *
 * A worker that cannot take the run (the page's content security policy forbids workers, the
 * worker script cannot be loaded, the network cannot be copied) is not an error: the run is done
 * on this thread instead, as if `worker: false` had been given.
 */

import { BalanceAbortedError } from '../../errors.js';
import type { Network } from '../../network/types.js';
import { arrayParts, splitNetwork } from './networkParts.js';
import type { PageMessage, WorkerReply, WorkerSettings } from './protocol.js';
import { errorFromReply } from './protocol.js';

/** What {@link runInWorker} needs of a `Worker` (a fake one in tests). */
export interface WorkerLike {
  onmessage: ((event: MessageEvent) => void) | null;
  onerror: ((event: ErrorEvent) => void) | null;
  onmessageerror: ((event: MessageEvent) => void) | null;
  postMessage(message: unknown, transfer: Transferable[]): void;
  terminate(): void;
}

/** One CPU run to do off this thread. */
export interface OffThreadRun<Progress, Result> {
  network: Network;
  settings: WorkerSettings;
  onSweep?: (progress: Progress) => void;
  signal?: AbortSignal;
  /** The same run on this thread, for a worker that cannot take it. */
  inThread: () => Promise<Result>;
}

/**
 * Whether this code runs on a page's main thread (a window with a document, where `Worker`
 * exists), the one place a CPU run goes to a worker. Node, Deno and workers run in-thread.
 */
export function onPageMainThread(): boolean {
  const scope = globalThis as { window?: unknown; document?: unknown; Worker?: unknown; WorkerGlobalScope?: unknown };
  return scope.window === globalThis && typeof scope.document === 'object' && typeof scope.Worker === 'function' && scope.WorkerGlobalScope === undefined;
}

/** Start the library's balance worker (bundlers see `new Worker(new URL(…, import.meta.url))` and emit `balanceWorker.ts` as a file of its own). */
export function spawnBalanceWorker(): WorkerLike {
  return new Worker(new URL('./balanceWorker.ts', import.meta.url), { type: 'module', name: 'weight-balance' });
}

/** Run `run` in a worker from `spawn`; resolves with its result, rejects as `balance` would. */
export function runInWorker<Progress, Result>(run: OffThreadRun<Progress, Result>, spawn: () => WorkerLike = spawnBalanceWorker): Promise<Result> {
  if (run.signal?.aborted) return Promise.reject(new BalanceAbortedError());
  let worker: WorkerLike;
  try {
    worker = spawn();
  } catch {
    return run.inThread(); // workers refused here (a content security policy, a sandbox)
  }
  return new Promise<Result>((resolve, reject) => {
    let ready = false;
    let settled = false;
    const settle = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      worker.terminate();
      run.signal?.removeEventListener('abort', onAbort);
      outcome();
    };
    const onAbort = (): void => settle(() => reject(new BalanceAbortedError()));
    const inThread = (): void => settle(() => run.inThread().then(resolve, reject));
    /** Each sweep's progress to `onSweep`, in order, until the run ends; an exception there ends it with that error, as on this thread. */
    const deliver = (items: Progress[]): void => {
      try {
        for (const item of items) if (!settled) run.onSweep?.(item);
      } catch (error) {
        settle(() => reject(error));
      }
    };
    run.signal?.addEventListener('abort', onAbort, { once: true });
    worker.onmessage = (event: MessageEvent<WorkerReply<Progress, Result>>) => {
      const reply = event.data;
      if (settled) return;
      if (reply.type === 'ready') ready = true;
      else if (reply.type === 'progress') deliver(reply.items);
      else if (reply.type === 'done') settle(() => resolve(reply.result));
      else settle(() => reject(errorFromReply(reply)));
    };
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      // Before 'ready': the script could not be loaded or evaluated.
      if (!ready) inThread();
      else settle(() => reject(new Error(`the balance worker failed: ${event.message || 'no message'}`)));
    };
    worker.onmessageerror = () => settle(() => reject(new Error('the balance worker sent a message that could not be read')));
    // A network that cannot be cloned (an extra property holding a function): run here.
    postRun(worker, run.network, run.settings, () => settled).catch(inThread);
  });
}

/** The longest the page's main thread copies parts of the network before it lets the page run, in milliseconds. */
const COPY_SLICE_MS = 8;

/**
 * Post a run: the network's structure, then copies of its arrays in parts (letting the page run
 * every few milliseconds), then `start`. Stops early once `stopped()`; throws if the structure
 * cannot be cloned.
 */
async function postRun(worker: WorkerLike, network: Network, settings: WorkerSettings, stopped: () => boolean): Promise<void> {
  const post = (message: PageMessage, transfer: Transferable[] = []): void => worker.postMessage(message, transfer);
  const { structure, arrays } = splitNetwork(network);
  post({ type: 'run', structure, settings });
  let sliceStarted = performance.now();
  for (const part of arrayParts(arrays)) {
    post({ type: 'part', ...part }, [part.values.buffer]);
    if (performance.now() - sliceStarted > COPY_SLICE_MS) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      if (stopped()) return;
      sliceStarted = performance.now();
    }
  }
  post({ type: 'start' });
}
