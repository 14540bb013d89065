import { coreCount, DEFAULT_THREAD_CAP, ThreadPool } from '../engines/cpu/threads/pool.js';
import { prepareSharedKernels, prepareWasmKernels } from '../engines/cpu/wasm/wasmKernels.js';
import type { EngineKind } from '../options.js';
import type { Problem } from '../problem/problem.js';

/**
 * Entries of `P` below which a run starts no worker threads: starting them costs tens of
 * milliseconds, more than they save on a network whose sweep takes about a millisecond.
 */
export const MIN_THREADED_ENTRIES = 1 << 20;

/** How long a run waits for its workers to start before it runs on one thread, in ms. */
const START_LIMIT_MS = 10_000;

/** The default of `threads`: the number of cores, at most {@link DEFAULT_THREAD_CAP}. */
export function defaultThreads(): number {
  return Math.min(coreCount(), DEFAULT_THREAD_CAP);
}

/** Entries of `P` over all blocks. */
function entries(problem: Problem): number {
  let total = 0;
  for (const b of problem.blocks) total += b.rows * b.cols;
  return total;
}

/**
 * The worker threads of a run that starts on the CPU engine with `threads >= 2` and a `P` of at
 * least {@link MIN_THREADED_ENTRIES} entries, or `null`: one thread, without error, where
 * threads cannot run (no shared memory or no WebAssembly SIMD, a page's main thread, a page
 * that is not cross-origin isolated, workers refused or too slow to start). The caller owns the
 * pool and closes it when the run ends, whatever the outcome.
 */
export async function openThreads(problem: Problem, threads: number, backend: EngineKind): Promise<ThreadPool | null> {
  if (backend !== 'cpu' || threads < 2 || entries(problem) < MIN_THREADED_ENTRIES) return null;
  if (!(await prepareWasmKernels()) || !(await prepareSharedKernels())) return null;
  const opening = ThreadPool.open(threads).catch(() => null);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), START_LIMIT_MS)));
  const pool = await Promise.race([opening, late]);
  clearTimeout(timer);
  if (pool !== 'late') return pool;
  void opening.then((p) => p?.close()); // started after all: closed as soon as it is there
  return null;
}
