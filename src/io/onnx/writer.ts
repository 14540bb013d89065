/**
 * Writing a balanced network back into its ONNX files without a copy of the file: the reader
 * keeps each file's bytes outside the weight data it will rewrite ({@link keepFiles}: the graph,
 * attributes, other initializers), and the writer returns every file as parts, in order — those
 * kept bytes and the new weight data, which is a view of the network's own arrays where the
 * element type and layout allow (float32 `raw_data` stored `[out, in...]`), else encoded when
 * its part is reached (one tensor at a time: a transposed or rescaled copy of every weight is
 * never held at once). Every byte outside the rewritten weight data is the file's own.
 */
import { WeightBalanceError } from '../../errors.js';
import { storedIndex } from '../../network/convTranspose.js';
import type { Block, Network } from '../../network/types.js';
import type { BlockBinding, WeightBinding } from './bindings.js';
import { DataType } from './schema.js';
import type { TensorInfo, TensorLocation } from './tensor.js';
import { encodeRawTensor, writeTypedTensor } from './tensor.js';

/** A file of the model as the writer keeps it: its bytes outside the rewritten `raw_data` ranges (copies), by offset. */
export interface KeptFile {
  /** `null`: the model file; otherwise the external data file's `location`. */
  file: string | null;
  length: number;
  kept: ReadonlyArray<{ offset: number; bytes: Uint8Array }>;
}

/** An initializer the writer rewrites: what it needs of the tensor, and where its numbers are. */
export interface PatchTarget {
  tensor: TensorInfo;
  location: TensorLocation;
}

/** What {@link onnxParts} needs: the kept files, the rewritten initializers by index, the blocks' bindings and structure. */
export interface WriterSource {
  readonly files: readonly KeptFile[];
  readonly targets: ReadonlyMap<number, PatchTarget>;
  readonly bindings: readonly BlockBinding[];
  readonly structure: readonly string[];
}

/**
 * Each file's bytes outside the `raw_data` ranges that `targets` rewrite, copied: the caller's
 * bytes are not referenced afterwards (the weights read from them are the network's own arrays).
 */
export function keepFiles(files: ReadonlyArray<readonly [string | null, Uint8Array]>, targets: Iterable<PatchTarget>): KeptFile[] {
  const all = [...targets];
  return files.map(([file, bytes]) => {
    const ranges = all
      .filter((t) => t.location.file === file && t.location.raw !== null)
      .map((t) => t.location.raw!)
      .sort((a, b) => a.offset - b.offset);
    const kept: { offset: number; bytes: Uint8Array }[] = [];
    let at = 0;
    for (const r of ranges) {
      // new Uint8Array(view) copies (a Node Buffer's slice() would keep the caller's memory).
      if (r.offset > at) kept.push({ offset: at, bytes: new Uint8Array(bytes.subarray(at, r.offset)) });
      at = Math.max(at, r.offset + r.length);
    }
    if (at < bytes.length) kept.push({ offset: at, bytes: new Uint8Array(bytes.subarray(at)) });
    return { file, length: bytes.length, kept };
  });
}

/** The structure of a network's blocks, to check that a written network is a balanced copy of the one read. */
export function structureOf(net: Network): string[] {
  return net.blocks.map((b) => JSON.stringify([b.kind, b.shape, b.from, b.to, b.bias !== null]));
}

function checkStructure(source: WriterSource, network: Network): void {
  const structure = structureOf(network);
  if (structure.length !== source.structure.length) {
    throw new WeightBalanceError(
      `the network has ${structure.length} blocks, the ONNX model ${source.structure.length}: it is not a balanced copy of this model`,
    );
  }
  structure.forEach((s, k) => {
    if (s !== source.structure[k])
      throw new WeightBalanceError(`block ${k} ('${network.blocks[k].name}') does not match the ONNX model's (${s} vs ${source.structure[k]})`);
  });
}

/**
 * The stored values of a block's weight initializer: `row / rowScale` in the stored layout, in the
 * stored precision (float32 for FLOAT, float64 otherwise, so each value is rounded once). The
 * block's own array when nothing changes (no transpose, no row factor, same precision).
 */
function storedWeights(block: Block, w: WeightBinding, tensor: TensorInfo): Float32Array | Float64Array {
  const float = tensor.dataType === DataType.FLOAT;
  const weight = block.weight;
  if (!w.transposed && !w.rowScale && !w.convTranspose && (float ? weight instanceof Float32Array : weight instanceof Float64Array)) return weight;
  const rows = block.shape[0];
  const rowLength = weight.length / rows;
  const out = float ? new Float32Array(weight.length) : new Float64Array(weight.length);
  const convTranspose = w.convTranspose ? storedIndex(block.shape, w.convTranspose.groups) : null;
  for (let i = 0; i < rows; i++) {
    const r = w.rowScale ? w.rowScale[i] : 1;
    // A zero row factor (BatchNormalization scale 0) ignores the row: it is kept as stored.
    const stored = r === 0 ? w.storedRows?.get(i) : undefined;
    if (r === 0 && !stored) throw new WeightBalanceError(`block '${block.name}': row ${i} has a zero scale and no stored values`);
    for (let j = 0; j < rowLength; j++) {
      const at = convTranspose ? convTranspose(i * rowLength + j) : w.transposed ? j * rows + i : i * rowLength + j;
      out[at] = stored ? stored[j] : weight[i * rowLength + j] / r;
    }
  }
  return out;
}

