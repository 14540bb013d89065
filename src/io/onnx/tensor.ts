/**
 * Reading and writing the numbers of ONNX tensors where the file keeps them: `raw_data`,
 * `float_data` / `double_data`, or an external data file. Writes are in place and keep the
 * tensor's own element type, so the byte length of every field stays the same.
 */
import { describeValue, WeightBalanceError } from '../../errors.js';
import type { WeightArray } from '../../network/types.js';
import { bfloat16ToNumber, FLOAT16_MAX, float16ToNumber, numberToBfloat16, numberToFloat16 } from '../halfFloat.js';
import type { TensorProto } from './schema.js';
import { DataType, dataTypeName } from './schema.js';
import type { DataSegment, InitializerLayout } from './wire.js';

/** Float element types a weight may have. */
const FLOAT_TYPES = new Set<number>([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16, DataType.BFLOAT16]);

/** Bytes per element of the types read here. */
const WIDTH: Record<number, number> = {
  [DataType.FLOAT]: 4,
  [DataType.DOUBLE]: 8,
  [DataType.FLOAT16]: 2,
  [DataType.BFLOAT16]: 2,
  [DataType.INT32]: 4,
  [DataType.INT64]: 8,
};

/** Where an initializer's numbers are: in the model file or in an external data file. */
export interface TensorLocation {
  /** `null`: the model file; otherwise the external file's `location`. */
  file: string | null;
  /** A contiguous little-endian byte range (raw_data or external data). */
  raw: { offset: number; length: number } | null;
  /** Typed repeated fields (float_data / double_data) in the model file. */
  typed: DataSegment[];
}

function tensorLabel(tensor: TensorInfo): string {
  return `initializer '${tensor.name ?? ''}'`;
}

/**
 * The element count of a tensor from its dims. A negative dim, or a count beyond 2^53, is a
 * {@link WeightBalanceError} naming the tensor (never a count that allocates nonsense).
 */
export function elementCount(tensor: TensorProto): number {
  const dims = tensor.dims ?? [];
  const count = dims.reduce((a, b) => a * b, 1);
  if (!dims.every((d) => Number.isSafeInteger(d) && d >= 0) || !Number.isSafeInteger(count)) {
    throw new WeightBalanceError(`${tensorLabel(tensor)} has dims ${describeValue(dims)}: each must be an integer >= 0, their product at most 2^53`);
  }
  return count;
}

/**
 * Locate a tensor's data. `external` maps external file names to their bytes; a tensor whose
 * external file is missing, or whose byte range does not fit, is refused with an error naming it.
 */
