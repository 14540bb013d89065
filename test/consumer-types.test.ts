/**
 * The published types work for a TypeScript consumer with no extra setup: the declarations are
 * built, packed with `npm pack` (the package's own `files` and `exports`), unpacked into a scratch
 * consumer's `node_modules`, and checked with `skipLibCheck: false` and no `@webgpu/types`, once as
 * a browser project (lib DOM) and once as a Node project (@types/node, no DOM). A deliberately
 * wrong use must fail to typecheck: the types are real, not `any`.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './setup/build.js';

const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
let scratch: string;
let packageDir: string;

const CONSUMER = `import { balance, chooseBackend, mlp, WeightBalanceError } from 'weight-balance';
import type { BalanceOptions, BalanceResult, FallbackKind, GpuSource } from 'weight-balance';
const options: BalanceOptions = { p: 2, q: 2, backend: 'auto', maxSweeps: 100 };
const source: GpuSource = {};
const result: BalanceResult = await balance(mlp([4, 8, 2], { seed: 0 }), { ...options, ...source });
const kind: FallbackKind | undefined = result.fallback?.kind;
const choice = await chooseBackend('auto');
console.log(result.finalNorm, kind, choice.backend, new WeightBalanceError('x').message);
`;

function run(cwd: string, args: string[]): { code: number; output: string } {
  try {
    return { code: 0, output: execFileSync(process.execPath, [TSC, ...args], { cwd, encoding: 'utf8', stdio: 'pipe' }) };
  } catch (error) {
    const e = error as { status?: number; stdout?: string; stderr?: string };
    return { code: e.status ?? 1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/** A consumer project with the packed package installed; `options` are its compiler options beyond the strict defaults. */
function consumer(name: string, code: string, options: Record<string, unknown>): string {
  const dir = join(scratch, name);
  mkdirSync(join(dir, 'node_modules', '@types'), { recursive: true });
  symlinkSync(packageDir, join(dir, 'node_modules', 'weight-balance'), 'dir');
  symlinkSync(join(ROOT, 'node_modules', '@types', 'node'), join(dir, 'node_modules', '@types', 'node'), 'dir');
  writeFileSync(join(dir, 'package.json'), '{ "type": "module", "private": true }\n');
  writeFileSync(join(dir, 'index.ts'), code);
  const compilerOptions = { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: false, noEmit: true, ...options };
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['index.ts'] }, null, 2));
  return dir;
}

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'weight-balance-consumer-'));
  const build = join(scratch, 'build');
  const declarations = run(ROOT, ['-p', 'tsconfig.build.json', '--outDir', join(build, 'dist', 'types')]);
  if (declarations.code !== 0) throw new Error(`building the declarations failed:\n${declarations.output}`);
  copyFileSync(join(ROOT, 'package.json'), join(build, 'package.json'));
  execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', scratch], { cwd: build, stdio: 'pipe' });
  const tarball = readdirSync(scratch).find((f) => f.endsWith('.tgz'));
  if (!tarball) throw new Error('npm pack wrote no tarball');
  execFileSync('tar', ['-xzf', join(scratch, tarball), '-C', scratch]);
  packageDir = join(scratch, 'weight-balance');
  renameSync(join(scratch, 'package'), packageDir);
}, 180_000);

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('the published types, for a consumer without @webgpu/types and with skipLibCheck false', () => {
  it('typecheck in a browser project (lib DOM, no types packages)', () => {
    const dir = consumer('browser', CONSUMER, { lib: ['ES2022', 'DOM'], types: [] });
    const { code, output } = run(dir, ['-p', '.']);
    expect(output).toBe('');
    expect(code).toBe(0);
  });

  it('typecheck in a Node project (@types/node, no DOM)', () => {
    const dir = consumer('node', CONSUMER, { lib: ['ES2022'], types: ['node'] });
    const { code, output } = run(dir, ['-p', '.']);
    expect(output).toBe('');
    expect(code).toBe(0);
  });

  it('refuse a wrong use (the types are real)', () => {
    const wrong = `${CONSUMER}const lost: FallbackKind = 'device-gone';\nawait balance(mlp([2, 2]), { p: 2, q: 2, maxSweep: 3 });\n`;
    const dir = consumer('wrong', wrong, { lib: ['ES2022', 'DOM'], types: [] });
    const { code, output } = run(dir, ['-p', '.']);
    expect(code).not.toBe(0);
    expect(output).toMatch(/'"device-gone"' is not assignable to type 'FallbackKind'/);
    expect(output).toMatch(/'maxSweep' does not exist/);
  });
});
