/**
 * Hardening found in review: the caller's network shares nothing with a result, values that a
 * narrow float format cannot hold are refused instead of written as infinities, ONNX dims and
 * external-data names cannot reach prototypes or huge allocations, and the CLI refuses a bad
 * option or output path before any work.
 */
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { balance } from '../src/balance.js';
import { main } from '../src/cli/main.js';
import { readOnnx, writeOnnx, writeOnnxFiles } from '../src/io/onnx/index.js';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors.js';
import { mlp, cnn, sequential } from '../src/network/builders.js';
import { forward } from '../src/network/forward.js';
import { rescale } from '../src/network/rescale.js';
import { validateNetwork } from '../src/network/validate.js';
import type { Network } from '../src/network/types.js';
import { model, node, relativeError, runOrt, tensor, valueInfo } from './onnx/build.js';
import { residualNet } from './support/fixNets.js';
import { refusal } from './support/refusal.js';

/** Every object or array reachable from `value` except typed arrays (which rescale replaces). */
function structure(value: unknown, seen = new Set<object>()): Set<object> {
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value) || seen.has(value)) return seen;
  seen.add(value);
  for (const v of Object.values(value)) structure(v, seen);
  return seen;
}

describe('a result shares no object with the caller\'s network', () => {
  it('balance and rescale return new layers, shapes, pools, skips, fixed lists, strides, paddings, storage and ties', async () => {
    const residual = residualNet(3);
    residual.layers[2].fixed = [1];
    const conv = cnn({ seed: 2 });
    conv.blocks[0].storage = { weight: 'bfloat16' };
    for (const net of [residual, conv]) {
      const before = structuredClone(net);
      const result = await balance(net, { p: 2, q: 2, backend: 'cpu', maxSweeps: 3 });
      const zero = net.layers.map((l) => new Float64Array(l.shape[0]));
      for (const out of [result.network, rescale(net, zero)]) {
        const mine = structure(net);
        const shared = [...structure(out)].filter((o) => mine.has(o));
        expect(shared).toEqual([]);
        // Writing through the result leaves the input as it was.
        out.layers[1].shape[0] = 999;
        out.blocks[0].shape[0] = 999;
        if (out.ties) out.ties[0][0].unit = 999;
      }
      expect(net).toEqual(before);
    }
  });
});

describe('narrow float formats refuse values they cannot hold', () => {
  it('safetensors: a bfloat16 tensor whose value rounds to infinity is refused, naming it', () => {
    const net = mlp([3, 4, 2], { seed: 1 });
    net.blocks[0].storage = { weight: 'bfloat16' };
    net.blocks[0].weight[5] = 3.4e38; // finite in float32, beyond the largest bfloat16
    const before = structuredClone(net);
    expect(refusal(() => writeSafetensors(net))).toMatch(/'0\.weight'.*entry 5.*bfloat16/);
    expect(net).toEqual(before);
    net.blocks[0].weight[5] = -3.38e38; // the largest bfloat16 still is written and read back
    expect(readSafetensors(writeSafetensors(net)).blocks[0].weight[5]).toBeLessThan(-3.3e38);
  });

  it('ONNX: a BFLOAT16 initializer whose balanced value rounds to infinity is refused', async () => {
    const bits = new Uint8Array(24);
    const dv = new DataView(bits.buffer);
    for (let k = 0; k < 12; k++) dv.setUint16(2 * k, 0x3f80, true); // 1.0
    const onnx = readOnnx(mlpModel({ name: 'w1', dims: [3, 4], dataType: 16, rawData: bits }));
    const result = await balance(onnx.network, { p: 2, q: 2, backend: 'cpu', maxSweeps: 0 });
    result.network.blocks[0].weight[0] = 3.4e38;
    expect(refusal(() => writeOnnx(onnx, result.network))).toMatch(/'w1'.*does not fit BFLOAT16/);
  });
});

/** Gemm(4 -> 3) -> Relu -> Gemm(3 -> 2) with the given first weight initializer. */
function mlpModel(w1: object): Uint8Array {
  return model({
    input: [valueInfo('x', ['N', 4])],
    output: [valueInfo('y', ['N', 2])],
    initializer: [w1, tensor('w2', [2, 3], new Float32Array(6).fill(0.5))],
    node: [
      node('Gemm', ['x', 'w1'], ['z1'], { transB: 1 }, 'fc1'),
      node('Relu', ['z1'], ['a1']),
      node('Gemm', ['a1', 'w2'], ['y'], { transB: 1 }, 'fc2'),
    ],
  });
}

