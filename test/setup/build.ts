/**
 * The command-line binary to spawn in tests, built from the current sources.
 *
 * When `dist/` is at least as new as every file under `src/` and `shaders/` (as after `npm ci`,
 * whose `prepare` builds it), the real `bin/weight-balance.js` is used as is. Otherwise the
 * library is built once with Vite into a private folder of this checkout (`.vitest/cli-build`, ignored
 * by git; not under `node_modules`, which several checkouts may share) with a copy
 * of the `bin` script next to it, so a test run never rewrites the shared `dist/` under other
 * processes and never depends on the type-declaration build.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function newestMtime(dir: string): number {
  if (!existsSync(dir)) return 0;
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

function sourcesMtime(): number {
  return Math.max(newestMtime(join(ROOT, 'src')), newestMtime(join(ROOT, 'shaders')), statSync(join(ROOT, 'vite.config.ts')).mtimeMs);
}

/** Whether `<root>/dist` holds a build at least as new as the sources. */
function isFresh(root: string): boolean {
  const outputs = ['dist/cli.js', 'dist/index.js'].map((p) => join(root, p));
  if (!outputs.every(existsSync)) return false;
  return Math.min(...outputs.map((p) => statSync(p).mtimeMs)) >= sourcesMtime();
}

/** The path of a `weight-balance.js` bin script whose `../dist` is built from the current sources. */
export function builtCli(): string {
  if (isFresh(ROOT)) return join(ROOT, 'bin', 'weight-balance.js');
  const root = join(ROOT, '.vitest', 'cli-build');
  if (!isFresh(root)) {
    rmSync(root, { recursive: true, force: true });
    mkdirSync(join(root, 'bin'), { recursive: true });
    try {
      execFileSync(process.execPath, [join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--outDir', join(root, 'dist'), '--emptyOutDir'], {
        cwd: ROOT,
        stdio: 'pipe',
        timeout: 180_000,
      });
    } catch (error) {
      const e = error as { stdout?: Buffer; stderr?: Buffer; message: string };
      throw new Error(`vite build failed: ${e.message}\n${e.stdout?.toString() ?? ''}\n${e.stderr?.toString() ?? ''}`);
    }
  }
  copyFileSync(join(ROOT, 'bin', 'weight-balance.js'), join(root, 'bin', 'weight-balance.js'));
  return join(root, 'bin', 'weight-balance.js');
}
