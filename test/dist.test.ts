/**
 * The built ES module (`dist/index.js`, what `package.json` exports and what a page imports)
 * behaves like the sources, and stays a browser module: no Node built-ins, no Dawn, no files
 * fetched at run time.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import * as source from '../src/index.js';
import { builtCli } from './setup/build.js';

type Library = typeof source;

let distDir: string;
let built: Library;

beforeAll(async () => {
  distDir = join(dirname(builtCli()), '..', 'dist');
  built = (await import(pathToFileURL(join(distDir, 'index.js')).href)) as Library;
});

/** Every module the entry reaches through static and dynamic imports, with the specifiers it names. */
function importGraph(entry: string): { files: string[]; external: string[] } {
  const files: string[] = [];
  const external = new Set<string>();
  const pending = [entry];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (files.includes(file)) continue;
    files.push(file);
    const text = readFileSync(file, 'utf8');
    const specifiers = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)["']([^"']+)["']/gm)].map((m) => m[1]);
    for (const specifier of specifiers) {
      if (specifier.startsWith('./') || specifier.startsWith('../')) pending.push(join(dirname(file), specifier));
      else external.add(specifier);
    }
  }
  return { files, external: [...external] };
}

describe('the built ES module', () => {
  it('imports nothing outside the bundle (no node: built-ins, no webgpu/Dawn) and fetches no shader files', () => {
    const { files, external } = importGraph(join(distDir, 'index.js'));
    expect(files.length).toBeGreaterThan(0);
    expect(external).toEqual([]);
    const code = files.map((f) => readFileSync(f, 'utf8')).join('\n');
    expect(code).not.toMatch(/\bfetch\s*\(/);
    expect(code).not.toMatch(/\.wgsl['"]/);
    // The kernels are inlined: their entry points are in the bundle.
    expect(code).toMatch(/@compute\s+@workgroup_size/);
  });

  it('emits the balance worker as one self-contained file that the module starts at a URL relative to itself', () => {
    const { files } = importGraph(join(distDir, 'index.js'));
    const starts = files.flatMap((f) =>
      [...readFileSync(f, 'utf8').matchAll(/new Worker\(new URL\(\s*(?:\/\*[^*]*\*\/\s*)?new URL\("([^"]+)", import\.meta\.url\)/g)].map((m) => ({
        from: f,
        url: m[1],
      })),
    );
    expect(starts).toHaveLength(1);
    const [{ from, url }] = starts;
    expect(url).toMatch(/^assets\/balanceWorker-[\w-]+\.js$/);
    const worker = join(dirname(from), url);
    const { files: workerFiles, external } = importGraph(worker);
    expect(workerFiles).toEqual([worker]);
    expect(external).toEqual([]);
    const code = readFileSync(worker, 'utf8');
    expect(code).not.toMatch(/\bfetch\s*\(/);
    expect(code).toMatch(/postMessage\(\{\s*type: "ready"/);
  });

  it('exports what the sources export', () => {
    expect(Object.keys(built).sort()).toEqual(Object.keys(source).sort());
  });

  it('balances exactly like the sources on an MLP, a CNN and a residual net (CPU)', async () => {
    const nets = [
      source.mlp([12, 20, 16, 4], { seed: 3, dtype: 'float64' }),
      source.cnn({ seed: 4 }),
      source.sequential(
        [10],
        [
          { type: 'dense', units: 8 },
          { type: 'dense', units: 8, skip: 1 },
          { type: 'dense', units: 3 },
        ],
        { seed: 5 },
      ),
    ];
    for (const net of nets) {
      for (const schedule of ['parallel', 'alternating'] as const) {
        const options = { p: 1.5, q: 3, schedule, backend: 'cpu' as const, tol: 1e-9 };
        const a = await source.balance(net, options);
        const b = await built.balance(net, options);
        expect(b.history).toEqual(a.history);
        expect(b.sweeps).toBe(a.sweeps);
        expect(b.network.blocks.map((x) => Array.from(x.weight))).toEqual(a.network.blocks.map((x) => Array.from(x.weight)));
      }
    }
  });

  it('writes the same safetensors bytes and refuses bad input with the same error class and message', () => {
    const net = source.cnn({ seed: 6 });
    expect(built.writeSafetensors(net)).toEqual(source.writeSafetensors(net));
    const bad = source.mlp([3, 4, 2], { seed: 1 });
    bad.blocks[1].weight[2] = Number.NaN;
    const messageOf = (f: () => unknown): string => {
      try {
        f();
      } catch (error) {
        expect(error).toBeInstanceOf(Error);
        expect((error as Error).name).toBe('WeightBalanceError');
        return (error as Error).message;
      }
      throw new Error('expected a refusal');
    };
    const fromSource = messageOf(() => source.lpqNorm(bad, 2, 2));
    expect(fromSource).toMatch(/not finite/);
    expect(messageOf(() => built.lpqNorm(bad, 2, 2))).toBe(fromSource);
    expect(messageOf(() => built.lpqNorm(source.mlp([3, 4, 2]), -1, 2))).toBe(messageOf(() => source.lpqNorm(source.mlp([3, 4, 2]), -1, 2)));
  });
});
