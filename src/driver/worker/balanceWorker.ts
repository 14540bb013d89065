/**
 * The library's balance worker: a module Web Worker that a page's `balance` starts for a CPU run
 * (`client.ts`), so that the page's main thread never runs the sweeps. It says it is ready, then
 * serves the one run it is sent; the page terminates it when the run ends or is cancelled.
 */

import type { PageMessage } from './protocol.js';
import { workerSession } from './serve.js';

const scope = self as unknown as DedicatedWorkerGlobalScope;
const handle = workerSession((reply, transfer = []) => scope.postMessage(reply, transfer));

scope.onmessage = (event: MessageEvent<PageMessage>) => handle(event.data);
scope.postMessage({ type: 'ready' });
