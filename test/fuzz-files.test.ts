/**
 * Hostile and corrupted model files (issue 14, points 2 and 3): every file is either read into a
 * valid network or refused with a WeightBalanceError whose message is bounded, never another
 * error (no RangeError from deep nesting), and the caller's bytes are never modified. Long but
 * valid files (20,000-layer state dicts, ONNX chains of 30,000 nodes) are read; what passes the
 * declared bounds is refused by name. Random corruptions are seeded; a failure prints its seed.
 */
import { describe, expect, it } from 'vitest';
import { MAX_MESSAGE_CHARS, WeightBalanceError } from '../src/errors.js';
import { jsonDepth, MAX_JSON_DEPTH, MAX_LAYERS } from '../src/io/limits.js';
import { readOnnx } from '../src/io/onnx/index.js';
import { GRAPH_METADATA_KEY, readSafetensors, writeSafetensors } from '../src/io/safetensors.js';
import { cnn, mlp } from '../src/network/builders.js';
import { Random } from '../src/network/random.js';
import type { Network } from '../src/network/types.js';
import { validateNetwork } from '../src/network/validate.js';
import { model, node, randn, tensor, valueInfo } from './onnx/build.js';

// ------------------------------------------------------------------ helpers

type Outcome = 'read' | 'refused';

/** Read `bytes`; a refusal must be a bounded WeightBalanceError, and the bytes stay unchanged. */
function outcome(read: (bytes: Uint8Array) => unknown, bytes: Uint8Array, label: string): Outcome {
  const before = bytes.slice();
  let result: Outcome = 'read';
  try {
    read(bytes);
  } catch (error) {
    if (!(error instanceof WeightBalanceError)) {
      throw new Error(
        `${label}: expected a WeightBalanceError, got ${error instanceof Error ? `${error.name}: ${error.message.slice(0, 200)}` : String(error)}`,
      );
    }
    if (error.message.length > MAX_MESSAGE_CHARS) throw new Error(`${label}: a message of ${error.message.length} characters`);
    result = 'refused';
  }
  if (!bytes.every((b, i) => b === before[i])) throw new Error(`${label}: the caller's bytes were modified`);
  return result;
}

function refusedMessage(read: () => unknown): string {
  try {
    read();
  } catch (error) {
    expect(error).toBeInstanceOf(WeightBalanceError);
    expect((error as Error).message.length).toBeLessThanOrEqual(MAX_MESSAGE_CHARS);
    return (error as Error).message;
  }
  throw new Error('expected a refusal, the file was read');
}

/** A safetensors file from a header object (or text) and a data section. */
function safetensorsBytes(header: Record<string, unknown> | string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const text = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + text.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  return out;
}

/** The header of a safetensors file, parsed, and its data section. */
function split(bytes: Uint8Array): { header: Record<string, unknown>; data: Uint8Array } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { header: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))), data: bytes.subarray(8 + n) };
}

/** `depth` nested arrays around a value, as JSON text (built without recursion). */
function nested(depth: number, inner = '1'): string {
  return '['.repeat(depth) + inner + ']'.repeat(depth);
}

/** A chain of `n` Linear(1, 1) layers as an nn.Sequential state dict (names only, no metadata). */
function longStateDict(n: number, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  for (let k = 0; k < n; k++) header[`${k}.weight`] = { dtype: 'F32', shape: [1, 1], data_offsets: [4 * k, 4 * k + 4] };
  return safetensorsBytes(header, new Uint8Array(Float32Array.from({ length: n }, (_, k) => 1 + (k % 7) / 8).buffer));
}

/** An ONNX chain: Gemm, then `n` LeakyRelu nodes, then a Gemm to the output. */
function longOnnxChain(n: number): Uint8Array {
  const rng = new Random(5);
  const nodes = [node('Gemm', ['x', 'w0'], ['h0'], { transB: 1 }, 'fc0')];
  for (let k = 0; k < n; k++) nodes.push(node('LeakyRelu', [`h${k}`], [`h${k + 1}`], { alpha: { float: 0.1 } }, `act${k}`));
  nodes.push(node('Gemm', [`h${n}`, 'w1'], ['y'], { transB: 1 }, 'fc1'));
  return model({
    input: [valueInfo('x', ['N', 3])],
    output: [valueInfo('y', ['N', 2])],
    initializer: [tensor('w0', [4, 3], randn(rng, [4, 3])), tensor('w1', [2, 4], randn(rng, [2, 4]))],
    node: nodes,
  });
}

