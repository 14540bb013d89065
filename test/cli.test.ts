/**
 * The command line end to end: `make-net`, `balance` (human output, progress, `--json`),
 * `paper`, `fig2`; refused input exits non-zero and never leaves an output file. Most cases run
 * in-process through `main(argv, io)`; one spawns the real `node bin/weight-balance.js` on the
 * built `dist/`.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepsWithin } from '../src/cli/commands/fig2.js';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors.js';
import { lpqNorm } from '../src/math/norm.js';
import { cnn, mlp } from '../src/network/builders.js';
import { forward } from '../src/network/forward.js';
import type { Network } from '../src/network/types.js';
import { builtCli } from './setup/build.js';
import { runCli } from './support/runCli.js';

const run = runCli;

let dir: string;
const at = (name: string): string => join(dir, name);

async function readNet(path: string): Promise<Network> {
  return readSafetensors(new Uint8Array(await readFile(path)));
}

function inputs(net: Network, batch: number): Float64Array {
  const size = net.layers[0].shape.reduce((a, b) => a * b, 1);
  return Float64Array.from({ length: size * batch }, (_, i) => Math.sin(1.7 * i + 0.3));
}

function relativeDistance(a: Float64Array, b: Float64Array): number {
  let scale = 0;
  let worst = 0;
  a.forEach((x, i) => {
    scale = Math.max(scale, Math.abs(x));
    worst = Math.max(worst, Math.abs(x - b[i]));
  });
  return worst / scale;
}

/** The JSON report's fields and their consistency. */
function checkReport(report: Record<string, unknown>, p: number, q: number, schedule: string): void {
  for (const key of [
    'backend',
    'adapter',
    'p',
    'q',
    'schedule',
    'sweeps',
    'passes',
    'initialNorm',
    'finalNorm',
    'history',
    'maxLogImbalance',
    'frozenUnits',
    'ms',
  ]) {
    expect(report, key).toHaveProperty(key);
  }
  expect(report).toMatchObject({ p, q, schedule });
  expect(['cpu', 'webgpu']).toContain(report.backend);
  const history = report.history as number[];
  expect(history[0]).toBe(report.initialNorm);
  expect(history[history.length - 1]).toBe(report.finalNorm);
  expect(report.sweeps).toBe(history.length - 1);
  expect(report.finalNorm as number).toBeLessThan(report.initialNorm as number);
  expect(typeof report.converged).toBe('boolean');
  for (let k = 1; k < history.length; k++) expect(history[k]).toBeLessThanOrEqual(history[k - 1] * (1 + 1e-6));
  expect(report.maxLogImbalance as number).toBeGreaterThanOrEqual(0);
  // passes: reads of P by the sweeps, at least one per sweep but the last of an accelerated run.
  expect(report.passes as number).toBeGreaterThanOrEqual((report.sweeps as number) - 1);
  // converged is the stopping rule on the imbalance.
  if (report.converged) expect(report.maxLogImbalance as number).toBeLessThanOrEqual(1e-4);
  expect(Array.isArray(report.frozenUnits)).toBe(true);
  expect(report.ms as number).toBeGreaterThan(0);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'weight-balance-cli-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('make-net', () => {
  it('writes the seeded He MLP that mlp() builds', async () => {
    const r = await run(['make-net', '--arch', '6,10,8,3', '--seed', '4', '-o', at('mlp.safetensors')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/wrote .*mlp\.safetensors: MLP 6-10-8-3, 3 weight blocks, 164 weights/);
    expect(await readNet(at('mlp.safetensors'))).toEqual(mlp([6, 10, 8, 3], { seed: 4 }));
  });

  it('writes the CNN preset in float64', async () => {
    const r = await run(['make-net', '--cnn', '--seed', '2', '--dtype', 'f64', '-o', at('cnn.safetensors')]);
    expect(r.code).toBe(0);
    const net = await readNet(at('cnn.safetensors'));
    expect(net).toEqual(cnn({ seed: 2, dtype: 'float64' }));
    expect(net.blocks.filter((b) => b.kind === 'conv2d')).toHaveLength(3);
  });

  it('refuses a malformed architecture or a missing -o with exit code 2, writing nothing', async () => {
    const before = await readdir(dir);
    for (const argv of [
      ['--arch', '6,x,3', '-o', at('bad.safetensors')],
      ['--arch', '6', '-o', at('bad.safetensors')],
      ['--arch', '6,3'],
      ['--arch', '6,3', '--cnn', '-o', at('bad.safetensors')],
      ['--arch', '6,3', '--dtype', 'f16', '-o', at('bad.safetensors')],
    ]) {
      const r = await run(['make-net', ...argv]);
      expect(r.code, argv.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/usage: weight-balance make-net/);
    }
    expect(await readdir(dir)).toEqual(before);
  });
});

