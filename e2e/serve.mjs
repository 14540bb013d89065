#!/usr/bin/env node
/**
 * A tiny static server for the e2e suite: the built demo (dist-demo/) at `/` and the built
 * library (dist/) at `/lib/`, on http://localhost (a secure context, so WebGPU is allowed),
 * cross-origin isolated like the demo's Vite servers (COOP/COEP headers, so `SharedArrayBuffer`
 * and the CPU engine's worker threads are available) except for a page asked for with
 * `?isolated=0`, which tests the library where pages are not isolated.
 * Usage: node e2e/serve.mjs [port]   (default: $E2E_PORT or 4178)
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const mounts = [
  { prefix: '/lib/', dir: join(root, 'dist') },
  { prefix: '/', dir: join(root, 'dist-demo') },
];
const types = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
};

async function resolve(pathname) {
  const mount = mounts.find((m) => pathname.startsWith(m.prefix));
  if (!mount) return null;
  let file = normalize(join(mount.dir, decodeURIComponent(pathname.slice(mount.prefix.length))));
  if (file !== mount.dir && !file.startsWith(mount.dir + sep)) return null;
  try {
    let info = await stat(file);
    if (info.isDirectory()) {
      file = join(file, 'index.html');
      info = await stat(file);
    }
    return info.isFile() ? { file, size: info.size } : null;
  } catch {
    return null;
  }
}

const port = Number(process.argv[2] ?? process.env.E2E_PORT ?? 4178);
createServer(async (req, res) => {
  const { pathname } = new URL(req.url ?? '/', 'http://localhost');
  const found = req.method === 'GET' || req.method === 'HEAD' ? await resolve(pathname) : null;
  if (!found) {
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end(`not found: ${pathname}\n`);
    return;
  }
  const { searchParams } = new URL(req.url ?? '/', 'http://localhost');
  const isolation = searchParams.get('isolated') === '0' ? {} : { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };
  res.writeHead(200, {
    'Content-Type': types[extname(found.file)] ?? 'application/octet-stream',
    'Content-Length': found.size,
    'Cache-Control': 'no-store',
    ...isolation,
  });
  if (req.method === 'HEAD') res.end();
  else createReadStream(found.file).pipe(res);
}).listen(port, 'localhost', () => {
  console.log(`serving dist-demo/ at http://localhost:${port}/ and dist/ at /lib/`);
});
