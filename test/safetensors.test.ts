/**
 * safetensors read and write: round trips (MLP, CNN with grouped and depthwise convolutions,
 * residual nets with ties and fixed units; F32, F64, F16, BF16), files without the graph
 * metadata (plain nn.Sequential chains), the balanced network's function after write -> read,
 * and every refused file with the problem named and the bytes unchanged.
 */
import { describe, expect, it } from 'vitest';
import { balance } from '../src/balance.js';
import { WeightBalanceError } from '../src/errors.js';
import { bfloat16ToNumber, float16ToNumber, numberToBfloat16, numberToFloat16 } from '../src/io/halfFloat.js';
import { GRAPH_METADATA_KEY, MAX_HEADER_BYTES, readSafetensors, safetensorsParts, writeSafetensors } from '../src/io/safetensors.js';
import { cnn, mlp, sequential } from '../src/network/builders.js';
import { forward } from '../src/network/forward.js';
import type { Network } from '../src/network/types.js';
import { NETS } from './support/fixNets.js';

// ------------------------------------------------------------------ helpers

/** A tensor for {@link safetensorsFile}: raw little-endian bytes with a dtype and shape. */
interface RawTensor {
  dtype: string;
  shape: number[];
  data: Uint8Array;
}

function f32(values: number[]): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

function u16(values: number[]): Uint8Array {
  return new Uint8Array(Uint16Array.from(values).buffer);
}

/**
 * Assemble a safetensors file by hand: tensors laid out in order, an optional metadata object,
 * and overrides to corrupt the header (a raw header string, a declared length, extra entries).
 */
function safetensorsFile(
  tensors: Record<string, RawTensor>,
  options: { metadata?: Record<string, unknown>; header?: string; declaredLength?: bigint; patch?: (h: Record<string, unknown>) => void } = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (options.metadata) header.__metadata__ = options.metadata;
  let offset = 0;
  const chunks: Uint8Array[] = [];
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    offset += t.data.length;
    chunks.push(t.data);
  }
  options.patch?.(header);
  const text = new TextEncoder().encode(options.header ?? JSON.stringify(header));
  const out = new Uint8Array(8 + text.length + offset);
  new DataView(out.buffer).setBigUint64(0, options.declaredLength ?? BigInt(text.length), true);
  out.set(text, 8);
  let at = 8 + text.length;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** The header of a file written by the library, parsed. */
function headerOf(
  bytes: Uint8Array,
): Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }> & { __metadata__: Record<string, string> } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
}

/** Expect `readSafetensors` to refuse the bytes with a message matching `problem`, leaving them unchanged. */
function expectRefused(bytes: Uint8Array, problem: RegExp): void {
  const before = bytes.slice();
  let error: unknown;
  try {
    readSafetensors(bytes);
  } catch (e) {
    error = e;
  }
  expect(error, `expected a refusal matching ${problem}`).toBeInstanceOf(WeightBalanceError);
  expect((error as Error).message).toMatch(problem);
  expect(bytes).toEqual(before);
}

function randomInputs(net: Network, batch: number, seed: number): Float64Array {
  const size = net.layers[0].shape.reduce((a, b) => a * b, 1);
  let s = seed >>> 0;
  return Float64Array.from({ length: size * batch }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  });
}

function maxRelativeDistance(a: Float64Array, b: Float64Array): number {
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(a[i]));
    worst = Math.max(worst, Math.abs(a[i] - b[i]));
  }
  return worst / scale;
}

// ------------------------------------------------------------------ round trips

