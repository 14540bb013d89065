/**
 * Playwright e2e suite (e2e/*.spec.ts) against the BUILT demo (dist-demo/) and library (dist/),
 * served on localhost by e2e/serve.mjs. Uses the system Chromium (CHROMIUM_PATH, default
 * /usr/bin/chromium); never downloads a browser. WebGPU runs on SwiftShader (CPU emulation:
 * correctness only) unless E2E_GPU=hardware, which uses the machine's GPU (untested here: no GPU
 * on this machine; add flags with E2E_CHROMIUM_ARGS). E2E_PORT picks the port (default 4178).
 * Run `npm run build` first (`npm test` does).
 */
import { defineConfig } from '@playwright/test';

process.env.PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD ??= '1';

const port = Number(process.env.E2E_PORT ?? 4178);
const hardware = process.env.E2E_GPU === 'hardware';
const args = [
  '--enable-unsafe-webgpu',
  // A real GPU from headless Chromium on Linux goes through ANGLE/Vulkan.
  ...(hardware
    ? ['--use-angle=vulkan', '--enable-features=Vulkan', '--disable-vulkan-surface', '--ignore-gpu-blocklist']
    : ['--use-webgpu-adapter=swiftshader']),
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  // Extra flags for an unusual machine, space-separated.
  ...(process.env.E2E_CHROMIUM_ARGS ?? '').split(' ').filter((a) => a.length > 0),
];

export default defineConfig({
  testDir: 'e2e',
  testMatch: '**/*.spec.ts',
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  retries: 0,
  workers: process.env.CI ? 1 : 2,
  timeout: 120_000,
  expect: { timeout: 30_000 },
  reporter: [['list'], ['html', { open: 'never', outputFolder: 'playwright-report' }]],
  outputDir: 'test-results',
  use: {
    baseURL: `http://localhost:${port}`,
    browserName: 'chromium',
    headless: true,
    viewport: { width: 1280, height: 900 },
    acceptDownloads: true,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
    launchOptions: { executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args },
  },
  webServer: {
    command: `node e2e/serve.mjs ${port}`,
    url: `http://localhost:${port}/index.html`,
    reuseExistingServer: !process.env.CI,
    timeout: 30_000,
    stdout: 'ignore',
  },
});
