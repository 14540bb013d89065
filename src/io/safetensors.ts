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
 * outputs are the outputs. The container itself is parsed in `safetensorsFile.ts`, the graph in
 * `safetensorsGraph.ts`.
 */
import { WeightBalanceError } from '../errors.js';
import { storedShape, toStoredLayout } from '../network/convTranspose.js';
import type { Network, StorageDtype, WeightArray } from '../network/types.js';
import { validateNetwork, validateStructure } from '../network/validate.js';
import type { Dtype, OutTensor } from './safetensorsFile.js';
import { DTYPE_BYTES, encodeTensor, fail, LITTLE_ENDIAN, MAX_HEADER_BYTES, parseHeader, SHARED, STORAGE_DTYPE } from './safetensorsFile.js';
import { GRAPH_METADATA_KEY, graphFail, graphOf, networkFromGraph, parseGraph, readIntArray } from './safetensorsGraph.js';
import type { ActivationSpec, StateDictHints } from './stateDict.js';
import { networkFromStateDict, parseActivation } from './stateDict.js';

export { MAX_HEADER_BYTES } from './safetensorsFile.js';
export type { NetworkGraphMetadata } from './safetensorsGraph.js';
export { GRAPH_METADATA_KEY } from './safetensorsGraph.js';
export type { ActivationSpec } from './stateDict.js';
export { parseActivation } from './stateDict.js';

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
  /**
   * `false`: check everything but that every weight and bias is finite, without reading the
   * values — for a caller that hands the network to `balance()`, which reads every value once
   * anyway (with their range) and refuses a non-finite one with the same message. Default `true`.
   */
  checkValues?: boolean;
}

/** Options of {@link safetensorsParts}. */
export interface SafetensorsPartsOptions {
  /**
   * `false`: leave out the check that every weight and bias is finite (the structure is still
   * checked), for a network whose values were checked as they were made: `balance()`'s result,
   * which never holds a non-finite value, written as it came. Default `true`.
   */
  checkValues?: boolean;
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
  if (options.checkValues === false) validateStructure(read.network);
  else validateNetwork(read.network);
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
 * network that {@link validateNetwork} refuses (with `options.checkValues: false`, any that
 * {@link validateStructure} refuses: the values are left to `balance()`).
 *
 * @example
 * const net = readSafetensors(new Uint8Array(await readFile('net.safetensors')), { activation: { activation: 'relu' } });
 */
export function readSafetensors(bytes: Uint8Array, options: ReadSafetensorsOptions = {}): Network {
  return readSafetensorsModel(bytes, options).network;
}

// ---------------------------------------------------------------- writing

/**
 * A safetensors file as parts to write one after the other (see {@link writeSafetensors}): the
 * header, then each tensor's bytes — a view of the network's own array for float32/float64 on
 * a little-endian machine (no copy of the weights), an encoded copy otherwise. Validates the
 * network first, its values too unless `options.checkValues` is `false`; never modifies it.
 */
export function safetensorsParts(net: Network, options: SafetensorsPartsOptions = {}): Uint8Array[] {
  const { header, placed } = layout(net, options.checkValues !== false);
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
function layout(net: Network, checkValues = true): { header: Uint8Array; placed: { t: OutTensor; begin: number; length: number }[]; dataBytes: number } {
  if (checkValues) validateNetwork(net);
  else validateStructure(net);
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