describe('safetensors round trips', () => {
  for (const [name, build] of Object.entries(NETS)) {
    for (const dtype of ['float32', 'float64'] as const) {
      it(`${name} (${dtype}): write -> read gives the same network, bit for bit`, () => {
        const net = build(5, dtype);
        const before = structuredClone(net);
        const bytes = writeSafetensors(net);
        expect(net).toEqual(before); // the writer does not touch the network
        const copy = readSafetensors(bytes);
        expect(copy).toEqual(net); // layers, blocks (kind, shape, stride, padding, groups), ties, typed arrays
        copy.blocks.forEach((b, k) => {
          expect(b.weight.constructor).toBe(net.blocks[k].weight.constructor);
          expect(b.weight.buffer).not.toBe(bytes.buffer); // copied, not a view of the file
        });
        const x = randomInputs(net, 3, 7);
        expect(forward(copy, x, 3)).toEqual(forward(net, x, 3));
        // Writing the copy again gives the same file.
        expect(writeSafetensors(copy)).toEqual(bytes);
      });
    }
  }

  it('uses the nn.Sequential state-dict names and PyTorch layouts, and aligns every tensor', () => {
    const net = cnn({ seed: 1, biasScale: 0.1 });
    const bytes = writeSafetensors(net);
    const header = headerOf(bytes);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    expect(
      Object.keys(header)
        .filter((k) => k !== '__metadata__')
        .sort(),
    ).toEqual(net.blocks.flatMap((b) => [`${b.name}.weight`, `${b.name}.bias`]).sort());
    expect(header['0.weight']).toMatchObject({ dtype: 'F32', shape: [8, 1, 3, 3] });
    expect(header['2.weight'].shape).toEqual([16, 4, 3, 3]); // grouped: in / groups
    expect(header['4.weight'].shape).toEqual([16, 1, 3, 3]); // depthwise
    expect(header['8.weight'].shape).toEqual([10, 32]); // Linear (out, in)
    for (const key of Object.keys(header)) {
      if (key === '__metadata__') continue;
      const entry = header[key];
      const size = entry.dtype === 'F64' ? 8 : 4;
      expect((8 + n + entry.data_offsets[0]) % size).toBe(0);
    }
    const graph = JSON.parse(header.__metadata__[GRAPH_METADATA_KEY]);
    expect(graph.version).toBe(1);
    expect(graph.blocks[1]).toEqual({ name: '2', kind: 'conv2d', from: 1, to: 2, stride: [1, 1], padding: [1, 1], groups: 2 });
  });

  it('keeps fixed units, leaky ReLU slopes and explicit ties', () => {
    const base = mlp([5, 7, 6, 2], { seed: 3, dtype: 'float64', biasScale: 0.5 });
    const net: Network = {
      ...base,
      layers: base.layers.map((l, k) =>
        k === 1 ? { ...l, activation: 'leaky_relu', negativeSlope: 0.2, fixed: [0, 3] } : k === 2 ? { ...l, activation: 'tanh' } : l,
      ),
      ties: [
        [
          { layer: 1, unit: 1 },
          { layer: 1, unit: 2 },
        ],
      ],
    };
    expect(readSafetensors(writeSafetensors(net))).toEqual(net);
  });

  it('keeps padded max-pooling', () => {
    const base = sequential(
      [2, 7, 7],
      [
        { type: 'conv', channels: 3, kernel: 3, padding: 1 },
        { type: 'dense', units: 2 },
      ],
      { seed: 4, dtype: 'float64', biasScale: 0.1 },
    );
    // Max-pool 3x3, stride 2, padding 1 after the convolution: 7x7 -> 4x4.
    const net: Network = {
      ...base,
      layers: base.layers.map((l, k) => (k === 1 ? { ...l, shape: [3, 4, 4], pool: { kind: 'max', size: [3, 3], stride: [2, 2], padding: [1, 1] } } : l)),
      blocks: base.blocks.map((b, k) => (k === 1 ? ({ ...b, shape: [2, 48], weight: new Float64Array(96).map((_, i) => Math.cos(i)) } as typeof b) : b)),
    };
    const copy = readSafetensors(writeSafetensors(net));
    expect(copy).toEqual(net);
    expect(copy.layers[1].pool?.padding).toEqual([1, 1]);
    const x = randomInputs(net, 2, 5);
    expect(forward(copy, x, 2)).toEqual(forward(net, x, 2));
  });

  it('mixes precisions: an F64 weight with an F32 bias', () => {
    const base = mlp([3, 4, 2], { seed: 2, biasScale: 1 });
    const net: Network = { ...base, blocks: base.blocks.map((b) => ({ ...b, weight: Float64Array.from(b.weight) })) };
    const bytes = writeSafetensors(net);
    expect(headerOf(bytes)['0.weight'].dtype).toBe('F64');
    expect(headerOf(bytes)['0.bias'].dtype).toBe('F32');
    expect(readSafetensors(bytes)).toEqual(net);
  });

  for (const dtype of ['float32', 'float64'] as const) {
    it(`the balanced network (${dtype}) keeps its function after write -> read`, async () => {
      const net = NETS.cnn(11, dtype);
      const result = await balance(net, { p: 1.5, q: 3, schedule: 'alternating', backend: 'cpu', tol: 1e-8 });
      expect(result.finalNorm).toBeLessThan(result.initialNorm * 0.999);
      const copy = readSafetensors(writeSafetensors(result.network));
      expect(copy).toEqual(result.network);
      const x = randomInputs(net, 4, 3);
      expect(maxRelativeDistance(forward(net, x, 4), forward(copy, x, 4))).toBeLessThan(dtype === 'float64' ? 1e-10 : 1e-5);
    });
  }

  it('reads an unaligned view of a larger buffer without copying the wrong bytes', () => {
    const net = mlp([4, 6, 3], { seed: 8, dtype: 'float64', biasScale: 0.2 });
    const bytes = writeSafetensors(net);
    const padded = new Uint8Array(bytes.length + 3);
    padded.set(bytes, 1);
    const view = padded.subarray(1, 1 + bytes.length);
    expect(readSafetensors(view)).toEqual(net);
  });
});

