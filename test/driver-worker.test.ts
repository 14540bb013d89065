/**
 * A CPU run from a page's main thread goes to the library's balance worker (`src/driver/worker/`).
 * Here the page is simulated in Node (`window`, `document` and `Worker` stubbed) and the worker
 * is a fake that runs the real worker code (`serveRun`) on structured-clone copies of every
 * message, as a browser does; Chromium runs the real thing in e2e/balance-worker.spec.ts.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { BalanceOptions, BalanceResult, SweepProgress } from '../src/balance.js';
import { balance } from '../src/balance.js';
import { onPageMainThread } from '../src/driver/worker/client.js';
import { arrayParts, NetworkAssembly, PART_ELEMENTS, splitNetwork } from '../src/driver/worker/networkParts.js';
import type { PageMessage } from '../src/driver/worker/protocol.js';
import { workerSession } from '../src/driver/worker/serve.js';
import { WeightBalanceError } from '../src/errors.js';
import { mlp } from '../src/network/builders.js';
import type { Network } from '../src/network/types.js';
import { cnnNet, mlpNet, residualNet } from './support/fixNets.js';

/** How the fake worker behaves. */
type Mode = 'serve' | 'fail-to-load' | 'refuse-construction';

/** The workers the page started, newest last. */
const started: FakeWorker[] = [];
let mode: Mode = 'serve';

/** A module Web Worker that runs the library's worker code in this process, asynchronously, on copies. */
class FakeWorker {
  onmessage: ((event: MessageEvent) => void) | null = null;
  onerror: ((event: ErrorEvent) => void) | null = null;
  onmessageerror: ((event: MessageEvent) => void) | null = null;
  terminated = false;
  /** The page's messages, as the worker got them. */
  received: PageMessage[] = [];
  private readonly handle = workerSession((reply, transfer) => this.reply(reply, transfer));
  constructor(
    readonly url: URL,
    readonly options: WorkerOptions,
  ) {
    if (mode === 'refuse-construction') throw new DOMException('workers are not allowed here', 'SecurityError');
    started.push(this);
    if (mode === 'fail-to-load') setTimeout(() => this.onerror?.({ message: '', preventDefault: () => undefined } as ErrorEvent), 1);
    else this.reply({ type: 'ready' });
  }
  /** Worker → page, as a structured-clone copy with its transfer list. */
  private reply(message: unknown, transfer: Transferable[] = []): void {
    const copy = structuredClone(message, { transfer });
    setTimeout(() => {
      if (!this.terminated) this.onmessage?.({ data: copy } as MessageEvent);
    }, 0);
  }
  postMessage(message: unknown, transfer: Transferable[] = []): void {
    const copy = structuredClone(message, { transfer }) as PageMessage;
    this.received.push(copy);
    if (mode === 'serve') setTimeout(() => this.handle(copy), 0);
  }
  terminate(): void {
    this.terminated = true;
  }
}

beforeEach(() => {
  started.length = 0;
  mode = 'serve';
  vi.stubGlobal('window', globalThis);
  vi.stubGlobal('document', {});
  vi.stubGlobal('Worker', FakeWorker);
});
afterEach(() => {
  vi.unstubAllGlobals();
});

/** A run's outcome with its progress, minus the wall times. */
async function outcome(net: Network, options: BalanceOptions): Promise<{ result: Omit<BalanceResult, 'ms' | 'phases'>; progress: SweepProgress[] }> {
  const progress: SweepProgress[] = [];
  const { ms: _ms, phases: _phases, ...result } = await balance(net, { ...options, onSweep: (p) => progress.push(p) });
  return { result, progress };
}

/** The message of the error a promise rejects with, checking its class. */
async function rejection(promise: Promise<unknown>, kind: new (...args: never[]) => Error): Promise<string> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(kind);
  return (error as Error).message;
}

