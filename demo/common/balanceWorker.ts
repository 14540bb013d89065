/**
 * The CPU balance worker: receives a structured-clone copy of a network, runs `balance` with the
 * CPU backend and posts progress (batched, at most every 50 ms) and the result, whose arrays it
 * transfers back. The page cancels a run by terminating the worker, so the page's network is
 * never shared with it and cannot be damaged.
 */

import type { SweepProgress } from '../../src/index.js';
import { balance } from '../../src/index.js';
import type { RunMessage, WorkerReply } from './protocol.js';

const scope = self as unknown as DedicatedWorkerGlobalScope;
const post = (reply: WorkerReply, transfer: Transferable[] = []): void => scope.postMessage(reply, transfer);

scope.onmessage = async (event: MessageEvent<RunMessage>) => {
  const { network, settings } = event.data;
  let pending: SweepProgress[] = [];
  let lastPost = 0;
  const flush = (): void => {
    if (pending.length > 0) post({ type: 'progress', items: pending });
    pending = [];
    lastPost = performance.now();
  };
  try {
    const result = await balance(network, {
      ...settings,
      backend: 'cpu',
      onSweep: (progress) => {
        pending.push(progress);
        if (performance.now() - lastPost > 50) flush();
      },
    });
    flush();
    const buffers = new Set<ArrayBufferLike>();
    for (const b of result.network.blocks) {
      buffers.add(b.weight.buffer);
      if (b.bias) buffers.add(b.bias.buffer);
    }
    for (const f of result.logFactors) buffers.add(f.buffer);
    post(
      { type: 'done', result },
      [...buffers].filter((b): b is ArrayBuffer => b instanceof ArrayBuffer),
    );
  } catch (error) {
    flush();
    const e = error instanceof Error ? error : new Error(String(error));
    post({ type: 'error', name: e.name, message: e.message });
  }
};
