/**
 * The messages between a page's main thread and the library's balance worker
 * (`driver/worker/balanceWorker.ts`), and how an error crosses between them. Everything here is
 * structured-clone data: the network travels as a copy (its structure, then its arrays in parts:
 * `networkParts.ts`), the result's arrays are transferred back.
 *
 * Generic over the progress and result types so that this module needs nothing from
 * `balance.ts` (which imports the client: no import cycle).
 */

import { BalanceAbortedError, WeightBalanceError } from '../../errors.js';
import type { Network } from '../../network/types.js';
import type { Schedule } from '../../options.js';
import type { ArrayPart } from './networkParts.js';

/** The run options that cross to the worker: plain data (no function, signal or GPU object). */
export interface WorkerSettings {
  p: number;
  q: number;
  includeBiases?: boolean;
  schedule: Schedule;
  tol: number;
  maxSweeps: number;
  /** The CPU engine's threads (inside the worker, where the page is cross-origin isolated). */
  threads: number;
}

/**
 * Page → worker, in this order: the run (the network's structure, its arrays as placeholders),
 * the parts of its arrays, then `start`.
 */
export type PageMessage = { type: 'run'; structure: Network; settings: WorkerSettings } | ({ type: 'part' } & ArrayPart) | { type: 'start' };

/** An error as it crosses a thread: its class (by name) and its message. */
export interface ErrorReply {
  type: 'error';
  name: string;
  message: string;
}

/** Worker → page: the worker is up; progress since the last message; the result; an error. */
export type WorkerReply<Progress, Result> = { type: 'ready' } | { type: 'progress'; items: Progress[] } | { type: 'done'; result: Result } | ErrorReply;

/** What a thrown value becomes to cross to the page. */
export function errorReply(error: unknown): ErrorReply {
  const e = error instanceof Error ? error : new Error(String(error));
  return { type: 'error', name: e.name, message: e.message };
}

/**
 * The error the page throws for an {@link ErrorReply}: the library's own classes again
 * (`WeightBalanceError`, the `AbortError`), with the message unchanged; any other as an `Error`
 * of that name.
 */
export function errorFromReply(reply: ErrorReply): Error {
  if (reply.name === 'WeightBalanceError') return new WeightBalanceError(reply.message);
  if (reply.name === 'AbortError') return new BalanceAbortedError(reply.message);
  const error = new Error(reply.message);
  error.name = reply.name;
  return error;
}

/** The distinct `ArrayBuffer`s under the typed arrays of a result (its network and log factors), to transfer rather than copy. */
export function transferables(result: { network: Network; logFactors: ArrayBufferView[] }): ArrayBuffer[] {
  const buffers = new Set<ArrayBufferLike>();
  for (const block of result.network.blocks) {
    buffers.add(block.weight.buffer);
    if (block.bias) buffers.add(block.bias.buffer);
  }
  for (const factors of result.logFactors) buffers.add(factors.buffer);
  return [...buffers].filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
}
