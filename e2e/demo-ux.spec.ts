/**
 * What a person meets on the demo page (issue 12, points 10–13): the Balance button and the chart
 * in view at 1280x800, progress and elapsed time at once; the convergence chart's log views; the
 * export of the run (CSV, PNG); tables that fit their column; a line on what each number means; the
 * units an ONNX file's operators fixed; one label for the output layer; the log-factor histogram
 * coloured by layer; the network diagram with each layer's norm before and after. Any console
 * error fails a test (fixtures.ts).
 */
import { readFile } from 'node:fs/promises';
import type { Page } from '@playwright/test';
import { sequential, writeSafetensors } from '../src/index.js';
import { Random } from '../src/network/random.js';
import { model, node, randn, tensor, valueInfo } from '../test/onnx/build.js';
import { DemoPage } from './demoPage.js';
import { expect, requireWebGpu, test } from './fixtures.js';

test.use({ viewport: { width: 1280, height: 800 } });

/** Whether an element lies entirely inside the viewport (no scrolling needed). */
async function inView(page: Page, selector: string): Promise<boolean> {
  return page
    .locator(selector)
    .first()
    .evaluate((node) => {
      const r = node.getBoundingClientRect();
      return r.top >= 0 && r.left >= 0 && r.bottom <= window.innerHeight && r.right <= window.innerWidth && r.width > 0 && r.height > 0;
    });
}

/** Whether a scroll box shows all of its content across. */
async function fits(page: Page, selector: string): Promise<{ scroll: number; client: number }> {
  return page.locator(selector).evaluate((node) => ({ scroll: node.scrollWidth, client: node.clientWidth }));
}

/**
 * Times on the page's own clock from the Balance submit: when the elapsed time was first painted
 * and when the status first reported a sweep (Playwright's own round trips on a busy machine are
 * not what a person sees).
 */
async function watchFirstFeedback(page: Page): Promise<void> {
  await page.evaluate(() => {
    const t: Record<string, number> = {};
    (window as unknown as { feedback: Record<string, number> }).feedback = t;
    document.querySelector('#balance-form')!.addEventListener(
      'submit',
      () => {
        t.submit = performance.now();
      },
      { capture: true },
    );
    new MutationObserver(() => {
      if (t.elapsed === undefined)
        requestAnimationFrame(() => {
          t.elapsed ??= performance.now();
        });
    }).observe(document.querySelector('#run-elapsed')!, { childList: true, characterData: true, subtree: true });
    new MutationObserver(() => {
      const match = /sweep (\d+)/.exec(document.querySelector('#run-status')!.textContent ?? '');
      if (match && t.sweep === undefined) {
        t.sweep = performance.now();
        t.firstSweep = Number(match[1]);
      }
    }).observe(document.querySelector('#run-status')!, { childList: true, characterData: true, subtree: true });
  });
}

async function feedback(page: Page): Promise<{ elapsedMs: number; sweepMs: number; firstSweep: number }> {
  await page.waitForFunction(() => (window as unknown as { feedback: Record<string, number> }).feedback.sweep !== undefined, null, { timeout: 120_000 });
  return page.evaluate(() => {
    const t = (window as unknown as { feedback: Record<string, number> }).feedback;
    return { elapsedMs: t.elapsed - t.submit, sweepMs: t.sweep - t.submit, firstSweep: t.firstSweep };
  });
}

