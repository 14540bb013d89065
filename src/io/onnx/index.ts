/**
 * ONNX model files: read a model into a {@link Network}, balance it, write it back with only the
 * weight initializers' numbers changed (in place, in their own element type: every other byte of
 * the file is kept).
 *
 * @example
 * const model = readOnnx(bytes);
 * const result = await balance(model.network, { p: 2, q: 2 });
 * const balancedBytes = writeOnnx(model, result.network);
 */
import { WeightBalanceError } from '../../errors.js';
import type { Network } from '../../network/types.js';
import { validateNetwork, validateStructure } from '../../network/validate.js';
import { checkCount, MAX_ONNX_NODES } from '../limits.js';
import type { BlockBinding } from './bindings.js';
import { decodeModelProto } from './decode.js';
import type { OnnxFixedUnits } from './importGraph.js';
import { importGraph } from './importGraph.js';
import type { GraphProto, ModelProto, TensorProto } from './schema.js';
import type { TensorLocation, WeightLayout } from './tensor.js';
import { blockWeights, locateTensor, readFloatTensor } from './tensor.js';
import type { InitializerLayout } from './wire.js';
import { initializerLayouts } from './wire.js';
import type { KeptFile, OnnxParts, PatchTarget, WriterSource } from './writer.js';
import { joinParts, keepFiles, onnxParts, structureOf } from './writer.js';

export type { OnnxFixedUnits } from './importGraph.js';
export type { OnnxParts } from './writer.js';

/** Options of {@link readOnnx}. */
export interface ReadOnnxOptions {
  /**
   * External data files by their `location` (as written in the model, e.g. `model.onnx.data`),
   * for models saved with `save_as_external_data`. A weight whose file is missing is refused.
   */
  externalData?: Record<string, Uint8Array>;
  /**
   * `false`: the network's values are not read to check that they are finite (its structure
   * still is): the caller hands the network to `balance()`, which checks them as it reads them
   * once. Default `true`.
   */
  checkValues?: boolean;
}

/**
 * What {@link writeOnnx} needs of the files read: each file's bytes outside the weight data it
 * rewrites (copies: nothing refers to the caller's bytes), the rewritten initializers and how each
 * block maps to them. Treat as opaque.
 */
export interface OnnxSource extends WriterSource {
  readonly files: readonly KeptFile[];
  readonly targets: ReadonlyMap<number, PatchTarget>;
  readonly bindings: readonly BlockBinding[];
  readonly structure: readonly string[];
}

/** An ONNX model read by {@link readOnnx}. */
export interface OnnxModel {
  /** The network to balance: one block per Conv / Gemm / MatMul (BatchNormalization folded in). */
  network: Network;
  /** Units fixed (factor 1) by ops that are not positively homogeneous, by node. */
  fixedUnits: OnnxFixedUnits[];
  /** BatchNormalization nodes folded into the block before them. */
  foldedBatchNorms: string[];
  /**
   * The `perm` of a Transpose applied to the graph input before anything else (tf2onnx's NHWC ->
   * NCHW): `network`'s input layer has the transposed shape. Null when there is none.
   */
  inputTranspose: number[] | null;
  /** The graph's name and the opset of the default domain, for reports. */
  graphName: string;
  opset: number | null;
  /** What the writer needs. */
  source: OnnxSource;
}

/** A weight as stored: not transposed, not scaled, in float64 (exact for every element type). */
const NO_LAYOUT = { transposed: false, alpha: 1, double: true };

