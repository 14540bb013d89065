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
 * as a plain chain from its names (`stateDict.ts`): BatchNorms folded, the caller's activation
 * (or ReLU, reported as assumed) between consecutive parametrised layers, the last layer's
 * outputs are the outputs. The container itself is parsed in `safetensorsFile.ts`.
 */
import { describeValue, WeightBalanceError } from '../errors.js';
import { blockShape, fromStoredLayout, storedShape, toStoredLayout } from '../network/convTranspose.js';
import type { Block, Layer, Network, Pool, StorageDtype, UnitRef, WeightArray } from '../network/types.js';
import { validateNetwork } from '../network/validate.js';
import { checkCount, checkJsonDepth, MAX_LAYERS } from './limits.js';
import type { ConvGeometry, Dtype, OutTensor, TensorEntry } from './safetensorsFile.js';
import {
  blockTensors,
  DTYPE_BYTES,
  encodeTensor,
  fail,
  isRecord,
  LITTLE_ENDIAN,
  MAX_HEADER_BYTES,
  makeBlock,
  parseHeader,
  SHARED,
  STORAGE_DTYPE,
} from './safetensorsFile.js';
import type { ActivationSpec, StateDictHints } from './stateDict.js';
import { networkFromStateDict, parseActivation } from './stateDict.js';

export { MAX_HEADER_BYTES } from './safetensorsFile.js';
export type { ActivationSpec } from './stateDict.js';
export { parseActivation } from './stateDict.js';

/** The `__metadata__` key holding the network graph as JSON. */
export const GRAPH_METADATA_KEY = 'weight_balance';

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
  /** The activation between the layers of a plain chain, e.g. `"tanh"` or `"leaky_relu:0.1"`. */
  activation?: string;
  /** BatchNorm epsilon of a plain chain (default 1e-5, PyTorch's). */
  batchNormEpsilon?: number;
  layers?: Array<Omit<Layer, 'shape'> & { shape: number[] }>;
  blocks?: Array<
    | { name: string; kind: 'dense'; from: number; to: number }
    | {
        name: string;
        kind: 'conv2d';
        from: number;
        to: number;
        stride: [number, number];
        padding: [number, number];
        groups: number;
        dilation?: [number, number];
        /** A transposed convolution; its weight tensor has PyTorch's layout `[in, out / groups, kh, kw]`. */
        transposed?: { outputPadding: [number, number] };
      }
  >;
  ties?: UnitRef[][];
}

// ---------------------------------------------------------------- metadata graph

function graphFail(path: string, message: string): never {
  fail(`__metadata__.${GRAPH_METADATA_KEY}: ${path} ${message}`);
}

function readInt(x: unknown, path: string): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x)) graphFail(path, `must be an integer, got ${describeValue(x)}`);
  return x;
}

