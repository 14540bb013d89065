/**
 * `weight-balance balance model.onnx -o balanced.onnx`: the CLI reads and writes ONNX through
 * the model-file dispatch; the written model runs in onnxruntime with the same outputs. Units
 * fixed by the model's ops are reported (summary and --json); external data files are written
 * next to the output; conversions that cannot be written are refused before any sweep.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forward, lpqNorm, readOnnx, readSafetensors } from '../src/index.js';
import { Random } from '../src/network/random.js';
import { model, node, randn, relativeError, runOrt, tensor, valueInfo } from './onnx/build.js';
import { runCli } from './support/runCli.js';

/** Run a model from a file (external data is found next to it) on one input `x`; returns `y`. */
async function runOrtFile(path: string, input: Float32Array, dims: number[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(path);
  try {
    return (await session.run({ x: new ort.Tensor('float32', input, dims) })).y.data as Float32Array;
  } finally {
    await session.release();
  }
}

/** An external-data initializer: `values` as float32 at `offset` of the file `location`. */
function externalTensor(name: string, dims: number[], location: string, offset: number, values: Float32Array): object {
  return {
    name,
    dims,
    dataType: 1,
    dataLocation: 1,
    externalData: [
      { key: 'location', value: location },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(values.byteLength) },
    ],
  };
}

/**
 * A 4-7-6-3 MLP whose weights and biases live in `weights.bin` (after a 16-byte preamble that
 * must survive), with an elementwise Mul by a constant from `consts.bin` (an op the network
 * model does not know, so a barrier of fixed units; that file is never rewritten).
 */
function externalModel(rng: Random): { bytes: Uint8Array; files: Record<string, Uint8Array> } {
  const w1 = randn(rng, [7, 4], 0.5, 1.5);
  const b1 = randn(rng, [7], 0.2);
  const w2 = randn(rng, [6, 7], 0.5, 1.5);
  const w3 = randn(rng, [3, 6], 0.5, 1.5);
  const scale = Float32Array.from({ length: 6 }, () => 0.5 + rng.uniform());
  const chunks = [w1, b1, w2, w3];
  const offsets: number[] = [];
  let at = 16;
  for (const c of chunks) {
    offsets.push(at);
    at += c.byteLength;
  }
  const weights = new Uint8Array(at + 8);
  weights.set(new TextEncoder().encode('preamble-16bytes'), 0);
  chunks.forEach((c, k) => weights.set(new Uint8Array(c.buffer), offsets[k]));
  weights.set(new TextEncoder().encode('trailer!'), at);
  const bytes = model({
    input: [valueInfo('x', ['N', 4])],
    output: [valueInfo('y', ['N', 3])],
    initializer: [
      externalTensor('w1', [7, 4], 'weights.bin', offsets[0], w1),
      externalTensor('b1', [7], 'weights.bin', offsets[1], b1),
      externalTensor('w2', [6, 7], 'weights.bin', offsets[2], w2),
      externalTensor('w3', [3, 6], 'weights.bin', offsets[3], w3),
      externalTensor('scale', [6], 'consts.bin', 0, scale),
    ],
    node: [
      node('Gemm', ['x', 'w1', 'b1'], ['z1'], { transB: 1 }),
      node('Relu', ['z1'], ['a1']),
      node('Gemm', ['a1', 'w2'], ['z2'], { transB: 1 }),
      node('Relu', ['z2'], ['a2']),
      node('Mul', ['a2', 'scale'], ['m'], {}, 'the_mul'),
      node('Gemm', ['m', 'w3'], ['y'], { transB: 1 }),
    ],
  });
  return { bytes, files: { 'weights.bin': weights, 'consts.bin': new Uint8Array(scale.buffer) } };
}

/** A 5-7-6-7-2 MLP with a Sigmoid (fixed, modelled) and, optionally, an Erf (fixed barrier). */
function fixedModel(rng: Random, withErf: boolean): Uint8Array {
  return model({
    input: [valueInfo('x', ['N', 5])],
    output: [valueInfo('y', ['N', 2])],
    initializer: [
      tensor('w1', [7, 5], randn(rng, [7, 5], 0.5, 1.5)),
      tensor('w2', [6, 7], randn(rng, [6, 7], 0.5, 1.5)),
      tensor('w3', [7, 6], randn(rng, [7, 6], 0.5, 1.5)),
      tensor('w4', [2, 7], randn(rng, [2, 7], 0.5, 1.5)),
    ],
    node: [
      node('Gemm', ['x', 'w1'], ['z1'], { transB: 1 }),
      node('Relu', ['z1'], ['a1']),
      node('Gemm', ['a1', 'w2'], ['z2'], { transB: 1 }),
      node('Sigmoid', ['z2'], ['s'], {}, 'the_sigmoid'),
      ...(withErf ? [node('Erf', ['s'], ['e'], {}, 'the_erf')] : [node('Identity', ['s'], ['e'])]),
      node('Gemm', ['e', 'w3'], ['z3'], { transB: 1 }),
      node('Relu', ['z3'], ['a3']),
      node('Gemm', ['a3', 'w4'], ['y'], { transB: 1 }),
    ],
  });
}

