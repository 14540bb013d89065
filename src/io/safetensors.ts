/**
 * safetensors read and write, with the state-dict names of a PyTorch `nn.Sequential`.
 *
 * A file is an 8-byte little-endian header length `N`, `N` bytes of JSON
 * (`{ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__: { key: string } }`), then
 * the data section (offsets are relative to its start). Tensors are `{index}.weight`
 * (Linear `(out, in)`, Conv2d `(out, in/groups, kh, kw)`) and `{index}.bias`.
 *
 * What the names cannot carry (input shape, stride, padding, groups, pooling, activations,
 * residual skips, ties, fixed units, layer names) is stored as JSON in the string
 * `__metadata__.weight_balance` (see {@link NetworkGraphMetadata}). Without it, the file is read
 * as a plain chain: a ReLU between consecutive parametrised layers, the last layer's outputs
 * are the outputs.
 */
import { WeightBalanceError } from '../errors.js';
import { slidingOutput, validateNetwork } from '../network/validate.js';
import type { Block, Layer, Network, Pool, StorageDtype, UnitRef, WeightArray } from '../network/types.js';
import { FLOAT16_MAX, bfloat16ToNumber, float16ToNumber, numberToBfloat16, numberToFloat16 } from './halfFloat.js';

/** The `__metadata__` key holding the network graph as JSON. */
export const GRAPH_METADATA_KEY = 'weight_balance';

/** The largest header accepted by {@link readSafetensors}, in bytes (100 MB). */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/** Version of {@link NetworkGraphMetadata} written by this library. */
const GRAPH_VERSION = 1;

/**
 * The JSON stored in `__metadata__.weight_balance`. Either the whole graph (`layers` and
 * `blocks`, the tensors' shapes come from the header), or only `input` (the input shape) for a
 * plain chain whose first layer is a convolution.
 */
export interface NetworkGraphMetadata {
  version: 1;
  /** Input shape, for a plain chain read without `layers` / `blocks`. */
  input?: number[];
  layers?: Array<Omit<Layer, 'shape'> & { shape: number[] }>;
  blocks?: Array<
    | { name: string; kind: 'dense'; from: number; to: number }
    | { name: string; kind: 'conv2d'; from: number; to: number; stride: [number, number]; padding: [number, number]; groups: number }
  >;
  ties?: UnitRef[][];
}

type Dtype = 'F64' | 'F32' | 'F16' | 'BF16';

const DTYPE_BYTES: ReadonlyMap<string, number> = new Map<Dtype, number>([['F64', 8], ['F32', 4], ['F16', 2], ['BF16', 2]]);

/** dtypes of the safetensors format that are not floating-point weights. */
const UNSUPPORTED_DTYPES: ReadonlySet<string> = new Set([
  'BOOL', 'U8', 'I8', 'U16', 'I16', 'U32', 'I32', 'U64', 'I64',
  'F8_E4M3', 'F8_E5M2', 'F8_E8M0', 'F6_E2M3', 'F6_E3M2', 'F4', 'C64',
]);

const STORAGE_DTYPE: Record<StorageDtype, Dtype> = { float16: 'F16', bfloat16: 'BF16' };

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function fail(message: string): never {
  throw new WeightBalanceError(`safetensors: ${message}`);
}

/** One tensor of the header, offsets absolute in the file. */
interface TensorEntry {
  name: string;
  dtype: Dtype;
  shape: number[];
  begin: number;
  end: number;
}

