/** Driving the demo page from tests: fill the settings, run, read the results. */

import type { Locator, Page } from '@playwright/test';
import { expect } from '@playwright/test';

/** Settings of one run; anything left out keeps the page's value. */
export interface RunSettings {
  network?: string;
  custom?: string;
  seed?: number;
  pairs?: string;
  schedule?: 'accelerated' | 'parallel' | 'alternating';
  backend?: 'auto' | 'webgpu' | 'cpu';
  tol?: string;
  maxSweeps?: number;
}

/** One row of the results table. */
export interface ResultRow {
  pair: string;
  backend: string;
  adapter: string;
  sweeps: number;
  converged: boolean;
  initialNorm: number;
  finalNorm: number;
}

/** The demo page's controls, found by their accessible names. */
export class DemoPage {
  readonly network: Locator;
  readonly custom: Locator;
  readonly seed: Locator;
  readonly file: Locator;
  readonly pairs: Locator;
  readonly schedule: Locator;
  readonly backend: Locator;
  readonly tol: Locator;
  readonly maxSweeps: Locator;
  readonly balance: Locator;
  readonly cancel: Locator;
  readonly status: Locator;
  readonly fingerprint: Locator;
  readonly chart: Locator;

  /** The Balance tab's panel: every control is looked up inside it (other tabs have their own). */
  readonly panel: Locator;

  constructor(readonly page: Page) {
    const panel = page.locator('#panel-balance');
    this.panel = panel;
    this.network = panel.getByLabel('Network', { exact: true });
    this.custom = panel.getByLabel('Custom architecture');
    this.seed = panel.getByLabel('Seed');
    this.file = panel.getByLabel('Open a network file');
    this.pairs = panel.getByLabel('(p, q) pairs');
    this.schedule = panel.getByLabel('Schedule');
    this.backend = panel.getByLabel('Backend', { exact: true });
    this.tol = panel.getByLabel('Tolerance (tol)');
    this.maxSweeps = panel.getByLabel('Max sweeps');
    this.balance = panel.getByRole('button', { name: 'Balance', exact: true });
    this.cancel = panel.getByRole('button', { name: 'Cancel' });
    this.status = panel.locator('#run-status');
    this.fingerprint = panel.getByLabel('Network fingerprint');
    this.chart = panel.locator('#ratio-chart');
  }

  async open(): Promise<void> {
    await this.page.goto('/index.html');
    await expect(this.fingerprint).toHaveText(/^[0-9a-f]{8}$/);
  }

  /** Fill the settings (a custom architecture selects the custom network). */
  async configure(s: RunSettings): Promise<void> {
    if (s.seed !== undefined) await this.seed.fill(String(s.seed));
    if (s.network !== undefined) await this.network.selectOption({ label: s.network });
    // The custom architecture field shows only while the custom network is chosen.
    if (s.custom !== undefined) await this.network.selectOption('custom');
    if (s.custom !== undefined) {
      await this.custom.fill(s.custom);
      await this.custom.dispatchEvent('change');
    }
    if (s.seed !== undefined) await this.seed.dispatchEvent('change');
    if (s.pairs !== undefined) await this.pairs.fill(s.pairs);
    if (s.schedule !== undefined) await this.schedule.selectOption(s.schedule);
    if (s.backend !== undefined) await this.backend.selectOption(s.backend);
    if (s.tol !== undefined) await this.tol.fill(s.tol);
    if (s.maxSweeps !== undefined) await this.maxSweeps.fill(String(s.maxSweeps));
  }

  /** Press Balance and wait until the run is over (done, cancelled or failed). */
  async run(s: RunSettings = {}, timeout = 90_000): Promise<ResultRow[]> {
    await this.configure(s);
    await this.balance.click();
    await expect(this.panel).toHaveAttribute('data-state', 'idle', { timeout });
    await expect(this.chart).toHaveAttribute('data-state', 'done');
    return this.rows();
  }

  /** The rows of the results table. */
  async rows(): Promise<ResultRow[]> {
    return this.panel.locator('table[aria-label="Balance results"] tbody tr').evaluateAll((trs) =>
      trs.map((tr) => {
        const cells = [...tr.children].map((c) => c.textContent ?? '');
        const data = (tr as HTMLElement).dataset;
        return {
          pair: cells[0],
          backend: data.backend ?? '',
          adapter: data.adapter || '–',
          sweeps: Number(data.sweeps),
          converged: data.converged === 'true',
          initialNorm: Number(data.initialNorm),
          finalNorm: Number(data.finalNorm),
        };
      }),
    );
  }

  /** Outputs of the page's current network on its fixed probe inputs. */
  async probe(): Promise<number[]> {
    return this.page.evaluate(() => (window as unknown as { weightBalanceDemo: { probe(): number[] } }).weightBalanceDemo.probe());
  }

  /** The error shown next to the control with this id, as a locator. */
  errorOf(id: string): Locator {
    return this.panel.locator(`#${id}-error`);
  }
}

/** `max |a - b| / max |a|`. */
export function relativeDifference(a: number[], b: number[]): number {
  expect(b.length).toBe(a.length);
  let diff = 0;
  let scale = 0;
  a.forEach((x, i) => {
    diff = Math.max(diff, Math.abs(x - b[i]));
    scale = Math.max(scale, Math.abs(x));
  });
  return diff / scale;
}