/** A small valid ONNX CNN to corrupt: Conv, Relu, MaxPool, Flatten, Gemm. */
function smallOnnx(): Uint8Array {
  const rng = new Random(9);
  return model({
    input: [valueInfo('x', ['N', 2, 6, 6])],
    output: [valueInfo('y', ['N', 3])],
    initializer: [tensor('cw', [4, 2, 3, 3], randn(rng, [4, 2, 3, 3])), tensor('cb', [4], randn(rng, [4])), tensor('fw', [3, 16], randn(rng, [3, 16]))],
    node: [
      node('Conv', ['x', 'cw', 'cb'], ['c'], { kernel_shape: [3, 3] }, 'conv'),
      node('Relu', ['c'], ['r']),
      node('MaxPool', ['r'], ['p'], { kernel_shape: [2, 2], strides: [2, 2] }, 'pool'),
      node('Flatten', ['p'], ['f']),
      node('Gemm', ['f', 'fw'], ['y'], { transB: 1 }, 'fc'),
    ],
  });
}

/** Apply one random corruption: flip, overwrite, insert or delete bytes, or truncate. */
function corrupt(bytes: Uint8Array, rng: Random): Uint8Array {
  const out = Array.from(bytes);
  const edits = 1 + rng.int(4);
  for (let e = 0; e < edits; e++) {
    const at = rng.int(out.length);
    switch (rng.int(5)) {
      case 0:
        out[at] ^= 1 << rng.int(8);
        break;
      case 1:
        out[at] = [0, 0xff, 0x7f, 0x80, 0x22, 0x5b, 0x7b][rng.int(7)];
        break;
      case 2:
        out.splice(at, 0, rng.int(256));
        break;
      case 3:
        out.splice(at, 1 + rng.int(8));
        break;
      default:
        out.length = Math.max(1, at);
    }
  }
  return Uint8Array.from(out);
}

/** Corrupt a safetensors header at the JSON level: a random value replaced by something hostile. */
function corruptHeader(bytes: Uint8Array, rng: Random): Uint8Array {
  const { header, data } = split(bytes);
  const hostile = (): unknown => [nested(300), -1, 2 ** 60, 1.5, 'x'.repeat(5000), null, {}, [], [[1, 2]], '__proto__'][rng.int(10)];
  const names = Object.keys(header).filter((k) => k !== '__metadata__');
  const entry = header[names[rng.int(names.length)]] as Record<string, unknown>;
  const key = ['dtype', 'shape', 'data_offsets'][rng.int(3)];
  const value = hostile();
  entry[key] = typeof value === 'string' && value.startsWith('[') ? JSON.parse(value) : value;
  if (rng.int(2) === 0) {
    const meta = header.__metadata__ as Record<string, string>;
    const graph = JSON.parse(meta[GRAPH_METADATA_KEY]);
    const target = [graph, graph.layers[rng.int(graph.layers.length)], graph.blocks[rng.int(graph.blocks.length)]][rng.int(3)];
    const keys = Object.keys(target);
    const v = hostile();
    target[keys[rng.int(keys.length)]] = typeof v === 'string' && v.startsWith('[') ? JSON.parse(v) : v;
    meta[GRAPH_METADATA_KEY] = JSON.stringify(graph);
  }
  return safetensorsBytes(header, data);
}

/**
 * Steps taken by every Map, Set and Array iterator (for-of, spread, destructuring) while `run`
 * runs: a deterministic count of the work done by loops over collections, so linearity is
 * checked structurally, not by timing.
 */
function iterationSteps(run: () => unknown): number {
  const prototypes = [new Map().entries(), new Set().values(), [][Symbol.iterator]()].map((i) => Object.getPrototypeOf(i) as { next: () => unknown });
  const originals = prototypes.map((p) => p.next);
  let steps = 0;
  prototypes.forEach((p, k) => {
    const next = originals[k];
    p.next = function (this: unknown) {
      steps++;
      return next.call(this);
    };
  });
  try {
    run();
  } finally {
    prototypes.forEach((p, k) => {
      p.next = originals[k];
    });
  }
  return steps;
}

/**
 * Element reads of `net.layers` and `net.blocks` (through proxies) while validating: the
 * quadratic validator of issue 14 filtered every block once per layer.
 */
function validationReads(net: Network): number {
  let reads = 0;
  const counted = <T extends object>(list: T[]): T[] =>
    new Proxy(list, {
      get(target, key, receiver) {
        if (typeof key === 'string' && /^[0-9]+$/.test(key)) reads++;
        return Reflect.get(target, key, receiver);
      },
    });
  validateNetwork({ ...net, layers: counted(net.layers), blocks: counted(net.blocks) });
  return reads;
}

// ------------------------------------------------------------------ deep nesting (14.2)

