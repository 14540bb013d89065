/**
 * The error fixture itself: it must see console errors and WebGPU uncapturederror events,
 * otherwise "no errors" in the other tests would prove nothing.
 */
import { expect, requireWebGpu, test } from './fixtures.js';

test('the fixture records console errors and WebGPU uncapturederror events', async ({ page, pageErrors }) => {
  await page.goto('/bare.html');
  await requireWebGpu(page);
  await page.evaluate(async () => {
    console.error('deliberate console error');
    const adapter = await navigator.gpu.requestAdapter();
    const device = await adapter!.requestDevice();
    device.createBuffer({ size: 7, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE }); // invalid usage: a validation error nobody captures
    await device.queue.onSubmittedWorkDone();
  });
  await expect.poll(() => pageErrors.length).toBeGreaterThanOrEqual(2);
  expect(pageErrors.some((e) => e.includes('deliberate console error'))).toBe(true);
  expect(pageErrors.some((e) => e.includes('WebGPU uncapturederror'))).toBe(true);
  pageErrors.length = 0; // seen; the fixture's own check then passes
});
