import type { PassCall } from '../wasm/wasmKernels.js';
import type { WorkerMessage } from './workerProgram.js';
import { CHUNK_WORDS, CONTROL, claimWord, OP_RUN, OP_UNLOAD, workerProgram } from './workerProgram.js';

/**
 * A pool of worker threads sharing memory with the thread that created it (`worker_threads` in
 * Node, Web Workers in a cross-origin isolated page or worker). A job is a list of chunks that
 * the creating thread and the workers claim one at a time (see workerProgram.ts); the creating
 * thread waits with `Atomics.wait` only for chunks a worker has claimed, so the CPU engine stays
 * synchronous and a busy machine, where a worker may not be scheduled at once, costs little. Opened asynchronously (a browser starts a worker only once its creator returns
 * to its event loop), loaded and run synchronously, and closed by whoever opened it.
 */

/** The most threads a pool uses by default, whatever the number of cores. */
export const DEFAULT_THREAD_CAP = 8;

/** How long the calling thread spins on a worker's chunk before it sleeps, in ms. */
const SPIN_MS = 1;

/** The longest wait for a worker, in ms: a worker that never answers is an error, not a hang. */
const WAIT_LIMIT_MS = 120_000;

/** A worker as the pool sees it, in Node or in a browser. */
interface PoolWorker {
  post(message: WorkerMessage): void;
  terminate(): Promise<void>;
}

type Handlers = { message: (data: unknown) => void; error: (error: unknown) => void };

/** Workers started and not yet terminated, by every pool of this thread (tests read it). */
let live = 0;

/** Worker threads started by pools of this thread and not yet terminated. */
export function liveWorkers(): number {
  return live;
}

/** Node's `worker_threads` and `os`, reached without an import (this module also runs in browsers). */
function nodeModule<T>(name: string): T | null {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  return (proc?.getBuiltinModule?.(name) as T | undefined) ?? null;
}

interface NodeWorker {
  on(event: 'message' | 'error', handler: (value: unknown) => void): void;
  postMessage(message: unknown): void;
  terminate(): Promise<number>;
}
type NodeWorkerThreads = { Worker: new (source: string, options: { eval: true }) => NodeWorker };

/** The worker's port in Node: `getBuiltinModule`, not `require`, since an eval'd worker is an ES module when its process was started with `--input-type=module`. */
const PORT_NODE =
  "((port) => ({ listen: (h) => port.on('message', h), post: (m) => port.postMessage(m) }))(process.getBuiltinModule('node:worker_threads').parentPort)";
const PORT_BROWSER = '{ listen: (h) => { self.onmessage = (e) => h(e.data); }, post: (m) => self.postMessage(m) }';

/** Start one worker running {@link workerProgram}, or `null` where no worker can be started. */
function spawn(handlers: Handlers): PoolWorker | null {
  const threads = nodeModule<NodeWorkerThreads>('node:worker_threads');
  if (threads) {
    const worker = new threads.Worker(`(${String(workerProgram)})(${PORT_NODE});`, { eval: true });
    worker.on('message', handlers.message);
    worker.on('error', handlers.error);
    return { post: (m) => worker.postMessage(m), terminate: async () => void (await worker.terminate()) };
  }
  if (typeof Worker !== 'function' || typeof Blob !== 'function' || typeof URL?.createObjectURL !== 'function') return null;
  const url = URL.createObjectURL(new Blob([`(${String(workerProgram)})(${PORT_BROWSER});`], { type: 'text/javascript' }));
  const worker = new Worker(url);
  worker.onmessage = (event) => handlers.message(event.data);
  worker.onerror = (event) => handlers.error(new Error(event.message));
  return {
    post: (m) => worker.postMessage(m),
    terminate: async () => {
      worker.terminate();
      URL.revokeObjectURL(url);
    },
  };
}