describe('hostile files: deep nesting', () => {
  const DEEP = 5000;
  // biome-ignore lint/suspicious/noExplicitAny: the graph metadata is mutated freely to build hostile files
  const base = (): { graph: Record<string, any>; weights: Uint8Array } => {
    const bytes = writeSafetensors(mlp([3, 4, 2], { seed: 1 }));
    const { header } = split(bytes);
    return { graph: JSON.parse((header.__metadata__ as Record<string, string>)[GRAPH_METADATA_KEY]), weights: bytes };
  };
  const withGraph = (graphText: string): Uint8Array => {
    const { header, data } = split(base().weights);
    (header.__metadata__ as Record<string, string>)[GRAPH_METADATA_KEY] = graphText;
    return safetensorsBytes(header, data);
  };

  it(`${DEEP} levels in the metadata's version, input, a layer's shape, a block's from: a bounded WeightBalanceError`, () => {
    const { graph } = base();
    const deep = nested(DEEP);
    const texts = {
      version: `{"version":${deep}}`,
      input: `{"version":1,"input":${deep}}`,
      shape: JSON.stringify({ ...graph, layers: [{ ...graph.layers[0], shape: '@' }, ...graph.layers.slice(1)] }).replace('"@"', deep),
      from: JSON.stringify({ ...graph, blocks: [{ ...graph.blocks[0], from: '@' }, ...graph.blocks.slice(1)] }).replace('"@"', deep),
      ties: JSON.stringify({ ...graph, ties: '@' }).replace('"@"', deep),
    };
    for (const [where, text] of Object.entries(texts)) {
      const message = refusedMessage(() => readSafetensors(withGraph(text)));
      expect(message, where).toMatch(new RegExp(`more than ${MAX_JSON_DEPTH} levels deep`));
    }
  });

  it('nesting just inside the bound is read as a value and refused for what it is, with a short message', () => {
    const { graph } = base();
    const text = JSON.stringify({ ...graph, layers: [{ ...graph.layers[0], shape: '@' }, ...graph.layers.slice(1)] }).replace(
      '"@"',
      nested(MAX_JSON_DEPTH - 4),
    );
    const message = refusedMessage(() => readSafetensors(withGraph(text)));
    expect(message).toMatch(/layers\[0\]\.shape\[0\] must be an integer/);
    expect(message.length).toBeLessThan(300);
  });

  it(`${DEEP} levels in the header itself (a tensor's shape) are refused`, () => {
    const header = `{"0.weight":{"dtype":"F32","shape":${nested(DEEP)},"data_offsets":[0,4]}}`;
    expect(refusedMessage(() => readSafetensors(safetensorsBytes(header, new Uint8Array(4))))).toMatch(/header nests/);
  });

  it('jsonDepth counts brackets outside strings only', () => {
    expect(jsonDepth('{"a":[[1],{"b":"[[[[["}]}')).toBe(3);
    expect(jsonDepth('"\\"[[["')).toBe(0);
    expect(jsonDepth(nested(100), 10)).toBe(11);
  });

  it('ONNX subgraphs nested beyond the decoder bound are refused, not a stack overflow', () => {
    // A Model whose graph holds a node whose attribute holds a graph ... 200 levels deep, by hand.
    const varint = (n: number): number[] => {
      const out: number[] = [];
      while (n >= 0x80) {
        out.push((n & 0x7f) | 0x80);
        n >>>= 7;
      }
      out.push(n);
      return out;
    };
    const field = (key: number, payload: number[]): number[] => [...varint((key << 3) | 2), ...varint(payload.length), ...payload];
    let graph: number[] = [];
    for (let k = 0; k < 200; k++) graph = field(1, field(5, field(6, graph))); // Graph.node -> Node.attribute -> Attribute.g
    const bytes = Uint8Array.from([8, 8, ...field(7, graph)]);
    expect(refusedMessage(() => readOnnx(bytes))).toMatch(/not a valid ONNX model/);
  });
});

// ------------------------------------------------------------------ declared sizes and long chains (14.3)

