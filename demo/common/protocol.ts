/** Messages between the page and the balance worker (demo/common/balanceWorker.ts). */
import type { BalanceResult, Network, Schedule, SweepProgress } from '../../src/index.js';

/** What one balance run needs, apart from the backend. */
export interface RunSettings {
  p: number;
  q: number;
  schedule: Schedule;
  tol: number;
  maxSweeps: number;
}

/** Page → worker: balance this copy of a network on the CPU. */
export interface RunMessage {
  type: 'run';
  network: Network;
  settings: RunSettings;
}

/** Worker → page. */
export type WorkerReply =
  | { type: 'progress'; items: SweepProgress[] }
  | { type: 'done'; result: BalanceResult }
  | { type: 'error'; name: string; message: string };
