/**
 * The demo page, built (dist-demo/) and served on localhost: runs on WebGPU and the CPU agree,
 * the plot shows the run, Cancel keeps the original network, bad input is reported next to its
 * control. Every test also fails on any console error or WebGPU uncapturederror (fixtures.ts).
 */
import { DemoPage } from './demoPage.js';
import { expect, requireWebGpu, test } from './fixtures.js';

/** Float32 (GPU) against float64 (CPU) at the same minimum. */
const FLOAT32_RELATIVE = 1e-4;

test('a preset run on WebGPU converges, reports its backend, and matches the CPU backend', async ({ page }, testInfo) => {
  // SwiftShader emulates the GPU on the CPU: 35 s for the three pairs on two busy cores, and
  // measured up to 4.5 min when seven builds share them.
  test.setTimeout(480_000);
  const demo = new DemoPage(page);
  await demo.open();
  await requireWebGpu(page);
  await expect(page.locator('#webgpu-status')).toHaveAttribute('data-webgpu', 'available');
  // SwiftShader is a software adapter: the page says so, and auto would run on the CPU.
  await expect(page.locator('#webgpu-status')).toHaveAttribute('data-adapter', 'software');
  await expect(page.locator('#webgpu-status')).toContainText('software adapter');

  // tol bounds max |log(Out/In)|, whose float32 floor on the GPU is about 1e-7 to 5e-7 here: 1e-5
  // is met on the GPU (1e-7 would hand the run to the CPU as 'stalled').
  // The paper's parallel update (its many sweeps exercise the GPU's batches and the plot).
  const settings = {
    network: 'Small CNN (1x8x8, conv/grouped/depthwise)',
    pairs: '2,2; 1,2; 3,1.5',
    tol: '1e-5',
    maxSweeps: 20000,
    schedule: 'parallel',
  } as const;
  const gpu = await demo.run({ ...settings, backend: 'webgpu' }, 420_000);
  expect(gpu.map((r) => r.pair)).toEqual(['(2, 2)', '(1, 2)', '(3, 1.5)']);
  for (const row of gpu) {
    expect(row.backend, `${row.pair} ran on`).toBe('webgpu');
    expect(row.adapter).not.toBe('–');
    expect(row.converged, `${row.pair} converged`).toBe(true);
    expect(row.finalNorm).toBeLessThan(row.initialNorm);
  }
  await expect(page.getByLabel('Backend used')).toHaveText('webgpu');
  await expect(page.getByLabel('Adapter')).not.toHaveText(/none/);
  await expect(page.locator('#fallback-notice')).toBeHidden();

  // The plot: one monotonically falling series per pair, drawn up to the last sweep.
  const histories = await page.evaluate(() =>
    (window as unknown as { weightBalanceDemo: { results(): { history: number[] }[] } }).weightBalanceDemo.results().map((r) => r.history),
  );
  for (const history of histories) {
    for (let k = 1; k < history.length; k++) expect(history[k]).toBeLessThanOrEqual(history[k - 1] * (1 + 1e-5));
  }
  const points = histories.reduce((n, h) => n + h.length, 0);
  await expect(demo.chart).toHaveAttribute('data-points', String(points));
  await expect(demo.chart.locator('canvas')).toBeVisible();
  const plotPath = testInfo.outputPath('ratio-plot-webgpu.png');
  await page.getByRole('figure', { name: 'Norm ratio plot' }).screenshot({ path: plotPath });
  await testInfo.attach('ratio-plot-webgpu', { path: plotPath, contentType: 'image/png' });
  const pagePath = testInfo.outputPath('page-after-webgpu-run.png');
  await page.screenshot({ path: pagePath, fullPage: true });
  await testInfo.attach('page-after-webgpu-run', { path: pagePath, contentType: 'image/png' });

  const cpu = await demo.run({ backend: 'cpu' });
  for (const [k, row] of cpu.entries()) {
    expect(row.backend).toBe('cpu');
    expect(row.converged).toBe(true);
    expect(Math.abs(row.initialNorm - gpu[k].initialNorm) / row.initialNorm, `${row.pair} initial norm`).toBeLessThan(FLOAT32_RELATIVE);
    expect(Math.abs(row.finalNorm - gpu[k].finalNorm) / row.finalNorm, `${row.pair} final norm, CPU against WebGPU`).toBeLessThan(FLOAT32_RELATIVE);
  }
});

test('Cancel stops a long run at once, keeps the original network, and a new run works', async ({ page }) => {
  const demo = new DemoPage(page);
  await demo.open();

  // tol 0 and a million sweeps: runs that would go on for a very long time. On the CPU (worker)
  // the 3.6M-weight MLP of Fig. 2; with auto (WebGPU when there is an adapter) a smaller
  // custom MLP, so that SwiftShader reports its first sweeps quickly.
  const long = { pairs: '2,2; 1,1', tol: '0', maxSweeps: 1_000_000 };
  for (const settings of [
    { ...long, network: 'MLP 200-2500-1250-10 (Fig. 2)', backend: 'cpu' },
    { ...long, custom: '200-300-300-10', backend: 'auto' },
  ] as const) {
    await demo.configure(settings);
    const original = await demo.fingerprint.textContent();
    const outputs = await demo.probe();
    await demo.balance.click();
    await expect(demo.status).toContainText(/sweep [1-9]/);
    await expect(demo.cancel).toBeEnabled();
    await demo.cancel.click();
    await expect(demo.status).toContainText('Cancelled');
    await expect(demo.status).toContainText('the original network is unchanged');
    await expect(demo.balance).toBeEnabled();
    await expect(demo.cancel).toBeDisabled();
    await expect(demo.fingerprint).toHaveText(original ?? '');
    expect(await demo.probe()).toEqual(outputs);
  }

  // A new run on the same page works and starts from the original network.
  const original = await demo.fingerprint.textContent();
  const rows = await demo.run({ pairs: '2,2', backend: 'cpu', maxSweeps: 3 });
  expect(rows).toHaveLength(1);
  expect(rows[0].sweeps).toBe(3);
  expect(rows[0].finalNorm).toBeLessThan(rows[0].initialNorm);
  await expect(demo.fingerprint).toHaveText(original ?? '');
});

