/**
 * A small table-driven protobuf decoder for the subset of onnx.proto the reader needs. No code
 * generation (`new Function`), so it runs under a strict Content-Security-Policy, and it adds
 * a few kilobytes to the bundle instead of a protobuf library. Unknown fields are skipped; a
 * field whose wire type contradicts the schema, or a length past the end, throws (a RangeError
 * or an Error that the caller words as "not a valid ONNX model").
 */
import type { ModelProto } from './schema.js';

type Scalar = 'int64' | 'int32' | 'float' | 'double' | 'string' | 'bytes';
/** A message schema: field number -> [property, type, repeated]. */
interface Schema {
  [field: number]: [string, Scalar | Schema, boolean];
}

const StringStringEntry: Schema = { 1: ['key', 'string', false], 2: ['value', 'string', false] };
const Tensor: Schema = {
  1: ['dims', 'int64', true],
  2: ['dataType', 'int32', false],
  4: ['floatData', 'float', true],
  5: ['int32Data', 'int32', true],
  7: ['int64Data', 'int64', true],
  8: ['name', 'string', false],
  9: ['rawData', 'bytes', false],
  10: ['doubleData', 'double', true],
  13: ['externalData', StringStringEntry, true],
  14: ['dataLocation', 'int32', false],
};
const Dimension: Schema = { 1: ['dimValue', 'int64', false], 2: ['dimParam', 'string', false] };
const TensorType: Schema = { 1: ['elemType', 'int32', false], 2: ['shape', { 1: ['dim', Dimension, true] }, false] };
const ValueInfo: Schema = { 1: ['name', 'string', false], 2: ['type', { 1: ['tensorType', TensorType, false] }, false] };
const Graph: Schema = {};
const Attribute: Schema = {
  1: ['name', 'string', false],
  2: ['f', 'float', false],
  3: ['i', 'int64', false],
  4: ['s', 'bytes', false],
  5: ['t', Tensor, false],
  6: ['g', Graph, false],
  7: ['floats', 'float', true],
  8: ['ints', 'int64', true],
  11: ['graphs', Graph, true],
  20: ['type', 'int32', false],
};
const Node: Schema = {
  1: ['input', 'string', true],
  2: ['output', 'string', true],
  3: ['name', 'string', false],
  4: ['opType', 'string', false],
  5: ['attribute', Attribute, true],
  7: ['domain', 'string', false],
};
Object.assign(Graph, {
  1: ['node', Node, true],
  2: ['name', 'string', false],
  5: ['initializer', Tensor, true],
  11: ['input', ValueInfo, true],
  12: ['output', ValueInfo, true],
  13: ['valueInfo', ValueInfo, true],
  15: ['sparseInitializer', { 1: ['values', Tensor, false] }, true],
} satisfies Schema);
const Model: Schema = {
  1: ['irVersion', 'int64', false],
  2: ['producerName', 'string', false],
  7: ['graph', Graph, false],
  8: ['opsetImport', { 1: ['domain', 'string', false], 2: ['version', 'int64', false] }, true],
};

const utf8 = new TextDecoder('utf-8', { fatal: true });
const TWO32 = 2 ** 32;

