/**
 * The CLI refuses a bad option or output path before any work (balance and fig2): no sweep
 * runs and nothing is written.
 */
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSafetensors } from '../src/io/safetensors.js';
import { runCli } from './support/runCli.js';

describe('the CLI refuses before any work', () => {
  let dir: string;
  let input: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wb-review-'));
    input = join(dir, 'net.safetensors');
    expect(await run(['make-net', '--arch', '3,4,2', '-o', input])).toMatchObject({ code: 0 });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const run = runCli;

  it('an output path that is an existing directory: no sweep runs, nothing is written', async () => {
    const target = join(dir, 'out.safetensors');
    await mkdir(target);
    for (const argv of [
      ['balance', input, '--backend', 'cpu', '--json', '-o', target],
      ['make-net', '--arch', '3,4,2', '-o', target],
    ]) {
      const r = await run(argv);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/is a directory/);
      expect(r.stderr).not.toMatch(/sweep/);
    }
    expect(await readdir(target)).toEqual([]);
    expect((await readdir(dir)).sort()).toEqual(['net.safetensors', 'out.safetensors']);
  });

  it('a negative --max-sweeps or --tol is refused before the input file is read', async () => {
    const missing = join(dir, 'missing.safetensors');
    for (const [flag, pattern] of [
      ['--max-sweeps=-1', /maxSweeps|max-sweeps/],
      ['--tol=-1', /tol/],
      ['--tol=Infinity', /tol/],
    ] as const) {
      const r = await run(['balance', missing, flag, '--backend', 'cpu', '--json']);
      expect(r.code).not.toBe(0);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(pattern);
      expect(r.stderr).not.toMatch(/cannot read/);
    }
  });

  it('a single-valued option given twice is a usage error (exit 2), nothing on stdout, nothing written', async () => {
    for (const argv of [
      ['balance', input, '-p', '1', '-p', '2', '--backend', 'cpu', '--json'],
      ['balance', input, '--backend', 'cpu', '-o', join(dir, 'a.safetensors'), '--output=' + join(dir, 'b.safetensors')],
      ['make-net', '--arch', '3,4,2', '--seed', '1', '--seed=2', '-o', join(dir, 'c.safetensors')],
    ]) {
      const r = await run(argv);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/(-p|--output|--seed) is given more than once/);
    }
    expect((await readdir(dir)).filter((f) => /^[abc]\.safetensors$/.test(f))).toEqual([]);
    // Repeatable options stay repeatable.
    const fig2 = await run([
      'fig2',
      '--arch',
      '3,4,2',
      '--arch',
      '3,5,2',
      '--pq',
      '2,2',
      '--schedule',
      'parallel',
      '--max-sweeps',
      '3',
      '--csv',
      join(dir, 'f.csv'),
    ]);
    expect(fig2.code).toBe(0);
  });

  it('--max-sweeps 0 writes the unchanged network and reports no sweep (not converged: exit status 3)', async () => {
    const out = join(dir, 'zero.safetensors');
    const r = await run(['balance', input, '--max-sweeps', '0', '--backend', 'cpu', '--json', '-o', out]);
    expect(r.code).toBe(3);
    const report = JSON.parse(r.stdout);
    expect(report.converged).toBe(false);
    expect(report.sweeps).toBe(0);
    expect(report.history).toEqual([report.initialNorm]);
    const { readFile } = await import('node:fs/promises');
    const a = readSafetensors(new Uint8Array(await readFile(input)));
    const b = readSafetensors(new Uint8Array(await readFile(out)));
    expect(b.blocks.map((x) => Array.from(x.weight))).toEqual(a.blocks.map((x) => Array.from(x.weight)));
  });
});

describe('fig2 refuses before its first run', () => {
  const run = runCli;

  it('a CSV path in a missing directory, a bad exponent pair later in the list', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'wb-review-fig2-'));
    try {
      const small = ['fig2', '--arch', '3,4,2', '--schedule', 'parallel', '--max-sweeps', '5'];
      for (const argv of [
        [...small, '--pq', '2,2', '--csv', join(dir, 'missing', 'fig2.csv')],
        [...small, '--pq', '2,2', '--pq', '0,1', '--csv', join(dir, 'fig2.csv')],
        [...small, '--pq', '2,2', '--csv', dir],
      ]) {
        const r = await run(argv);
        expect(r.code).toBe(1);
        expect(r.stdout).toBe('');
        expect(r.stderr).not.toMatch(/\[1\//); // no run started
      }
      expect(await readdir(dir)).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