test('without WebGPU the page says so plainly, and auto runs on the CPU', async ({ page }) => {
  await page.addInitScript(() => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true }));
  const demo = new DemoPage(page);
  await demo.open();
  await expect(page.locator('#webgpu-status')).toHaveAttribute('data-webgpu', 'missing');
  await expect(page.locator('#webgpu-status')).toContainText('WebGPU is not available here');
  const [row] = await demo.run({ custom: '16-12-8-3', pairs: '1,2', backend: 'auto', maxSweeps: 500 });
  expect(row.backend).toBe('cpu');
  await expect(page.locator('#fallback-notice')).toBeVisible();
  await expect(page.locator('#fallback-notice')).toContainText('The CPU ran instead of WebGPU');
  await expect(page.locator('#fallback-notice')).toContainText('navigator.gpu is missing');
  await expect(page.getByLabel('Backend used')).toHaveText('cpu');
});

test('bad input is shown next to the control that caused it, and the page keeps working', async ({ page }) => {
  const demo = new DemoPage(page);
  await demo.open();

  await demo.configure({ pairs: '2,2; 1,0', tol: '-1' });
  await demo.balance.click();
  await expect(demo.errorOf('pairs')).toContainText('q must be a number > 0');
  await expect(demo.pairs).toHaveAttribute('aria-invalid', 'true');
  await expect(demo.errorOf('tol')).toContainText('tol must be');
  await demo.configure({ pairs: '2,2; -1,1', tol: '1e-6' });
  await demo.balance.click();
  await expect(demo.errorOf('pairs')).toContainText('p must be a finite number > 0');
  await expect(demo.errorOf('tol')).toBeHidden();

  await demo.configure({ custom: '20-abc-4' });
  await expect(demo.errorOf('custom-arch')).toContainText("'abc' is not a positive whole number");
  await expect(demo.custom).toHaveAttribute('aria-invalid', 'true');

  await demo.configure({ pairs: '2,2; 1,2', custom: '20-16-8-4', maxSweeps: 50 });
  await expect(demo.errorOf('custom-arch')).toBeHidden();
  // The seed picks the network: another seed another one, the same seed the same one.
  await demo.configure({ seed: 5 });
  const five = await demo.fingerprint.textContent();
  await demo.configure({ seed: 6 });
  await expect(demo.fingerprint).not.toHaveText(five ?? '');
  await demo.configure({ seed: 5 });
  await expect(demo.fingerprint).toHaveText(five ?? '');
  const rows = await demo.run();
  expect(rows).toHaveLength(2);
  await expect(demo.errorOf('pairs')).toBeHidden();

  // The detail of the first pair, (2, 2): per-layer norms before and after (for p = q = 2 their
  // squares add up to the network's squared norm), and the histogram of the 16 + 8 hidden units' log factors.
  const layerRows = page.getByRole('table', { name: 'Per-layer norms' }).locator('tbody tr');
  await expect(layerRows).toHaveCount(3);
  const cells = await layerRows.evaluateAll((trs) => trs.map((tr) => Array.from(tr.querySelectorAll('td'), (td) => Number(td.textContent))));
  const squares = (column: number): number => cells.reduce((sum, row) => sum + row[column] ** 2, 0);
  expect(Math.abs(Math.sqrt(squares(1)) / rows[0].initialNorm - 1)).toBeLessThan(1e-4);
  expect(Math.abs(Math.sqrt(squares(2)) / rows[0].finalNorm - 1)).toBeLessThan(1e-4);
  await expect(page.getByText(/^Histogram of the log factors log a of the 24 hidden units, coloured by layer/)).toBeVisible();
});

test('the plain ES module page imports /lib/index.js with no bundler and balances', async ({ page }) => {
  await page.goto('/bare.html');
  const result = page.getByLabel('Result');
  await expect(result).toHaveAttribute('data-state', 'done', { timeout: 90_000 });
  const report = JSON.parse((await result.textContent()) ?? '{}') as {
    backend: string;
    fallback: string | null;
    converged: boolean;
    initialNorm: number;
    finalNorm: number;
    lpqNormOfResult: number;
  };
  expect(report.converged).toBe(true);
  expect(report.finalNorm).toBeLessThan(report.initialNorm);
  expect(Math.abs(report.lpqNormOfResult - report.finalNorm) / report.finalNorm).toBeLessThan(FLOAT32_RELATIVE);
  expect(report.fallback === null).toBe(report.backend === 'webgpu');
});