test('at 1280x800 the Balance button and the chart are in view, and a run shows progress and elapsed time at once', async ({ page }, testInfo) => {
  test.setTimeout(180_000);
  const demo = new DemoPage(page);
  await demo.open();
  expect(await inView(page, '#panel-balance button[type=submit]')).toBe(true);
  expect(await inView(page, '#ratio-chart')).toBe(true);
  await demo.configure({ network: 'MLP 200-2500-1250-10 (Fig. 2)', backend: 'cpu', pairs: '2,2; 1,1', tol: '0', maxSweeps: 1_000_000 });
  await watchFirstFeedback(page);
  await demo.balance.click();
  const { elapsedMs, sweepMs } = await feedback(page);
  testInfo.annotations.push({
    type: 'feedback (CPU worker, 3.6M weights)',
    description: `elapsed painted after ${Math.round(elapsedMs)} ms, first sweep after ${Math.round(sweepMs)} ms`,
  });
  expect(elapsedMs, 'the elapsed time is on screen within a second of Balance').toBeLessThan(1000);
  await expect(page.locator('#run-elapsed')).toHaveText(/^elapsed \d/);
  expect(await page.evaluate(() => window.scrollY)).toBe(0);
  expect(await inView(page, '#panel-balance button[type=submit]')).toBe(true);
  expect(await inView(page, '#ratio-chart canvas')).toBe(true);
  const first = await page.locator('#run-elapsed').textContent();
  await expect(page.locator('#run-elapsed')).not.toHaveText(first ?? '');
  await page.screenshot({ path: testInfo.outputPath('balance-running-1280x800.png') });
  await demo.cancel.click();
  await expect(demo.status).toContainText('Cancelled');
});

test('on WebGPU the first progress comes after a few sweeps, not a batch of 16', async ({ page }, testInfo) => {
  test.setTimeout(240_000);
  const demo = new DemoPage(page);
  await demo.open();
  await requireWebGpu(page);
  await demo.configure({ custom: '200-300-300-10', backend: 'webgpu', pairs: '2,2', tol: '0', maxSweeps: 1_000_000 });
  await watchFirstFeedback(page);
  await demo.balance.click();
  const { elapsedMs, sweepMs, firstSweep } = await feedback(page);
  testInfo.annotations.push({
    type: 'feedback (WebGPU on SwiftShader)',
    description: `elapsed painted after ${Math.round(elapsedMs)} ms, first sweep after ${Math.round(sweepMs)} ms`,
  });
  expect(elapsedMs).toBeLessThan(1000);
  // The first progress is the first batch: 4 sweeps (the library's default batch is 16).
  expect(firstSweep).toBeGreaterThan(0);
  expect(firstSweep).toBeLessThanOrEqual(4);
  await demo.cancel.click();
  await expect(demo.status).toContainText('Cancelled');
});

test('log views of the convergence, tables that fit, explanations, CSV and PNG of the run', async ({ page }, testInfo) => {
  const demo = new DemoPage(page);
  await demo.open();
  const rows = await demo.run({ network: 'Small CNN (1x8x8, conv/grouped/depthwise)', backend: 'cpu', pairs: '2,2; 1,1; 1,2; 2,1' });
  expect(rows).toHaveLength(4);
  const table = await fits(page, '#results-table');
  expect(table.scroll, 'results table clipped').toBeLessThanOrEqual(table.client);
  // The time column: one unit, seconds.
  const times = await page.locator('table[aria-label="Balance results"] tbody tr td:last-child').allTextContents();
  for (const t of times) expect(t).toMatch(/^[\d.e-]+ s$/);
  await expect(page.locator('#result-time')).toHaveText(/^[\d.e-]+ s$/);

  for (const view of ['gap', 'step', 'ratio'] as const) {
    await page.locator('#chart-view').selectOption(view);
    await expect(demo.chart).toHaveAttribute('data-view', view);
    await expect(demo.chart.locator('canvas')).toBeVisible();
    if (view !== 'ratio') await page.getByRole('figure', { name: 'Norm ratio plot' }).screenshot({ path: testInfo.outputPath(`chart-${view}.png`) });
  }

  // What the numbers mean: a line beside each of them.
  for (const id of ['result-imbalance', 'result-function', 'result-frozen', 'result-fixed', 'result-initial']) {
    const hint = page.locator(`#${id}`).locator('xpath=following-sibling::small');
    await expect(hint, id).toHaveText(/\w{3,}.*\w{3,}/);
  }
  await expect(page.locator('#result-fixed')).toHaveText('10 in layer output');

  const csvDownload = page.waitForEvent('download');
  await page.getByRole('button', { name: 'CSV of the run' }).click();
  const csv = (await readFile(await (await csvDownload).path(), 'utf8')).trim().split('\n');
  const histories = await page.evaluate(() =>
    (window as unknown as { weightBalanceDemo: { results(): { history: number[]; p: number; q: number }[] } }).weightBalanceDemo
      .results()
      .map((r) => ({ history: r.history, p: r.p, q: r.q })),
  );
  expect(csv[0]).toBe('p,q,schedule,backend,sweep,norm,ratio,max_step');
  expect(csv).toHaveLength(1 + histories.reduce((n, h) => n + h.history.length, 0));
  let line = 1;
  for (const { history, p, q } of histories) {
    history.forEach((norm, sweep) => {
      const cells = csv[line++].split(',');
      expect(cells.slice(0, 2).map(Number)).toEqual([p, q]);
      expect(Number(cells[4])).toBe(sweep);
      expect(Number(cells[5])).toBe(norm);
      expect(Number(cells[6])).toBeCloseTo(norm / history[0], 12);
      if (sweep > 0) expect(Number(cells[7])).toBeGreaterThan(0);
    });
  }
  const pngDownload = page.waitForEvent('download');
  await page.getByRole('button', { name: 'PNG of the chart' }).click();
  const png = await readFile(await (await pngDownload).path());
  expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  await page.screenshot({ path: testInfo.outputPath('balance-after-run.png'), fullPage: true });
});