describe('half precision (F16, BF16)', () => {
  it('every float16 and bfloat16 bit pattern decodes and encodes back to itself', () => {
    const wrong: string[] = [];
    let nan = 0;
    for (let h = 0; h < 0x10000; h++) {
      const f16 = float16ToNumber(h);
      if (Number.isNaN(f16)) nan++;
      else if (numberToFloat16(f16) !== h) wrong.push(`f16 ${h.toString(16)}`);
      const bf16 = bfloat16ToNumber(h);
      if (!Number.isNaN(bf16) && numberToBfloat16(bf16) !== h) wrong.push(`bf16 ${h.toString(16)}`);
    }
    expect(wrong).toEqual([]);
    expect(nan).toBe(2 * 1023); // exponent 31, non-zero mantissa, either sign
    expect(float16ToNumber(0x3c00)).toBe(1);
    expect(float16ToNumber(0x0001)).toBe(2 ** -24);
    expect(float16ToNumber(0x7bff)).toBe(65504);
    expect(bfloat16ToNumber(0x3f80)).toBe(1);
  });

  it('rounds to the nearest float16, ties to even, and overflows to infinity', () => {
    expect(float16ToNumber(numberToFloat16(1 + 2 ** -11))).toBe(1); // tie -> even (1)
    expect(float16ToNumber(numberToFloat16(1 + 3 * 2 ** -11))).toBe(1 + 2 ** -9); // tie -> even (up)
    expect(float16ToNumber(numberToFloat16(1 + 2 ** -11 + 2 ** -20))).toBe(1 + 2 ** -10);
    expect(float16ToNumber(numberToFloat16(3 * 2 ** -26))).toBe(2 ** -24); // subnormal rounding
    expect(float16ToNumber(numberToFloat16(2 ** -26))).toBe(0);
    expect(float16ToNumber(numberToFloat16(65520))).toBe(Infinity);
    expect(float16ToNumber(numberToFloat16(-65519))).toBe(-65504);
  });

  for (const [dtype, storage, encode] of [
    ['F16', 'float16', numberToFloat16],
    ['BF16', 'bfloat16', numberToBfloat16],
  ] as const) {
    it(`reads ${dtype} into float32, remembers it, and writes it back in ${dtype}`, async () => {
      const w0 = [0.5, -2, 1.5, 0.25, 3, -0.125]; // 3 x 2
      const w2 = [1, -1, 0.75]; // 1 x 3
      const bias = [0.5, 0, -0.5];
      const file = safetensorsFile({
        '0.weight': { dtype, shape: [3, 2], data: u16(w0.map(encode)) },
        '0.bias': { dtype, shape: [3], data: u16(bias.map(encode)) },
        '2.weight': { dtype: 'F32', shape: [1, 3], data: f32(w2) },
      });
      const net = readSafetensors(file);
      expect(net.blocks[0].weight).toEqual(Float32Array.from(w0));
      expect(net.blocks[0].bias).toEqual(Float32Array.from(bias));
      expect(net.blocks[0].storage).toEqual({ weight: storage, bias: storage });
      expect(net.blocks[1].storage).toBeUndefined();
      // Back in its own format, the same bits.
      const again = writeSafetensors(net);
      const header = headerOf(again);
      expect(header['0.weight'].dtype).toBe(dtype);
      expect(header['0.bias'].dtype).toBe(dtype);
      expect(header['2.weight'].dtype).toBe('F32');
      expect(readSafetensors(again)).toEqual(net);
      // The format survives balancing (rescale keeps the block's storage).
      const result = await balance(net, { p: 2, q: 2, backend: 'cpu' });
      expect(headerOf(writeSafetensors(result.network))['0.weight'].dtype).toBe(dtype);
    });
  }

  it('refuses to write a float16 tensor whose values left the float16 range, leaving the network unchanged', () => {
    const base = mlp([2, 3, 1], { seed: 1 });
    const weight = Float32Array.from(base.blocks[0].weight);
    weight[4] = 1e5;
    const net: Network = { ...base, blocks: [{ ...base.blocks[0], weight, storage: { weight: 'float16' } }, base.blocks[1]] };
    const before = structuredClone(net);
    expect(() => writeSafetensors(net)).toThrow(/tensor '0\.weight': entry 4 \(100000\) is outside the float16 range/);
    expect(net).toEqual(before);
  });
});

