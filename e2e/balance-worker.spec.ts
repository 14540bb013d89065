/**
 * The built library (`/lib/index.js`) on a page: `balance(net, { backend: 'cpu' })` runs in the
 * module Web Worker the library bundles (`dist/assets/balanceWorker-*.js`), so the page's main
 * thread stays responsive during a multi-second run; the result is the in-thread one
 * (`worker: false`), a cancel stops the worker at once and leaves the network intact, and errors
 * keep their class and message.
 */
import type { Page, Worker } from '@playwright/test';
import { expect, test } from './fixtures.js';

type Library = typeof import('../src/index.js');

/** The library workers the page starts, and which of them have closed. */
function watchWorkers(page: Page): { started: Worker[]; closed: Set<Worker> } {
  const started: Worker[] = [];
  const closed = new Set<Worker>();
  page.on('worker', (worker) => {
    if (!/\/lib\/assets\/balanceWorker-[\w-]+\.js$/.test(worker.url())) return;
    started.push(worker);
    worker.on('close', () => closed.add(worker));
  });
  return { started, closed };
}

test.beforeEach(async ({ page }) => {
  await page.goto('/bare.html');
  await expect(page.getByLabel('Result')).toHaveAttribute('data-state', 'done', { timeout: 90_000 });
});

test('a multi-second CPU run leaves the main thread responsive and gives the in-thread result', async ({ page }) => {
  test.setTimeout(180_000);
  const workers = watchWorkers(page);
  const report = await page.evaluate(async () => {
    const lib = (await import('/lib/index.js' as string)) as Library;
    // 2.8M weights, a fixed number of sweeps (400: 200 took only ~1.2 s once the per-unit work got
    // cheaper): several seconds on the CPU engine here; one thread
    // in both runs, so that the results are equal bit for bit (threads add in another order).
    const net = lib.mlp([784, 1000, 1000, 1000, 10], { seed: 1 });
    const checksum = (): number => {
      let sum = 0;
      for (const b of net.blocks) for (let i = 0; i < b.weight.length; i++) sum += b.weight[i] * ((i % 7) + 1);
      return sum;
    };
    const before = checksum();
    /** Run with timer ticks every 10 ms on the main thread; the largest gap between ticks. */
    const timed = async (worker: boolean) => {
      let last = performance.now();
      let maxGap = 0;
      let ticks = 0;
      const timer = setInterval(() => {
        const now = performance.now();
        maxGap = Math.max(maxGap, now - last);
        last = now;
        ticks++;
      }, 10);
      const sweeps: number[] = [];
      const started = performance.now();
      const result = await lib.balance(net, { p: 2, q: 2, backend: 'cpu', tol: 0, maxSweeps: 400, threads: 1, worker, onSweep: (p) => sweeps.push(p.sweep) });
      const ms = performance.now() - started;
      clearInterval(timer);
      maxGap = Math.max(maxGap, performance.now() - last);
      return { result, ms, maxGap, ticks, sweeps };
    };
    const off = await timed(true);
    const here = await timed(false);
    const same = (a: ArrayLike<number>, b: ArrayLike<number>): boolean => a.length === b.length && Array.from(a).every((x, i) => Object.is(x, b[i]));
    return {
      offMs: off.ms,
      offMaxGap: off.maxGap,
      offTicks: off.ticks,
      hereMs: here.ms,
      hereMaxGap: here.maxGap,
      sweepsReported: same(
        off.sweeps,
        Array.from({ length: 400 }, (_, k) => k + 1),
      ),
      sameHistory: same(off.result.history, here.result.history),
      sameWeights: off.result.network.blocks.every(
        (b, k) => same(b.weight, here.result.network.blocks[k].weight) && same(b.bias ?? [], here.result.network.blocks[k].bias ?? []),
      ),
      sameFactors: off.result.logFactors.every((f, k) => same(f, here.result.logFactors[k])),
      sameScalars: (['sweeps', 'passes', 'converged', 'maxLogImbalance', 'backend', 'precision', 'schedule'] as const).every(
        (key) => off.result[key] === here.result[key],
      ),
      weightType: off.result.network.blocks[0].weight.constructor.name,
      untouched: checksum() === before,
    };
  });
  test.info().annotations.push({
    type: 'main thread',
    description: `worker: ${report.offMs.toFixed(0)} ms run, largest gap between 10 ms ticks ${report.offMaxGap.toFixed(0)} ms (${report.offTicks} ticks); worker: false: ${report.hereMs.toFixed(0)} ms run, largest gap ${report.hereMaxGap.toFixed(0)} ms`,
  });
  await expect.poll(() => workers.started.length).toBe(1); // the worker: false run started none
  expect(report.offMs).toBeGreaterThan(1500);
  expect(report.offMaxGap).toBeLessThan(Math.min(300, report.offMs / 5));
  expect(report.offTicks).toBeGreaterThan(report.offMs / 40);
  expect(report.sweepsReported).toBe(true);
  expect(report).toMatchObject({ sameHistory: true, sameWeights: true, sameFactors: true, sameScalars: true, weightType: 'Float32Array', untouched: true });
  await expect.poll(() => workers.closed.size).toBe(1);
});

