/**
 * ONNX import and export at their edges: a BFLOAT16 value that rounds to infinity is refused,
 * hostile dims and external-data names cannot reach prototypes or huge allocations, external
 * data shared between initializers, subgraphs, and activations after max-pooling.
 */
import { describe, expect, it } from 'vitest';
import { balance } from '../src/balance.js';
import { readOnnx, writeOnnx, writeOnnxFiles } from '../src/io/onnx/index.js';
import { forward } from '../src/network/forward.js';
import { model, node, relativeError, runOrt, tensor, valueInfo } from './onnx/build.js';
import { refusal } from './support/refusal.js';

describe('narrow float formats refuse values they cannot hold', () => {
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
    node: [node('Gemm', ['x', 'w1'], ['z1'], { transB: 1 }, 'fc1'), node('Relu', ['z1'], ['a1']), node('Gemm', ['a1', 'w2'], ['y'], { transB: 1 }, 'fc2')],
  });
}

describe('ONNX initializers with hostile dims or external-data names', () => {
  it('negative or huge dims are refused by name, before any allocation', () => {
    for (const dims of [
      [-3, 4],
      [-3, -4],
      [4e12, 4],
      [2 ** 40, 2 ** 20],
    ]) {
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

describe('ONNX external data shared between initializers', () => {
  /** Three Gemms; w1 and w2 are external, at the given byte offsets of 'w.bin'. */
  function sharedModel(offsets: [number, number]): { bytes: Uint8Array; data: Uint8Array } {
    const ext = (name: string, offset: number): object => ({
      name,
      dims: [4, 4],
      dataType: 1,
      dataLocation: 1,
      externalData: [
        { key: 'location', value: 'w.bin' },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: '64' },
      ],
    });
    const bytes = model({
      input: [valueInfo('x', ['N', 4])],
      output: [valueInfo('y', ['N', 2])],
      initializer: [
        ext('w1', offsets[0]),
        ext('w2', offsets[1]),
        tensor(
          'w3',
          [2, 4],
          Float32Array.from({ length: 8 }, (_, k) => k - 3),
        ),
      ],
      node: [
        node('Gemm', ['x', 'w1'], ['z1'], { transB: 1 }, 'fc1'),
        node('Relu', ['z1'], ['a1']),
        node('Gemm', ['a1', 'w2'], ['z2'], { transB: 1 }, 'fc2'),
        node('Relu', ['z2'], ['a2']),
        node('Gemm', ['a2', 'w3'], ['y'], { transB: 1 }, 'fc3'),
      ],
    });
    const data = new Uint8Array(Float32Array.from({ length: 32 }, (_, k) => Math.exp(2 * Math.sin(k)) * ((k % 3) - 1)).buffer);
    return { bytes, data };
  }

  it('two rewritten initializers over the same or overlapping bytes (deduplicated weights) are refused, naming both', () => {
    for (const offsets of [
      [0, 0],
      [0, 32],
      [32, 0],
    ] as [number, number][]) {
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
    const ifNode = {
      opType: 'If',
      input: ['cond'],
      output: ['b'],
      name: 'branch',
      attribute: [
        { name: 'then_branch', type: 5, g: branch('then') },
        { name: 'else_branch', type: 5, g: branch('else') },
      ],
    };
    return model({
      input: [valueInfo('x', ['N', 4])],
      output: [valueInfo('y', ['N', 2])],
      initializer: [
        tensor(
          'w1',
          [3, 4],
          new Float32Array(12).map((_, k) => (k % 5) - 2),
        ),
        tensor('w2', [2, 3], new Float32Array(6).fill(0.5)),
        { name: 'cond', dims: [], dataType: 9, rawData: new Uint8Array([1]) },
      ],
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

describe('ONNX activations after max-pooling', () => {
  it('a LeakyRelu with a negative slope (not monotone) after a MaxPool: the network computes what onnxruntime computes', async () => {
    const w = Float32Array.from({ length: 18 }, (_, k) => Math.cos(3 * k + 1));
    for (const alpha of [0.2, -0.5]) {
      const bytes = model({
        input: [valueInfo('x', [1, 1, 4, 4])],
        output: [valueInfo('y', [1, 2])],
        initializer: [
          tensor('w', [2, 1, 3, 3], w),
          tensor(
            'v',
            [2, 8],
            Float32Array.from({ length: 16 }, (_, k) => Math.sin(k + 2)),
          ),
        ],
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