class Reader {
  private readonly view: DataView;
  constructor(
    readonly bytes: Uint8Array,
    public pos: number,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private need(n: number, end: number): void {
    if (this.pos + n > end) throw new RangeError(`index out of range: ${this.pos} + ${n} > ${end}`);
  }

  /** A varint as two 32-bit halves (low, high). */
  private varint64(end: number): [number, number] {
    let lo = 0;
    let hi = 0;
    for (let k = 0; k < 10; k++) {
      this.need(1, end);
      const b = this.bytes[this.pos++];
      if (k < 4) lo |= (b & 0x7f) << (7 * k);
      else if (k === 4) {
        lo |= (b & 0x0f) << 28;
        hi |= (b & 0x7f) >> 4;
      } else hi |= (b & 0x7f) << (7 * k - 32);
      if ((b & 0x80) === 0) return [lo >>> 0, hi >>> 0];
    }
    throw new RangeError('varint longer than 10 bytes');
  }

  /** An unsigned varint (tags, lengths); throws beyond 2^53. */
  uint(end: number): number {
    const [lo, hi] = this.varint64(end);
    if (hi >= 2 ** 21) throw new RangeError('varint too large');
    return hi * TWO32 + lo;
  }

  /** A signed 64-bit varint (two's complement), as a number (exact below 2^53). */
  int64(end: number): number {
    const [lo, hi] = this.varint64(end);
    return hi & 0x80000000 ? -((~hi >>> 0) * TWO32 + (~lo >>> 0) + 1) : hi * TWO32 + lo;
  }

  int32(end: number): number {
    return this.varint64(end)[0] | 0;
  }

  float(end: number): number {
    this.need(4, end);
    const v = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }

  double(end: number): number {
    this.need(8, end);
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** `[start, end)` of a length-delimited payload. */
  delimited(end: number): [number, number] {
    const length = this.uint(end);
    this.need(length, end);
    const start = this.pos;
    this.pos += length;
    return [start, this.pos];
  }

  skip(wireType: number, end: number): void {
    switch (wireType) {
      case 0:
        this.varint64(end);
        return;
      case 1:
        this.need(8, end);
        this.pos += 8;
        return;
      case 2:
        this.delimited(end);
        return;
      case 5:
        this.need(4, end);
        this.pos += 4;
        return;
      default:
        throw new Error(`invalid wire type ${wireType} at offset ${this.pos}`);
    }
  }
}

const WIRE: Record<Scalar, number> = { int64: 0, int32: 0, float: 5, double: 1, string: 2, bytes: 2 };

function scalar(r: Reader, type: Scalar, end: number): unknown {
  switch (type) {
    case 'int64':
      return r.int64(end);
    case 'int32':
      return r.int32(end);
    case 'float':
      return r.float(end);
    case 'double':
      return r.double(end);
    case 'string': {
      const [a, b] = r.delimited(end);
      return utf8.decode(r.bytes.subarray(a, b));
    }
    case 'bytes': {
      const [a, b] = r.delimited(end);
      return r.bytes.subarray(a, b);
    }
  }
}

function message(r: Reader, schema: Schema, end: number, depth: number): Record<string, unknown> {
  if (depth > 64) throw new RangeError('messages nested too deeply');
  const out: Record<string, unknown> = {};
  while (r.pos < end) {
    const key = r.uint(end);
    const field = Math.floor(key / 8);
    const wireType = key % 8;
    if (field === 0) throw new Error(`invalid field number 0 at offset ${r.pos}`);
    const spec = schema[field];
    if (!spec) {
      r.skip(wireType, end);
      continue;
    }
    const [name, type, repeated] = spec;
    const push = (value: unknown): void => {
      if (repeated) ((out[name] ??= []) as unknown[]).push(value);
      else out[name] = value;
    };
    if (typeof type === 'object') {
      if (wireType !== 2) throw new Error(`invalid wire type ${wireType} for field '${name}' at offset ${r.pos}`);
      const [a, b] = r.delimited(end);
      const inner = new Reader(r.bytes, a);
      push(message(inner, type, b, depth + 1));
    } else if (repeated && wireType === 2 && WIRE[type] !== 2) {
      const [a, b] = r.delimited(end); // packed
      const inner = new Reader(r.bytes, a);
      while (inner.pos < b) push(scalar(inner, type, b));
    } else {
      if (wireType !== WIRE[type]) throw new Error(`invalid wire type ${wireType} for field '${name}' at offset ${r.pos}`);
      push(scalar(r, type, end));
    }
  }
  if (r.pos !== end) throw new RangeError('message overruns its length');
  return out;
}

/**
 * Decode an ONNX `ModelProto` (the fields the reader uses). Throws on malformed bytes; int64
 * values become numbers (exact below 2^53: dims, attributes, versions).
 */
export function decodeModelProto(bytes: Uint8Array): ModelProto {
  return message(new Reader(bytes, 0), Model, bytes.length, 0) as ModelProto;
}
