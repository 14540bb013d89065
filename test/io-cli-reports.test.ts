/**
 * Reports a person can read (issue 13, points 2 and 4), through the CLI: what a state dict's
 * reader assumed (the activation) in the summary and in --json, `--activation` to give it,
 * folded BatchNorms grouped in one line, and an unfoldable BatchNormalization reported as such.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readOnnx } from '../src/index.js';
import { Random } from '../src/network/random.js';
import { model, node, randn, tensor, valueInfo } from './onnx/build.js';
import { runCli } from './support/runCli.js';

const run = runCli;

/** An nn.Sequential(Linear(3, 4), Act, Linear(4, 2)) state dict, no metadata. */
function stateDict(rng: Random): Uint8Array {
  const tensors: Record<string, Float32Array> = { '0.weight': randn(rng, [4, 3], 0.5, 1), '0.bias': randn(rng, [4]), '2.weight': randn(rng, [2, 4], 0.5, 1) };
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const [name, v] of Object.entries(tensors)) {
    header[name] = { dtype: 'F32', shape: name === '0.bias' ? [4] : name === '0.weight' ? [4, 3] : [2, 4], data_offsets: [offset, offset + v.byteLength] };
    offset += v.byteLength;
  }
  const text = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + text.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  let at = 8 + text.length;
  for (const v of Object.values(tensors)) {
    out.set(new Uint8Array(v.buffer), at);
    at += v.byteLength;
  }
  return out;
}

/** Three Conv -> BatchNormalization -> Relu stages, and a BatchNormalization after a residual sum (unfoldable). */
function batchNormModel(rng: Random): Uint8Array {
  const initializer: object[] = [];
  const nodes: object[] = [];
  const bn = (name: string, input: string, output: string, channels: number): void => {
    initializer.push(
      tensor(
        `${name}.scale`,
        [channels],
        Float32Array.from({ length: channels }, () => 0.5 + rng.uniform()),
      ),
      tensor(`${name}.B`, [channels], randn(rng, [channels], 0.2)),
      tensor(`${name}.mean`, [channels], randn(rng, [channels], 0.2)),
      tensor(
        `${name}.var`,
        [channels],
        Float32Array.from({ length: channels }, () => 0.5 + rng.uniform()),
      ),
    );
    nodes.push(node('BatchNormalization', [input, `${name}.scale`, `${name}.B`, `${name}.mean`, `${name}.var`], [output], {}, name));
  };
  let x = 'x';
  for (let k = 0; k < 3; k++) {
    initializer.push(tensor(`c${k}.w`, [3, 3, 3, 3], randn(rng, [3, 3, 3, 3], 0.4, 1)));
    nodes.push(node('Conv', [x, `c${k}.w`], [`c${k}`], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, `conv${k}`));
    bn(`bn${k}`, `c${k}`, `n${k}`, 3);
    nodes.push(node('Relu', [`n${k}`], [`r${k}`], {}, `relu${k}`));
    x = `r${k}`;
  }
  nodes.push(node('Add', ['r0', 'r2'], ['sum'], {}, 'residual'));
  bn('bn_after_sum', 'sum', 'y', 3);
  return model({ input: [valueInfo('x', [1, 3, 5, 5])], output: [valueInfo('y', [1, 3, 5, 5])], initializer, node: nodes });
}

describe('CLI reports', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wb-io-reports-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a state dict without --activation: the summary and --json say ReLU was assumed; --activation tanh is used and said', async () => {
    const input = join(dir, 'sd.safetensors');
    await writeFile(input, stateDict(new Random(1)));
    const human = await run(['balance', input, '--backend', 'cpu']);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/notes\n {2}the state dict does not say its activations: ReLU is assumed/);
    const json = JSON.parse((await run(['balance', input, '--backend', 'cpu', '--json'])).stdout) as { notes: string[] };
    expect(json.notes.join(' ')).toMatch(/ReLU is assumed/);
    const tanh = JSON.parse((await run(['balance', input, '--backend', 'cpu', '--json', '--activation', 'tanh'])).stdout) as {
      notes: string[];
      finalNorm: number;
      initialNorm: number;
    };
    expect(tanh.notes.join(' ')).toMatch(/activation between layers: tanh, from the caller/);
    expect(tanh.notes.join(' ')).not.toMatch(/assumed/);
    // Tanh units cannot move: nothing to balance.
    expect(tanh.finalNorm).toBeCloseTo(tanh.initialNorm, 12);
    const leaky = JSON.parse((await run(['balance', input, '--backend', 'cpu', '--json', '--activation', 'leaky_relu:0.1'])).stdout) as { notes: string[] };
    expect(leaky.notes.join(' ')).toMatch(/leaky_relu \(negative slope 0\.1\)/);
    const bad = await run(['balance', input, '--activation', 'swish']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/--activation: unknown activation 'swish'/);
  });

  it('folded BatchNormalizations are one summary line; one after a residual sum is reported as unfoldable, each fixed layer listed once', async () => {
    const bytes = batchNormModel(new Random(2));
    const input = join(dir, 'bn.onnx');
    await writeFile(input, bytes);
    const imported = readOnnx(bytes);
    expect(imported.foldedBatchNorms).toEqual(['bn0', 'bn1', 'bn2']);
    expect(imported.fixedUnits.map((f) => [f.node, f.modelled])).toEqual([['bn_after_sum', 'unfoldable']]);
    const human = await run(['balance', input, '--backend', 'cpu']);
    expect(human.code).toBe(0);
    const lines = human.stdout.split('\n');
    expect(lines.filter((l) => /BatchNormalization node/.test(l))).toEqual([
      expect.stringMatching(/3 BatchNormalization nodes are folded .*'bn0', 'bn1', 'bn2'$/),
    ]);
    expect(human.stdout).toMatch(/BatchNormalization 'bn_after_sum' \(a BatchNormalization that cannot be folded/);
    expect(human.stdout).not.toMatch(/op not supported/);
    const json = JSON.parse((await run(['balance', input, '--backend', 'cpu', '--json'])).stdout) as { fixedUnits: Array<{ layer: number; reason: string }> };
    const layers = json.fixedUnits.map((f) => f.layer);
    expect(new Set(layers).size).toBe(layers.length);
    expect(json.fixedUnits.every((f) => f.reason === 'unfoldable-batchnorm')).toBe(true);
  });
});
