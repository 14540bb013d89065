/**
 * The worker side of a CPU run posted by a page (`client.ts`): the network rebuilt from the
 * messages (`networkParts.ts`), then `balance` on this thread, with progress sent in batches (at
 * most one message per 50 ms, every sweep in order), then the result with its arrays
 * transferred, or the error.
 */

import type { BalanceResult, SweepProgress } from '../../balance.js';
import { balance } from '../../balance.js';
import type { Network } from '../../network/types.js';
import { NetworkAssembly } from './networkParts.js';
import type { PageMessage, WorkerReply, WorkerSettings } from './protocol.js';
import { errorReply, transferables } from './protocol.js';

/** The longest the page waits for progress, in milliseconds. */
const PROGRESS_EVERY_MS = 50;

/** How the worker answers: `postMessage` of its global scope (a function of its own in tests). */
export type Post = (reply: WorkerReply<SweepProgress, BalanceResult>, transfer?: Transferable[]) => void;

/** The handler of the page's messages for one run: collects the network, then runs it at `start`. */
export function workerSession(post: Post): (message: PageMessage) => void {
  let run: { assembly: NetworkAssembly; settings: WorkerSettings } | null = null;
  return (message) => {
    if (message.type === 'run') run = { assembly: new NetworkAssembly(message.structure), settings: message.settings };
    else if (message.type === 'part') run?.assembly.add(message);
    else if (message.type === 'start' && run) void serveRun(run.assembly.network, run.settings, post);
  };
}

/** Balance `network` here and post its progress and outcome. Never throws. */
export async function serveRun(network: Network, settings: WorkerSettings, post: Post): Promise<void> {
  let pending: SweepProgress[] = [];
  let lastPost = performance.now();
  const flush = (): void => {
    if (pending.length > 0) post({ type: 'progress', items: pending });
    pending = [];
    lastPost = performance.now();
  };
  try {
    const result = await balance(network, {
      ...settings,
      backend: 'cpu',
      worker: false,
      onSweep: (progress) => {
        pending.push(progress);
        if (performance.now() - lastPost >= PROGRESS_EVERY_MS) flush();
      },
    });
    flush();
    postResult(post, result);
  } catch (error) {
    flush();
    post(errorReply(error));
  }
}

/**
 * Posts the result, its arrays transferred; where a buffer cannot be transferred (the result of
 * a CPU run may live in a WebAssembly memory's buffer, which a browser refuses to detach), as a copy.
 */
function postResult(post: Post, result: BalanceResult): void {
  try {
    post({ type: 'done', result }, transferables(result));
  } catch {
    post({ type: 'done', result });
  }
}