function readIntArray(x: unknown, path: string, length?: number): number[] {
  if (!Array.isArray(x) || (length !== undefined && x.length !== length)) {
    graphFail(path, `must be an array of ${length ?? 'some'} integers, got ${describeValue(x)}`);
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
    for (const flag of ['ceil', 'countPadding'] as const) {
      const v = x.pool[flag];
      if (v !== undefined) pool[flag] = typeof v === 'boolean' ? v : graphFail(`${path}.pool.${flag}`, 'must be a boolean');
    }
    layer.pool = pool;
  }
  if (x.skips !== undefined) layer.skips = readIntArray(x.skips, `${path}.skips`);
  if (x.concat !== undefined) layer.concat = readIntArray(x.concat, `${path}.concat`);
  if (x.select !== undefined) layer.select = readIntArray(x.select, `${path}.select`);
  if (x.gate !== undefined) layer.gate = readInt(x.gate, `${path}.gate`);
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
  checkJsonDepth(text, `safetensors: __metadata__.${GRAPH_METADATA_KEY}`);
  let graph: unknown;
  try {
    graph = JSON.parse(text);
  } catch (error) {
    fail(`__metadata__.${GRAPH_METADATA_KEY} is not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!isRecord(graph)) fail(`__metadata__.${GRAPH_METADATA_KEY} must be a JSON object`);
  if (graph.version !== GRAPH_VERSION) graphFail('version', `must be ${GRAPH_VERSION}, got ${describeValue(graph.version)}`);
  return graph;
}

/** A network from the full graph in the metadata; tensors give the shapes. */
function networkFromGraph(bytes: Uint8Array, tensors: Map<string, TensorEntry>, graph: Record<string, unknown>, used: Set<string>): Network {
  if (!Array.isArray(graph.layers)) graphFail('layers', 'must be an array');
  if (!Array.isArray(graph.blocks)) graphFail('blocks', 'must be an array');
  checkCount(graph.layers.length, MAX_LAYERS, `safetensors: the graph declares ${graph.layers.length} layers`);
  checkCount(graph.blocks.length, MAX_LAYERS, `safetensors: the graph declares ${graph.blocks.length} blocks`);
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
      const conv: ConvGeometry = {
        stride: readPair(x.stride, `${path}.stride`),
        padding: readPair(x.padding, `${path}.padding`),
        groups: readInt(x.groups, `${path}.groups`),
      };
      if (x.dilation !== undefined) conv.dilation = readPair(x.dilation, `${path}.dilation`);
      // A transposed convolution's tensor is [in, out / groups, kh, kw]: its bias has out entries.
      const outputs = x.transposed === undefined ? undefined : (shape: number[]) => shape[1] * conv.groups;
      const block = makeBlock(bytes, blockTensors(tensors, x.name, 4, used, outputs), base, conv);
      if (x.transposed === undefined) return block;
      if (!isRecord(x.transposed)) graphFail(`${path}.transposed`, 'must be an object { outputPadding }');
      return transposedBlock(block, readPair(x.transposed.outputPadding, `${path}.transposed.outputPadding`), path);
    }
    return graphFail(`${path}.kind`, `must be 'dense' or 'conv2d', got ${describeValue(x.kind)}`);
  });
  const net: Network = { layers, blocks };
  if (graph.ties !== undefined) net.ties = readTies(graph.ties);
  return net;
}

/** A transposed convolution read from PyTorch's layout `[in, out / groups, kh, kw]` into the block layout. */
function transposedBlock(block: Block, outputPadding: [number, number], path: string): Block {
  if (block.kind !== 'conv2d') return block;
  const stored = block.shape;
  if (stored[0] % block.groups !== 0) graphFail(`${path}.groups`, `must divide the ${stored[0]} input channels of the transposed convolution`);
  const shape = blockShape(stored, block.groups);
  return { ...block, shape, weight: fromStoredLayout(block.weight, shape, block.groups), transposed: { outputPadding } };
}

/** Options of {@link readSafetensors}. */
export interface ReadSafetensorsOptions {
  /**
   * The activation between the layers of a state dict read from its names (a state dict cannot
   * say it), e.g. `{ activation: 'tanh' }` or `parseActivation('leaky_relu:0.1')`. Without it
   * (and without one in the metadata) ReLU is assumed and reported in
   * {@link SafetensorsModel.assumptions}. Ignored, with a note, when the metadata gives the graph.
   */
  activation?: ActivationSpec;
  /**
   * The caller gives the bytes up: aligned float32/float64 tensors become views of them instead
   * of copies (one copy of the weights in memory). The bytes must not change afterwards.
   */
  share?: boolean;
}

/** A safetensors file read by {@link readSafetensorsModel}. */
export interface SafetensorsModel {
  network: Network;
  /** What the file could not say and was assumed or taken from the caller, one sentence each. */
  assumptions: string[];
  /** BatchNorms (by state-dict prefix) folded into the Linear / Conv2d before them. */
  foldedBatchNorms: string[];
}

function readActivation(graph: Record<string, unknown> | undefined): ActivationSpec | undefined {
  if (graph?.activation === undefined) return undefined;
  if (typeof graph.activation !== 'string') graphFail('activation', 'must be a string such as "relu", "tanh" or "leaky_relu:0.1"');
  const spec = parseActivation(graph.activation);
  if (graph.negativeSlope !== undefined) {
    if (typeof graph.negativeSlope !== 'number' || spec.activation !== 'leaky_relu')
      graphFail('negativeSlope', 'must be a number, with activation "leaky_relu"');
    spec.negativeSlope = graph.negativeSlope;
  }
  return spec;
}

/**
 * Read a network from the bytes of a safetensors file, with what was assumed: see
 * {@link readSafetensors}. A PyTorch `nn.Sequential` state dict without graph metadata is read
 * from its names; its BatchNorms (`running_mean`, `running_var`, `num_batches_tracked` in int64)
 * are folded into the block before them, and its activation comes from `options.activation`,
 * the metadata's `activation`, or is assumed ReLU (and said so in `assumptions`).
 *
 * @example
 * const { network, assumptions } = readSafetensorsModel(bytes, { activation: { activation: 'tanh' } });
 */
export function readSafetensorsModel(bytes: Uint8Array, options: ReadSafetensorsOptions = {}): SafetensorsModel {
  if (!(bytes instanceof Uint8Array)) fail('readSafetensors needs the bytes of a file as a Uint8Array');
  if (options.share) SHARED.add(bytes);
  try {
    return readModel(bytes, options);
  } finally {
    SHARED.delete(bytes);
  }
}

function readModel(bytes: Uint8Array, options: ReadSafetensorsOptions): SafetensorsModel {
  const { tensors, metadata } = parseHeader(bytes);
  const graphText = metadata.get(GRAPH_METADATA_KEY);
  const graph = graphText === undefined ? undefined : parseGraph(graphText);
  const used = new Set<string>();
  let read: SafetensorsModel;
  if (graph && (graph.layers !== undefined || graph.blocks !== undefined)) {
    const network = networkFromGraph(bytes, tensors, graph, used);
    const ignored = options.activation
      ? [`the activation option (${options.activation.activation}) is ignored: the file's graph metadata gives each layer's activation`]
      : [];
    read = { network, assumptions: ignored, foldedBatchNorms: [] };
  } else {
    const fromMetadata = readActivation(graph);
    const hints: StateDictHints = {
      input: graph?.input === undefined ? undefined : readIntArray(graph.input, 'input'),
      activation: options.activation ?? fromMetadata,
      activationSource: options.activation ? 'the caller' : `__metadata__.${GRAPH_METADATA_KEY}`,
    };
    if (graph?.batchNormEpsilon !== undefined) {
      if (typeof graph.batchNormEpsilon !== 'number' || !(graph.batchNormEpsilon >= 0)) graphFail('batchNormEpsilon', 'must be a number >= 0');
      hints.batchNormEpsilon = graph.batchNormEpsilon;
    }
    read = networkFromStateDict(bytes, tensors, hints, used);
  }
  for (const name of tensors.keys()) {
    if (!used.has(name)) fail(`tensor '${name}' is not part of the network (not the weight or bias of a block)`);
  }
  validateNetwork(read.network);
  return read;
}

/**
 * Read a network from the bytes of a safetensors file. Tensor data is copied: the network never
 * shares memory with `bytes`, and `bytes` is never modified. F16 and BF16 tensors are held as
 * float32 and remembered in `block.storage`, so {@link writeSafetensors} stores them back in their
 * own format. For a state dict without graph metadata, give `options.activation`; use
 * {@link readSafetensorsModel} to learn what was assumed (ReLU when no activation is given) and
 * which BatchNorms were folded.
 *
 * Throws a {@link WeightBalanceError} naming the problem for a truncated file, a header larger
 * than {@link MAX_HEADER_BYTES} or not valid JSON, offsets outside the data section,
 * overlapping or leaving data bytes outside every tensor (the format forbids holes), a byte
 * length that does not match the shape, an unknown dtype, tensors the network does not use, a
 * header or metadata nested deeper than 32 levels or declaring more than 100,000 layers, and any
 * network that {@link validateNetwork} refuses.
 *
 * @example
 * const net = readSafetensors(new Uint8Array(await readFile('net.safetensors')), { activation: { activation: 'relu' } });
 */
export function readSafetensors(bytes: Uint8Array, options: ReadSafetensorsOptions = {}): Network {
  return readSafetensorsModel(bytes, options).network;
}

// ---------------------------------------------------------------- writing

function poolOf(pool: Pool): Pool {
  const copy: Pool = { kind: pool.kind, size: [pool.size[0], pool.size[1]], stride: [pool.stride[0], pool.stride[1]] };
  if (pool.padding) copy.padding = [pool.padding[0], pool.padding[1]];
  if (pool.ceil) copy.ceil = true;
  if (pool.countPadding) copy.countPadding = true;
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
      ...(l.concat ? { concat: [...l.concat] } : {}),
      ...(l.select ? { select: [...l.select] } : {}),
      ...(l.gate !== undefined ? { gate: l.gate } : {}),
      ...(l.fixed?.length ? { fixed: [...l.fixed] } : {}),
    })),
    blocks: net.blocks.map((b) =>
      b.kind === 'conv2d'
        ? {
            name: b.name,
            kind: b.kind,
            from: b.from,
            to: b.to,
            stride: [...b.stride] as [number, number],
            padding: [...b.padding] as [number, number],
            groups: b.groups,
            ...(b.dilation ? { dilation: [...b.dilation] as [number, number] } : {}),
            ...(b.transposed ? { transposed: { outputPadding: [...b.transposed.outputPadding] as [number, number] } } : {}),
          }
        : { name: b.name, kind: b.kind, from: b.from, to: b.to },
    ),
  };
  if (net.ties?.length) graph.ties = net.ties.map((group) => group.map((u) => ({ layer: u.layer, unit: u.unit })));
  return graph;
}

/**
 * A safetensors file as parts to write one after the other (see {@link writeSafetensors}): the
 * header, then each tensor's bytes — a view of the network's own array for float32/float64 on
 * a little-endian machine (no copy of the weights), an encoded copy otherwise.
 */
export function safetensorsParts(net: Network): Uint8Array[] {
  const { header, placed } = layout(net);
  return [
    header,
    ...placed.map(({ t, length }) => {
      const { data } = t;
      if (LITTLE_ENDIAN && ((t.dtype === 'F32' && data instanceof Float32Array) || (t.dtype === 'F64' && data instanceof Float64Array))) {
        return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      }
      const part = new Uint8Array(length);
      encodeTensor(t, part);
      return part;
    }),
  ];
}

/** The header (with its length prefix and padding) and the tensors in file order, with their offsets in the data section. */
function layout(net: Network): { header: Uint8Array; placed: { t: OutTensor; begin: number; length: number }[]; dataBytes: number } {
  validateNetwork(net);
  const names = new Set<string>();
  const tensors: OutTensor[] = [];
  const dtypeOf = (data: WeightArray, storage: StorageDtype | undefined): Dtype =>
    storage === undefined
      ? data instanceof Float64Array
        ? 'F64'
        : 'F32'
      : Object.hasOwn(STORAGE_DTYPE, storage)
        ? STORAGE_DTYPE[storage]
        : fail(`unknown storage format '${String(storage)}' (expected 'float16' or 'bfloat16')`);
  for (const b of net.blocks) {
    if (typeof b.name !== 'string' || b.name === '') fail('every block needs a non-empty name (its state-dict prefix)');
    if (names.has(b.name)) fail(`two blocks are named '${b.name}': state-dict names must be unique`);
    names.add(b.name);
    // A transposed convolution is stored in PyTorch's layout.
    const [shape, data] =
      b.kind === 'conv2d' && b.transposed ? [storedShape(b.shape, b.groups), toStoredLayout(b.weight, b.shape, b.groups)] : [[...b.shape], b.weight];
    tensors.push({ name: `${b.name}.weight`, dtype: dtypeOf(b.weight, b.storage?.weight), shape, data });
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
