/**
 * The network graph of a safetensors file, `__metadata__.weight_balance` (see
 * {@link NetworkGraphMetadata}): what the tensor names cannot carry (input shape, stride, padding,
 * groups, pooling, activations, residual skips, ties, fixed units, layer names), read and written.
 */
import { describeValue } from '../errors.js';
import { blockShape, fromStoredLayout } from '../network/convTranspose.js';
import type { Block, Layer, Network, Pool, UnitRef } from '../network/types.js';
import { checkCount, checkJsonDepth, MAX_LAYERS } from './limits.js';
import type { ConvGeometry, TensorEntry } from './safetensorsFile.js';
import { blockTensors, fail, isRecord, makeBlock } from './safetensorsFile.js';

/** The `__metadata__` key holding the network graph as JSON. */
export const GRAPH_METADATA_KEY = 'weight_balance';

/** Version of {@link NetworkGraphMetadata} written by this library. */
export const GRAPH_VERSION = 1;

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

export function graphFail(path: string, message: string): never {
  fail(`__metadata__.${GRAPH_METADATA_KEY}: ${path} ${message}`);
}

function readInt(x: unknown, path: string): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x)) graphFail(path, `must be an integer, got ${describeValue(x)}`);
  return x;
}

export function readIntArray(x: unknown, path: string, length?: number): number[] {
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

export function parseGraph(text: string): Record<string, unknown> {
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
export function networkFromGraph(bytes: Uint8Array, tensors: Map<string, TensorEntry>, graph: Record<string, unknown>, used: Set<string>): Network {
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

function poolOf(pool: Pool): Pool {
  const copy: Pool = { kind: pool.kind, size: [pool.size[0], pool.size[1]], stride: [pool.stride[0], pool.stride[1]] };
  if (pool.padding) copy.padding = [pool.padding[0], pool.padding[1]];
  if (pool.ceil) copy.ceil = true;
  if (pool.countPadding) copy.countPadding = true;
  return copy;
}

/** The graph of a network as stored in `__metadata__.weight_balance`. */
export function graphOf(net: Network): NetworkGraphMetadata {
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
