/**
 * Vite configuration of the demo page (kept apart from the library build in ../vite.config.ts).
 * `npm run demo` serves it; `npm run build:demo` writes the static page to dist-demo/.
 * Dev and preview servers also serve the built library (dist/) at /lib/, like e2e/serve.mjs,
 * so demo/public/bare.html can import `/lib/index.js` with no bundler. Both send the headers that
 * make the page cross-origin isolated (COOP/COEP), so that the CPU engine's worker threads can
 * share memory with it (`SharedArrayBuffer`).
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Connect, Plugin } from 'vite';
import { defineConfig } from 'vite';

const demoRoot = fileURLToPath(new URL('.', import.meta.url));
const libDir = fileURLToPath(new URL('../dist/', import.meta.url));
const TYPES: Record<string, string> = { '.js': 'text/javascript', '.map': 'application/json', '.ts': 'text/plain' };

/** Serve ../dist at /lib/ on the dev and preview servers. */
function serveLibrary(): Plugin {
  const middleware: Connect.NextHandleFunction = (req, res, next) => {
    const url = (req.url ?? '').split('?')[0];
    if (!url.startsWith('/lib/')) return next();
    const file = normalize(join(libDir, decodeURIComponent(url.slice(5))));
    if (!file.startsWith(libDir) || !existsSync(file) || !statSync(file).isFile()) return next();
    res.setHeader('Content-Type', TYPES[extname(file)] ?? 'application/octet-stream');
    createReadStream(file).pipe(res);
  };
  return {
    name: 'serve-library-at-lib',
    configureServer: (server) => {
      server.middlewares.use(middleware);
    },
    configurePreviewServer: (server) => {
      server.middlewares.use(middleware);
    },
  };
}

/**
 * The headers that make a page cross-origin isolated (`SharedArrayBuffer`, and with it the CPU
 * engine's worker threads); e2e/serve.mjs sends the same.
 */
export const CROSS_ORIGIN_ISOLATION = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

/** Send {@link CROSS_ORIGIN_ISOLATION} with every response of the dev and preview servers (the library at /lib/ included). */
function crossOriginIsolation(): Plugin {
  const middleware: Connect.NextHandleFunction = (_req, res, next) => {
    for (const [name, value] of Object.entries(CROSS_ORIGIN_ISOLATION)) res.setHeader(name, value);
    next();
  };
  return {
    name: 'cross-origin-isolation',
    configureServer: (server) => {
      server.middlewares.use(middleware);
    },
    configurePreviewServer: (server) => {
      server.middlewares.use(middleware);
    },
  };
}

export default defineConfig({
  root: demoRoot,
  base: './',
  plugins: [crossOriginIsolation(), serveLibrary()],
  server: { headers: CROSS_ORIGIN_ISOLATION },
  preview: { headers: CROSS_ORIGIN_ISOLATION },
  worker: { format: 'es' },
  build: {
    target: 'es2022',
    outDir: fileURLToPath(new URL('../dist-demo/', import.meta.url)),
    emptyOutDir: true,
    sourcemap: true,
    chunkSizeWarningLimit: 1000,
  },
});