describe('a CPU run on a page goes to the library worker', () => {
  it('is detected as a page main thread only with window, document and Worker', () => {
    expect(onPageMainThread()).toBe(true);
    vi.unstubAllGlobals();
    expect(onPageMainThread()).toBe(false); // Node
  });

  it('gives the in-thread result and the same progress, sweep by sweep, and leaves the network as it was', async () => {
    const cases: [Network, BalanceOptions][] = [
      [mlpNet(1), { p: 2, q: 2, backend: 'cpu', tol: 1e-9 }],
      [cnnNet(2, 'float32'), { p: 1, q: 2, backend: 'cpu', schedule: 'alternating', maxSweeps: 40 }],
      [residualNet(3), { p: 3, q: 1.5, backend: 'auto' }],
    ];
    for (const [net, options] of cases) {
      const before = structuredClone(net);
      const here = await outcome(net, { ...options, worker: false });
      expect(started).toHaveLength(0);
      const there = await outcome(net, options);
      expect(started).toHaveLength(1);
      const [worker] = started.splice(0);
      expect(existsSync(fileURLToPath(worker.url)), `${worker.url}`).toBe(true);
      expect(worker.options.type).toBe('module');
      expect(worker.terminated).toBe(true);
      expect(there.progress.length).toBeGreaterThan(1);
      expect(there).toEqual(here);
      expect(net).toEqual(before);
      // The worker got the structure, then copies of the arrays in parts, then start.
      expect(worker.received.map((m) => m.type)).toEqual(['run', ...splitNetwork(net).arrays.map(() => 'part'), 'start']);
    }
  });

  it("keeps the backend choice's fallback (auto on a page without WebGPU)", async () => {
    const { result } = await outcome(mlpNet(4), { p: 2, q: 2 });
    expect(started).toHaveLength(1);
    expect(result.backend).toBe('cpu');
    expect(result.fallback?.kind).toBe('no-webgpu');
  });

  it('throws the worker-side refusal again as a WeightBalanceError with the same message', async () => {
    const bad = mlpNet(5);
    bad.blocks[1].weight[3] = Number.NaN;
    const overflow = mlpNet(6);
    for (const [net, options] of [
      [bad, { p: 2, q: 2, backend: 'cpu' }],
      [overflow, { p: 1e-9, q: 1e-9, backend: 'cpu' }],
    ] as [Network, BalanceOptions][]) {
      const here = await rejection(balance(net, { ...options, worker: false }), WeightBalanceError);
      const there = await rejection(balance(net, options), WeightBalanceError);
      expect(started.splice(0)).toHaveLength(1);
      expect(there).toBe(here);
      expect(there.length).toBeGreaterThan(10);
    }
  });

  it('cancels: an abort terminates the worker at once and rejects with an AbortError', async () => {
    const controller = new AbortController();
    const seen: number[] = [];
    const run = balance(mlpNet(7), {
      p: 2,
      q: 2,
      backend: 'cpu',
      schedule: 'parallel',
      tol: 0,
      maxSweeps: 1_000_000,
      signal: controller.signal,
      onSweep: (p) => {
        seen.push(p.sweep);
        if (p.sweep === 3) controller.abort();
      },
    });
    const error = await run.then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(error?.name).toBe('AbortError');
    expect(seen).toEqual([1, 2, 3]);
    expect(started[0].terminated).toBe(true);
    // Aborted before the start: no worker at all.
    await expect(balance(mlpNet(7), { p: 2, q: 2, backend: 'cpu', signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
    expect(started).toHaveLength(1);
  });

  it("ends the run with the error an onSweep throws, as on the page's thread", async () => {
    const failing = (): never => {
      throw new RangeError('from the callback');
    };
    const options: BalanceOptions = { p: 2, q: 2, backend: 'cpu', onSweep: failing };
    expect(await rejection(balance(mlpNet(8), options), RangeError)).toBe('from the callback');
    expect(started[0].terminated).toBe(true);
  });

  it('runs on this thread when the worker cannot start or load, with the same result', async () => {
    const net = mlpNet(9);
    const options: BalanceOptions = { p: 2, q: 2, backend: 'cpu', tol: 1e-8 };
    const here = await outcome(net, { ...options, worker: false });
    for (const m of ['fail-to-load', 'refuse-construction'] as const) {
      mode = m;
      expect(await outcome(net, options)).toEqual(here);
    }
    expect(started).toHaveLength(1); // the one that failed to load
  });

  it('runs on this thread with worker: false, and refuses a worker option that is not a boolean', async () => {
    await balance(mlpNet(10), { p: 2, q: 2, backend: 'cpu', maxSweeps: 2, worker: false });
    expect(started).toHaveLength(0);
    const message = await rejection(balance(mlpNet(10), { p: 2, q: 2, worker: 'yes' as never }), WeightBalanceError);
    expect(message).toMatch(/worker must be true or false, got "yes"/);
  });
});

describe('the copy of a network posted to the worker', () => {
  it("is its structure and copies of its arrays in parts, never the caller's buffers, rebuilt exactly", () => {
    const net = cnnNet(11, 'float32');
    net.blocks[1].bias = null;
    net.blocks[2].weight = new Float64Array(Array.from(net.blocks[2].weight));
    const big = mlp([520, 520, 2], { seed: 1 }); // 270,400 weights in block 0: two parts
    for (const network of [net, big]) {
      const { structure, arrays } = splitNetwork(network);
      expect(arrays).toHaveLength(network.blocks.reduce((n, b) => n + (b.bias ? 2 : 1), 0));
      expect(JSON.stringify(structure).length).toBeLessThan(10_000); // no weights in the structure
      const assembly = new NetworkAssembly(structuredClone(structure));
      let parts = 0;
      for (const part of arrayParts(arrays)) {
        expect(part.values.length).toBeLessThanOrEqual(PART_ELEMENTS);
        expect(arrays.map((a) => a.buffer)).not.toContain(part.values.buffer);
        assembly.add(structuredClone(part, { transfer: [part.values.buffer] }));
        parts++;
      }
      expect(parts).toBe(arrays.reduce((n, a) => n + Math.ceil(a.length / PART_ELEMENTS), 0));
      const rebuilt = assembly.network;
      expect(rebuilt.blocks.every((b, k) => b.weight.every((w, i) => Object.is(w, network.blocks[k].weight[i])))).toBe(true);
      expect({ ...rebuilt, blocks: rebuilt.blocks.map((b) => ({ ...b, weight: null })) }).toEqual({
        ...network,
        blocks: network.blocks.map((b) => ({ ...b, weight: null })),
      });
      expect(rebuilt.blocks.every((b, k) => b.weight.constructor === network.blocks[k].weight.constructor)).toBe(true);
    }
    expect(Math.ceil(big.blocks[0].weight.length / PART_ELEMENTS)).toBeGreaterThan(1);
  });

  it('leaves what is not a block of typed arrays to the structured clone (the worker refuses it by name)', async () => {
    const broken = { ...mlpNet(12), blocks: [{ weight: [1, 2] }, null] } as unknown as Network;
    expect(splitNetwork(broken)).toEqual({ structure: broken, arrays: [] });
    const here = await rejection(balance(broken, { p: 2, q: 2, backend: 'cpu', worker: false }), WeightBalanceError);
    expect(await rejection(balance(broken, { p: 2, q: 2, backend: 'cpu' }), WeightBalanceError)).toBe(here);
    expect(started).toHaveLength(1);
  });
});