describe('balance', () => {
  let input: string;
  let original: Network;

  beforeAll(async () => {
    input = at('in.safetensors');
    original = mlp([6, 12, 9, 7, 3], { seed: 9, biasScale: 0.2 });
    await writeFile(input, writeSafetensors(original));
  });

  it('--json prints exactly one JSON object with consistent values; the output keeps the function', async () => {
    const bytesBefore = await readFile(input);
    const r = await run([
      'balance',
      input,
      '-p',
      '1',
      '-q',
      '2',
      '--schedule',
      'alternating',
      '--backend',
      'cpu',
      '--tol',
      '1e-9',
      '-o',
      at('out.safetensors'),
      '--json',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout.endsWith('\n')).toBe(true);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    const report = JSON.parse(r.stdout) as Record<string, unknown>;
    checkReport(report, 1, 2, 'alternating');
    expect(report.backend).toBe('cpu');
    expect(report.converged).toBe(true);
    expect(report.output).toBe(at('out.safetensors'));
    // Progress went to stderr, one line per sweep.
    expect(r.stderr.match(/^sweep \d+ /gm)).toHaveLength(report.sweeps as number);
    // The file holds the balanced network: its norm is the reported final norm, its function the original's.
    const balanced = await readNet(at('out.safetensors'));
    expect(lpqNorm(balanced, 1, 2) / (report.finalNorm as number) - 1).toBeLessThan(1e-5);
    expect(Math.abs(lpqNorm(original, 1, 2) / (report.initialNorm as number) - 1)).toBeLessThan(1e-9);
    expect(relativeDistance(forward(original, inputs(original, 5), 5), forward(balanced, inputs(original, 5), 5))).toBeLessThan(1e-5);
    expect(await readFile(input)).toEqual(bytesBefore);
  });

  it('prints a human summary, and a redrawn progress bar on a terminal', async () => {
    const r = await run(['balance', input, '-p', '2', '-q', '2', '--backend', 'cpu', '-o', at('out2.safetensors')], true);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/l_\{2,2\} norm\s+[\d.]+ -> [\d.]+/);
    expect(r.stdout).toMatch(/\|\|W\|\|\/\|\|W0\|\|\s+0\.\d+/);
    expect(r.stdout).toMatch(/sweeps\s+\d+ \(accelerated; converged: max \|log\(Out\/In\)\| <= 1e-4/);
    expect(r.stdout).toMatch(/passes over P\s+[\d.]+/);
    expect(r.stdout).toMatch(/written to\s+.*out2\.safetensors/);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the redrawn progress line starts with ESC [K
    expect(r.stderr).toMatch(/\r\x1b\[K\[[#.]{24}\] sweep \d+/);
    expect(r.stderr.endsWith('\n')).toBe(true);
  });

  it('--json reports the precision of P and the phases (read, setup, sweeps, rescale, write) in ms', async () => {
    for (const [tol, precision] of [
      ['1e-4', 'float32'],
      ['1e-8', 'float64'],
    ]) {
      const r = await run(['balance', input, '--backend', 'cpu', '--tol', tol, '-o', at(`phases-${tol}.safetensors`), '--json']);
      expect(r.code).toBe(0);
      const report = JSON.parse(r.stdout);
      expect(report.precision).toBe(precision);
      expect(['wasm-simd', 'wasm-relaxed-simd']).toContain(report.kernels);
      expect(Object.keys(report.phases)).toEqual(['readMs', 'setupMs', 'sweepsMs', 'rescaleMs', 'writeMs']);
      for (const ms of Object.values(report.phases)) expect(ms).toBeGreaterThanOrEqual(0);
      expect(report.phases.setupMs + report.phases.sweepsMs + report.phases.rescaleMs).toBeLessThanOrEqual(report.ms + 1e-6);
    }
  });

  it('without -o writes nothing; --max-sweeps caps the run, which then exits with status 3 (not converged)', async () => {
    const before = await readdir(dir);
    const r = await run(['balance', input, '--backend', 'cpu', '--max-sweeps', '3', '--tol', '0', '--json']);
    expect(r.code).toBe(3);
    const report = JSON.parse(r.stdout);
    expect(report.sweeps).toBe(3);
    expect(report.converged).toBe(false);
    expect(report.output).toBeNull();
    expect(await readdir(dir)).toEqual(before);
  });

  it('--backend webgpu runs the default (accelerated) schedule on WebGPU (Dawn) when an adapter exists and agrees with the CPU; auto says why it chose the CPU', async () => {
    // A fixed number of sweeps: the same iterates on both engines (SwiftShader is slow to start).
    const args = ['balance', input, '-p', '2', '-q', '3', '--tol', '0', '--max-sweeps', '20', '--json'];
    const cpu = JSON.parse((await run([...args, '--backend', 'cpu'])).stdout);
    const gpuRun = await run([...args, '--backend', 'webgpu']);
    // tol 0 is never met: exit status 3, the report still written.
    expect(gpuRun.code).toBe(3);
    const gpu = JSON.parse(gpuRun.stdout);
    checkReport(gpu, 2, 3, 'accelerated');
    if (process.env.REQUIRE_WEBGPU === '1') expect(gpu.backend, JSON.stringify(gpu.fallback)).toBe('webgpu');
    if (gpu.backend === 'webgpu') expect(typeof gpu.adapter).toBe('string');
    else expect(gpu.fallback.message).toMatch(/WebGPU/);
    expect(Math.abs(gpu.finalNorm / cpu.finalNorm - 1)).toBeLessThan(1e-5);
    const auto = JSON.parse((await run([...args, '--backend', 'auto', '--schedule', 'parallel'])).stdout);
    checkReport(auto, 2, 3, 'parallel');
    if (auto.backend === 'cpu') {
      expect(['no-webgpu', 'no-adapter', 'software-adapter']).toContain(auto.fallback.kind);
      expect(auto.fallback.message).toMatch(/WebGPU|software/);
    }
  });

  it('balances a CNN file with biases counted', async () => {
    await writeFile(at('cnn-in.safetensors'), writeSafetensors(cnn({ seed: 5, biasScale: 0.3 })));
    const r = await run([
      'balance',
      at('cnn-in.safetensors'),
      '-p',
      '1.5',
      '-q',
      '3',
      '--include-biases',
      '--backend',
      'cpu',
      '--json',
      '-o',
      at('cnn-out.safetensors'),
    ]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    checkReport(report, 1.5, 3, 'accelerated');
    expect(report.includeBiases).toBe(true);
    expect(Math.abs(lpqNorm(await readNet(at('cnn-in.safetensors')), 1.5, 3, { includeBiases: true }) / report.initialNorm - 1)).toBeLessThan(1e-9);
    const net = await readNet(at('cnn-in.safetensors'));
    const out = await readNet(at('cnn-out.safetensors'));
    expect(relativeDistance(forward(net, inputs(net, 3), 3), forward(out, inputs(net, 3), 3))).toBeLessThan(1e-5);
  });

  describe('refused input: non-zero exit, a clear message, no output file, an existing output untouched', () => {
    const cases: Array<[string, () => string[], number, RegExp]> = [
      ['p = 0', () => ['balance', input, '-p', '0'], 1, /p must be a finite number > 0, got 0/],
      ['q < 0', () => ['balance', input, '-q', '-1'], 1, /q must be a number > 0, got -1/],
      ['q = -1 written --q=-1', () => ['balance', input, '--q=-1'], 1, /q must be a number > 0, got -1/],
      ['p not a number', () => ['balance', input, '-p', 'two'], 2, /-p: expected a number, got 'two'/],
      ['unknown schedule', () => ['balance', input, '--schedule', 'random'], 2, /--schedule: expected 'accelerated', 'parallel', 'alternating'/],
      ['bad --max-sweeps', () => ['balance', input, '--max-sweeps', '2.5'], 2, /--max-sweeps: expected an integer/],
      ['negative --tol', () => ['balance', input, '--tol=-1'], 1, /tol must be a finite number >= 0/],
      ['unknown option', () => ['balance', input, '--speed', 'fast'], 2, /unknown option '--speed'/i],
      ['missing file', () => ['balance', at('nope.safetensors')], 1, /cannot read '.*nope\.safetensors': no such file or directory/],
      ['no input file', () => ['balance', '-p', '2'], 2, /give the model file to balance/],
      ['unsupported extension', () => ['balance', at('net.pt')], 1, /cannot read '\.pt'; supported: \.safetensors/],
      [
        'truncated file',
        () => ['balance', at('truncated.safetensors')],
        1,
        /'.*truncated\.safetensors': safetensors: tensor '\d+\.(weight|bias)': data_offsets .* leave the file/,
      ],
      ['header length too large', () => ['balance', at('huge-header.safetensors')], 1, /header length \d+ is larger than allowed/],
      ['unknown dtype', () => ['balance', at('dtype.safetensors')], 1, /'.*dtype\.safetensors': safetensors: tensor '0\.weight': unknown dtype 'X32'/],
      ['non-finite weight', () => ['balance', at('nan.safetensors')], 1, /'.*nan\.safetensors': block 0 \('0'\): weight entry 0 is not finite \(NaN\)/],
      ['shapes that do not chain', () => ['balance', at('chain.safetensors')], 1, /'.*chain\.safetensors': safetensors: .*(shape|chain)/],
      ['empty network', () => ['balance', at('empty.safetensors')], 1, /'.*empty\.safetensors': safetensors: the file holds no tensors: the network is empty/],
    ];

    beforeAll(async () => {
      const good = await readFile(input);
      await writeFile(at('truncated.safetensors'), good.subarray(0, good.length - 100));
      const huge = Buffer.from(good);
      huge.writeBigUInt64LE(1n << 40n, 0);
      await writeFile(at('huge-header.safetensors'), huge);
      // Edits of the good file's header that keep its byte length (and so every offset).
      const headerLength = Number(good.readBigUInt64LE(0));
      const header = good.subarray(8, 8 + headerLength).toString('latin1');
      const edited = (from: string, to: string): Buffer => {
        expect(header).toContain(from);
        return Buffer.concat([good.subarray(0, 8), Buffer.from(header.replace(from, to), 'latin1'), good.subarray(8 + headerLength)]);
      };
      await writeFile(at('dtype.safetensors'), edited('"F32"', '"X32"'));
      await writeFile(at('chain.safetensors'), edited('[9,12]', '[12,9]'));
      const nan = Buffer.from(good);
      nan.writeFloatLE(Number.NaN, 8 + headerLength);
      await writeFile(at('nan.safetensors'), nan);
      const empty = Buffer.alloc(16, 0x20);
      empty.writeBigUInt64LE(8n, 0);
      empty.write('{}', 8);
      await writeFile(at('empty.safetensors'), empty);
    });

    for (const [name, argv, code, message] of cases) {
      it(name, async () => {
        const output = at(`refused-${name.replace(/\W+/g, '-')}.safetensors`);
        const r = await run([...argv(), '--backend', 'cpu', '-o', output]);
        expect(r.code).toBe(code);
        expect(r.stderr).toMatch(message);
        expect(r.stdout).toBe('');
        expect((await readdir(dir)).filter((f) => f.startsWith('refused-') || f.endsWith('.tmp'))).toEqual([]);
      });
    }

    it('an existing output file survives a failed run unchanged', async () => {
      await writeFile(at('keep.safetensors'), 'old contents');
      const r = await run(['balance', at('truncated.safetensors'), '--backend', 'cpu', '-o', at('keep.safetensors')]);
      expect(r.code).toBe(1);
      expect(await readFile(at('keep.safetensors'), 'utf8')).toBe('old contents');
    });

    it('an output directory that does not exist is refused before any work', async () => {
      const r = await run(['balance', input, '--backend', 'cpu', '-o', at('no-such-dir/out.safetensors')]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/cannot write '.*no-such-dir\/out\.safetensors': directory .*: no such file or directory/);
      expect(r.stderr).not.toMatch(/^sweep/m);
    });
  });
});

describe('paper and fig2', () => {
  it('paper prints ||W||/||W0|| after every sweep, falling, then the summary', async () => {
    const r = await run(['paper', '--arch', '10,30,20,4', '--backend', 'cpu', '--tol', '1e-7']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^10-30-20-4 ReLU MLP, He-normal weights \(seed 0\)/);
    const rows = [...r.stdout.matchAll(/^\s+(\d+)\s+([\d.]+)$/gm)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(rows[0]).toEqual([0, 1]);
    expect(rows.length).toBeGreaterThan(3);
    rows.forEach(([sweep], k) => expect(sweep).toBe(k));
    for (let k = 1; k < rows.length; k++) expect(rows[k][1]).toBeLessThanOrEqual(rows[k - 1][1] + 1e-10);
    expect(rows[rows.length - 1][1]).toBeLessThan(1);
    expect(r.stdout).toMatch(/summary\n\s+l_\{2,2\} norm/);
    const json = await run(['paper', '--arch', '10,30,20,4', '--backend', 'cpu', '--tol', '1e-7', '--json']);
    const report = JSON.parse(json.stdout);
    checkReport(report, 2, 2, 'accelerated');
    // Same run, same numbers: the table's last ratio is the report's.
    expect(report.finalNorm / report.initialNorm).toBeCloseTo(rows[rows.length - 1][1], 9);
  });

  it('fig2 writes one CSV row per sweep and a table of final ratios and sweeps to 1e-3 / 1e-6', async () => {
    const csv = at('fig2.csv');
    const r = await run(['fig2', '--arch', '8,12,10,3', '--arch', '8,9,9,9,3', '--pq', '2,2', '--pq', '1,2', '--csv', csv, '--max-sweeps', '500']);
    expect(r.code).toBe(0);
    const lines = (await readFile(csv, 'utf8')).trim().split('\n');
    expect(lines[0]).toBe('net,p,q,schedule,sweep,ratio');
    const runs = new Map<string, number[]>();
    for (const line of lines.slice(1)) {
      const [net, p, q, schedule, sweep, ratio] = line.split(',');
      const key = `${net} ${p} ${q} ${schedule}`;
      const list = runs.get(key) ?? [];
      expect(Number(sweep)).toBe(list.length);
      list.push(Number(ratio));
      runs.set(key, list);
    }
    expect(runs.size).toBe(2 * 2 * 2);
    const table = r.stdout.split('\n');
    for (const [key, ratios] of runs) {
      expect(ratios[0]).toBe(1);
      const [net, p, q, schedule] = key.split(' ');
      const row = table.find((l) => l.split(/\s+/).slice(0, 4).join(' ') === `${net} ${p} ${q} ${schedule}`);
      expect(row, key).toBeDefined();
      const cells = row!.trim().split(/\s+/);
      expect(cells[4]).toBe(String(ratios.length - 1));
      expect(Number(cells[5])).toBeCloseTo(ratios[ratios.length - 1], 7);
      expect(Number(cells[6])).toBe(sweepsWithin(ratios, 1e-3));
      expect(Number(cells[7])).toBe(sweepsWithin(ratios, 1e-6));
    }
    // Alternating needs fewer sweeps than parallel on the same net and exponents.
    expect(runs.get('8-12-10-3 2 2 alternating')!.length).toBeLessThan(runs.get('8-12-10-3 2 2 parallel')!.length);
    // Every run converged: no run is starred, and the legend of the star is not printed.
    expect(r.stdout).not.toMatch(/stopped at --max-sweeps/);
    const capped = await run(['fig2', '--arch', '8,12,10,3', '--pq', '2,2', '--schedule', 'parallel', '--csv', csv, '--max-sweeps', '2']);
    expect(capped.code).toBe(0);
    expect(capped.stdout).toMatch(/^8-12-10-3\s+2\s+2\s+parallel\s+2\*/m);
    expect(capped.stdout).toMatch(/\* = stopped at --max-sweeps 2 before/);
  });

  it('sweepsWithin finds the first sweep within a relative gap of the final value', () => {
    expect(sweepsWithin([10, 5, 3, 2.0015, 2.00001, 2], 1e-3)).toBe(3);
    expect(sweepsWithin([10, 5, 3, 2.0015, 2.00001, 2], 1e-4)).toBe(4);
    expect(sweepsWithin([10, 5, 3, 2.0015, 2.00001, 2], 0.6)).toBe(2);
    expect(sweepsWithin([10, 5, 3, 2.0015, 2.00001, 2], 0)).toBe(5);
    expect(sweepsWithin([1], 1e-6)).toBe(0);
  });

  it('an unknown command exits 2 and lists the commands', async () => {
    const r = await run(['balence']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command 'balence'/);
    for (const name of ['make-net', 'balance', 'paper', 'fig2']) expect(r.stderr).toContain(name);
  });
});

describe('the real binary (node bin/weight-balance.js on dist/)', () => {
  const exec = promisify(execFile);
  let bin: string;

  beforeAll(() => {
    bin = builtCli();
  });

  it('make-net then balance --json: one JSON object on stdout, exit 0', async () => {
    const net = at('spawn-net.safetensors');
    const out = at('spawn-out.safetensors');
    await exec(process.execPath, [bin, 'make-net', '--arch', '20,40,30,5', '--seed', '3', '-o', net]);
    const { stdout } = await exec(process.execPath, [
      bin,
      'balance',
      net,
      '-p',
      '2',
      '-q',
      '2',
      '--backend',
      'cpu',
      '--schedule',
      'alternating',
      '-o',
      out,
      '--json',
    ]);
    const report = JSON.parse(stdout);
    checkReport(report, 2, 2, 'alternating');
    expect(await readNet(out)).toBeDefined();
  });

  it('a refused file: non-zero exit, the message on stderr, no output file', async () => {
    await writeFile(at('spawn-bad.safetensors'), new Uint8Array([1, 2, 3]));
    const error = await exec(process.execPath, [bin, 'balance', at('spawn-bad.safetensors'), '-o', at('spawn-never.safetensors')]).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: 1 });
    expect((error as { stderr: string }).stderr).toMatch(/truncated: 3 bytes/);
    expect((await readdir(dir)).includes('spawn-never.safetensors')).toBe(false);
  });
});
