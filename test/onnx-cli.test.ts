/**
 * `weight-balance balance model.onnx -o balanced.onnx`: the CLI reads and writes ONNX through
 * the model-file dispatch; the written model runs in onnxruntime with the same outputs.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIO } from '../src/cli/io.js';
import { main } from '../src/cli/main.js';
import { lpqNorm, readOnnx } from '../src/index.js';
import { Random } from '../src/network/random.js';
import { model, node, randn, relativeError, runOrt, tensor, valueInfo } from './onnx/build.js';

async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = { stdout: '', stderr: '', isTTY: false } as CliIO & { stdout: string; stderr: string };
  io.out = (text) => void (io.stdout += text);
  io.err = (text) => void (io.stderr += text);
  const code = await main(argv, io);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

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
      initializer: [tensor('c.w', [4, 2, 3, 3], randn(rng, [4, 2, 3, 3], 0.4, 1.5)), tensor('c.b', [4], randn(rng, [4], 0.1)), tensor('fc.w', [3, 36], randn(rng, [3, 36], 0.3, 1.5))],
      node: [
        node('Conv', ['x', 'c.w', 'c.b'], ['z']), node('Relu', ['z'], ['a']), node('Flatten', ['a'], ['f']),
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
});
