/**
 * The demo's Flows tab, built and served on localhost: the shipped digits are fetched and
 * parsed in the browser, gradient descent and the weight-balancing flow train side by side, the
 * flow's residual follows the exact exp(-p q lambda t), the fix brings it to zero, and bad input
 * is reported next to its control. Any console error fails the test (fixtures.ts).
 */
import { expect, test } from './fixtures.js';

interface Snapshot {
  steps: number[];
  runs: { label: string; loss: number[]; residual: number[]; offExact: number[]; trainAccuracy: number; testAccuracy: number }[];
  exact: number[];
  done: boolean;
}

const snapshot = (page: import('@playwright/test').Page): Promise<Snapshot> =>
  page.evaluate(() => (window as unknown as { weightBalanceFlows: () => Snapshot }).weightBalanceFlows());

test('GD and the flow train side by side on the digits; the flow keeps its residual on exp(-p q lambda t)', async ({ page }) => {
  await page.goto('/index.html#flows');
  await expect(page.getByRole('tab', { name: 'Flows' })).toHaveAttribute('aria-selected', 'true');
  const lambda = 1e-2;
  const lr = 0.25;
  await page.locator('#flow-lambda').fill(String(lambda));
  await page.locator('#flow-lr-flow').fill(String(lr));
  await page.locator('#flow-steps').fill('150');
  await page.locator('#flow-fix-every').fill('50');
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  await expect(page.locator('#flow-status')).toHaveText(/Done: 150 steps/, { timeout: 90_000 });

  const { steps, runs } = await snapshot(page);
  expect(runs.map((r) => r.label)).toEqual(['gradient descent', 'weight-balancing flow', 'GD + fix every 50']);
  expect(steps[0]).toBe(0);
  expect(steps[steps.length - 1]).toBe(150);
  const [gd, flow, fixed] = runs;
  for (const run of runs) {
    expect(run.loss).toHaveLength(steps.length);
    expect(run.loss[run.loss.length - 1]).toBeLessThan(run.loss[0] / 2); // both learn
  }
  expect(flow.testAccuracy).toBeGreaterThan(0.7);
  expect(gd.testAccuracy).toBeGreaterThan(0.7);
  // The flow's max |g| follows the exact decay to a few percent; after each fix, GD+fix is balanced.
  steps.forEach((s, i) => {
    const exact = Math.exp(-lambda * lr * s);
    expect(Math.abs(flow.residual[i] - exact)).toBeLessThan(0.05 * exact);
  });
  for (const s of [50, 100, 150]) expect(fixed.residual[steps.indexOf(s)]).toBeLessThan(1e-6);
  await expect(page.locator('#flow-results')).toContainText('weight-balancing flow');
  await expect(page.getByRole('figure', { name: 'Balance residual plot' }).locator('canvas')).toBeVisible();
});

test('bad input is reported next to its control, and nothing trains', async ({ page }) => {
  await page.goto('/index.html#flows');
  await page.locator('#flow-arch').fill('63,32,10');
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  await expect(page.locator('#flow-arch-error')).toHaveText("the first size (63) must equal the data's width (64)");
  await expect(page.locator('#flow-arch')).toHaveAttribute('aria-invalid', 'true');
  await page.locator('#flow-arch').fill('64,32,10');
  await page.locator('#flow-lambda').fill('-1');
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  await expect(page.locator('#flow-lambda-error')).toHaveText("lambda must be a number >= 0, got '-1'");
  expect((await snapshot(page)).done).toBe(false);
});

test('with its default settings the tab shows its claim: GD loses balance, the flow stays on exp(-p q lambda t)', async ({ page }, testInfo) => {
  test.setTimeout(240_000); // 600 steps of three float64 trainings; about a minute on 2 busy cores
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto('/index.html#flows');
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  await expect(page.locator('#flow-status')).toHaveText(/Done: 600 steps/, { timeout: 230_000 });
  const { steps, runs, exact } = await snapshot(page);
  const [gd, flow] = runs;
  const last = (xs: number[]): number => xs[xs.length - 1];
  expect(exact).toHaveLength(steps.length);
  // The exact decay is visible (not flat) with the defaults, and the flow follows it to 1%.
  expect(last(exact)).toBeLessThan(0.99);
  steps.forEach((_, i) => expect(Math.abs(flow.residual[i] - exact[i])).toBeLessThan(0.01));
  // Gradient descent visibly leaves it: its max |g| ends above its start, 5% or more off the exact curve.
  expect(last(gd.residual)).toBeGreaterThan(1.05);
  expect(last(gd.residual) - last(exact)).toBeGreaterThan(0.05);
  // Unit by unit, GD is at least twice as far from exp(-p q lambda t) g[h](0) as the flow.
  expect(last(gd.offExact)).toBeGreaterThan(2 * last(flow.offExact));
  for (const run of runs) expect(last(run.loss)).toBeLessThan(run.loss[0] / 4);
  const box = await page.locator('#flow-table').evaluate((node) => ({ scroll: node.scrollWidth, client: node.clientWidth }));
  expect(box.scroll, 'flows table clipped').toBeLessThanOrEqual(box.client);
  await expect(page.getByRole('figure', { name: 'Balance residual plot' })).toContainText('exact flow: exp(−p·q·λ·t)');
  await page.screenshot({ path: testInfo.outputPath('flows-defaults.png'), fullPage: true });
});

test('every bad field is reported at once, and the loss jump after a fix is explained', async ({ page }) => {
  await page.goto('/index.html#flows');
  await page.locator('#flow-arch').fill('63,32,10');
  await page.locator('#flow-lambda').fill('-1');
  await page.locator('#flow-steps').fill('0');
  await page.locator('#flow-lr-gd').fill('abc');
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  for (const id of ['flow-arch', 'flow-lambda', 'flow-steps', 'flow-lr-gd']) {
    await expect(page.locator(`#${id}-error`), id).toBeVisible();
    await expect(page.locator(`#${id}`)).toHaveAttribute('aria-invalid', 'true');
  }
  await expect(page.locator('#flow-p')).not.toHaveAttribute('aria-invalid', 'true');
  await expect(page.locator('#flow-status')).toContainText('4 settings are not valid');
  expect((await snapshot(page)).done).toBe(false);

  await page.locator('#flow-arch').fill('64,16,10');
  await page.locator('#flow-lambda').fill('1e-4');
  await page.locator('#flow-lr-gd').fill('0.3');
  await page.locator('#flow-steps').fill('20');
  await page.locator('#flow-fix-every').fill('10');
  await page.getByRole('button', { name: 'Train', exact: true }).click();
  await expect(page.locator('#flow-status')).toHaveText(/Done: 20 steps/, { timeout: 60_000 });
  for (const id of ['flow-arch', 'flow-lambda', 'flow-steps', 'flow-lr-gd']) await expect(page.locator(`#${id}-error`)).toBeHidden();
  await expect(page.getByRole('figure', { name: 'Training loss plot' })).toContainText('the loss can jump for a few steps after each fix');
});
