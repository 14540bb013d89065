/**
 * `weight-balance balance x.onnx -o y.onnx` on a model with each op of issue 13 that needs graph
 * semantics of its own (channel shuffle, squeeze-and-excitation, ConvTranspose): the written model
 * runs in onnxruntime with the same outputs and a smaller norm; the report says what was fixed;
 * a refused model names its node and nothing is written.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Random } from '../src/network/random.js';
import { relativeError, runOrt } from './onnx/build.js';
import { shuffleNet, squeezeExcite, upsampler } from './onnx/opModels.js';
import { runCli } from './support/runCli.js';

interface FixedUnits {
  name: string;
  op: string;
  node: string;
  reason: string;
}

describe('CLI: ONNX channel shuffle, squeeze-and-excitation, ConvTranspose', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wb-onnx-cli-ops-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const cases: Array<[string, () => Uint8Array, number[], (fixed: FixedUnits[]) => void]> = [
    ['shuffle', () => shuffleNet(11, { dynamicShape: true }), [3, 8, 8], (fixed) => expect(fixed).toEqual([])],
    [
      'squeeze-excite',
      () => squeezeExcite(12, 'gemm'),
      [2, 6, 6],
      (fixed) =>
        expect(fixed.map((f) => [f.name, f.op, f.reason])).toEqual([
          ['h:input0', 'HardSigmoid', 'unsupported'],
          ['h', 'HardSigmoid', 'unsupported'],
        ]),
    ],
    ['upsampler', () => upsampler(13), [4, 5, 5], (fixed) => expect(fixed).toEqual([])],
  ];
  for (const [name, build, shape, checkFixed] of cases) {
    it(`${name}: balanced through the CLI, onnxruntime gives the same outputs`, async () => {
      const bytes = build();
      const input = join(dir, `${name}.onnx`);
      const output = join(dir, `${name}-balanced.onnx`);
      await writeFile(input, bytes);
      const r = await runCli(['balance', input, '-p', '2', '-q', '2', '--backend', 'cpu', '--tol', '1e-9', '-o', output, '--json']);
      expect(r.code).toBe(0);
      const summary = JSON.parse(r.stdout) as { finalNorm: number; initialNorm: number; fixedUnits: FixedUnits[] };
      expect(summary.finalNorm).toBeLessThan(summary.initialNorm * 0.9);
      checkFixed(summary.fixedUnits);
      const written = new Uint8Array(await readFile(output));
      const rng = new Random(14);
      const x = Float32Array.from({ length: 2 * shape.reduce((a, b) => a * b, 1) }, () => rng.normal());
      expect(relativeError(await runOrt(bytes, x, [2, ...shape]), await runOrt(written, x, [2, ...shape]))).toBeLessThan(1e-5);
    });
  }

  it('the summary and --json say which units a squeeze-and-excitation gate fixed (a ReLU gate: fixed as a gate)', async () => {
    const input = join(dir, 'se.onnx');
    await writeFile(input, squeezeExcite(15, 'conv', 'Relu'));
    const args = ['balance', input, '-p', '2', '-q', '2', '--backend', 'cpu', '--max-sweeps', '5'];
    const r = await runCli(args);
    expect(r.stdout + r.stderr).toMatch(/Mul 'excite' \(a squeeze-and-excitation gate: [^)]*\): 4 of layer \d+ 's'/);
    const json = JSON.parse((await runCli([...args, '--json'])).stdout) as { fixedUnits: FixedUnits[] };
    expect(json.fixedUnits.map((f) => [f.name, f.op, f.node, f.reason])).toEqual([['s', 'Mul', 'excite', 'gate']]);
  });

  it('a refused shuffle names its node and writes nothing', async () => {
    const input = join(dir, 'bad-shuffle.onnx');
    const output = join(dir, 'bad-shuffle-out.onnx');
    await writeFile(input, shuffleNet(16, { perm: [0, 1, 2, 4, 3] }));
    const r = await runCli(['balance', input, '--backend', 'cpu', '-o', output]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/node 'shuffle_transpose' \(Transpose\)/);
    await expect(readFile(output)).rejects.toThrow();
  });
});