/** A piece of a written file: `length` bytes at `offset`, made when they are written. */
interface Piece {
  offset: number;
  length: number;
  bytes(): Uint8Array;
}

/** The new data of each rewritten initializer: raw pieces by file (encoded when written), typed values for the model file. */
interface Patches {
  raw: Map<string | null, Piece[]>;
  typed: { target: PatchTarget; values: () => Float32Array | Float64Array }[];
}

function addPatch(patches: Patches, target: PatchTarget, values: () => Float32Array | Float64Array): void {
  const { location, tensor } = target;
  if (location.raw) {
    const list = patches.raw.get(location.file) ?? [];
    const { offset, length } = location.raw;
    list.push({ offset, length, bytes: () => encodeRawTensor(tensor, values()) });
    patches.raw.set(location.file, list);
  } else patches.typed.push({ target, values });
}

function patchesOf(source: WriterSource, network: Network): Patches {
  const patches: Patches = { raw: new Map(), typed: [] };
  const target = (index: number): PatchTarget => {
    const t = source.targets.get(index);
    if (!t) throw new WeightBalanceError(`initializer #${index} is not one the reader located`);
    return t;
  };
  network.blocks.forEach((block, k) => {
    const binding = source.bindings[k];
    const w = target(binding.weight.initializer);
    addPatch(patches, w, () => storedWeights(block, binding.weight, w.tensor));
    if (binding.bias && block.bias) {
      const b = binding.bias;
      const bias = block.bias;
      addPatch(patches, target(b.initializer), () => Float64Array.from(bias, (v, i) => (v - (b.offset ? b.offset[i] : 0)) / b.scale));
    }
  });
  return patches;
}

/**
 * One file as parts in order: its kept bytes (patched copies where typed values changed) and the
 * new raw data, encoded as the parts are taken. The layout is checked, and typed values written,
 * before the first part.
 */
function fileParts(file: KeptFile, raw: readonly Piece[], typed: Patches['typed']): Iterable<Uint8Array> {
  const kept = file.kept.map((k) => ({ ...k }));
  const copied = new Set<number>();
  for (const { target, values } of typed) {
    const segments = target.location.typed;
    if (segments.length === 0) continue;
    const first = segments[0].offset;
    const k = kept.find((s) => s.offset <= first && first < s.offset + s.bytes.length);
    if (!k) throw new WeightBalanceError(`initializer '${target.tensor.name ?? ''}': its values are not in the kept bytes of the model file`);
    if (!copied.has(k.offset)) k.bytes = new Uint8Array(k.bytes); // the source's bytes stay as read: patch a copy
    copied.add(k.offset);
    writeTypedTensor(target.tensor, segments, k.bytes, k.offset, values());
  }
  const pieces: Piece[] = [...kept.map((k) => ({ offset: k.offset, length: k.bytes.length, bytes: () => k.bytes })), ...raw];
  pieces.sort((a, b) => a.offset - b.offset);
  let at = 0;
  for (const p of pieces) {
    if (p.offset !== at) throw new WeightBalanceError(`the rewritten ONNX file would have a gap or overlap at byte ${at}`);
    at += p.length;
  }
  if (at !== file.length) throw new WeightBalanceError(`the rewritten ONNX file has ${at} bytes, the original ${file.length}`);
  return {
    *[Symbol.iterator]() {
      for (const p of pieces) yield p.bytes();
    },
  };
}

/**
 * The files {@link onnxParts} writes, each as parts to write one after the other (an iterable
 * that encodes each weight when its part is reached; it may be iterated more than once).
 */
export interface OnnxParts {
  model: Iterable<Uint8Array>;
  /** Every external data file of the model, by location; `changed` names those whose weights were rewritten. */
  externalData: Record<string, Iterable<Uint8Array>>;
  changed: string[];
}

/**
 * A balanced network written into its model's files, as parts: see the module comment. `network`
 * must have the structure of the network read (as `balance` returns it).
 */
export function onnxParts(source: WriterSource, network: Network): OnnxParts {
  checkStructure(source, network);
  const patches = patchesOf(source, network);
  const out: OnnxParts = { model: [], externalData: {}, changed: [] };
  for (const file of source.files) {
    const raw = patches.raw.get(file.file) ?? [];
    const parts = fileParts(file, raw, file.file === null ? patches.typed : []);
    if (file.file === null) out.model = parts;
    else {
      out.externalData[file.file] = parts;
      if (raw.length > 0) out.changed.push(file.file);
    }
  }
  return out;
}

/** Parts joined into one new array. */
export function joinParts(parts: Iterable<Uint8Array>): Uint8Array {
  const list = [...parts];
  const whole = new Uint8Array(list.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of list) {
    whole.set(part, at);
    at += part.length;
  }
  return whole;
}
