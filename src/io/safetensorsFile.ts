/**
 * The safetensors container: an 8-byte little-endian header length `N`, `N` bytes of JSON
 * (`{ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__: { key: string } }`), then
 * the data section (offsets are relative to its start). This module parses and checks the header
 * and decodes / encodes tensors; what the tensors mean is read in `safetensors.ts` and
 * `stateDict.ts`.
 */
import { describeValue, WeightBalanceError } from '../errors.js';
import type { Block, StorageDtype, WeightArray } from '../network/types.js';
import { bfloat16ToNumber, FLOAT16_MAX, float16ToNumber, numberToBfloat16, numberToFloat16 } from './halfFloat.js';
import { checkJsonDepth } from './limits.js';

/** The largest header accepted by {@link readSafetensors}, in bytes (100 MB). */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export type Dtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32';

/** Integer dtypes accepted for a BatchNorm's `num_batches_tracked` only (never decoded). */
const COUNTER_BYTES: ReadonlyMap<string, number> = new Map([
  ['I64', 8],
  ['I32', 4],
]);

export const DTYPE_BYTES: ReadonlyMap<string, number> = new Map<Dtype, number>([
  ['F64', 8],
  ['F32', 4],
  ['F16', 2],
  ['BF16', 2],
]);

/** dtypes of the safetensors format that are not floating-point weights. */
const UNSUPPORTED_DTYPES: ReadonlySet<string> = new Set([
  'BOOL',
  'U8',
  'I8',
  'U16',
  'I16',
  'U32',
  'I32',
  'U64',
  'I64',
  'F8_E4M3',
  'F8_E5M2',
  'F8_E8M0',
  'F6_E2M3',
  'F6_E3M2',
  'F4',
  'C64',
]);

export const STORAGE_DTYPE: Record<StorageDtype, Dtype> = { float16: 'F16', bfloat16: 'BF16' };

export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function fail(message: string): never {
  throw new WeightBalanceError(`safetensors: ${message}`);
}

/** One tensor of the header, offsets absolute in the file. */
export interface TensorEntry {
  name: string;
  dtype: Dtype;
  shape: number[];
  begin: number;
  end: number;
}

export interface ParsedHeader {
  tensors: Map<string, TensorEntry>;
  metadata: Map<string, string>;
}

export function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function isNonNegativeInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

export function parseHeader(bytes: Uint8Array): ParsedHeader {
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
  checkJsonDepth(text, 'safetensors: the header');
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
    if (next.begin > covered)
      fail(`data bytes [${covered - dataStart}, ${next.begin - dataStart}) are not part of any tensor (a gap before '${next.name}', or a tensor named twice)`);
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
  // A BatchNorm's step counter (PyTorch's `num_batches_tracked`, int64) is read but never used.
  const counter = name.endsWith('.num_batches_tracked') ? COUNTER_BYTES.get(dtype) : undefined;
  const size = counter ?? DTYPE_BYTES.get(dtype);
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
    fail(`${where}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but shape ${describeValue(shape)} of ${dtype} needs ${count * size}`);
  }
  return { name, dtype: dtype as Dtype, shape: [...(shape as number[])], begin: dataStart + begin, end: dataStart + end };
}

/** Bytes being read by a reader told it may keep views of them (`share`), during that read. */
export const SHARED = new WeakSet<Uint8Array>();

/**
 * A tensor of the file as an array: a copy (never a view of the caller's bytes), or, when the
 * caller gave the bytes up ({@link SHARED}) and the tensor is aligned little-endian F32/F64, a view.
 */
export function decodeTensor(bytes: Uint8Array, t: TensorEntry): WeightArray {
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

export function storageOf(t: TensorEntry): StorageDtype | undefined {
  return t.dtype === 'F16' ? 'float16' : t.dtype === 'BF16' ? 'bfloat16' : undefined;
}

/** The tensors of one block, looked up and checked against the block's kind. */
export interface BlockTensors {
  weight: TensorEntry;
  bias: TensorEntry | null;
}

/** `outputs`: the bias length for a weight shape (its first dimension, but for a transposed convolution). */
export function blockTensors(
  tensors: Map<string, TensorEntry>,
  name: string,
  rank: 2 | 4 | null,
  used: Set<string>,
  outputs: (shape: number[]) => number = (shape) => shape[0],
): BlockTensors {
  const weight = tensors.get(`${name}.weight`);
  if (!weight) fail(`tensor '${name}.weight' is missing`);
  if (rank !== null && weight.shape.length !== rank) {
    fail(`tensor '${name}.weight' has shape ${describeValue(weight.shape)}: a ${rank === 2 ? 'dense' : 'conv2d'} weight needs ${rank} dimensions`);
  }
  if (weight.shape.length !== 2 && weight.shape.length !== 4) {
    fail(`tensor '${name}.weight' has shape ${describeValue(weight.shape)}: expected (out, in) or (out, in/groups, kh, kw)`);
  }
  const bias = tensors.get(`${name}.bias`) ?? null;
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== outputs(weight.shape))) {
    fail(`tensor '${name}.bias' has shape ${describeValue(bias.shape)}, expected [${outputs(weight.shape)}]`);
  }
  used.add(weight.name);
  if (bias) used.add(bias.name);
  return { weight, bias };
}

/** A convolution's stride, padding, groups and (optional) dilation. */
export interface ConvGeometry {
  stride: [number, number];
  padding: [number, number];
  groups: number;
  dilation?: [number, number];
}

export function makeBlock(bytes: Uint8Array, t: BlockTensors, base: { name: string; from: number; to: number }, conv?: ConvGeometry): Block {
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

export interface OutTensor {
  name: string;
  dtype: Dtype;
  shape: number[];
  data: WeightArray;
}

export function encodeTensor(t: OutTensor, target: Uint8Array): void {
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