describe('ONNX initializers with hostile dims or external-data names', () => {
  it('negative or huge dims are refused by name, before any allocation', () => {
    for (const dims of [[-3, 4], [-3, -4], [4e12, 4], [2 ** 40, 2 ** 20]]) {
      const message = refusal(() => readOnnx(mlpModel({ name: 'w1', dims, dataType: 1, rawData: new Uint8Array(48) })));
      expect(message).toContain("'w1'");
    }
  });

  it("an external-data location named like an Object.prototype member ('constructor', '__proto__') is a missing file", () => {
    for (const location of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      const w1 = { name: 'w1', dims: [3, 4], dataType: 1, dataLocation: 1, externalData: [{ key: 'location', value: location }] };
      expect(refusal(() => readOnnx(mlpModel(w1)))).toMatch(new RegExp(`'w1'.*'${location}', which was not provided`));
    }
  });
});

describe('rescale and balance check what they are given', () => {
  it('rescale refuses an invalid network and missing log factors by name', () => {
    const net = mlp([3, 4, 2], { seed: 0 });
    const zero = net.layers.map((l) => new Float64Array(l.shape[0]));
    const broken = structuredClone(net);
    broken.blocks[1].weight = new Float32Array(7); // shape [2, 4] needs 8
    expect(refusal(() => rescale(broken, zero))).toMatch(/block 1.*7 entries/);
    const holes = [zero[0], undefined, zero[2]] as unknown as Float64Array[];
    expect(refusal(() => rescale(net, holes))).toMatch(/layer 1/);
  });

  it('balance refuses an onSweep that is not a function before any sweep', async () => {
    const net = mlp([3, 4, 2], { seed: 0 });
    await expect(balance(net, { p: 2, q: 2, backend: 'cpu', onSweep: 5 as never })).rejects.toThrow(/onSweep must be a function/);
  });
});

describe('builders and forward refuse malformed arguments by name', () => {
  it('sequential: a fractional or non-positive size, an unknown dtype', () => {
    expect(refusal(() => sequential([3], [{ type: 'dense', units: 2.5 }]))).toMatch(/units/);
    expect(refusal(() => sequential([3], [{ type: 'dense', units: -2 }]))).toMatch(/units/);
    expect(refusal(() => sequential([3, 5, 5], [{ type: 'conv', channels: 3, kernel: 2.5 }]))).toMatch(/kernel/);
    expect(refusal(() => sequential([3, 5, 5], [{ type: 'conv', channels: 3, kernel: 3, stride: 0 }]))).toMatch(/stride/);
    expect(refusal(() => sequential([3, 5, 5], [{ type: 'conv', channels: 3, kernel: 3, padding: -1 }]))).toMatch(/padding/);
    expect(refusal(() => sequential([3.5], [{ type: 'dense', units: 2 }]))).toMatch(/input/);
    expect(refusal(() => mlp([3, 4, 2], { dtype: 'float16' as never }))).toMatch(/dtype/);
  });

  it('forward: a batch that is not a non-negative integer', () => {
    const net = mlp([2, 3, 2], { seed: 0 });
    expect(refusal(() => forward(net, [1, 2, 3], 1.5))).toMatch(/batch/);
  });

  it('forward: inputs that are not an array', () => {
    const net = mlp([2, 3, 2], { seed: 0 });
    expect(refusal(() => forward(net, undefined as never))).toBe('forward: inputs must be an array of numbers, got undefined');
    expect(refusal(() => forward(net, 7 as never))).toBe('forward: inputs must be an array of numbers, got number');
  });
});

