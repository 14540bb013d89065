/**
 * The command line's habits (issue 12, points 5-8): top-level help with a line per command,
 * `--version`, `help <command>`, "did you mean", one-line usage errors with a pointer to
 * `--help`, values starting with a dash reaching the library, writing over the input only with
 * `--in-place`/`--force`, an overflowing norm refused with the reason, `--arch "4 8 2"`, tqdm-like
 * progress, and a quiet `auto` (no Dawn/Vulkan lines on stderr).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import packageJson from '../package.json' with { type: 'json' };
import { formatDuration, progressReporter, sweepsLeft } from '../src/cli/progress.js';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors.js';
import { mlp } from '../src/network/builders.js';
import { builtCli } from './setup/build.js';
import { runCli } from './support/runCli.js';

let dir: string;
let input: string;

const run = runCli;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wb-cli-usage-'));
  input = join(dir, 'in.safetensors');
  await writeFile(input, writeSafetensors(mlp([6, 10, 8, 3], { seed: 4 })));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('help, version, commands', () => {
  it('top-level --help: a line per command with its description, and the exit statuses', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    for (const name of ['make-net', 'balance', 'paper', 'fig2', 'train', 'help']) expect(r.stdout).toMatch(new RegExp(`^  ${name} +\\S.*$`, 'm'));
    expect(r.stdout).toMatch(/exit status:\n {2}0 .*\n {2}1 .*\n {2}2 /);
  });

  it('--version and -V print the package version', async () => {
    for (const flag of ['--version', '-V']) expect(await run([flag])).toEqual({ code: 0, stdout: `${packageJson.version}\n`, stderr: '' });
  });

  it('help <command> is <command> --help; every command help ends with the exit statuses', async () => {
    for (const name of ['make-net', 'balance', 'paper', 'fig2', 'train']) {
      const a = await run(['help', name]);
      const b = await run([name, '--help']);
      expect(a).toEqual(b);
      expect(a.code).toBe(0);
      expect(a.stdout).toMatch(new RegExp(`^usage: weight-balance ${name}`));
      expect(a.stdout).toMatch(/exit status:\n {2}0 {2}success/);
    }
  });

  it('a misspelt command: one line with "did you mean", exit 2', async () => {
    const r = await run(['balnce', input]);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toBe("weight-balance: unknown command 'balnce' (did you mean 'balance'?); commands: make-net, balance, paper, fig2, train");
    expect(r.stderr).toMatch(/see 'weight-balance --help'/);
  });
});

describe('usage errors', () => {
  it('a misspelt option: one line naming it with "did you mean", balanced quotes, the synopsis and --help, not the whole help', async () => {
    const r = await run(['make-net', '--arh', '4,8,2', '-o', join(dir, 'never.safetensors')]);
    expect(r.code).toBe(2);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toBe("weight-balance make-net: unknown option '--arh' (did you mean --arch?)");
    expect((lines[0].match(/'/g) ?? []).length % 2).toBe(0);
    expect(lines[1]).toMatch(/^usage: weight-balance make-net /);
    expect(lines[2]).toBe("see 'weight-balance make-net --help'");
    expect(r.stderr).not.toMatch(/options:/);
    expect(await readdir(dir)).not.toContain('never.safetensors');
  });

  it('-p -1 and --tol -1 reach the library and give its message (exit 1)', async () => {
    const p = await run(['balance', input, '-p', '-1', '--backend', 'cpu']);
    expect(p.code).toBe(1);
    expect(p.stderr).toBe('weight-balance balance: p must be a finite number > 0, got -1\n');
    const tol = await run(['balance', input, '--tol', '-1', '--backend', 'cpu']);
    expect(tol.code).toBe(1);
    expect(tol.stderr).toMatch(/tol must be a finite number >= 0, got -1/);
  });
});

describe('writing over the input', () => {
  it('needs --in-place or --force; --in-place alone writes back to the input', async () => {
    const path = join(dir, 'own.safetensors');
    await writeFile(path, await readFile(input));
    const before = await readFile(path);
    const refused = await run(['balance', path, '--backend', 'cpu', '-o', path]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/is the input file: writing over it needs --in-place \(or --force\)/);
    expect(await readFile(path)).toEqual(before);
    const forced = await run(['balance', path, '--backend', 'cpu', '--force', '-o', path, '--json']);
    expect(forced.code).toBe(0);
    expect(JSON.parse(forced.stdout).output).toBe(path);
    await writeFile(path, before);
    const inPlace = await run(['balance', path, '--backend', 'cpu', '--in-place', '--json']);
    expect(inPlace.code).toBe(0);
    const report = JSON.parse(inPlace.stdout);
    expect(report.output).toBe(path);
    expect(await readFile(path)).not.toEqual(before);
    expect(readSafetensors(new Uint8Array(await readFile(path))).blocks).toHaveLength(3);
  });
});

describe('values the issue names', () => {
  it('a p so small that the norm overflows is refused with the reason, nothing written', async () => {
    const output = join(dir, 'tiny-p.safetensors');
    const r = await run(['balance', input, '-p', '1e-9', '--backend', 'cpu', '-o', output]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the l_\{p,q\} norm of this network is Infinity in float64 at p = 1e-9, q = 2 .*p or q is too small for these weights/);
    expect(r.stderr).not.toMatch(/increased/);
    expect(await readdir(dir)).not.toContain('tiny-p.safetensors');
  });

  it('--arch "4 8 2" is accepted as the demo accepts it', async () => {
    const output = join(dir, 'spaced.safetensors');
    const r = await run(['make-net', '--arch', '4 8 2', '-o', output]);
    expect(r.code).toBe(0);
    expect(readSafetensors(new Uint8Array(await readFile(output))).layers.map((l) => l.shape)).toEqual([[4], [8], [2]]);
  });
});

describe('progress', () => {
  it('one line per sweep in a log, with elapsed time and sweeps/s', async () => {
    const r = await run(['balance', input, '--backend', 'cpu', '--max-sweeps', '5', '--tol', '0']);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(5);
    for (const [k, line] of lines.entries())
      expect(line).toMatch(
        new RegExp(
          `^sweep ${k + 1}  \\|\\|W\\|\\|/\\|\\|W0\\|\\| \\d\\.\\d{8}  norm \\S+  max\\|log\\(Out\\/In\\)\\| \\S+  passes \\S+  elapsed \\d+\\.\\d s, [\\d.]+ sweeps/s`,
        ),
      );
  });

  it('on a terminal the bar is drawn at once (before the first sweep) and shows an ETA once the change decreases', () => {
    let text = '';
    let clock = 0;
    const reporter = progressReporter(
      {
        out: () => undefined,
        err: (t) => {
          text += t;
        },
        isTTY: true,
      },
      { tol: 1e-6, maxSweeps: 1000 },
      () => clock,
    );
    expect(text).toMatch(/\] sweep 0 {2}elapsed 0\.0 s$/);
    for (let sweep = 1; sweep <= 10; sweep++) {
      clock += 100;
      reporter.sweep({ sweep, norm: 1, ratio: 1, maxStep: 10 ** -sweep / 2, maxLogImbalance: 10 ** -sweep / 2, passes: sweep, backend: 'cpu' });
    }
    reporter.finish();
    // imbalance 5e-11 < tol already: nothing left; the rate is 10 sweeps per second.
    expect(text).toMatch(/sweep 10 .* elapsed 1\.0 s, 10\.0 sweeps\/s, ETA 0\.0 s\n$/);
  });

  it('estimates the sweeps left from the linear decrease of log(change), capped by maxSweeps', () => {
    const logSteps = Array.from({ length: 10 }, (_, k) => Math.log(1e-1) - (k * Math.log(10)) / 2); // half a decade per sweep
    expect(sweepsLeft(logSteps, 1e-8, 1000)).toBe(5); // 10^-5.5 now: 10^-8 is 5 half-decades away
    expect(sweepsLeft(logSteps, 1e-8, 12)).toBe(2);
    expect(sweepsLeft([0, 0, 0, 0], 1e-6, 100)).toBeNull();
    expect(sweepsLeft([0, -1], 1e-6, 100)).toBeNull();
    expect(formatDuration(125_000)).toBe('2 min 05 s');
  });
});

describe('the built binary, auto on a machine whose only adapter is a software one', () => {
  const exec = promisify(execFile);
  it('prints no Dawn, Vulkan or XDG_RUNTIME_DIR line on stderr (they show with --verbose)', async () => {
    const bin = builtCli();
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.VK_ICD_FILENAMES;
    delete env.XDG_RUNTIME_DIR;
    const { stdout, stderr } = await exec(process.execPath, [bin, 'balance', input, '--json'], { env });
    const report = JSON.parse(stdout);
    if (report.backend === 'cpu') expect(['no-webgpu', 'no-adapter', 'software-adapter']).toContain(report.fallback.kind);
    const other = stderr.split('\n').filter((l) => l.length > 0 && !l.startsWith('sweep '));
    expect(other).toEqual([]);
  });
});
