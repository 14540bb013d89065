/// <reference types="vitest/config" />
import { builtinModules } from 'node:module';
import { defineConfig } from 'vite';

// Vitest 5's reporter calls Map.groupBy, which Node 20 lacks (Node 21+ has it): without this,
// a failing test is reported as a reporter crash with no message. The config runs in the main
// process, where the reporters live.
const mapWithGroupBy = Map as unknown as { groupBy?: unknown };
mapWithGroupBy.groupBy ??= <K, T>(items: Iterable<T>, key: (item: T, index: number) => K): Map<K, T[]> => {
  const groups = new Map<K, T[]>();
  let index = 0;
  for (const item of items) {
    const k = key(item, index++);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
};

// Node-only modules stay external; everything else is bundled so that dist/index.js runs in a
// browser page with no bundler. `commander` (the CLI's parser, CommonJS) is a runtime dependency
// of the package, loaded by dist/cli.js only.
const external = [...builtinModules, ...builtinModules.map((m) => `node:${m}`), 'webgpu', 'onnxruntime-node', 'commander'];

export default defineConfig({
  // Relative URLs: the balance worker (src/driver/worker/balanceWorker.ts, emitted as assets/balanceWorker-*.js)
  // is found next to the module that starts it, wherever dist/ is served from.
  base: './',
  // One self-contained file (the library's worker is started with `type: 'module'`).
  worker: { format: 'es' },
  build: {
    target: 'es2022',
    outDir: 'dist',
    emptyOutDir: true,
    minify: false,
    sourcemap: true,
    lib: {
      entry: {
        index: 'src/index.ts',
        cli: 'src/cli/main.ts',
        bench: 'bench/main.ts',
        zoo: 'bench/zoo.ts',
        onnxModels: 'bench/onnxModels.ts',
        endToEnd: 'bench/endToEnd.ts',
      },
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
