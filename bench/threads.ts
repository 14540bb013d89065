/**
 * The wall-time speed-up of the CPU engine's worker threads, measured fairly on a shared
 * machine: the one-thread and the threaded engine (the same kernels, the same `P`) run their
 * batches of sweeps alternately, so that both see the same load, and the speed-up is the median
 * over the pairs of (one-thread wall time / threaded wall time). Processor time is reported too
 * (the threaded figure adds up every thread).
 */
import { CpuEngine } from '../src/engines/cpu/cpuEngine.js';
import type { PowerPrecision } from '../src/engines/cpu/kernels.js';
import type { ThreadPool } from '../src/engines/cpu/threads/pool.js';
import type { Schedule } from '../src/options.js';
import type { Problem } from '../src/problem/problem.js';
import { median, time } from './floor.js';

/** Medians of one interleaved comparison, in ms per sweep. */
export interface ThreadPairs {
  oneWall: number;
  threadsWall: number;
  oneCpu: number;
  threadsCpu: number;
  /** Median over the pairs of one-thread wall / threaded wall. */
  speedup: number;
  threads: number;
}

/** Alternate `runs` batches of `sweeps` sweeps on one thread and on `pool`'s threads (after two warm-up sweeps each). */
export async function threadPairs(
  problem: Problem,
  schedule: Schedule,
  precision: PowerPrecision,
  pool: ThreadPool,
  runs: number,
  sweeps: number,
): Promise<ThreadPairs> {
  const one = new CpuEngine(problem, { schedule, kernels: 'wasm', precision });
  const threaded = new CpuEngine(problem, { schedule, kernels: 'wasm', precision, pool });
  try {
    await one.sweeps(2, 0);
    await threaded.sweeps(2, 0);
    const [oneWall, threadsWall, oneCpu, threadsCpu, ratios]: number[][] = [[], [], [], [], []];
    for (let r = 0; r < runs; r++) {
      const a = await time(() => one.sweeps(sweeps, 0));
      const b = await time(() => threaded.sweeps(sweeps, 0));
      oneWall.push(a.wall / sweeps);
      threadsWall.push(b.wall / sweeps);
      oneCpu.push(a.cpu / sweeps);
      threadsCpu.push(b.cpu / sweeps);
      ratios.push(a.wall / b.wall);
    }
    return {
      oneWall: median(oneWall),
      threadsWall: median(threadsWall),
      oneCpu: median(oneCpu),
      threadsCpu: median(threadsCpu),
      speedup: median(ratios),
      threads: threaded.threads,
    };
  } finally {
    one.dispose();
    threaded.dispose();
  }
}
