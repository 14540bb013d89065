/**
 * The e2e `test`: Playwright's, with a `page` that fails the test on any console error, uncaught
 * page or worker error, or WebGPU `uncapturederror` (every device a page requests gets a listener
 * that reports it as a console error).
 */

import type { ConsoleMessage, Page } from '@playwright/test';
import { test as base, expect } from '@playwright/test';

/** Reports WebGPU validation and out-of-memory errors nobody captured, as console errors. */
function watchUncapturedErrors(): void {
  if (typeof GPUAdapter === 'undefined') return;
  const requestDevice = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = async function patched(this: GPUAdapter, ...args: Parameters<GPUAdapter['requestDevice']>) {
    const device = await requestDevice.apply(this, args);
    device.addEventListener('uncapturederror', (event) => {
      console.error(`WebGPU uncapturederror: ${(event as GPUUncapturedErrorEvent).error.message}`);
    });
    return device;
  };
}

export const test = base.extend<{ page: Page; pageErrors: string[] }>({
  pageErrors: async ({}, use) => {
    await use([]);
  },
  page: async ({ page, pageErrors }, use) => {
    const onConsole =
      (where: string) =>
      (message: ConsoleMessage): void => {
        if (message.type() === 'error') pageErrors.push(`${where} console error: ${message.text()}`);
      };
    page.on('console', onConsole('page'));
    page.on('pageerror', (error) => pageErrors.push(`page error: ${error.message}`));
    page.on('worker', (worker) => worker.on('console', onConsole(`worker ${worker.url()}`)));
    await page.addInitScript(watchUncapturedErrors);
    await use(page);
    expect(pageErrors, 'console errors, uncaught errors or WebGPU uncapturederror events').toEqual([]);
  },
});

export { expect };

/** Whether this Chromium gives the page a WebGPU adapter. */
export async function hasWebGpuAdapter(page: Page): Promise<boolean> {
  return page.evaluate(async () => !!(navigator.gpu && (await navigator.gpu.requestAdapter())));
}

/**
 * For tests that need WebGPU: with no adapter, skip visibly, or fail when REQUIRE_WEBGPU=1
 * (CI), where a missing GPU path is a failure.
 */
export async function requireWebGpu(page: Page): Promise<void> {
  if (await hasWebGpuAdapter(page)) return;
  if (process.env.REQUIRE_WEBGPU === '1') throw new Error('REQUIRE_WEBGPU=1 but Chromium gave no WebGPU adapter');
  test.skip(true, 'no WebGPU adapter in this Chromium (set REQUIRE_WEBGPU=1 to make this a failure)');
}