/** Whether this thread may block in `Atomics.wait` on shared memory (not a page's main thread, not without cross-origin isolation). */
function canWaitHere(): boolean {
  if (typeof SharedArrayBuffer !== 'function' || typeof Atomics !== 'object') return false;
  if ((globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === false) return false;
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

/** The number of cores this thread's environment reports (1 when it does not say). */
export function coreCount(): number {
  const os = nodeModule<{ availableParallelism?: () => number; cpus(): unknown[] }>('node:os');
  if (os) return Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
  const cores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  return cores && cores > 0 ? cores : 1;
}

/** The pool (see the module comment). `size` counts the calling thread: `size - 1` workers. */
export class ThreadPool {
  private readonly head: Int32Array;
  private readonly chunks: Float64Array;
  private generation = 0;
  private workers: PoolWorker[];
  private loaded = false;
  private closed = false;
  /** Whether the calling thread claims chunks too (the default); tests turn it off so that every chunk runs on a worker. */
  callerClaims = true;

  private constructor(control: SharedArrayBuffer, workers: PoolWorker[]) {
    this.workers = workers;
    this.head = new Int32Array(control, 0, CONTROL.headerBytes / 4);
    this.chunks = new Float64Array(control, CONTROL.headerBytes);
  }

  /** Chunks the workers have run so far. */
  get chunksByWorkers(): number {
    return Atomics.load(this.head, CONTROL.byWorkers);
  }

  /** Threads, the calling one included. */
  get size(): number {
    return this.workers.length + 1;
  }

  /**
   * A pool of `threads` threads (the caller and `threads - 1` workers), ready to load; `null`
   * when `threads < 2` or where this thread cannot wait on shared memory or start workers (a
   * page's main thread, a page that is not cross-origin isolated): the caller then runs alone.
   */
  static async open(threads: number): Promise<ThreadPool | null> {
    if (!(threads >= 2) || !canWaitHere()) return null;
    const control = new SharedArrayBuffer(CONTROL.headerBytes + 8 * CHUNK_WORDS * CONTROL.maxChunks);
    const started: PoolWorker[] = [];
    const ready: Promise<void>[] = [];
    for (let slot = 1; slot < threads; slot++) {
      let settle: { resolve: () => void; reject: (e: unknown) => void } = { resolve: () => {}, reject: () => {} };
      ready.push(new Promise<void>((resolve, reject) => (settle = { resolve, reject })));
      const worker = spawn({ message: (m) => (m === 'ready' ? settle.resolve() : undefined), error: (e) => settle.reject(e) });
      if (!worker) break;
      live++;
      started.push(worker);
      worker.post({ start: { control, layout: CONTROL, chunkWords: CHUNK_WORDS, opRun: OP_RUN, opUnload: OP_UNLOAD } });
    }
    const pool = new ThreadPool(control, started);
    try {
      if (started.length === 0) return null;
      await Promise.all(ready.slice(0, started.length));
      return pool;
    } catch (error) {
      await pool.close();
      throw error;
    }
  }

  /**
   * Instantiate `module` on the shared `memory` in every worker (synchronous: the workers answer
   * through shared memory). `shifts[w]` is what worker `w` adds to each call's shifted arguments
   * (the byte offset of its own column sums and scratch from the caller's).
   */
  load(module: WebAssembly.Module, memory: WebAssembly.Memory, exports: readonly string[], shifts: readonly number[]): void {
    if (this.closed || this.workers.length === 0) throw new Error('the thread pool is closed');
    if (this.loaded) throw new Error('the thread pool already holds kernels: unload them first');
    Atomics.store(this.head, CONTROL.failed, 0);
    this.workers.forEach((worker, w) => worker.post({ load: { module, memory, exports: [...exports], shift: shifts[w] } }));
    this.waitFor(CONTROL.loaded, this.workers.length);
    if (Atomics.load(this.head, CONTROL.failed)) {
      // The workers that did load leave their loops; the pool can only be closed now.
      this.signal(OP_UNLOAD);
      this.closed = true;
      throw new Error('a worker thread could not load the kernels');
    }
    this.loaded = true;
  }

  /**
   * Run the chunks (each a list of calls `[export index, ...arguments]`) over this thread and the
   * workers, and return once all are done (an error in a worker is thrown here). `shifted` names
   * the arguments (a bit per position) a worker shifts by its own offset; this thread makes its
   * calls with `own`, unshifted. The caller reads what the workers wrote only after this.
   */
  run(chunks: readonly PassCall[][], shifted: number, own: (call: PassCall) => void): void {
    if (!this.loaded) throw new Error('the thread pool holds no kernels');
    const count = chunks.length;
    if (count > CONTROL.maxChunks) throw new Error(`at most ${CONTROL.maxChunks} chunks per job, got ${count}`);
    const { chunks: words, head } = this;
    chunks.forEach((calls, k) => {
      if (calls.length > CONTROL.callsPerChunk) throw new Error(`at most ${CONTROL.callsPerChunk} calls per chunk, got ${calls.length}`);
      const base = k * CHUNK_WORDS;
      words[base] = calls.length;
      calls.forEach(([index, ...args], c) => {
        const at = base + 1 + c * CONTROL.wordsPerCall;
        words[at] = index;
        words[at + 1] = shifted;
        words.fill(0, at + 2, at + CONTROL.wordsPerCall);
        words.set(args, at + 2);
      });
    });
    Atomics.store(head, CONTROL.failed, 0);
    Atomics.store(head, CONTROL.done, 0);
    this.generation = (this.generation + 1) & 0x3fff;
    Atomics.store(head, CONTROL.claim, claimWord(this.generation, count, 0));
    this.signal(OP_RUN);
    let failure: unknown = null;
    for (let claim = Atomics.load(head, CONTROL.claim); this.callerClaims && (claim & 0xff) < count; claim = Atomics.load(head, CONTROL.claim)) {
      if (Atomics.compareExchange(head, CONTROL.claim, claim, claim + 1) !== claim) continue;
      try {
        for (const call of chunks[claim & 0xff]) own(call);
      } catch (error) {
        failure ??= error;
      }
      Atomics.add(head, CONTROL.done, 1);
    }
    this.waitFor(CONTROL.done, count);
    if (failure) throw failure;
    if (Atomics.load(head, CONTROL.failed)) throw new Error('a worker thread failed in a pass over P');
  }

  /** Let the workers drop the kernels (they return to their event loops); the pool may load again. */
  unload(): void {
    if (!this.loaded) return;
    this.loaded = false;
    this.signal(OP_UNLOAD);
    this.waitFor(CONTROL.loaded, 0);
  }

  /** Stop every worker. Safe to call twice; resolves once all are terminated. */
  async close(): Promise<void> {
    if (this.workers.length === 0) return;
    this.closed = true;
    if (this.loaded) {
      this.loaded = false;
      this.signal(OP_UNLOAD);
    }
    const workers = this.workers;
    this.workers = [];
    await Promise.all(
      workers.map(async (worker) => {
        try {
          await worker.terminate();
        } finally {
          live--;
        }
      }),
    );
  }

  private signal(op: number): void {
    Atomics.store(this.head, CONTROL.op, op);
    Atomics.add(this.head, CONTROL.seq, 1);
    Atomics.notify(this.head, CONTROL.seq);
  }

  /** Block until word `at` of the control memory equals `value`. */
  private waitFor(at: number, value: number): void {
    const start = performance.now();
    // Spin first: a worker's chunk ends within a fraction of a millisecond, while a thread that
    // sleeps in Atomics.wait may wait much longer for a core on a busy machine.
    while (Atomics.load(this.head, at) !== value && performance.now() - start < SPIN_MS) {}
    const deadline = start + WAIT_LIMIT_MS;
    for (let now = Atomics.load(this.head, at); now !== value; now = Atomics.load(this.head, at)) {
      const left = deadline - performance.now();
      if (left <= 0) throw new Error('a worker thread did not answer within 120 s');
      Atomics.wait(this.head, at, now, left);
    }
  }
}