test('the network diagram: a box per layer sized by units, fixed output units, norms before/after matching the table', async ({ page }) => {
  const demo = new DemoPage(page);
  await demo.open();
  const diagram = page.getByRole('img', { name: 'Network diagram' });
  const layers = diagram.locator('g.layer');
  await expect(layers).toHaveCount(4); // 200-2500-1250-10
  const heights = await layers.evaluateAll((gs) => gs.map((g) => Number((g as SVGGElement).dataset.height)));
  expect(heights[1]).toBeGreaterThan(heights[2]);
  expect(heights[2]).toBeGreaterThan(heights[0]);
  expect(heights[0]).toBeGreaterThan(heights[3]);
  await expect(layers.last()).toHaveAttribute('data-fixed', '10');
  await expect(layers.last().locator('text.name')).toHaveText('output');
  await expect(diagram.locator('g.block')).toHaveCount(3);

  await demo.run({ custom: '12-16-8-3', backend: 'cpu', pairs: '1,2' });
  const norms = await page
    .getByRole('table', { name: 'Per-layer norms' })
    .locator('tbody tr')
    .evaluateAll((trs) => trs.map((tr) => [tr.querySelector('th')!.textContent, ...Array.from(tr.querySelectorAll('td'), (td) => td.textContent)]));
  expect(norms.map((r) => r[0])).toEqual(['1', '2', 'output']);
  const onDiagram = await diagram
    .locator('g.layer')
    .evaluateAll((gs) => gs.slice(1).map((g) => [Number((g as SVGGElement).dataset.before), Number((g as SVGGElement).dataset.after)]));
  onDiagram.forEach(([before, after], k) => {
    expect(Math.abs(before / Number(norms[k][2]) - 1)).toBeLessThan(1e-5);
    expect(Math.abs(after / Number(norms[k][3]) - 1)).toBeLessThan(1e-5);
  });
  await expect(diagram.locator('text.after')).toHaveCount(3);
  // The histogram: one colour per hidden layer, stacked.
  const histogram = page.getByRole('img', { name: 'Histogram of log factors by layer' });
  const series = await histogram
    .locator('rect[data-series]')
    .evaluateAll((rs) => [...new Set(rs.map((r) => `${r.getAttribute('data-series')}:${r.getAttribute('fill')}`))].sort());
  expect(series.map((s) => s.split(':')[0])).toEqual(['0', '1']);
  expect(new Set(series.map((s) => s.split(':')[1])).size).toBe(2);
  const counts = await histogram.locator('rect[data-series]').count();
  expect(counts).toBeGreaterThan(2);
});

