/**
 * The CPU engine's passes split by rows over worker threads sharing memory (issue 11 point 2):
 * the same sums as one thread up to the order of additions, F never rising, and no worker left
 * behind (after a result, an error, a cancel; a process that runs with threads exits by itself).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { balance } from '../src/balance.js';
import { MIN_THREADED_ENTRIES } from '../src/driver/threads.js';
import { CpuEngine } from '../src/engines/cpu/cpuEngine.js';
import type { PassSums } from '../src/engines/cpu/kernels.js';
import { liveWorkers, ThreadPool } from '../src/engines/cpu/threads/pool.js';
import { rowRanges } from '../src/engines/cpu/threads/rowRanges.js';
import { prepareSharedKernels, wasmSimd } from '../src/engines/cpu/wasm/wasmKernels.js';
import { WeightBalanceError } from '../src/errors.js';
import { mlp } from '../src/network/builders.js';
import { rescale } from '../src/network/rescale.js';
import type { Network } from '../src/network/types.js';
import type { Schedule } from '../src/options.js';
import { compileProblem } from '../src/problem/compile.js';
import { builtCli } from './setup/build.js';
import { cnnNet, convResidualNet, dagNet, mlpNet, residualNet } from './support/fixNets.js';
import { runCli } from './support/runCli.js';

/** A net with at least MIN_THREADED_ENTRIES entries of P, so that balance() starts its threads. */
function largeNet(seed: number): Network {
  return mlp([512, 1024, 768, 10], { seed, dtype: 'float32' });
}

describe('passes cut by rows into chunks', () => {
  it('row ranges: contiguous, multiples of 4 rows but the last, at most the parts asked for, none under the minimum', () => {
    for (const [rows, threads, minRows] of [
      [1000, 2, 1],
      [1000, 3, 1],
      [7, 4, 1],
      [1000, 8, 300],
      [3, 2, 1],
      [4096, 2, 8],
    ]) {
      const bounds = rowRanges(rows, threads, minRows);
      expect(bounds[0]).toBe(0);
      expect(bounds[bounds.length - 1]).toBe(rows);
      expect(bounds.length - 1).toBeLessThanOrEqual(threads);
      for (let t = 1; t < bounds.length; t++) {
        expect(bounds[t]).toBeGreaterThan(bounds[t - 1]);
        if (t < bounds.length - 1) expect(bounds[t] % 4).toBe(0);
        if (bounds.length > 2) expect(bounds[t] - bounds[t - 1]).toBeGreaterThanOrEqual(Math.min(minRows, rows));
      }
    }
    expect(rowRanges(1000, 3, 1)).toEqual([0, 332, 668, 1000]);
  });
});