test("cancel terminates the worker at once and leaves the network as it was; the next run works (inPlace: over the page's arrays)", async ({ page }) => {
  const workers = watchWorkers(page);
  const report = await page.evaluate(async () => {
    const lib = (await import('/lib/index.js' as string)) as Library;
    const net = lib.mlp([784, 1000, 1000, 10], { seed: 2 });
    const copy = net.blocks.map((b) => Float32Array.from(b.weight));
    const controller = new AbortController();
    let abortedAt = 0;
    let lastSweep = 0;
    const error = await lib
      .balance(net, {
        p: 2,
        q: 2,
        backend: 'cpu',
        tol: 0,
        maxSweeps: 1_000_000,
        signal: controller.signal,
        onSweep: (p) => {
          lastSweep = p.sweep;
          if (p.sweep === 5) {
            abortedAt = performance.now();
            controller.abort();
          }
        },
      })
      .then(
        () => null,
        (e: unknown) => e as Error,
      );
    const stopMs = performance.now() - abortedAt;
    // The next run, in the worker with inPlace: the worker's values written over the page's arrays.
    const small = lib.mlp([8, 6, 3], { seed: 3 });
    const expected = await lib.balance(small, { p: 2, q: 2, backend: 'cpu', worker: false });
    const own = small.blocks.map((b) => b.weight);
    const next = await lib.balance(small, { p: 2, q: 2, backend: 'cpu', inPlace: true });
    return {
      name: error?.name,
      isAbortError: error instanceof lib.BalanceAbortedError,
      stopMs,
      lastSweep,
      untouched: net.blocks.every((b, k) => b.weight.every((w, i) => Object.is(w, copy[k][i]))),
      nextConverged: next.converged,
      nextInPlace: next.network.blocks.every((b, k) => b.weight === own[k] && b.weight.every((w, i) => Object.is(w, expected.network.blocks[k].weight[i]))),
    };
  });
  expect(report).toMatchObject({ name: 'AbortError', isAbortError: true, lastSweep: 5, untouched: true, nextConverged: true, nextInPlace: true });
  expect(report.stopMs).toBeLessThan(500); // at once: the run would go on for minutes
  await expect.poll(() => workers.started.length).toBe(2);
  await expect.poll(() => workers.closed.size).toBe(2);
});

test("errors from the worker keep their class and message (the network's, the norm's)", async ({ page }) => {
  const workers = watchWorkers(page);
  const report = await page.evaluate(async () => {
    const lib = (await import('/lib/index.js' as string)) as Library;
    const bad = lib.mlp([5, 7, 3], { seed: 4 });
    bad.blocks[1].weight[4] = Number.NaN;
    const cases = [
      { net: bad, p: 2, q: 2 },
      { net: lib.mlp([5, 7, 3], { seed: 5 }), p: 1e-9, q: 1e-9 },
    ];
    const outcome = async (c: (typeof cases)[number], worker: boolean) => {
      const error = await lib.balance(c.net, { p: c.p, q: c.q, backend: 'cpu', worker }).then(
        () => null,
        (e: unknown) => e as Error,
      );
      return { isWeightBalanceError: error instanceof lib.WeightBalanceError, name: error?.name, message: error?.message };
    };
    return Promise.all(cases.map(async (c) => ({ worker: await outcome(c, true), here: await outcome(c, false) })));
  });
  expect(report[0].worker.message).toMatch(/not finite/);
  expect(report[1].worker.message).toMatch(/p or q is too small/);
  for (const { worker, here } of report) {
    expect(worker).toEqual(here);
    expect(worker).toMatchObject({ isWeightBalanceError: true, name: 'WeightBalanceError' });
  }
  await expect.poll(() => workers.started.length).toBe(2);
});