describe('ONNX external data shared between initializers', () => {
  /** Three Gemms; w1 and w2 are external, at the given byte offsets of 'w.bin'. */
  function sharedModel(offsets: [number, number]): { bytes: Uint8Array; data: Uint8Array } {
    const ext = (name: string, offset: number): object => ({
      name, dims: [4, 4], dataType: 1, dataLocation: 1,
      externalData: [{ key: 'location', value: 'w.bin' }, { key: 'offset', value: String(offset) }, { key: 'length', value: '64' }],
    });
    const bytes = model({
      input: [valueInfo('x', ['N', 4])],
      output: [valueInfo('y', ['N', 2])],
      initializer: [ext('w1', offsets[0]), ext('w2', offsets[1]), tensor('w3', [2, 4], Float32Array.from({ length: 8 }, (_, k) => k - 3))],
      node: [
        node('Gemm', ['x', 'w1'], ['z1'], { transB: 1 }, 'fc1'), node('Relu', ['z1'], ['a1']),
        node('Gemm', ['a1', 'w2'], ['z2'], { transB: 1 }, 'fc2'), node('Relu', ['z2'], ['a2']),
        node('Gemm', ['a2', 'w3'], ['y'], { transB: 1 }, 'fc3'),
      ],
    });
    const data = new Uint8Array(Float32Array.from({ length: 32 }, (_, k) => Math.exp(2 * Math.sin(k)) * ((k % 3) - 1)).buffer);
    return { bytes, data };
  }

  it('two rewritten initializers over the same or overlapping bytes (deduplicated weights) are refused, naming both', () => {
    for (const offsets of [[0, 0], [0, 32], [32, 0]] as [number, number][]) {
      const { bytes, data } = sharedModel(offsets);
      expect(refusal(() => readOnnx(bytes, { externalData: { 'w.bin': data } }))).toMatch(/'w[12]'.*'w[12]'.*'w\.bin'/);
    }
  });

  it('disjoint ranges in one file are balanced and written back exactly', async () => {
    const { bytes, data } = sharedModel([0, 64]);
    const onnx = readOnnx(bytes, { externalData: { 'w.bin': data } });
    const result = await balance(onnx.network, { p: 2, q: 2, backend: 'cpu' });
    const files = writeOnnxFiles(onnx, result.network);
    const again = readOnnx(files.model, { externalData: files.externalData });
    const x = [0.3, -1, 2, 0.5];
    expect(relativeError(forward(again.network, x), forward(onnx.network, x))).toBeLessThan(1e-5);
    again.network.blocks.forEach((b, k) => expect(relativeError(b.weight, result.network.blocks[k].weight)).toBeLessThan(1e-6));
  });
});