describe('CPU passes over worker threads', () => {
  let pools: ThreadPool[];

  beforeAll(async () => {
    expect(await prepareSharedKernels()).not.toBeNull();
    pools = (await Promise.all([ThreadPool.open(2), ThreadPool.open(3), ThreadPool.open(3)])) as ThreadPool[];
    expect(pools.map((p) => p?.size)).toEqual([2, 3, 3]);
    expect(liveWorkers()).toBe(5);
    // In the first two pools only the workers run chunks (on these small nets the calling thread
    // would otherwise often finish a pass before a worker wakes): the workers' partial column sums
    // and their reduction are exercised on every pass. The third pool claims as it does in a run.
    pools[0].callerClaims = false;
    pools[1].callerClaims = false;
  });

  afterAll(async () => {
    await Promise.all(pools.map((p) => p.close()));
    expect(liveWorkers()).toBe(0);
  });

  const nets: [string, (seed: number) => Network][] = [
    ['mlp', (seed) => mlpNet(seed, 'float32')],
    ['cnn (grouped, depthwise)', (seed) => cnnNet(seed)],
    ['residual with ties', (seed) => residualNet(seed)],
    ['conv residual', (seed) => convResidualNet(seed)],
    ['dag', (seed) => dagNet(seed)],
  ];
  // Float64 sums agree to reassociation (1e-12); blocked float32 sums are grouped by rows, which
  // the chunks' boundaries move: they agree to float32's rounding of a block (1e-6).
  const cases: [Schedule, number, number, 'float32' | 'float64', PassSums, number][] = [
    ['parallel', 2, 2, 'float64', 'float64', 1e-12],
    ['parallel', 1, 2, 'float32', 'float64', 1e-12],
    ['alternating', 3, 1.5, 'float64', 'float64', 1e-12],
    ['accelerated', 2, 2, 'float32', 'float64', 1e-12],
    ['accelerated', 1, 2, 'float64', 'float64', 1e-12],
    ['parallel', 2, 2, 'float32', 'blocked32', 1e-6],
    ['parallel', 1, 2, 'float32', 'blocked32', 1e-6],
  ];

  it.each(nets)('%s: every sweep equals the one-thread run up to reassociation, and F never rises', async (_, make) => {
    for (const [c, [schedule, p, q, precision, sums, agree]] of cases.entries()) {
      const problem = compileProblem(make(c + 1), { p, q, includeBiases: c % 2 === 0 });
      const pool = pools[c % 3];
      const ranBefore = pool.chunksByWorkers;
      const one = new CpuEngine(problem, { schedule, precision, sums });
      // Every block with 4 rows or more is split: the smallest share is one row of P.
      const split = new CpuEngine(problem, { schedule, precision, sums, pool, minEntriesPerChunk: 1 });
      try {
        expect(split.kernels).toBe(wasmSimd() === 'relaxed' ? 'wasm-relaxed-simd' : 'wasm-simd');
        expect([split.passSums, one.passSums]).toEqual([sums, sums]);
        expect(split.threads).toBeGreaterThan(1);
        expect(split.threads).toBeLessThanOrEqual(pool.size);
        const a = await one.sweeps(12, 0);
        const b = await split.sweeps(12, 0);
        expect(b.length).toBe(a.length);
        let previous = (await split.evaluate()).F;
        previous = Math.max(previous, b[0].F);
        // First-order quantities (the imbalance, the factors) of the accelerated schedule pass
        // through its coarse Newton solve, which amplifies reassociation differences of the sums
        // (seen: 3e-9 on the CNN, depending on which thread takes which chunk); F, second order at
        // the minimum, still agrees to `agree`.
        const firstOrder = schedule === 'accelerated' ? Math.max(1e-7, 1e3 * agree) : 1e3 * agree;
        b.forEach((record, s) => {
          expect(Math.abs(record.F - a[s].F)).toBeLessThanOrEqual(agree * a[s].F);
          expect(Math.abs(record.maxLogImbalance - a[s].maxLogImbalance), `${schedule} (${p}, ${q}) ${precision}/${sums}, sweep ${s + 1}`).toBeLessThanOrEqual(
            firstOrder * Math.max(1, a[s].maxLogImbalance),
          );
          expect(record.F).toBeLessThanOrEqual(previous * (1 + 1e-12));
          previous = record.F;
        });
        if (!pool.callerClaims) expect(pool.chunksByWorkers).toBeGreaterThan(ranBefore);
        const [ua, ub] = [await one.logFactors(), await split.logFactors()];
        for (let v = 0; v < ua.length; v++) expect(Math.abs(ub[v] - ua[v])).toBeLessThanOrEqual(firstOrder);
      } finally {
        one.dispose();
        split.dispose();
      }
    }
  });

  it('unloads the workers when the engine is disposed, so the pool can run the next engine', async () => {
    const problem = compileProblem(mlpNet(4), { p: 2, q: 2 });
    for (let round = 0; round < 3; round++) {
      const engine = new CpuEngine(problem, { schedule: 'parallel', pool: pools[0], minEntriesPerChunk: 1 });
      expect(engine.threads).toBe(2);
      expect((await engine.sweeps(2, 0)).length).toBe(2);
      engine.dispose();
    }
  });

  it('splits no block smaller than the default share (a small net runs on the calling thread)', () => {
    const engine = new CpuEngine(compileProblem(mlpNet(5), { p: 2, q: 2 }), { schedule: 'parallel', pool: pools[0] });
    expect(engine.threads).toBe(1);
    engine.dispose();
  });
});

