/**
 * The CPU engine's worker threads in Chromium (issue 11 point 2): in a worker of a cross-origin
 * isolated page, `balance({ threads: 2 })` splits its passes over nested Web Workers sharing a
 * `SharedArrayBuffer` and equals the one-thread run; on a page's main thread (which cannot block)
 * and in a page that is not isolated it runs on one thread, without error.
 */
import type { Page } from '@playwright/test';
import { expect, test } from './fixtures.js';

interface Run {
  threads: number;
  history: number[];
  converged: boolean;
  isolated: boolean;
}

/** Balance a 1.3M-weight MLP (over the threshold for threads) once per entry of `threads`, in a module worker of the page. */
async function balanceInWorker(page: Page, threads: number[]): Promise<Run[]> {
  return page.evaluate(async (threads) => {
    const lib = new URL('/lib/index.js', location.href).href;
    const source = `
      const { balance, mlp } = await import(${JSON.stringify(lib)});
      const net = mlp([512, 1024, 768, 10], { seed: 3, dtype: 'float32' });
      const runs = [];
      for (const threads of ${JSON.stringify(threads)}) {
        const r = await balance(net, { p: 2, q: 2, backend: 'cpu', threads });
        runs.push({ threads: r.threads, history: r.history, converged: r.converged, isolated: self.crossOriginIsolated });
      }
      postMessage(runs);
    `;
    const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
    const worker = new Worker(url, { type: 'module' });
    (self as unknown as { testWorker: Worker }).testWorker = worker; // left running: the test counts the workers, then ends it
    return new Promise<Run[]>((resolve, reject) => {
      worker.onmessage = (event) => resolve(event.data);
      worker.onerror = (event) => reject(new Error(`worker error: ${event.message}`));
    });
  }, threads);
}

/** End the worker of {@link balanceInWorker}. */
async function endWorker(page: Page): Promise<void> {
  await page.evaluate(() => (self as unknown as { testWorker: Worker }).testWorker.terminate());
}

test('in a cross-origin isolated page, a worker balances on 2 threads (nested workers, shared memory), equal to 1 thread', async ({ page }) => {
  await page.goto('/bare.html');
  expect(await page.evaluate(() => self.crossOriginIsolated)).toBe(true);
  const [two, one] = await balanceInWorker(page, [2, 1]);
  expect(two.isolated).toBe(true);
  expect([two.threads, one.threads]).toEqual([2, 1]);
  expect(two.converged).toBe(true);
  expect(two.history.length).toBe(one.history.length);
  two.history.forEach((norm, s) => {
    expect(Math.abs(norm - one.history[s])).toBeLessThanOrEqual(1e-12 * one.history[s]);
    if (s > 0) expect(norm).toBeLessThanOrEqual(two.history[s - 1] * (1 + 1e-12));
  });
  // The runs' own workers (nested in the test's worker, which is still running) ended with them.
  await expect.poll(() => page.workers().length).toBe(1);
  await endWorker(page);
});

test("on a page's main thread (which cannot wait on shared memory) threads: 2 runs on one thread, without error; the library's worker runs 2", async ({
  page,
}) => {
  await page.goto('/bare.html');
  const run = await page.evaluate(async () => {
    // Chromium does not always report the end of a worker terminated while its nested workers are
    // still ending (seen with two plain workers, no library code), so page.workers() cannot tell
    // whether the library ended its worker: its Worker constructor and terminate() are watched instead.
    const started: Worker[] = [];
    const ended = new Set<Worker>();
    const Plain = Worker;
    globalThis.Worker = class extends Plain {
      constructor(url: string | URL, options?: WorkerOptions) {
        super(url, options);
        started.push(this);
      }
      terminate(): void {
        ended.add(this);
        super.terminate();
      }
    };
    const { balance, mlp } = await import(new URL('/lib/index.js', location.href).href);
    const net = mlp([512, 1024, 768, 10], { seed: 3, dtype: 'float32' });
    const here = await balance(net, { p: 2, q: 2, backend: 'cpu', threads: 2, worker: false });
    const inWorker = await balance(net, { p: 2, q: 2, backend: 'cpu', threads: 2 });
    globalThis.Worker = Plain;
    return {
      here: [here.threads, here.converged],
      inWorker: [inWorker.threads, inWorker.converged],
      workers: { started: started.length, ended: started.filter((w) => ended.has(w)).length },
    };
  });
  // One worker, the library's, for the second run; it was ended with that run.
  expect(run).toEqual({ here: [1, true], inWorker: [2, true], workers: { started: 1, ended: 1 } });
});

test('in a page that is not cross-origin isolated a worker runs on one thread, without error', async ({ page }) => {
  await page.goto('/bare.html?isolated=0');
  expect(await page.evaluate(() => self.crossOriginIsolated)).toBe(false);
  const [run] = await balanceInWorker(page, [2]);
  await endWorker(page);
  expect(run.isolated).toBe(false);
  expect(run.threads).toBe(1);
  expect(run.converged).toBe(true);
});