/** Initializers up to this many values (biases, BatchNormalization parameters) are decoded once and kept while the graph is imported. */
const CACHED_VALUES = 1 << 16;

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function sniff(bytes: Uint8Array): string | null {
  const ascii = String.fromCharCode(...bytes.subarray(0, 8));
  if (ascii.startsWith('PK\u0003\u0004')) return 'a ZIP archive (a PyTorch .pt/.pth checkpoint?)';
  if (ascii.startsWith('\u0089HDF')) return 'an HDF5 file (a Keras .h5 model?)';
  if (/^\s*[{[]/.test(ascii)) return 'a JSON file';
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length > 8 && dv.getUint32(4, true) === 0 && dv.getUint32(0, true) < 1e8 && bytes[8] === 0x7b) return 'a safetensors file';
  return null;
}

/**
 * Refuse a rewritten initializer whose external bytes another initializer also covers (weights
 * deduplicated by an exporter, or a corrupt offset): rewriting one would change the other.
 * A sweep over each file's ranges sorted by offset, O(n log n).
 */
function checkExternalOverlaps(
  initializers: TensorProto[],
  layouts: ReturnType<typeof initializerLayouts>,
  locations: (TensorLocation | null)[],
  external: Record<string, Uint8Array>,
  bindings: readonly BlockBinding[],
): void {
  const rewritten = new Set(bindings.flatMap((b) => [b.weight.initializer, ...(b.bias ? [b.bias.initializer] : [])]));
  const byFile = new Map<string, { index: number; begin: number; end: number }[]>();
  initializers.forEach((t, index) => {
    if (t.dataLocation !== 1) return;
    let location: TensorLocation;
    try {
      location = locations[index] ?? locateTensor(t, layouts[index], external);
    } catch {
      return; // its file is not given or it does not fit: it is not read, so it cannot share bytes read here
    }
    if (!location.file || !location.raw || location.raw.length === 0) return;
    const list = byFile.get(location.file) ?? [];
    list.push({ index, begin: location.raw.offset, end: location.raw.offset + location.raw.length });
    byFile.set(location.file, list);
  });
  const name = (index: number): string => `'${initializers[index].name ?? ''}'`;
  for (const [file, ranges] of byFile) {
    ranges.sort((a, b) => a.begin - b.begin);
    let widest: (typeof ranges)[number] | null = null; // the range reaching furthest so far
    let widestRewritten: (typeof ranges)[number] | null = null;
    for (const r of ranges) {
      const other =
        rewritten.has(r.index) && widest && r.begin < widest.end ? widest : widestRewritten && r.begin < widestRewritten.end ? widestRewritten : null;
      if (other) {
        throw new WeightBalanceError(
          `initializers ${name(other.index)} and ${name(r.index)} share bytes of the external data file '${file}': shared (deduplicated) weights are not supported`,
        );
      }
      if (!widest || r.end > widest.end) widest = r;
      if (rewritten.has(r.index) && (!widestRewritten || r.end > widestRewritten.end)) widestRewritten = r;
    }
  }
}

/** The model decoded and checked, with where each initializer keeps its numbers. */
function decodeModel(bytes: Uint8Array): { model: ModelProto; graph: GraphProto; layouts: InitializerLayout[]; initializers: TensorProto[] } {
  if (!(bytes instanceof Uint8Array)) throw new WeightBalanceError('readOnnx needs the model file as a Uint8Array');
  if (bytes.length === 0) throw new WeightBalanceError('not an ONNX model: the file is empty');
  const kind = sniff(bytes);
  if (kind) throw new WeightBalanceError(`not an ONNX model: this looks like ${kind}`);
  let model: ModelProto;
  try {
    model = decodeModelProto(bytes);
  } catch (error) {
    throw new WeightBalanceError(`not a valid ONNX model (${describe(error)}): the file is truncated, corrupt or not ONNX`);
  }
  const graph = model.graph;
  if (!(typeof model.irVersion === 'number' && model.irVersion > 0) || !graph || (graph.node ?? []).length === 0) {
    throw new WeightBalanceError('not an ONNX model: no ir_version or no graph with nodes (is this file ONNX?)');
  }
  checkCount(graph.node!.length, MAX_ONNX_NODES, `the graph has ${graph.node!.length} nodes`);
  let layouts: InitializerLayout[];
  try {
    layouts = initializerLayouts(bytes);
  } catch (error) {
    throw new WeightBalanceError(`not a valid ONNX model (${describe(error)}): the file is truncated or corrupt`);
  }
  const initializers = graph.initializer ?? [];
  if (layouts.length !== initializers.length) throw new WeightBalanceError('not a valid ONNX model: the initializers could not be located in the file');
  return { model, graph, layouts, initializers };
}

/**
 * Read an ONNX model (a `ModelProto`, IR version 3 or later) into a network. Throws a
 * {@link WeightBalanceError} naming the problem (and the node, where there is one) for files
 * that are not ONNX, truncated files, missing external data, weights that share
 * bytes of an external data file with another initializer, dynamic shapes it cannot resolve
 * and ops it cannot express; ops that are not positively homogeneous fix their units instead
 * (listed in `fixedUnits`). The caller's bytes (and external data) are only read during the
 * call: the network's weights are arrays of their own (float32, or float64 for DOUBLE models),
 * and the writer keeps copies of the bytes around the weight data, never the caller's arrays.
 */
export function readOnnx(bytes: Uint8Array, options: ReadOnnxOptions = {}): OnnxModel {
  const { model, graph, layouts, initializers } = decodeModel(bytes);
  // Own properties only (a location named '__proto__' stays data, never a prototype).
  const external: Record<string, Uint8Array> = Object.fromEntries(Object.entries(options.externalData ?? {}));
  const locations: (TensorLocation | null)[] = initializers.map(() => null);
  const locate = (index: number): TensorLocation => (locations[index] ??= locateTensor(initializers[index], layouts[index], external));
  const cache = new Map<number, Float64Array>();
  const buffers = (file: string | null): Uint8Array => (file === null ? bytes : external[file]);
  const floatValues = (index: number, writable: boolean): Float64Array => {
    const known = cache.get(index);
    if (known) return known;
    const values = readFloatTensor(initializers[index], locate(index), buffers, writable);
    // Small tensors (biases, BatchNormalization parameters) are kept; larger ones are read once.
    if (values.length <= CACHED_VALUES) cache.set(index, values);
    return values;
  };
  const weightValues = (index: number, layout: WeightLayout) => blockWeights(initializers[index], locate(index), buffers, layout);
  const imported = importGraph({ graph, floatValues, weightValues }, options.checkValues !== false);
  // What the writer needs of each rewritten initializer (not its data: the TensorProto holds a view of the bytes).
  const targets = new Map<number, PatchTarget>();
  for (const b of imported.bindings) {
    for (const index of [b.weight.initializer, b.bias?.initializer]) {
      if (index === undefined) continue;
      const { name, dataType, dims } = initializers[index];
      targets.set(index, { tensor: { name, dataType, dims }, location: locate(index) });
    }
    const rowScale = b.weight.rowScale;
    if (rowScale?.includes(0)) b.weight.storedRows = storedRows(b.weight.transposed, rowScale, weightValues(b.weight.initializer, NO_LAYOUT));
  }
  checkExternalOverlaps(initializers, layouts, locations, external, imported.bindings);
  const opset = (model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx')?.version ?? null;
  const files: [string | null, Uint8Array][] = [[null, bytes], ...Object.entries(external)];
  return {
    network: imported.network,
    fixedUnits: imported.fixedUnits,
    foldedBatchNorms: imported.foldedBatchNorms,
    inputTranspose: imported.inputTranspose,
    graphName: graph.name ?? '',
    opset,
    source: { files: keepFiles(files, targets.values()), targets, bindings: imported.bindings, structure: structureOf(imported.network) },
  };
}

/** The stored values of the rows with a zero factor, in block order (what the writer keeps of them). */
function storedRows(transposed: boolean, rowScale: Float64Array, stored: ArrayLike<number>): Map<number, Float64Array> {
  const rows = rowScale.length;
  const rowLength = stored.length / rows;
  const kept = new Map<number, Float64Array>();
  rowScale.forEach((r, i) => {
    if (r === 0)
      kept.set(
        i,
        Float64Array.from({ length: rowLength }, (_, j) => stored[transposed ? j * rows + i : i * rowLength + j]),
      );
  });
  return kept;
}

/**
 * The external data files a model refers to (their `location`s, relative to the model's
 * directory), so that a caller can load them for {@link readOnnx}. Empty for self-contained
 * models; throws like {@link readOnnx} for bytes that are not ONNX.
 */
export function onnxExternalDataFiles(bytes: Uint8Array): string[] {
  let model: ModelProto;
  try {
    model = decodeModelProto(bytes);
  } catch (error) {
    throw new WeightBalanceError(`not a valid ONNX model (${describe(error)}): the file is truncated, corrupt or not ONNX`);
  }
  const files = new Set<string>();
  for (const t of model.graph?.initializer ?? []) {
    if (t.dataLocation !== 1) continue;
    const location = (t.externalData ?? []).find((e) => e.key === 'location')?.value;
    if (location) files.add(location);
  }
  return [...files];
}

/** The files {@link writeOnnxFiles} produces. */
export interface OnnxFiles {
  /** The model file. */
  model: Uint8Array;
  /** External data files whose contents changed, by location (empty for self-contained models). */
  externalData: Record<string, Uint8Array>;
}

/**
 * Write a balanced network back into its ONNX model: a copy of the file whose weight
 * initializers (Conv/Gemm/MatMul weights and biases, the bias `B` of a folded
 * BatchNormalization) hold the new values, in their own element type and storage; every other
 * byte is unchanged. `network` must have the structure of `model.network` (as `balance` returns).
 */
export function writeOnnxFiles(model: OnnxModel, network: Network): OnnxFiles {
  const parts = writeOnnxParts(model?.source, network);
  const externalData: Record<string, Uint8Array> = Object.fromEntries(parts.changed.map((file) => [file, joinParts(parts.externalData[file])]));
  return { model: joinParts(parts.model), externalData };
}

/**
 * The files of {@link writeOnnxFiles} as parts to write one after the other: the bytes kept
 * from the files read and the new weight data, which is a view of the network's own float32
 * arrays where the stored layout allows (no copy of the weights). Validates the network, its
 * values too unless `options.checkValues` is `false` (see `WriteModelOptions`).
 */
export function writeOnnxParts(source: OnnxSource, network: Network, options: { checkValues?: boolean } = {}): OnnxParts {
  if (!source || !Array.isArray(source.files) || !(source.targets instanceof Map))
    throw new WeightBalanceError('writeOnnx needs the model returned by readOnnx');
  if (options.checkValues === false) validateStructure(network);
  else validateNetwork(network);
  return onnxParts(source, network);
}

/**
 * Write a balanced network back into its ONNX model file (see {@link writeOnnxFiles}); for a
 * model whose weights live in external data files, use {@link writeOnnxFiles}, which also
 * returns those.
 */
export function writeOnnx(model: OnnxModel, network: Network): Uint8Array {
  const files = writeOnnxFiles(model, network);
  const external = Object.keys(files.externalData);
  if (external.length > 0) {
    throw new WeightBalanceError(
      `the model keeps its weights in external data (${external.map((f) => `'${f}'`).join(', ')}); use writeOnnxFiles to get those files too`,
    );
  }
  return files.model;
}