describe('hostile files: huge declared sizes, long chains', () => {
  it('huge declared lengths, shapes and offsets are refused without allocating them', () => {
    const huge = safetensorsBytes({ '0.weight': { dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 4] } }, new Uint8Array(4));
    expect(refusedMessage(() => readSafetensors(huge))).toMatch(/needs/);
    const offsets = safetensorsBytes({ '0.weight': { dtype: 'F32', shape: [1, 1], data_offsets: [0, 2 ** 52] } }, new Uint8Array(4));
    expect(refusedMessage(() => readSafetensors(offsets))).toMatch(/leave the file/);
    const length = new Uint8Array(16);
    new DataView(length.buffer).setBigUint64(0, 2n ** 63n, true);
    expect(refusedMessage(() => readSafetensors(length))).toMatch(/larger than allowed/);
  });

  it(`a graph declaring more than ${MAX_LAYERS} layers is refused by that bound`, () => {
    const { header, data } = split(writeSafetensors(mlp([2, 2], { seed: 1 })));
    const meta = header.__metadata__ as Record<string, string>;
    const graph = JSON.parse(meta[GRAPH_METADATA_KEY]);
    graph.layers = Array.from({ length: MAX_LAYERS + 1 }, () => ({}));
    meta[GRAPH_METADATA_KEY] = JSON.stringify(graph);
    expect(refusedMessage(() => readSafetensors(safetensorsBytes(header, data)))).toMatch(new RegExp(`${MAX_LAYERS + 1} layers, more than the ${MAX_LAYERS}`));
  });

  it('a 20,000-layer state dict is read (names only, and with the graph metadata) and validates', () => {
    const n = 20_000;
    const net = readSafetensors(longStateDict(n));
    expect(net.layers).toHaveLength(n + 1);
    expect(net.blocks).toHaveLength(n);
    expect(net.layers[n / 2].activation).toBe('relu');
    const again = readSafetensors(writeSafetensors(net));
    expect(again.blocks).toHaveLength(n);
    validateNetwork(again);
  }, 60_000);

  it('reading is linear: 8x the layers or nodes takes 8x the steps (counted, not timed)', () => {
    // Deterministic counts: linear code gives a ratio of 8 (plus lower-order terms); the
    // quadratic reader of issue 14 gives about 64. The bound 12 separates them with room.
    const small = readSafetensors(longStateDict(1000));
    const large = readSafetensors(longStateDict(8000));
    const validation = validationReads(large) / validationReads(small);
    expect(validation, `validateNetwork reads ratio ${validation.toFixed(1)}`).toBeLessThan(12);
    const files = [longStateDict(1000), longStateDict(8000), longOnnxChain(1000), longOnnxChain(8000)];
    const st = iterationSteps(() => readSafetensors(files[1])) / iterationSteps(() => readSafetensors(files[0]));
    const onnx = iterationSteps(() => readOnnx(files[3])) / iterationSteps(() => readOnnx(files[2]));
    expect(st, `safetensors iteration ratio ${st.toFixed(1)}`).toBeLessThan(12);
    expect(onnx, `ONNX iteration ratio ${onnx.toFixed(1)}`).toBeLessThan(12);
  }, 120_000);

  it('ONNX chains of 15,000 and 30,000 LeakyRelu nodes are read: one layer per node', () => {
    for (const n of [15_000, 30_000]) {
      const imported = readOnnx(longOnnxChain(n));
      // The first LeakyRelu becomes the Gemm's activation; each further one a tied identity-fed layer.
      expect(imported.network.layers).toHaveLength(n + 2);
      expect(imported.network.blocks).toHaveLength(2);
      expect(imported.network.layers[n].activation).toBe('leaky_relu');
    }
  }, 120_000);
});

// ------------------------------------------------------------------ random corruption

describe('corrupted files (seeded)', () => {
  const seeds = (count: number, offset: number): number[] => Array.from({ length: count }, (_, k) => offset + k);

  it('300 byte-level corruptions of safetensors files: read or refused, never another error', () => {
    const files = [writeSafetensors(mlp([3, 5, 2], { seed: 2 })), writeSafetensors(cnn({ seed: 3 })), longStateDict(5)];
    const counts = { read: 0, refused: 0 };
    for (const seed of seeds(300, 1000)) {
      const rng = new Random(seed);
      const bytes = corrupt(files[seed % files.length], rng);
      counts[outcome(readSafetensors, bytes, `safetensors corruption seed ${seed}`)]++;
    }
    expect(counts.refused).toBeGreaterThan(0);
  });

  it('200 header-level corruptions (hostile values in entries and graph): refused with bounded messages', () => {
    const file = writeSafetensors(cnn({ seed: 4 }));
    const counts = { read: 0, refused: 0 };
    for (const seed of seeds(200, 5000)) {
      counts[outcome(readSafetensors, corruptHeader(file, new Random(seed)), `safetensors header seed ${seed}`)]++;
    }
    expect(counts.refused).toBeGreaterThan(150);
  });

  it('200 byte-level corruptions of ONNX files: read or refused, never another error', () => {
    const files = [smallOnnx(), longOnnxChain(3)];
    const counts = { read: 0, refused: 0 };
    for (const seed of seeds(200, 9000)) {
      const rng = new Random(seed);
      counts[outcome((b) => readOnnx(b), corrupt(files[seed % files.length], rng), `ONNX corruption seed ${seed}`)]++;
    }
    expect(counts.refused).toBeGreaterThan(0);
  });
});