const run = runCli;

describe('CLI with .onnx files', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wb-onnx-cli-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('balances model.onnx into balanced.onnx; onnxruntime gives the same outputs', async () => {
    const rng = new Random(21);
    const bytes = model({
      input: [valueInfo('x', ['N', 2, 5, 5])],
      output: [valueInfo('y', ['N', 3])],
      initializer: [
        tensor('c.w', [4, 2, 3, 3], randn(rng, [4, 2, 3, 3], 0.4, 1.5)),
        tensor('c.b', [4], randn(rng, [4], 0.1)),
        tensor('fc.w', [3, 36], randn(rng, [3, 36], 0.3, 1.5)),
      ],
      node: [
        node('Conv', ['x', 'c.w', 'c.b'], ['z']),
        node('Relu', ['z'], ['a']),
        node('Flatten', ['a'], ['f']),
        node('Gemm', ['f', 'fc.w'], ['y'], { transB: 1 }),
      ],
    });
    const input = join(dir, 'model.onnx');
    const output = join(dir, 'balanced.onnx');
    await writeFile(input, bytes);
    const r = await run(['balance', input, '-p', '2', '-q', '2', '--backend', 'cpu', '--tol', '1e-9', '-o', output, '--json']);
    expect(r.stderr.includes('weight-balance balance:')).toBe(false);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout) as { finalNorm: number; initialNorm: number };
    const written = new Uint8Array(await readFile(output));
    expect(written.length).toBe(bytes.length);
    expect(Math.abs(lpqNorm(readOnnx(written).network, 2, 2) / summary.finalNorm - 1)).toBeLessThan(1e-5);
    expect(summary.finalNorm).toBeLessThan(summary.initialNorm * 0.95);
    const x = Float32Array.from({ length: 2 * 50 }, () => rng.normal());
    expect(relativeError(await runOrt(bytes, x, [2, 2, 5, 5]), await runOrt(written, x, [2, 2, 5, 5]))).toBeLessThan(1e-5);
  });

  it('refuses a file that is not ONNX, naming it, and writes nothing', async () => {
    const input = join(dir, 'bad.onnx');
    const output = join(dir, 'bad-out.onnx');
    await writeFile(input, 'not a model at all');
    const r = await run(['balance', input, '--backend', 'cpu', '-o', output]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bad\.onnx.*ONNX/);
    await expect(readFile(output)).rejects.toThrow();
  });

  it('balance --help names both input formats and documents the JSON fields fixedUnits and written', async () => {
    const r = await run(['balance', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^usage: weight-balance balance IN\.safetensors\|IN\.onnx/);
    expect(r.stdout).not.toMatch(/IN\.safetensors \[/);
    for (const word of ['fixedUnits', '{ layer, name, units, op, node, reason }', 'written', 'notes', 'External data files']) expect(r.stdout).toContain(word);
    for (const command of ['make-net', 'balance', 'paper', 'fig2', 'train']) {
      const help = await run([command, '--help']);
      expect(help.code).toBe(0);
      expect(help.stdout.startsWith(`usage: weight-balance ${command}`)).toBe(true);
    }
  });

  it('reports the units fixed by a Sigmoid and an unknown op (Erf): in the summary, and in --json as fixedUnits', async () => {
    const bytes = fixedModel(new Random(31), true);
    const input = join(dir, 'fixed.onnx');
    await writeFile(input, bytes);
    const expected = readOnnx(bytes).fixedUnits;
    expect(expected.map((f) => f.op)).toEqual(['Sigmoid', 'Erf']);

    const json = await run(['balance', input, '--backend', 'cpu', '--json']);
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout) as {
      fixedUnits: Array<{ layer: number; name: string; units: number; op: string; node: string; reason: string }>;
      written: string[];
      finalNorm: number;
      initialNorm: number;
    };
    expect(report.written).toEqual([]);
    // Each fixed layer once (issue 13.4), with the first node that fixed it.
    const flat = expected.flatMap((f) =>
      f.layers.map((l) => ({
        layer: l.layer,
        name: l.name,
        units: l.units,
        op: f.op,
        node: f.node,
        reason: f.modelled === 'opaque' ? 'unsupported' : 'activation',
      })),
    );
    const once = flat.filter((f, k) => flat.findIndex((g) => g.layer === f.layer) === k);
    expect(once.length).toBeLessThan(flat.length); // the Sigmoid's layer is also the Erf's input
    expect(report.fixedUnits).toEqual(once);
    expect(report.fixedUnits.filter((f) => f.op === 'Erf').map((f) => [f.node, f.reason, f.units])).toEqual([['the_erf', 'unsupported', 6]]);
    expect(report.fixedUnits.find((f) => f.op === 'Sigmoid')).toMatchObject({ node: 'the_sigmoid', reason: 'activation', units: 6 });
    expect(report.finalNorm).toBeLessThan(report.initialNorm);

    const human = await run(['balance', input, '--backend', 'cpu']);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/units fixed by the model's ops \(factor 1\): 12 in 2 layers/);
    expect(human.stdout).toMatch(/Erf 'the_erf' \(op not supported: kept as a barrier\): 6 of layer \d+ '[^']+'\n/);
    expect(human.stdout).toMatch(/Sigmoid 'the_sigmoid' \(not positively homogeneous\): 6 of layer \d+/);
    expect(human.stderr).not.toContain('units fixed');
  });

  it('a model with external data: balanced.onnx and its data files are written next to it; the input is untouched; onnxruntime agrees', async () => {
    const rng = new Random(41);
    const { bytes, files } = externalModel(rng);
    const source = join(dir, 'ext');
    const target = join(dir, 'ext-out');
    await mkdir(source);
    await mkdir(target);
    await writeFile(join(source, 'model.onnx'), bytes);
    for (const [name, data] of Object.entries(files)) await writeFile(join(source, name), data);
    const x = Float32Array.from({ length: 3 * 4 }, () => rng.normal());
    const before = await runOrtFile(join(source, 'model.onnx'), x, [3, 4]);

    const output = join(target, 'balanced.onnx');
    const r = await run(['balance', join(source, 'model.onnx'), '--backend', 'cpu', '--tol', '1e-9', '-o', output, '--json']);
    expect(r.stderr.includes('weight-balance balance:')).toBe(false);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { written: string[]; fixedUnits: Array<{ op: string }>; finalNorm: number; initialNorm: number };
    expect(report.written.slice(-1)).toEqual([output]);
    expect([...report.written].sort()).toEqual([join(target, 'balanced.onnx'), join(target, 'consts.bin'), join(target, 'weights.bin')]);
    expect(report.fixedUnits.map((f) => f.op)).toEqual(['Mul', 'Mul']);
    expect(report.finalNorm).toBeLessThan(report.initialNorm * 0.95);
    expect((await readdir(target)).sort()).toEqual(['balanced.onnx', 'consts.bin', 'weights.bin']);
    for (const [name, data] of Object.entries(files)) expect(new Uint8Array(await readFile(join(source, name)))).toEqual(data);
    expect(new Uint8Array(await readFile(join(source, 'model.onnx')))).toEqual(bytes);
    // Only initializer values change: same sizes, the preamble and trailer of weights.bin kept, consts.bin as it was.
    const weights = new Uint8Array(await readFile(join(target, 'weights.bin')));
    expect(weights.length).toBe(files['weights.bin'].length);
    expect(weights.subarray(0, 16)).toEqual(files['weights.bin'].subarray(0, 16));
    expect(weights.subarray(-8)).toEqual(files['weights.bin'].subarray(-8));
    expect(weights).not.toEqual(files['weights.bin']);
    expect(new Uint8Array(await readFile(join(target, 'consts.bin')))).toEqual(files['consts.bin']);
    const written = new Uint8Array(await readFile(output));
    expect(written.length).toBe(bytes.length);
    const again = readOnnx(written, { externalData: { 'weights.bin': weights, 'consts.bin': files['consts.bin'] } });
    expect(Math.abs(lpqNorm(again.network, 2, 2) / report.finalNorm - 1)).toBeLessThan(1e-5);
    expect(relativeError(before, await runOrtFile(output, x, [3, 4]))).toBeLessThan(1e-5);

    // Over the input itself: the model and its data files are replaced together.
    const inPlace = await run(['balance', join(source, 'model.onnx'), '--backend', 'cpu', '--tol', '1e-9', '--in-place', '-o', join(source, 'model.onnx')]);
    expect(inPlace.code).toBe(0);
    expect(inPlace.stdout).toMatch(/written to\s+.*model\.onnx \(with .*weights\.bin/);
    expect(relativeError(before, await runOrtFile(join(source, 'model.onnx'), x, [3, 4]))).toBeLessThan(1e-5);
    expect((await readdir(source)).sort()).toEqual(['consts.bin', 'model.onnx', 'weights.bin']);
  });

  it('refuses, before any sweep, an output next to the input that would overwrite its external data', async () => {
    const { bytes, files } = externalModel(new Random(43));
    const source = join(dir, 'ext-same');
    await mkdir(source);
    await writeFile(join(source, 'model.onnx'), bytes);
    for (const [name, data] of Object.entries(files)) await writeFile(join(source, name), data);
    const r = await run(['balance', join(source, 'model.onnx'), '--backend', 'cpu', '-o', join(source, 'balanced.onnx')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /cannot write '.*balanced\.onnx': the model refers to 'weights\.bin', 'consts\.bin' by name.*would overwrite the input's own; write the output into another directory/,
    );
    expect(r.stderr).not.toMatch(/^sweep/m);
    expect((await readdir(source)).sort()).toEqual(['consts.bin', 'model.onnx', 'weights.bin']);
    for (const [name, data] of Object.entries(files)) expect(new Uint8Array(await readFile(join(source, name)))).toEqual(data);
  });

  it('converts model.onnx to out.safetensors: the safetensors network computes what onnxruntime computes', async () => {
    const rng = new Random(51);
    const bytes = fixedModel(rng, false);
    const input = join(dir, 'convert.onnx');
    const output = join(dir, 'convert.safetensors');
    await writeFile(input, bytes);
    const r = await run(['balance', input, '--backend', 'cpu', '--tol', '1e-9', '-o', output, '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { finalNorm: number; initialNorm: number; written: string[] };
    expect(report.written).toEqual([output]);
    const net = readSafetensors(new Uint8Array(await readFile(output)));
    expect(Math.abs(lpqNorm(net, 2, 2) / report.finalNorm - 1)).toBeLessThan(1e-6);
    expect(report.finalNorm).toBeLessThan(report.initialNorm * 0.95);
    const x = Float32Array.from({ length: 4 * 5 }, () => rng.normal());
    expect(relativeError(await runOrt(bytes, x, [4, 5]), forward(net, Float64Array.from(x), 4))).toBeLessThan(1e-5);
  });

  it('refuses, before any sweep and writing nothing, the conversions that cannot keep the model', async () => {
    const rng = new Random(61);
    const withErf = join(dir, 'erf.onnx');
    await writeFile(withErf, fixedModel(rng, true));
    const transposed = join(dir, 'nhwc.onnx');
    await writeFile(
      transposed,
      model({
        input: [valueInfo('x', ['N', 5, 4, 3])],
        output: [valueInfo('y', ['N', 2])],
        initializer: [tensor('c.w', [6, 3, 3, 3], randn(rng, [6, 3, 3, 3], 0.4, 1.5)), tensor('fc.w', [2, 6], randn(rng, [2, 6], 0.4, 1.5))],
        node: [
          node('Transpose', ['x'], ['xt'], { perm: [0, 3, 1, 2] }),
          node('Conv', ['xt', 'c.w'], ['z'], { pads: [1, 1, 1, 1] }),
          node('Relu', ['z'], ['a']),
          node('GlobalAveragePool', ['a'], ['g']),
          node('Flatten', ['g'], ['f']),
          node('Gemm', ['f', 'fc.w'], ['y'], { transB: 1 }),
        ],
      }),
    );
    const safetensors = join(dir, 'made.safetensors');
    expect((await run(['make-net', '--arch', '4,6,3', '-o', safetensors])).code).toBe(0);
    const cases: Array<[string[], RegExp]> = [
      [
        ['balance', withErf, '-o', join(dir, 'erf-out.safetensors')],
        /cannot write '.*erf-out\.safetensors': the network read from '.*erf\.onnx' does not compute that model's function by itself \(op 'Erf' \(node 'the_erf'\) is kept as an identity barrier.*write '\.onnx' instead/,
      ],
      [
        ['balance', transposed, '-o', join(dir, 'nhwc-out.safetensors')],
        /cannot write '.*nhwc-out\.safetensors': .*the graph transposes its input first \(perm \[0, 3, 1, 2\]\)/,
      ],
      [['balance', safetensors, '-o', join(dir, 'st-out.onnx')], /cannot write '.*st-out\.onnx': writing '\.onnx' needs a network read from an '\.onnx' file/],
      [
        ['make-net', '--arch', '4,6,3', '-o', join(dir, 'made-out.onnx')],
        /cannot write '.*made-out\.onnx': writing '\.onnx' needs a network read from an '\.onnx' file/,
      ],
      [['paper', '--arch', '4,6,3', '-o', join(dir, 'paper-out.onnx')], /cannot write '.*paper-out\.onnx': writing '\.onnx' needs/],
    ];
    for (const [argv, message] of cases) {
      const r = await run([...argv, ...(argv[0] === 'make-net' ? [] : ['--backend', 'cpu'])]);
      expect(r.code, argv.join(' ')).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/^sweep/m);
      expect(r.stdout).toBe('');
    }
    expect((await readdir(dir)).filter((f) => /-out\.|\.tmp$/.test(f))).toEqual([]);
  });
});