describe('files without the graph metadata (plain nn.Sequential)', () => {
  it('reads a chain of Linear layers: ReLU between them, identity outputs, gaps in the indices', () => {
    const net = mlp([4, 6, 5, 2], { seed: 4, biasScale: 0.3 });
    const file = safetensorsFile(
      {
        '0.weight': { dtype: 'F32', shape: [6, 4], data: new Uint8Array(net.blocks[0].weight.buffer) },
        '0.bias': { dtype: 'F32', shape: [6], data: new Uint8Array(net.blocks[0].bias!.buffer) },
        '3.weight': { dtype: 'F32', shape: [5, 6], data: new Uint8Array(net.blocks[1].weight.buffer) },
        '3.bias': { dtype: 'F32', shape: [5], data: new Uint8Array(net.blocks[1].bias!.buffer) },
        '10.weight': { dtype: 'F32', shape: [2, 5], data: new Uint8Array(net.blocks[2].weight.buffer) },
      },
      { metadata: { format: 'pt' } },
    );
    const read = readSafetensors(file);
    expect(read.blocks.map((b) => b.name)).toEqual(['0', '3', '10']); // numeric order, not text order
    expect(read.layers.map((l) => l.activation)).toEqual(['identity', 'relu', 'relu', 'identity']);
    expect(read.blocks[2].bias).toBeNull();
    const expected: Network = { ...net, blocks: net.blocks.map((b, k) => ({ ...b, name: read.blocks[k].name, bias: k === 2 ? null : b.bias })) };
    expect(read).toEqual(expected);
  });

  it('reads a convolution chain given only the input shape; groups follow from the channels', () => {
    const net = sequential(
      [4, 6, 6],
      [
        { type: 'conv', channels: 6, kernel: 3 },
        { type: 'conv', channels: 6, kernel: 3, groups: 2 },
        { type: 'dense', units: 3 },
      ],
      { seed: 6, biasScale: 0.1 },
    );
    const tensors: Record<string, RawTensor> = {};
    for (const b of net.blocks) {
      tensors[`${b.name}.weight`] = { dtype: 'F32', shape: [...b.shape], data: new Uint8Array(b.weight.buffer) };
      tensors[`${b.name}.bias`] = { dtype: 'F32', shape: [b.shape[0]], data: new Uint8Array(b.bias!.buffer) };
    }
    const read = readSafetensors(safetensorsFile(tensors, { metadata: { [GRAPH_METADATA_KEY]: JSON.stringify({ version: 1, input: [4, 6, 6] }) } }));
    expect(read).toEqual(net);
    expectRefused(safetensorsFile(tensors), /tensor '0\.weight' is a convolution: its input shape cannot be inferred/);
  });
});