export function locateTensor(tensor: TensorProto, layout: InitializerLayout, external: Record<string, Uint8Array>): TensorLocation {
  if (tensor.dataLocation === 1) {
    const entries = new Map((tensor.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
    const location = entries.get('location');
    if (!location) throw new WeightBalanceError(`${tensorLabel(tensor)} has external data without a 'location'`);
    // Own keys only: a location such as 'constructor' must not find Object.prototype's members.
    const file = Object.hasOwn(external, location) ? external[location] : undefined;
    if (!(file instanceof Uint8Array)) {
      throw new WeightBalanceError(`${tensorLabel(tensor)} stores its data in the external file '${location}', which was not provided`);
    }
    const offset = Number(entries.get('offset') ?? 0);
    const width = WIDTH[tensor.dataType ?? 0] ?? 0;
    const length = entries.has('length') ? Number(entries.get('length')) : elementCount(tensor) * width;
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || offset + length > file.length) {
      throw new WeightBalanceError(
        `${tensorLabel(tensor)}: external data range [${offset}, ${offset + length}) does not fit in '${location}' (${file.length} bytes): truncated?`,
      );
    }
    return { file: location, raw: { offset, length }, typed: [] };
  }
  return { file: null, raw: layout.raw, typed: layout.typed };
}

/** Typed arrays use the platform's byte order; ONNX stores little-endian. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function checkRawLength(tensor: TensorProto, length: number, n: number, width: number): void {
  if (length !== n * width) {
    throw new WeightBalanceError(
      `${tensorLabel(tensor)}: its data has ${length} bytes, dims ${describeValue(tensor.dims ?? [])} of ${dataTypeName(tensor.dataType ?? 0)} need ${n * width}: truncated or corrupt`,
    );
  }
}

/** The numbers of a float tensor as stored, and whether they are a view of the file's bytes (read them only). */
export interface StoredFloats {
  values: Float32Array | Float64Array;
  view: boolean;
}

/**
 * The values of a float tensor in its stored order, from wherever the file keeps them: a view of
 * the file's bytes for aligned little-endian FLOAT/DOUBLE `raw_data` (nothing copied; the caller
 * must not write to it), else a fresh array (float32 for FLOAT, FLOAT16 and BFLOAT16, float64 for
 * DOUBLE). `writable` additionally requires a storage the writer can rewrite.
 */
export function storedFloats(tensor: TensorProto, location: TensorLocation, buffers: (file: string | null) => Uint8Array, writable: boolean): StoredFloats {
  const type = tensor.dataType ?? 0;
  if (!FLOAT_TYPES.has(type))
    throw new WeightBalanceError(`${tensorLabel(tensor)} has element type ${dataTypeName(type)}; weights must be FLOAT, DOUBLE, FLOAT16 or BFLOAT16`);
  const n = elementCount(tensor);
  const Out = type === DataType.DOUBLE ? Float64Array : Float32Array;
  if (location.raw) {
    const width = WIDTH[type];
    checkRawLength(tensor, location.raw.length, n, width);
    const bytes = buffers(location.file);
    const o = location.raw.offset;
    if (LITTLE_ENDIAN && (type === DataType.FLOAT || type === DataType.DOUBLE)) {
      const at = bytes.byteOffset + o;
      if (at % width === 0) return { values: new Out(bytes.buffer as ArrayBuffer, at, n), view: true };
      // Unaligned: one copy into a fresh buffer (new Uint8Array copies, even a Node Buffer).
      return { values: new Out(new Uint8Array(bytes.subarray(o, o + n * width)).buffer, 0, n), view: false };
    }
    const out = new Out(n);
    const dv = view(bytes);
    for (let k = 0; k < n; k++) {
      switch (type) {
        case DataType.FLOAT:
          out[k] = dv.getFloat32(o + 4 * k, true);
          break;
        case DataType.DOUBLE:
          out[k] = dv.getFloat64(o + 8 * k, true);
          break;
        case DataType.FLOAT16:
          out[k] = float16ToNumber(dv.getUint16(o + 2 * k, true));
          break;
        default:
          out[k] = bfloat16ToNumber(dv.getUint16(o + 2 * k, true));
          break;
      }
    }
    return { values: out, view: false };
  }
  if ((type === DataType.FLOAT || type === DataType.DOUBLE) && location.typed.length > 0) {
    const width = type === DataType.FLOAT ? 4 : 8;
    const count = location.typed.reduce((s, seg) => s + seg.count, 0);
    if (count !== n || location.typed.some((seg) => seg.width !== width)) {
      throw new WeightBalanceError(`${tensorLabel(tensor)} holds ${count} values, dims ${describeValue(tensor.dims ?? [])} need ${n}`);
    }
    const out = new Out(n);
    const dv = view(buffers(null));
    let k = 0;
    for (const seg of location.typed) {
      for (let m = 0; m < seg.count; m++, k++) {
        out[k] = width === 4 ? dv.getFloat32(seg.offset + 4 * m, true) : dv.getFloat64(seg.offset + 8 * m, true);
      }
    }
    return { values: out, view: false };
  }
  if ((type === DataType.FLOAT16 || type === DataType.BFLOAT16) && (tensor.int32Data?.length ?? 0) === n && n > 0) {
    if (writable)
      throw new WeightBalanceError(
        `${tensorLabel(tensor)} stores ${dataTypeName(type)} values in int32_data, which cannot be rewritten in place; save the model with raw_data`,
      );
    const decode = type === DataType.FLOAT16 ? float16ToNumber : bfloat16ToNumber;
    return { values: Float32Array.from(tensor.int32Data!, (bits) => decode(bits)), view: false };
  }
  if (n === 0) return { values: new Out(0), view: false };
  throw new WeightBalanceError(`${tensorLabel(tensor)} has no data for its ${n} values`);
}

/** The values of a float tensor as float64 (a fresh array): for the small tensors (biases, BatchNormalization parameters). */
export function readFloatTensor(tensor: TensorProto, location: TensorLocation, buffers: (file: string | null) => Uint8Array, writable: boolean): Float64Array {
  const { values, view } = storedFloats(tensor, location, buffers, writable);
  return values instanceof Float64Array && !view ? values : Float64Array.from(values);
}

/** How a block's weights come from a stored matrix: transposed (stored `[in, out]`), times `alpha`, in float64 when `double`. */
export interface WeightLayout {
  transposed: boolean;
  alpha: number;
  double: boolean;
}

/** Stored rows per chunk read through the scratch buffer of {@link blockWeights} (about 1 MiB). */
const CHUNK_BYTES = 1 << 20;

/**
 * A block's weights from its initializer, as one new array of the block's own (float64 when
 * `layout.double`, else float32; each value rounded once): the stored values themselves when
 * they already are such an array, else a copy; a transposed or scaled matrix is built from the
 * file's bytes through a small scratch buffer, so no second copy of the tensor is made on the way.
 */
export function blockWeights(tensor: TensorProto, location: TensorLocation, buffers: (file: string | null) => Uint8Array, layout: WeightLayout): WeightArray {
  const { transposed, alpha, double } = layout;
  const type = tensor.dataType ?? 0;
  const direct = location.raw !== null && LITTLE_ENDIAN && (type === DataType.FLOAT || type === DataType.DOUBLE);
  if ((!transposed && alpha === 1) || !direct) {
    const { values, view } = storedFloats(tensor, location, buffers, true);
    if (!transposed && alpha === 1)
      return !view && values instanceof Float64Array === double ? values : double ? Float64Array.from(values) : Float32Array.from(values);
    return arrange(values, 0, values.length, tensor.dims ?? [], layout, null);
  }
  const n = elementCount(tensor);
  const width = WIDTH[type];
  checkRawLength(tensor, location.raw!.length, n, width);
  const [rows, cols] = tensor.dims ?? [];
  const chunkRows = Math.max(1, Math.floor(CHUNK_BYTES / (cols * width)));
  const scratch = new Uint8Array(chunkRows * cols * width);
  const bytes = buffers(location.file);
  let out: WeightArray | null = null;
  for (let r0 = 0; r0 < rows; r0 += chunkRows) {
    const r1 = Math.min(rows, r0 + chunkRows);
    const begin = location.raw!.offset + r0 * cols * width;
    scratch.set(bytes.subarray(begin, begin + (r1 - r0) * cols * width));
    const values = type === DataType.FLOAT ? new Float32Array(scratch.buffer, 0, (r1 - r0) * cols) : new Float64Array(scratch.buffer, 0, (r1 - r0) * cols);
    out = arrange(values, r0, n, [rows, cols], layout, out);
  }
  return out ?? (double ? new Float64Array(0) : new Float32Array(0));
}

/** Stored rows `r0...` of a `[rows, cols]` matrix (in `values`) into the block's array `out` (made when null), transposed and scaled as `layout` says. */
function arrange(values: ArrayLike<number>, r0: number, n: number, dims: number[], layout: WeightLayout, out: WeightArray | null): WeightArray {
  const target = out ?? (layout.double ? new Float64Array(n) : new Float32Array(n));
  const [rows, cols] = dims;
  const count = values.length / cols;
  const alpha = layout.alpha;
  for (let r = 0; r < count; r++) {
    for (let c = 0; c < cols; c++) {
      target[layout.transposed ? c * rows + r0 + r : (r0 + r) * cols + c] = alpha * values[r * cols + c];
    }
  }
  return target;
}

/** Integer values of a small INT64/INT32 constant tensor (shapes, axes), or null if it has none. */
export function readIntTensor(tensor: TensorProto): number[] | null {
  const type = tensor.dataType ?? 0;
  if (type === DataType.INT64) {
    if (tensor.int64Data && tensor.int64Data.length > 0) return tensor.int64Data.map(Number);
    if (tensor.rawData) {
      const dv = view(tensor.rawData);
      return Array.from({ length: tensor.rawData.length / 8 }, (_, k) => Number(dv.getBigInt64(8 * k, true)));
    }
  } else if (type === DataType.INT32) {
    if (tensor.int32Data && tensor.int32Data.length > 0) return [...tensor.int32Data];
    if (tensor.rawData) {
      const dv = view(tensor.rawData);
      return Array.from({ length: tensor.rawData.length / 4 }, (_, k) => dv.getInt32(4 * k, true));
    }
  }
  return elementCount(tensor) === 0 && tensor.dataType === DataType.INT64 ? [] : null;
}

/** What the writer keeps of a rewritten initializer: its name, element type and dims. */
export type TensorInfo = Pick<TensorProto, 'name' | 'dataType' | 'dims'>;

/** Throw when a value does not fit the tensor's element type (not finite, or beyond the float16/bfloat16 range). */
function checkFits(tensor: TensorInfo, values: ArrayLike<number>): void {
  const type = tensor.dataType ?? 0;
  for (let k = 0; k < values.length; k++) {
    const v = values[k];
    const tooLarge =
      type === DataType.FLOAT16
        ? Math.abs(v) > FLOAT16_MAX
        : type === DataType.FLOAT
          ? Math.abs(Math.fround(v)) === Infinity
          : type === DataType.BFLOAT16
            ? (numberToBfloat16(v) & 0x7f80) === 0x7f80
            : false;
    if (!Number.isFinite(v) || tooLarge) {
      throw new WeightBalanceError(`${tensorLabel(tensor)}: balanced value ${v} at index ${k} does not fit ${dataTypeName(type)}`);
    }
  }
}

/**
 * The `raw_data` bytes of a float tensor holding `values`, in its own element type: a view of
 * `values` itself when it already is that type (little-endian FLOAT in a Float32Array, DOUBLE in a
 * Float64Array: nothing copied), else a new array. Throws when a value does not fit the type.
 */
export function encodeRawTensor(tensor: TensorInfo, values: Float32Array | Float64Array): Uint8Array {
  checkFits(tensor, values);
  const type = tensor.dataType ?? 0;
  const same = (type === DataType.FLOAT && values instanceof Float32Array) || (type === DataType.DOUBLE && values instanceof Float64Array);
  if (LITTLE_ENDIAN && same) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const out = new Uint8Array(values.length * WIDTH[type]);
  const dv = view(out);
  for (let k = 0; k < values.length; k++) {
    switch (type) {
      case DataType.FLOAT:
        dv.setFloat32(4 * k, values[k], true);
        break;
      case DataType.DOUBLE:
        dv.setFloat64(8 * k, values[k], true);
        break;
      case DataType.FLOAT16:
        dv.setUint16(2 * k, numberToFloat16(values[k]), true);
        break;
      default:
        dv.setUint16(2 * k, numberToBfloat16(values[k]), true);
        break;
    }
  }
  return out;
}

/**
 * Overwrite a float tensor's `float_data` / `double_data` values in place: `buffer` holds the
 * file's bytes from `base` on. Throws when a value does not fit the element type.
 */
export function writeTypedTensor(tensor: TensorInfo, segments: readonly DataSegment[], buffer: Uint8Array, base: number, values: ArrayLike<number>): void {
  checkFits(tensor, values);
  const dv = view(buffer);
  let k = 0;
  for (const seg of segments) {
    for (let m = 0; m < seg.count; m++, k++) {
      if (seg.width === 4) dv.setFloat32(seg.offset - base + 4 * m, values[k], true);
      else dv.setFloat64(seg.offset - base + 8 * m, values[k], true);
    }
  }
}
