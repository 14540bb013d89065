/**
 * The zoo script (bench/onnxZoo.ts) on a folder of models the tests build: an accepted CNN
 * (its row: fixed units, the norm going down, outputs kept in onnxruntime, time and peak memory
 * measured, the peak also as a multiple of the float32 weights), a model with a Sigmoid (fixed units counted), and a refused one (its message).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatZoo, runZoo } from '../bench/onnxZoo.js';
import { Random } from '../src/network/random.js';
import { model, node, randn, tensor, valueInfo } from './onnx/build.js';
import { builtCli } from './setup/build.js';

function cnn(rng: Random, activation: 'Relu' | 'Sigmoid'): Uint8Array {
  return model({
    input: [valueInfo('x', ['N', 2, 6, 6])],
    output: [valueInfo('y', ['N', 3])],
    initializer: [
      tensor('c.w', [4, 2, 3, 3], randn(rng, [4, 2, 3, 3], 0.5, 1.5)),
      tensor('c.b', [4], randn(rng, [4], 0.1)),
      tensor('h.w', [5, 64], randn(rng, [5, 64], 0.3, 1.5)),
      tensor('fc.w', [3, 5], randn(rng, [3, 5], 0.5, 1.5)),
    ],
    node: [
      node('Conv', ['x', 'c.w', 'c.b'], ['z'], { kernel_shape: [3, 3] }, 'conv'),
      node('Relu', ['z'], ['a']),
      node('Flatten', ['a'], ['f']),
      node('Gemm', ['f', 'h.w'], ['h'], { transB: 1 }, 'hidden'),
      node(activation, ['h'], ['ha']),
      node('Gemm', ['ha', 'fc.w'], ['y'], { transB: 1 }, 'fc'),
    ],
  });
}

describe('ONNX zoo script', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wb-zoo-test-'));
    await writeFile(join(dir, 'a-cnn.onnx'), cnn(new Random(1), 'Relu'));
    await writeFile(join(dir, 'b-sigmoid.onnx'), cnn(new Random(2), 'Sigmoid'));
    const two = cnn(new Random(3), 'Relu');
    await writeFile(join(dir, 'c-refused.onnx'), two.subarray(0, Math.floor(two.length / 2)));
    await writeFile(join(dir, 'notes.txt'), 'not a model');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prints one row per model: accepted with fixed units, norms, output difference, time and peak memory; refusals with their message', async () => {
    const rows = await runZoo(dir, { cli: builtCli(), args: ['--backend', 'cpu'] });
    expect(rows.map((r) => [r.model, r.accepted])).toEqual([
      ['a-cnn.onnx', true],
      ['b-sigmoid.onnx', true],
      ['c-refused.onnx', false],
    ]);
    const [cnnRow, sigmoidRow, refused] = rows;
    expect(cnnRow.fixedUnits).toBe(0);
    expect(sigmoidRow.fixedUnits).toBe(5);
    for (const r of [cnnRow, sigmoidRow]) {
      expect(r.finalNorm).toBeLessThan(r.initialNorm);
      expect(r.outputDifference).toBeLessThan(1e-5);
      expect(r.ms).toBeGreaterThan(0);
      expect(r.peakBytes).toBeGreaterThan(1e6);
      // The memory target's unit: every weight and bias as float32 (conv 72 + 4, hidden 320, fc 15).
      expect(r.weightBytes).toBe(4 * (72 + 4 + 320 + 15));
    }
    expect(refused.weightBytes).toBeNaN();
    expect(refused.refusal).toMatch(/truncated|not a valid ONNX/);
    const table = formatZoo(rows).split('\n');
    expect(table[0]).toMatch(/^model +accepted +fixed units +norm before -> after +output diff +time +peak memory +x weights +refusal$/);
    expect(table).toHaveLength(4);
    const ratio = (cnnRow.peakBytes / cnnRow.weightBytes).toFixed(2);
    expect(table[1]).toContain(` ${ratio}x`);
    expect(table[3]).toMatch(/^c-refused\.onnx +no +.*not a valid ONNX/);
  });
});