describe('validateNetwork', () => {
  it('skips and fixed units that are not arrays, a pool window or stride that is not two integers: refused by name', () => {
    const base = cnn({ seed: 0 });
    const variants: Array<(n: Network) => void> = [
      (n) => { (n.layers[1] as { skips: unknown }).skips = 0; },
      (n) => { (n.layers[1] as { fixed: unknown }).fixed = 3; },
      (n) => { n.layers[1].pool!.size = [2] as unknown as [number, number]; },
      (n) => { n.layers[1].pool!.stride = [2, 2, 2] as unknown as [number, number]; },
    ];
    for (const change of variants) {
      const net = structuredClone(base);
      change(net);
      expect(refusal(() => validateNetwork(net))).toMatch(/layer 1 \('hidden1'\): (skips|fixed|pool size)/);
    }
  });

  it('a layer name that is not a string (which the safetensors reader would refuse) is refused', () => {
    const net = mlp([3, 4, 2], { seed: 0 });
    (net.layers[1] as { name: unknown }).name = 5;
    expect(refusal(() => writeSafetensors(net))).toMatch(/layer 1: name must be a string/);
  });

  it('an activation or a pooling on the input layer (which forward would ignore) is refused', () => {
    const net = cnn({ seed: 0 });
    const relu = structuredClone(net);
    relu.layers[0].activation = 'relu';
    expect(refusal(() => validateNetwork(relu))).toMatch(/layer 0 \('input'\): the input layer must have the identity activation/);
    const pooled = structuredClone(net);
    pooled.layers[0].pool = { kind: 'max', size: [2, 2], stride: [2, 2] };
    expect(refusal(() => validateNetwork(pooled))).toMatch(/layer 0 \('input'\).*no pooling/);
  });

  it('ties that are not arrays of unit references are refused by name', () => {
    const net = mlp([3, 4, 2], { seed: 0 });
    for (const ties of [5, [5], [[null]], [{ layer: 1, unit: 0 }], [[{ layer: 'length', unit: 0 }]], [[{ layer: '__proto__', unit: 0 }]]]) {
      expect(refusal(() => validateNetwork({ ...net, ties } as unknown as Network))).toMatch(/tie/);
    }
  });
});

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

  async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = '';
    let stderr = '';
    const code = await main(argv, { out: (t) => { stdout += t; }, err: (t) => { stderr += t; }, isTTY: false });
    return { code, stdout, stderr };
  }

  it('an output path that is an existing directory: no sweep runs, nothing is written', async () => {
    const target = join(dir, 'out.safetensors');
    await mkdir(target);
    for (const argv of [['balance', input, '--backend', 'cpu', '--json', '-o', target], ['make-net', '--arch', '3,4,2', '-o', target]]) {
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
    for (const [flag, pattern] of [['--max-sweeps=-1', /maxSweeps|max-sweeps/], ['--tol=-1', /tol/], ['--tol=Infinity', /tol/]] as const) {
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
    const fig2 = await run(['fig2', '--arch', '3,4,2', '--arch', '3,5,2', '--pq', '2,2', '--schedule', 'parallel', '--max-sweeps', '3', '--csv', join(dir, 'f.csv')]);
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

describe('ONNX subgraphs', () => {
  /** fc1 -> Relu a1 -> fc2 z2; y = z2 + If(true) { then: Relu(a1) -> fc3, else: the same }. */
  function ifModel(capture: string, width = 3): Uint8Array {
    const branch = (name: string): object => ({
      name,
      node: [node('Relu', [capture], [`${name}_r`]), node('MatMul', [`${name}_r`, `${name}_w`], [`${name}_y`])],
      initializer: [tensor(`${name}_w`, [width, 2], new Float32Array(2 * width).fill(0.25))],
      input: [],
      output: [valueInfo(`${name}_y`, ['N', 2])],
    });
    const ifNode = { opType: 'If', input: ['cond'], output: ['b'], name: 'branch', attribute: [{ name: 'then_branch', type: 5, g: branch('then') }, { name: 'else_branch', type: 5, g: branch('else') }] };
    return model({
      input: [valueInfo('x', ['N', 4])],
      output: [valueInfo('y', ['N', 2])],
      initializer: [tensor('w1', [3, 4], new Float32Array(12).map((_, k) => (k % 5) - 2)), tensor('w2', [2, 3], new Float32Array(6).fill(0.5)), { name: 'cond', dims: [], dataType: 9, rawData: new Uint8Array([1]) }],
      node: [
        node('Gemm', ['x', 'w1'], ['z1'], { transB: 1 }, 'fc1'),
        node('Relu', ['z1'], ['a1']),
        node('Gemm', ['a1', 'w2'], ['z2'], { transB: 1 }, 'fc2'),
        ifNode,
        node('Add', ['z2', 'b'], ['y'], {}, 'sum'),
      ],
    });
  }

  it('a subgraph that reads a hidden activation of the outer graph is refused, naming the node and the tensor', () => {
    expect(refusal(() => readOnnx(ifModel('a1')))).toMatch(/'branch'.*'a1'/);
  });

  it('a subgraph that reads only the graph input (whose units are fixed) is kept', async () => {
    const bytes = ifModel('x', 4);
    const onnx = readOnnx(bytes);
    const result = await balance(onnx.network, { p: 2, q: 2, backend: 'cpu' });
    const written = writeOnnx(onnx, result.network);
    const x = Float32Array.from({ length: 8 }, (_, k) => Math.sin(k + 1));
    const [before, after] = [await runOrt(bytes, x, [2, 4]), await runOrt(written, x, [2, 4])];
    for (let k = 0; k < before.length; k++) expect(after[k]).toBeCloseTo(before[k], 5);
    expect(result.finalNorm).toBeLessThan(result.initialNorm);
  });
});

describe('safetensors: the data section is exactly covered by the tensors (no polyglot files)', () => {
  /** A file of one dense layer `0` with its header patched by `patch` and `extra` bytes appended to the data. */
  function file(patch: (header: Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>) => void, extra = 0, rawHeader?: (text: string) => string): Uint8Array {
    const good = writeSafetensors(mlp([2, 2], { seed: 0 }));
    const n = Number(new DataView(good.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(good.subarray(8, 8 + n)));
    const data = good.subarray(8 + n);
    patch(header);
    const text = new TextEncoder().encode(rawHeader ? rawHeader(JSON.stringify(header)) : JSON.stringify(header));
    const out = new Uint8Array(8 + text.length + data.length + extra);
    new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
    out.set(text, 8);
    out.set(data, 8 + text.length);
    return out;
  }

  it('accepts the library\'s own files', () => {
    expect(readSafetensors(file(() => undefined)).blocks).toHaveLength(1);
  });

  it('refuses bytes after the last tensor, a gap between tensors, and a duplicated tensor name hiding a range', () => {
    expect(refusal(() => readSafetensors(file(() => undefined, 8)))).toMatch(/8 bytes .*not part of any tensor|not covered/);
    // Bias first at [16, 24], weight at [0, 16] -> move the bias to [24, 32] in a file 8 bytes longer.
    expect(refusal(() => readSafetensors(file((h) => { h['0.bias'].data_offsets = [24, 32]; }, 8)))).toMatch(/\[16, 24\).*not part of any tensor/);
    // Two '0.bias' entries: JSON keeps the last; the first one's bytes must not go unnoticed.
    const duplicated = file((h) => { h['0.bias'].data_offsets = [24, 32]; }, 8, (text) => text.replace('"0.bias":', '"0.bias":{"dtype":"F32","shape":[2],"data_offsets":[16,24]},"0.bias":'));
    expect(refusal(() => readSafetensors(duplicated))).toMatch(/'0\.bias'.*twice|duplicate|not part of any tensor/);
  });
});

describe('fig2 refuses before its first run', () => {
  async function run(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = '';
    let stderr = '';
    const code = await main(argv, { out: (t) => { stdout += t; }, err: (t) => { stderr += t; }, isTTY: false });
    return { code, stdout, stderr };
  }

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

describe('ONNX activations after max-pooling', () => {
  it('a LeakyRelu with a negative slope (not monotone) after a MaxPool: the network computes what onnxruntime computes', async () => {
    const w = Float32Array.from({ length: 18 }, (_, k) => Math.cos(3 * k + 1));
    for (const alpha of [0.2, -0.5]) {
      const bytes = model({
        input: [valueInfo('x', [1, 1, 4, 4])],
        output: [valueInfo('y', [1, 2])],
        initializer: [tensor('w', [2, 1, 3, 3], w), tensor('v', [2, 8], Float32Array.from({ length: 16 }, (_, k) => Math.sin(k + 2)))],
        node: [
          node('Conv', ['x', 'w'], ['c'], { pads: [1, 1, 1, 1] }, 'conv'),
          node('MaxPool', ['c'], ['m'], { kernel_shape: [2, 2], strides: [2, 2] }, 'pool'),
          node('LeakyRelu', ['m'], ['a'], { alpha: { float: alpha } }, 'leaky'),
          node('Flatten', ['a'], ['f'], {}, 'flat'),
          node('Gemm', ['f', 'v'], ['y'], { transB: 1 }, 'fc'),
        ],
      });
      const x = Float32Array.from({ length: 16 }, (_, k) => Math.sin(5 * k + 3));
      const onnx = readOnnx(bytes);
      expect(relativeError(await runOrt(bytes, x, [1, 1, 4, 4]), forward(onnx.network, x, 1))).toBeLessThan(1e-5);
    }
  });
});

describe('Node Buffers (whose slice() is a view, not a copy)', () => {
  it('readSafetensors reads a Buffer (pooled, at an offset) exactly, and its weights share no memory with it', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      const net = mlp([3, 4, 2], { seed: 1, dtype, biasScale: 0.1 });
      const bytes = writeSafetensors(net);
      for (const buffer of [Buffer.from(bytes), Buffer.concat([Buffer.from('prefix!'), Buffer.from(bytes)]).subarray(7)]) {
        const before = Buffer.from(buffer);
        const read = readSafetensors(buffer);
        expect(read).toEqual(net);
        for (const b of read.blocks) {
          expect(b.weight.buffer).not.toBe(buffer.buffer);
          b.weight.fill(7);
        }
        expect(buffer.equals(before)).toBe(true);
      }
    }
  });
});
