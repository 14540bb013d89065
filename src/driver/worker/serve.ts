/**
 * The worker side of a CPU run posted by a page (`client.ts`): `balance` on this thread on the
 * copy of the network the page sent, with progress sent in batches (at most one message per
 * 50 ms, every sweep in order), then the result with its arrays transferred, or the error.
 */

import type { BalanceResult, SweepProgress } from '../../balance.js';
import { balance } from '../../balance.js';
import type { RunRequest, WorkerReply } from './protocol.js';
import { errorReply, transferables } from './protocol.js';

/** The longest the page waits for progress, in milliseconds. */
const PROGRESS_EVERY_MS = 50;

/** How the worker answers: `postMessage` of its global scope (a function of its own in tests). */
export type Post = (reply: WorkerReply<SweepProgress, BalanceResult>, transfer?: Transferable[]) => void;

/** Run one request here and post its progress and outcome. Never throws. */
export async function serveRun(request: RunRequest, post: Post): Promise<void> {
  let pending: SweepProgress[] = [];
  let lastPost = performance.now();
  const flush = (): void => {
    if (pending.length > 0) post({ type: 'progress', items: pending });
    pending = [];
    lastPost = performance.now();
  };
  try {
    const result = await balance(request.network, {
      ...request.settings,
      backend: 'cpu',
      worker: false,
      onSweep: (progress) => {
        pending.push(progress);
        if (performance.now() - lastPost >= PROGRESS_EVERY_MS) flush();
      },
    });
    flush();
    post({ type: 'done', result }, transferables(result));
  } catch (error) {
    flush();
    post(errorReply(error));
  }
}
