/**
 * The demo's Flows tab, built and served on localhost: the shipped digits are fetched and
 * parsed in the browser, gradient descent and the weight-balancing flow train side by side, the
 * flow's residual follows the exact exp(-p q lambda t), the fix brings it to zero, and bad input
 * is reported next to its control. Any console error fails the test (fixtures.ts).
 */
import { expect, test } from './fixtures.js';

interface Snapshot {
  steps: number[];
  runs: { label: string; loss: number[]; residual: number[]; trainAccuracy: number; testAccuracy: number }[];
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