interface ParsedHeader {
  tensors: Map<string, TensorEntry>;
  metadata: Map<string, string>;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function isNonNegativeInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

function parseHeader(bytes: Uint8Array): ParsedHeader {
  if (bytes.length < 8) fail(`the file is truncated: ${bytes.length} bytes, fewer than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const declared = view.getBigUint64(0, true);
  if (declared > BigInt(MAX_HEADER_BYTES)) fail(`the header length ${declared} is larger than allowed (${MAX_HEADER_BYTES} bytes)`);
  const headerLength = Number(declared);
  if (headerLength > bytes.length - 8) {
    fail(`the file is truncated: the header declares ${headerLength} bytes but only ${bytes.length - 8} follow`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength));
  } catch {
    fail('the header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    fail(`the header is not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!isRecord(json)) fail('the header must be a JSON object');

  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  const tensors = new Map<string, TensorEntry>();
  const metadata = new Map<string, string>();
  // JSON.parse defines `__proto__` as an own key; it is refused, never assigned to an object.
  for (const [name, entry] of Object.entries(json)) {
    if (name === '__proto__') fail("the header has a key '__proto__', which is not allowed");
    if (name === '__metadata__') {
      if (!isRecord(entry)) fail('__metadata__ must be an object of strings');
      for (const [key, value] of Object.entries(entry)) {
        if (key === '__proto__') fail("__metadata__ has a key '__proto__', which is not allowed");
        if (typeof value !== 'string') fail(`__metadata__.${key} must be a string, got ${typeof value}`);
        metadata.set(key, value);
      }
      continue;
    }
    tensors.set(name, parseEntry(name, entry, dataStart, dataLength));
  }
  // The format requires the tensors to cover the data section exactly: no gap, no trailing bytes
  // (no polyglot files; a duplicated name, which JSON.parse resolves silently, leaves a gap).
  const ordered = [...tensors.values()].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = dataStart;
  for (let k = 0; k < ordered.length; k++) {
    const next = ordered[k];
    if (next.begin < covered) fail(`tensors '${ordered[k - 1].name}' and '${next.name}' overlap in the data section`);
    if (next.begin > covered) fail(`data bytes [${covered - dataStart}, ${next.begin - dataStart}) are not part of any tensor (a gap before '${next.name}', or a tensor named twice)`);
    covered = next.end;
  }
  if (covered !== bytes.length) fail(`the last ${bytes.length - covered} bytes of the data section are not part of any tensor`);
  return { tensors, metadata };
}

function parseEntry(name: string, entry: unknown, dataStart: number, dataLength: number): TensorEntry {
  const where = `tensor '${name}'`;
  if (!isRecord(entry)) fail(`${where}: the header entry must be an object with dtype, shape and data_offsets`);
  const { dtype, shape, data_offsets: offsets } = entry;
  if (typeof dtype !== 'string') fail(`${where}: dtype must be a string`);
  const size = DTYPE_BYTES.get(dtype);
  if (size === undefined) {
    if (UNSUPPORTED_DTYPES.has(dtype)) fail(`${where}: dtype '${dtype}' is not supported (weights must be F64, F32, F16 or BF16)`);
    fail(`${where}: unknown dtype '${dtype}'`);
  }
  if (!Array.isArray(shape) || !shape.every(isNonNegativeInt)) fail(`${where}: shape must be an array of non-negative integers`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInt)) {
    fail(`${where}: data_offsets must be two non-negative integers`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end) fail(`${where}: data_offsets [${begin}, ${end}] begin after they end`);
  if (end > dataLength) {
    fail(`${where}: data_offsets [${begin}, ${end}] leave the file (the data section has ${dataLength} bytes; is the file truncated?)`);
  }
  const count = (shape as number[]).reduce((a, b) => a * b, 1);
  if (!Number.isSafeInteger(count * size) || count * size !== end - begin) {
    fail(`${where}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but shape ${JSON.stringify(shape)} of ${dtype} needs ${count * size}`);
  }
  return { name, dtype: dtype as Dtype, shape: [...(shape as number[])], begin: dataStart + begin, end: dataStart + end };
}

/** Bytes being read by a reader told it may keep views of them ({@link ReadSafetensorsOptions.share}), during that read. */
const SHARED = new WeakSet<Uint8Array>();

/**
 * A tensor of the file as an array: a copy (never a view of the caller's bytes), or, when the
 * caller gave the bytes up (`share`) and the tensor is aligned little-endian F32/F64, a view.
 */
function decodeTensor(bytes: Uint8Array, t: TensorEntry): WeightArray {
  const n = t.shape.reduce((a, b) => a * b, 1);
  const size = t.dtype === 'F32' ? 4 : 8;
  const at = bytes.byteOffset + t.begin;
  if (LITTLE_ENDIAN && SHARED.has(bytes) && (t.dtype === 'F32' || t.dtype === 'F64') && at % size === 0) {
    return t.dtype === 'F32' ? new Float32Array(bytes.buffer, at, n) : new Float64Array(bytes.buffer, at, n);
  }
  if (LITTLE_ENDIAN && (t.dtype === 'F32' || t.dtype === 'F64')) {
    // A fresh, aligned buffer: new Uint8Array(view) copies (a Node Buffer's slice() would be a view).
    const copy = new Uint8Array(bytes.subarray(t.begin, t.end));
    return t.dtype === 'F32' ? new Float32Array(copy.buffer, 0, n) : new Float64Array(copy.buffer, 0, n);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + t.begin, t.end - t.begin);
  if (t.dtype === 'F64') {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = view.getFloat64(8 * i, true);
    return out;
  }
  const out = new Float32Array(n);
  if (t.dtype === 'F32') for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
  else if (t.dtype === 'F16') for (let i = 0; i < n; i++) out[i] = float16ToNumber(view.getUint16(2 * i, true));
  else for (let i = 0; i < n; i++) out[i] = bfloat16ToNumber(view.getUint16(2 * i, true));
  return out;
}

function storageOf(t: TensorEntry): StorageDtype | undefined {
  return t.dtype === 'F16' ? 'float16' : t.dtype === 'BF16' ? 'bfloat16' : undefined;
}

/** The tensors of one block, looked up and checked against the block's kind. */
interface BlockTensors {
  weight: TensorEntry;
  bias: TensorEntry | null;
}

function blockTensors(tensors: Map<string, TensorEntry>, name: string, rank: 2 | 4 | null, used: Set<string>): BlockTensors {
  const weight = tensors.get(`${name}.weight`);
  if (!weight) fail(`tensor '${name}.weight' is missing`);
  if (rank !== null && weight.shape.length !== rank) {
    fail(`tensor '${name}.weight' has shape ${JSON.stringify(weight.shape)}: a ${rank === 2 ? 'dense' : 'conv2d'} weight needs ${rank} dimensions`);
  }
  if (weight.shape.length !== 2 && weight.shape.length !== 4) {
    fail(`tensor '${name}.weight' has shape ${JSON.stringify(weight.shape)}: expected (out, in) or (out, in/groups, kh, kw)`);
  }
  const bias = tensors.get(`${name}.bias`) ?? null;
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== weight.shape[0])) {
    fail(`tensor '${name}.bias' has shape ${JSON.stringify(bias.shape)}, expected [${weight.shape[0]}]`);
  }
  used.add(weight.name);
  if (bias) used.add(bias.name);
  return { weight, bias };
}