describe('balance({ threads })', () => {
  afterEach(() => expect(liveWorkers()).toBe(0));

  it('equals the one-thread run, reports its threads, and closes them', async () => {
    const net = largeNet(7);
    const entries = net.blocks.reduce((n, b) => n + b.weight.length, 0);
    expect(entries).toBeGreaterThanOrEqual(MIN_THREADED_ENTRIES);
    const one = await balance(net, { p: 2, q: 2, backend: 'cpu', threads: 1 });
    const two = await balance(net, { p: 2, q: 2, backend: 'cpu', threads: 2 });
    expect(one.threads).toBe(1);
    expect(two.threads).toBe(2);
    expect(two.sweeps).toBe(one.sweeps);
    two.history.forEach((norm, s) => {
      expect(Math.abs(norm - one.history[s])).toBeLessThanOrEqual(1e-12 * one.history[s]);
      if (s > 0) expect(norm).toBeLessThanOrEqual(two.history[s - 1] * (1 + 1e-12));
    });
    expect(two.converged).toBe(true);
  });

  it('places the balanced weights in the shared memory that held P: equal to rescale, nothing shared with the input', async () => {
    const net = largeNet(9);
    const before = net.blocks.map((b) => b.weight.slice());
    const two = await balance(net, { p: 2, q: 2, backend: 'cpu', threads: 2 });
    expect(two.threads).toBe(2);
    const expected = rescale(net, two.logFactors);
    two.network.blocks.forEach((b, k) => {
      expect(b.weight.buffer).toBeInstanceOf(SharedArrayBuffer);
      expect(b.weight.buffer.byteLength).toBeGreaterThan(b.weight.byteLength);
      expect(Buffer.from(b.weight.buffer, b.weight.byteOffset, b.weight.byteLength).equals(Buffer.from(expected.blocks[k].weight.buffer))).toBe(true);
      expect(Buffer.from(net.blocks[k].weight.buffer).equals(Buffer.from(before[k].buffer))).toBe(true);
    });
  });

  it('runs a small net on one thread whatever threads asks (no workers started)', async () => {
    const result = await balance(mlpNet(1), { p: 2, q: 2, backend: 'cpu', threads: 4 });
    expect(result.threads).toBe(1);
  });

  it('closes its workers when the run is cancelled', async () => {
    const controller = new AbortController();
    let most = 0;
    const run = balance(largeNet(8), {
      p: 1,
      q: 2,
      backend: 'cpu',
      threads: 2,
      tol: 0,
      maxSweeps: 200,
      signal: controller.signal,
      onSweep: ({ sweep }) => {
        most = Math.max(most, liveWorkers());
        if (sweep === 2) controller.abort();
      },
    });
    await expect(run).rejects.toThrow(/aborted/);
    expect(most).toBe(1);
  });

  it('closes its workers when the run fails', async () => {
    let most = 0;
    const run = balance(largeNet(9), {
      p: 2,
      q: 2,
      backend: 'cpu',
      threads: 3,
      onSweep: () => {
        most = liveWorkers();
        throw new Error('a failing progress callback');
      },
    });
    await expect(run).rejects.toThrow('a failing progress callback');
    expect(most).toBe(2);
  });

  it('refuses a threads option that is not a positive integer', async () => {
    for (const threads of [0, -1, 1.5, Number.NaN, '2' as unknown as number]) {
      await expect(balance(mlpNet(1), { p: 2, q: 2, threads })).rejects.toThrow(WeightBalanceError);
      await expect(balance(mlpNet(1), { p: 2, q: 2, threads })).rejects.toThrow(/threads must be a positive integer/);
    }
  });

  it('a Node process that balanced with threads (the built module) exits by itself', () => {
    const index = pathToFileURL(join(dirname(builtCli()), '..', 'dist', 'index.js')).href;
    const script = `
      const { balance, mlp } = await import(${JSON.stringify(index)});
      const result = await balance(mlp([512, 1024, 768, 10], { seed: 3, dtype: 'float32' }), { p: 2, q: 2, backend: 'cpu', threads: 2 });
      console.log(JSON.stringify({ threads: result.threads, converged: result.converged }));
    `;
    // No process.exit: a worker left running would keep the process alive until the timeout.
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 60_000, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ threads: 2, converged: true });
  });
});

describe('weight-balance balance --threads', () => {
  it('runs on the threads asked for (--json threads), 1 for --threads 1, and refuses a bad value', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'wb-threads-'));
    try {
      const file = join(dir, 'net.safetensors');
      expect((await runCli(['make-net', '--arch', '512,1024,768,10', '--seed', '5', '-o', file])).code).toBe(0);
      const two = await runCli(['balance', file, '--backend', 'cpu', '--threads', '2', '--json']);
      const one = await runCli(['balance', file, '--backend', 'cpu', '--threads', '1', '--json']);
      expect([two.code, one.code]).toEqual([0, 0]);
      const [a, b] = [JSON.parse(two.stdout), JSON.parse(one.stdout)];
      expect([a.threads, b.threads]).toEqual([2, 1]);
      expect(Math.abs(a.finalNorm - b.finalNorm)).toBeLessThanOrEqual(1e-12 * b.finalNorm);
      expect(liveWorkers()).toBe(0);
      for (const bad of ['1.5', 'x']) {
        const r = await runCli(['balance', file, '--threads', bad]);
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(/--threads: expected (an integer|a number)/);
      }
      // In range is the library's to say, before any file is read (like -p -1).
      const zero = await runCli(['balance', file, '--threads', '0']);
      expect(zero.code).toBe(1);
      expect(zero.stderr).toMatch(/threads must be a positive integer/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