// ------------------------------------------------------------------ bad input

describe('refused files (problem named, bytes unchanged)', () => {
  const good = writeSafetensors(mlp([3, 4, 2], { seed: 1, biasScale: 0.1 }));
  const w = { dtype: 'F32', shape: [2, 2], data: f32([1, 2, 3, 4]) };

  it('a file shorter than the 8-byte length', () => {
    expectRefused(new Uint8Array([1, 2, 3]), /truncated: 3 bytes, fewer than the 8-byte header length/);
  });

  it('a header length above the limit', () => {
    expectRefused(safetensorsFile({ '0.weight': w }, { declaredLength: BigInt(MAX_HEADER_BYTES) + 1n }), /header length 104857601 is larger than allowed/);
    expectRefused(safetensorsFile({ '0.weight': w }, { declaredLength: 2n ** 64n - 1n }), /larger than allowed/);
  });

  it('a header length beyond the end of the file', () => {
    expectRefused(safetensorsFile({ '0.weight': w }, { declaredLength: 5000n }), /truncated: the header declares 5000 bytes but only \d+ follow/);
  });

  it('a file cut short inside its data', () => {
    expectRefused(good.slice(0, good.length - 3), /tensor '[0-9]+\.(weight|bias)': data_offsets \[\d+, \d+\] leave the file .*truncated/);
  });

  it('a file cut short inside its header', () => {
    expectRefused(good.slice(0, 40), /truncated: the header declares/);
  });

  it('a header that is not UTF-8, not JSON, or not an object', () => {
    const bad = safetensorsFile({}, { header: '{"a": 1}' });
    bad[10] = 0xff;
    expectRefused(bad, /header is not valid UTF-8/);
    expectRefused(safetensorsFile({}, { header: '{"0.weight": {' }), /header is not valid JSON/);
    expectRefused(safetensorsFile({}, { header: '[1, 2]' }), /header must be a JSON object/);
  });

  it('offsets outside the data section, reversed, or of the wrong length', () => {
    expectRefused(
      safetensorsFile(
        { '0.weight': w },
        {
          patch: (h) => {
            (h['0.weight'] as { data_offsets: number[] }).data_offsets = [0, 32];
          },
        },
      ),
      /tensor '0\.weight': data_offsets \[0, 32\] leave the file \(the data section has 16 bytes/,
    );
    expectRefused(
      safetensorsFile(
        { '0.weight': w },
        {
          patch: (h) => {
            (h['0.weight'] as { data_offsets: number[] }).data_offsets = [16, 0];
          },
        },
      ),
      /tensor '0\.weight': data_offsets \[16, 0\] begin after they end/,
    );
    expectRefused(
      safetensorsFile(
        { '0.weight': w },
        {
          patch: (h) => {
            (h['0.weight'] as { data_offsets: number[] }).data_offsets = [0, 12];
          },
        },
      ),
      /tensor '0\.weight': data_offsets \[0, 12\] hold 12 bytes, but shape \[2,2\] of F32 needs 16/,
    );
    expectRefused(
      safetensorsFile(
        { '0.weight': w },
        {
          patch: (h) => {
            (h['0.weight'] as { data_offsets: unknown }).data_offsets = [-4, 12];
          },
        },
      ),
      /tensor '0\.weight': data_offsets must be two non-negative integers/,
    );
    expectRefused(
      safetensorsFile(
        { '0.weight': w },
        {
          patch: (h) => {
            (h['0.weight'] as { shape: unknown }).shape = [2, 'x'];
          },
        },
      ),
      /tensor '0\.weight': shape must be an array of non-negative integers/,
    );
  });

  it('overlapping tensors', () => {
    const file = safetensorsFile(
      { '0.weight': w, '2.weight': { dtype: 'F32', shape: [1, 2], data: f32([1, 1]) } },
      {
        patch: (h) => {
          (h['2.weight'] as { data_offsets: number[] }).data_offsets = [8, 16];
        },
      },
    );
    expectRefused(file, /tensors '0\.weight' and '2\.weight' overlap/);
  });

  it('an unknown or unsupported dtype, named', () => {
    expectRefused(safetensorsFile({ '0.weight': { ...w, dtype: 'F17' } }), /tensor '0\.weight': unknown dtype 'F17'/);
    expectRefused(
      safetensorsFile({ '0.weight': { dtype: 'I64', shape: [2, 1], data: f32([1, 2, 3, 4]) } }),
      /tensor '0\.weight': dtype 'I64' is not supported/,
    );
  });

  it('a __proto__ key: refused in the header and the metadata, and nothing is polluted', () => {
    expectRefused(
      safetensorsFile({ '0.weight': w }, { header: `{"__proto__": {"polluted": 1}, "0.weight": {"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}` }),
      /the header has a key '__proto__'/,
    );
    expectRefused(
      safetensorsFile({ '0.weight': w }, { header: `{"__metadata__": {"__proto__": "x"}, "0.weight": {"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}` }),
      /__metadata__ has a key '__proto__'/,
    );
    // Inside the graph JSON, a __proto__ key is ignored (only known fields are copied).
    const net = mlp([2, 2], { seed: 1 });
    const header = headerOf(writeSafetensors(net));
    const graph = header.__metadata__[GRAPH_METADATA_KEY].replace('{"version":1', '{"__proto__":{"polluted":1},"version":1');
    const file = safetensorsFile(
      {
        '0.weight': { dtype: 'F32', shape: [2, 2], data: new Uint8Array(net.blocks[0].weight.buffer) },
        '0.bias': { dtype: 'F32', shape: [2], data: f32([0, 0]) },
      },
      { metadata: { [GRAPH_METADATA_KEY]: graph } },
    );
    expect(readSafetensors(file)).toEqual(net);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('metadata that is not strings, or a graph that is not valid', () => {
    const t = { '0.weight': w };
    expectRefused(safetensorsFile(t, { metadata: { format: 3 } }), /__metadata__\.format must be a string, got number/);
    expectRefused(safetensorsFile(t, { metadata: { [GRAPH_METADATA_KEY]: '{nope' } }), /__metadata__\.weight_balance is not valid JSON/);
    expectRefused(safetensorsFile(t, { metadata: { [GRAPH_METADATA_KEY]: '{"version":7}' } }), /weight_balance: version must be 1, got 7/);
    expectRefused(
      safetensorsFile(t, { metadata: { [GRAPH_METADATA_KEY]: '{"version":1,"layers":[{"name":"in","shape":"2","activation":"identity"}],"blocks":[]}' } }),
      /weight_balance: layers\[0\]\.shape must be an array of some integers/,
    );
    expectRefused(
      safetensorsFile(t, { metadata: { [GRAPH_METADATA_KEY]: '{"version":1,"layers":[],"blocks":[{"name":"0","kind":"lstm","from":0,"to":1}]}' } }),
      /weight_balance: blocks\[0\]\.kind must be 'dense' or 'conv2d', got "lstm"/,
    );
  });

  it('a tensor the graph needs is missing, or one it does not use is present', () => {
    const header = headerOf(good);
    const graph = header.__metadata__[GRAPH_METADATA_KEY];
    const b0 = { dtype: 'F32', shape: [4, 3], data: f32(new Array(12).fill(0.5)) };
    expectRefused(safetensorsFile({ '0.weight': b0 }, { metadata: { [GRAPH_METADATA_KEY]: graph } }), /tensor '2\.weight' is missing/);
    const all = {
      '0.weight': b0,
      '2.weight': { dtype: 'F32', shape: [2, 4], data: f32(new Array(8).fill(1)) },
      running_mean: { dtype: 'F32', shape: [4], data: f32([0, 0, 0, 0]) },
    };
    expectRefused(safetensorsFile(all, { metadata: { [GRAPH_METADATA_KEY]: graph } }), /tensor 'running_mean' is not part of the network/);
    expectRefused(safetensorsFile(all), /tensor 'running_mean' is not named like an nn\.Sequential state dict/);
  });

  it('an empty file, shapes that do not chain, a bias of the wrong shape, a weight of the wrong rank', () => {
    expectRefused(safetensorsFile({}), /holds no tensors: the network is empty/);
    expectRefused(
      safetensorsFile({
        '0.weight': { dtype: 'F32', shape: [4, 3], data: f32(new Array(12).fill(1)) },
        '2.weight': { dtype: 'F32', shape: [2, 5], data: f32(new Array(10).fill(1)) },
      }),
      /shapes do not chain: it reads 5 inputs but layer 1 .* has 4/,
    );
    expectRefused(
      safetensorsFile({ '0.weight': w, '0.bias': { dtype: 'F32', shape: [3], data: f32([1, 2, 3]) } }),
      /tensor '0\.bias' has shape \[3\], expected \[2\]/,
    );
    expectRefused(
      safetensorsFile({ '0.weight': { dtype: 'F32', shape: [4], data: f32([1, 2, 3, 4]) } }),
      /tensor '0\.weight' has shape \[4\]: expected \(out, in\)/,
    );
  });

  it('non-finite weights', () => {
    expectRefused(safetensorsFile({ '0.weight': { dtype: 'F32', shape: [2, 2], data: f32([1, NaN, 3, 4]) } }), /weight entry 1 is not finite \(NaN\)/);
    expectRefused(safetensorsFile({ '0.weight': { dtype: 'F16', shape: [1, 2], data: u16([0x3c00, 0x7c00]) } }), /weight entry 1 is not finite \(Infinity\)/);
  });

  it('not a Uint8Array', () => {
    expect(() => readSafetensors('net.safetensors' as unknown as Uint8Array)).toThrow(/needs the bytes of a file as a Uint8Array/);
  });

  it('the writer refuses duplicate block names and invalid networks, leaving them unchanged', () => {
    const net = mlp([3, 4, 2], { seed: 1 });
    const dup: Network = { ...net, blocks: net.blocks.map((b) => ({ ...b, name: 'x' })) };
    expect(() => writeSafetensors(dup)).toThrow(/two blocks are named 'x'/);
    const weight = Float32Array.from(net.blocks[0].weight);
    weight[2] = Infinity;
    const bad: Network = { ...net, blocks: [{ ...net.blocks[0], weight }, net.blocks[1]] };
    const before = structuredClone(bad);
    expect(() => writeSafetensors(bad)).toThrow(/weight entry 2 is not finite/);
    expect(bad).toEqual(before);
    const odd = { ...net, blocks: [{ ...net.blocks[0], storage: { weight: '__proto__' } }, net.blocks[1]] } as unknown as Network;
    expect(() => writeSafetensors(odd)).toThrow(/unknown storage format '__proto__'/);
  });
});

describe('safetensors without copies of the weights (issue 11.4)', () => {
  it('share: aligned float32/float64 tensors are views of the bytes; without it, copies; the same network either way', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      const net = mlp([5, 7, 3], { seed: 2, dtype, biasScale: 0.1 });
      const bytes = writeSafetensors(net);
      const shared = readSafetensors(bytes, { share: true });
      const copied = readSafetensors(bytes);
      expect(shared).toEqual(copied);
      expect(shared.blocks.every((b) => b.weight.buffer === bytes.buffer && b.bias?.buffer === bytes.buffer)).toBe(true);
      expect(copied.blocks.some((b) => b.weight.buffer === bytes.buffer)).toBe(false);
    }
  });

  it('safetensorsParts concatenated are the bytes of writeSafetensors; float32/float64 tensors are views, not copies', () => {
    const net = mlp([6, 9, 4], { seed: 3, biasScale: 0.2 });
    const parts = safetensorsParts(net);
    const whole = writeSafetensors(net);
    const joined = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const part of parts) {
      joined.set(part, at);
      at += part.length;
    }
    expect(joined).toEqual(whole);
    for (const b of net.blocks) expect(parts.some((part) => part.buffer === b.weight.buffer)).toBe(true);
  });
});