function makeBlock(bytes: Uint8Array, t: BlockTensors, base: { name: string; from: number; to: number }, conv?: { stride: [number, number]; padding: [number, number]; groups: number }): Block {
  const weight = decodeTensor(bytes, t.weight);
  const bias = t.bias ? decodeTensor(bytes, t.bias) : null;
  const storage: { weight?: StorageDtype; bias?: StorageDtype } = {};
  const ws = storageOf(t.weight);
  const bs = t.bias ? storageOf(t.bias) : undefined;
  if (ws) storage.weight = ws;
  if (bs) storage.bias = bs;
  const extra = ws || bs ? { storage } : {};
  if (conv) {
    const [o, i, kh, kw] = t.weight.shape;
    return { kind: 'conv2d', ...base, shape: [o, i, kh, kw], weight, bias, ...conv, ...extra };
  }
  const [o, i] = t.weight.shape;
  return { kind: 'dense', ...base, shape: [o, i], weight, bias, ...extra };
}

// ---------------------------------------------------------------- metadata graph

function graphFail(path: string, message: string): never {
  fail(`__metadata__.${GRAPH_METADATA_KEY}: ${path} ${message}`);
}

function readInt(x: unknown, path: string): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x)) graphFail(path, `must be an integer, got ${JSON.stringify(x)}`);
  return x;
}

function readIntArray(x: unknown, path: string, length?: number): number[] {
  if (!Array.isArray(x) || (length !== undefined && x.length !== length)) {
    graphFail(path, `must be an array of ${length ?? 'some'} integers, got ${JSON.stringify(x)}`);
  }
  return x.map((v, k) => readInt(v, `${path}[${k}]`));
}