/** An ONNX MLP whose second hidden layer is a Sigmoid: its 5 units are fixed by the op. */
function sigmoidMlp(): Buffer {
  const rng = new Random(3);
  return Buffer.from(
    model({
      input: [valueInfo('x', ['N', 6])],
      output: [valueInfo('y', ['N', 2])],
      initializer: [
        tensor('a.w', [6, 7], randn(rng, [6, 7], 0.5, 1.5)),
        tensor('b.w', [7, 5], randn(rng, [7, 5], 0.5, 1.5)),
        tensor('c.w', [5, 2], randn(rng, [5, 2], 0.5, 1.5)),
      ],
      node: [
        node('MatMul', ['x', 'a.w'], ['z1']),
        node('Relu', ['z1'], ['h1']),
        node('MatMul', ['h1', 'b.w'], ['z2']),
        node('Sigmoid', ['z2'], ['h2'], {}, 'gate'),
        node('MatMul', ['h2', 'c.w'], ['y']),
      ],
    }),
  );
}

test("an ONNX file's fixed units: count and layer in the summary, the facts and the diagram", async ({ page }) => {
  const demo = new DemoPage(page);
  await demo.open();
  await demo.file.setInputFiles({ name: 'gate.onnx', mimeType: 'application/octet-stream', buffer: sigmoidMlp() });
  await expect(demo.status).toHaveText('Opened gate.onnx.');
  await expect(page.locator('#network-summary')).toContainText(/operators fixed 5 units .*5 in layer 2 .*Sigmoid/);
  const layers = page.getByRole('img', { name: 'Network diagram' }).locator('g.layer');
  await expect(layers.nth(2)).toHaveAttribute('data-fixed', '5');
  await expect(layers.nth(1)).toHaveAttribute('data-fixed', '0');
  await demo.run({ pairs: '2,2', backend: 'cpu' });
  await expect(page.locator('#result-fixed')).toHaveText('5 in layer 2, 2 in layer output');
});

test('the diagram shows a residual skip (tied units) and, after a run, the frozen units of a dead unit', async ({ page }) => {
  const net = sequential(
    [8],
    [
      { type: 'dense', units: 6 },
      { type: 'dense', units: 6, skip: 1 },
      { type: 'dense', units: 5 },
      { type: 'dense', units: 3 },
    ],
    { seed: 2 },
  );
  net.blocks[2].weight.fill(0, 0, 6); // unit 0 of layer 3 gets no input: dead, so frozen
  const demo = new DemoPage(page);
  await demo.open();
  await demo.file.setInputFiles({ name: 'residual.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from(writeSafetensors(net)) });
  await expect(demo.status).toHaveText('Opened residual.safetensors.');
  const diagram = page.getByRole('img', { name: 'Network diagram' });
  await expect(diagram.locator('g.skip')).toHaveCount(1);
  await expect(diagram.locator('g.skip')).toHaveAttribute('data-from', '1');
  await expect(diagram.locator('g.skip')).toHaveAttribute('data-to', '2');
  await expect(diagram.locator('g.skip')).toContainText('units tied');
  await demo.run({ pairs: '2,2', backend: 'cpu' });
  const frozen = await page.evaluate(
    () => (window as unknown as { weightBalanceDemo: { results(): { frozenUnits: { layer: number }[] }[] } }).weightBalanceDemo.results()[0].frozenUnits,
  );
  expect(frozen.length).toBeGreaterThan(0);
  const perLayer = new Map<number, number>();
  for (const u of frozen) perLayer.set(u.layer, (perLayer.get(u.layer) ?? 0) + 1);
  for (const [layer, count] of perLayer) await expect(diagram.locator(`g.layer[data-layer="${layer}"]`)).toHaveAttribute('data-frozen', String(count));
  await expect(page.locator('#result-frozen')).toHaveText(new RegExp(`^${frozen.length} \\(layer `));
  await expect(diagram.locator('text.frozen').first()).toBeVisible();
});
