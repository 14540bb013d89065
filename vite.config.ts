/// <reference types="vitest/config" />
import { builtinModules } from 'node:module';
import { defineConfig } from 'vite';

// Node-only modules stay external; everything else is bundled so that dist/index.js runs in a
// browser page with no bundler.
const external = [...builtinModules, ...builtinModules.map((m) => `node:${m}`), 'webgpu', 'onnxruntime-node'];

export default defineConfig({
  build: {
    target: 'es2022',
    outDir: 'dist',
    emptyOutDir: true,
    minify: false,
    sourcemap: true,
    lib: {
      entry: { index: 'src/index.ts', cli: 'src/cli/main.ts', bench: 'bench/main.ts' },
      formats: ['es'],
    },
    rollupOptions: { external },
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