function readPair(x: unknown, path: string): [number, number] {
  const [a, b] = readIntArray(x, path, 2);
  return [a, b];
}

function readLayer(x: unknown, k: number): Layer {
  const path = `layers[${k}]`;
  if (!isRecord(x)) graphFail(path, 'must be an object');
  const layer: Layer = {
    name: x.name === undefined ? `layer${k}` : typeof x.name === 'string' ? x.name : graphFail(`${path}.name`, 'must be a string'),
    shape: readIntArray(x.shape, `${path}.shape`),
    activation: typeof x.activation === 'string' ? (x.activation as Layer['activation']) : graphFail(`${path}.activation`, 'must be a string'),
  };
  if (x.negativeSlope !== undefined) {
    if (typeof x.negativeSlope !== 'number') graphFail(`${path}.negativeSlope`, 'must be a number');
    layer.negativeSlope = x.negativeSlope;
  }
  if (x.pool !== undefined) {
    if (!isRecord(x.pool)) graphFail(`${path}.pool`, 'must be an object');
    const kind = x.pool.kind;
    if (kind !== 'max' && kind !== 'avg') graphFail(`${path}.pool.kind`, "must be 'max' or 'avg'");
    const pool: Pool = { kind, size: readPair(x.pool.size, `${path}.pool.size`), stride: readPair(x.pool.stride, `${path}.pool.stride`) };
    if (x.pool.padding !== undefined) pool.padding = readPair(x.pool.padding, `${path}.pool.padding`);
    layer.pool = pool;
  }
  if (x.skips !== undefined) layer.skips = readIntArray(x.skips, `${path}.skips`);
  if (x.fixed !== undefined) layer.fixed = readIntArray(x.fixed, `${path}.fixed`);
  return layer;
}

function readTies(x: unknown): UnitRef[][] {
  if (!Array.isArray(x)) graphFail('ties', 'must be an array of arrays of { layer, unit }');
  return x.map((group, g) => {
    if (!Array.isArray(group)) graphFail(`ties[${g}]`, 'must be an array of { layer, unit }');
    return group.map((u, k) => {
      if (!isRecord(u)) graphFail(`ties[${g}][${k}]`, 'must be an object { layer, unit }');
      return { layer: readInt(u.layer, `ties[${g}][${k}].layer`), unit: readInt(u.unit, `ties[${g}][${k}].unit`) };
    });
  });
}

function parseGraph(text: string): Record<string, unknown> {
  let graph: unknown;
  try {
    graph = JSON.parse(text);
  } catch (error) {
    fail(`__metadata__.${GRAPH_METADATA_KEY} is not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!isRecord(graph)) fail(`__metadata__.${GRAPH_METADATA_KEY} must be a JSON object`);
  if (graph.version !== GRAPH_VERSION) graphFail('version', `must be ${GRAPH_VERSION}, got ${JSON.stringify(graph.version)}`);
  return graph;
}

/** A network from the full graph in the metadata; tensors give the shapes. */
function networkFromGraph(bytes: Uint8Array, tensors: Map<string, TensorEntry>, graph: Record<string, unknown>, used: Set<string>): Network {
  if (!Array.isArray(graph.layers)) graphFail('layers', 'must be an array');
  if (!Array.isArray(graph.blocks)) graphFail('blocks', 'must be an array');
  const layers = graph.layers.map(readLayer);
  const names = new Set<string>();
  const blocks = graph.blocks.map((x: unknown, k: number): Block => {
    const path = `blocks[${k}]`;
    if (!isRecord(x)) graphFail(path, 'must be an object');
    if (typeof x.name !== 'string' || x.name === '') graphFail(`${path}.name`, 'must be a non-empty string');
    if (names.has(x.name)) graphFail(`${path}.name`, `'${x.name}' is used twice`);
    names.add(x.name);
    const base = { name: x.name, from: readInt(x.from, `${path}.from`), to: readInt(x.to, `${path}.to`) };
    if (x.kind === 'dense') return makeBlock(bytes, blockTensors(tensors, x.name, 2, used), base);
    if (x.kind === 'conv2d') {
      const conv = { stride: readPair(x.stride, `${path}.stride`), padding: readPair(x.padding, `${path}.padding`), groups: readInt(x.groups, `${path}.groups`) };
      return makeBlock(bytes, blockTensors(tensors, x.name, 4, used), base, conv);
    }
    return graphFail(`${path}.kind`, `must be 'dense' or 'conv2d', got ${JSON.stringify(x.kind)}`);
  });
  const net: Network = { layers, blocks };
  if (graph.ties !== undefined) net.ties = readTies(graph.ties);
  return net;
}

const SEQUENTIAL_NAME = /^(0|[1-9][0-9]*)\.(weight|bias)$/;

/**
 * A plain chain from the tensor names alone: `{index}.weight` / `{index}.bias` in index order,
 * a ReLU between consecutive layers, convolutions with stride 1, no padding, and the groups that
 * the channel counts imply.
 */
function networkFromNames(bytes: Uint8Array, tensors: Map<string, TensorEntry>, input: number[] | undefined, used: Set<string>): Network {
  const indices = new Set<number>();
  for (const name of tensors.keys()) {
    const match = SEQUENTIAL_NAME.exec(name);
    if (!match) {
      fail(`tensor '${name}' is not named like an nn.Sequential state dict ('{index}.weight' or '{index}.bias'), and there is no __metadata__.${GRAPH_METADATA_KEY} describing the network`);
    }
    indices.add(Number(match[1]));
  }
  if (indices.size === 0) fail('the file holds no tensors: the network is empty');
  const order = [...indices].sort((a, b) => a - b);
  const parts = order.map((index) => ({ name: String(index), tensors: blockTensors(tensors, String(index), null, used) }));
  const first = parts[0].tensors.weight.shape;
  let shape: number[];
  if (input) shape = input;
  else if (first.length === 2) shape = [first[1]];
  else fail(`tensor '${parts[0].name}.weight' is a convolution: its input shape cannot be inferred from the names; store it as __metadata__.${GRAPH_METADATA_KEY} = '{"version":1,"input":[C,H,W]}'`);
  const layers: Layer[] = [{ name: 'input', shape, activation: 'identity' }];
  const blocks = parts.map(({ name, tensors: t }, k): Block => {
    const last = k === parts.length - 1;
    const prev = layers[k].shape;
    const w = t.weight.shape;
    const base = { name, from: k, to: k + 1 };
    let block: Block;
    let out: number[];
    if (w.length === 2) {
      block = makeBlock(bytes, t, base);
      out = [w[0]];
    } else {
      if (prev.length !== 3) fail(`tensor '${name}.weight' is a convolution but its input (layer ${k}) is flat`);
      if (w[1] === 0 || prev[0] % w[1] !== 0) fail(`tensor '${name}.weight' reads ${w[1]} channels per group, which does not divide the ${prev[0]} input channels`);
      block = makeBlock(bytes, t, base, { stride: [1, 1], padding: [0, 0], groups: prev[0] / w[1] });
      out = [w[0], slidingOutput(prev[1], w[2], 1, 0), slidingOutput(prev[2], w[3], 1, 0)];
    }
    layers.push({ name: last ? 'output' : `hidden${k + 1}`, shape: out, activation: last ? 'identity' : 'relu' });
    return block;
  });
  return { layers, blocks };
}

/**
 * Read a network from the bytes of a safetensors file. Tensor data is copied: the network never
 * shares memory with `bytes`, and `bytes` is never modified. F16 and BF16 tensors are held as
 * float32 and remembered in `block.storage`, so {@link writeSafetensors} stores them back in their
 * own format.
 *
 * Throws a {@link WeightBalanceError} naming the problem for a truncated file, a header larger
 * than {@link MAX_HEADER_BYTES} or not valid JSON, offsets outside the data section,
 * overlapping or leaving data bytes outside every tensor (the format forbids holes), a byte length that does not match the shape, an unknown dtype, tensors the
 * network does not use, and any network that {@link validateNetwork} refuses.
 *
 * @example
 * const net = readSafetensors(new Uint8Array(await readFile('net.safetensors')));
 */
export function readSafetensors(bytes: Uint8Array, options: ReadSafetensorsOptions = {}): Network {
  if (!(bytes instanceof Uint8Array)) fail('readSafetensors needs the bytes of a file as a Uint8Array');
  if (options.share) SHARED.add(bytes);
  try {
    return readNetwork(bytes);
  } finally {
    SHARED.delete(bytes);
  }
}

function readNetwork(bytes: Uint8Array): Network {
  const { tensors, metadata } = parseHeader(bytes);
  const graphText = metadata.get(GRAPH_METADATA_KEY);
  const graph = graphText === undefined ? undefined : parseGraph(graphText);
  const used = new Set<string>();
  let net: Network;
  if (graph && (graph.layers !== undefined || graph.blocks !== undefined)) {
    net = networkFromGraph(bytes, tensors, graph, used);
  } else {
    const input = graph?.input === undefined ? undefined : readIntArray(graph.input, 'input');
    net = networkFromNames(bytes, tensors, input, used);
  }
  for (const name of tensors.keys()) {
    if (!used.has(name)) fail(`tensor '${name}' is not part of the network (not the weight or bias of a block)`);
  }
  validateNetwork(net);
  return net;
}

/** Options of {@link readSafetensors}. */
export interface ReadSafetensorsOptions {
  /**
   * The caller gives the bytes up: aligned float32/float64 tensors become views of them instead
   * of copies (one copy of the weights in memory). The bytes must not change afterwards.
   */
  share?: boolean;
}

// ---------------------------------------------------------------- writing

function poolOf(pool: Pool): Pool {
  const copy: Pool = { kind: pool.kind, size: [pool.size[0], pool.size[1]], stride: [pool.stride[0], pool.stride[1]] };
  if (pool.padding) copy.padding = [pool.padding[0], pool.padding[1]];
  return copy;
}

/** The graph of a network as stored in `__metadata__.weight_balance`. */
function graphOf(net: Network): NetworkGraphMetadata {
  const graph: NetworkGraphMetadata = {
    version: GRAPH_VERSION,
    layers: net.layers.map((l) => ({
      name: l.name,
      shape: [...l.shape],
      activation: l.activation,
      ...(l.negativeSlope !== undefined ? { negativeSlope: l.negativeSlope } : {}),
      ...(l.pool ? { pool: poolOf(l.pool) } : {}),
      ...(l.skips?.length ? { skips: [...l.skips] } : {}),
      ...(l.fixed?.length ? { fixed: [...l.fixed] } : {}),
    })),
    blocks: net.blocks.map((b) =>
      b.kind === 'conv2d'
        ? { name: b.name, kind: b.kind, from: b.from, to: b.to, stride: [...b.stride] as [number, number], padding: [...b.padding] as [number, number], groups: b.groups }
        : { name: b.name, kind: b.kind, from: b.from, to: b.to }),
  };
  if (net.ties?.length) graph.ties = net.ties.map((group) => group.map((u) => ({ layer: u.layer, unit: u.unit })));
  return graph;
}

interface OutTensor {
  name: string;
  dtype: Dtype;
  shape: number[];
  data: WeightArray;
}

function encodeTensor(t: OutTensor, target: Uint8Array): void {
  const { data } = t;
  if (LITTLE_ENDIAN && ((t.dtype === 'F32' && data instanceof Float32Array) || (t.dtype === 'F64' && data instanceof Float64Array))) {
    target.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return;
  }
  const view = new DataView(target.buffer, target.byteOffset, target.byteLength);
  const n = data.length;
  if (t.dtype === 'F64') for (let i = 0; i < n; i++) view.setFloat64(8 * i, data[i], true);
  else if (t.dtype === 'F32') for (let i = 0; i < n; i++) view.setFloat32(4 * i, data[i], true);
  else if (t.dtype === 'F16') {
    for (let i = 0; i < n; i++) {
      if (Math.abs(data[i]) > FLOAT16_MAX) fail(`tensor '${t.name}': entry ${i} (${data[i]}) is outside the float16 range; store it as float32`);
      view.setUint16(2 * i, numberToFloat16(data[i]), true);
    }
  } else {
    for (let i = 0; i < n; i++) {
      const bits = numberToBfloat16(data[i]);
      if ((bits & 0x7f80) === 0x7f80) fail(`tensor '${t.name}': entry ${i} (${data[i]}) is outside the bfloat16 range; store it as float32`);
      view.setUint16(2 * i, bits, true);
    }
  }
}

/**
 * A safetensors file as parts to write one after the other (see {@link writeSafetensors}): the
 * header, then each tensor's bytes — a view of the network's own array for float32/float64 on
 * a little-endian machine (no copy of the weights), an encoded copy otherwise.
 */
export function safetensorsParts(net: Network): Uint8Array[] {
  const { header, placed } = layout(net);
  return [header, ...placed.map(({ t, length }) => {
    const { data } = t;
    if (LITTLE_ENDIAN && ((t.dtype === 'F32' && data instanceof Float32Array) || (t.dtype === 'F64' && data instanceof Float64Array))) {
      return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    }
    const part = new Uint8Array(length);
    encodeTensor(t, part);
    return part;
  })];
}

/** The header (with its length prefix and padding) and the tensors in file order, with their offsets in the data section. */
function layout(net: Network): { header: Uint8Array; placed: { t: OutTensor; begin: number; length: number }[]; dataBytes: number } {
  validateNetwork(net);
  const names = new Set<string>();
  const tensors: OutTensor[] = [];
  const dtypeOf = (data: WeightArray, storage: StorageDtype | undefined): Dtype =>
    storage === undefined ? (data instanceof Float64Array ? 'F64' : 'F32')
      : Object.hasOwn(STORAGE_DTYPE, storage) ? STORAGE_DTYPE[storage] : fail(`unknown storage format '${String(storage)}' (expected 'float16' or 'bfloat16')`);
  for (const b of net.blocks) {
    if (typeof b.name !== 'string' || b.name === '') fail('every block needs a non-empty name (its state-dict prefix)');
    if (names.has(b.name)) fail(`two blocks are named '${b.name}': state-dict names must be unique`);
    names.add(b.name);
    tensors.push({ name: `${b.name}.weight`, dtype: dtypeOf(b.weight, b.storage?.weight), shape: [...b.shape], data: b.weight });
    if (b.bias) tensors.push({ name: `${b.name}.bias`, dtype: dtypeOf(b.bias, b.storage?.bias), shape: [b.shape[0]], data: b.bias });
  }
  // Widest first (stable): with an 8-aligned data section every tensor starts aligned.
  tensors.sort((a, b) => (DTYPE_BYTES.get(b.dtype) ?? 0) - (DTYPE_BYTES.get(a.dtype) ?? 0));
  const entries: Array<[string, unknown]> = [['__metadata__', { format: 'pt', [GRAPH_METADATA_KEY]: JSON.stringify(graphOf(net)) }]];
  let offset = 0;
  const placed = tensors.map((t) => {
    const length = t.data.length * (DTYPE_BYTES.get(t.dtype) ?? 0);
    const begin = offset;
    offset += length;
    entries.push([t.name, { dtype: t.dtype, shape: t.shape, data_offsets: [begin, offset] }]);
    return { t, begin, length };
  });
  const headerBytes = new TextEncoder().encode(JSON.stringify(Object.fromEntries(entries)));
  const headerLength = Math.ceil(headerBytes.length / 8) * 8;
  const header = new Uint8Array(8 + headerLength);
  new DataView(header.buffer).setBigUint64(0, BigInt(headerLength), true);
  header.set(headerBytes, 8);
  header.fill(0x20, 8 + headerBytes.length); // pad with spaces, as the format allows
  return { header, placed, dataBytes: offset };
}

/**
 * Write a network as a safetensors file: `{name}.weight` / `{name}.bias` per block (F64 for a
 * Float64Array, F32 for a Float32Array, or the F16 / BF16 format recorded in `block.storage`),
 * and the graph as JSON in `__metadata__.weight_balance`. The header is padded to a multiple of
 * 8 bytes and tensors are ordered widest dtype first, so every tensor is aligned in the file.
 * Validates the network first; never modifies it.
 *
 * @example
 * await writeFile('net.safetensors', writeSafetensors(mlp([4, 8, 2])));
 */
export function writeSafetensors(net: Network): Uint8Array {
  const { header, placed, dataBytes } = layout(net);
  const out = new Uint8Array(header.length + dataBytes);
  out.set(header);
  for (const { t, begin, length } of placed) encodeTensor(t, out.subarray(header.length + begin, header.length + begin + length));
  return out;
}
