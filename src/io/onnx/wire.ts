/**
 * A minimal protobuf wire-format walker that finds, byte for byte, where each graph initializer
 * keeps its numbers inside the model file. The writer overwrites exactly those bytes, so every
 * other byte of the file (nodes, attributes, metadata, unknown fields) is kept as it was.
 */

/** A run of fixed-width numbers inside the file: `count` values of `width` bytes from `offset`. */
export interface DataSegment {
  offset: number;
  count: number;
  width: 4 | 8;
}

/** Where one initializer's numbers live. */
export interface InitializerLayout {
  /** `raw_data` bytes (little-endian values of the tensor's type), or null. */
  raw: { offset: number; length: number } | null;
  /** `float_data` (4-byte) or `double_data` (8-byte) values, in order, packed or not. */
  typed: DataSegment[];
}

class Cursor {
  constructor(
    readonly bytes: Uint8Array,
    public pos: number,
    readonly end: number,
  ) {}

  varint(): number {
    let result = 0;
    let factor = 1;
    for (let shift = 0; shift < 70; shift += 7) {
      if (this.pos >= this.end) throw new RangeError('truncated varint');
      const byte = this.bytes[this.pos++];
      result += (byte & 0x7f) * factor;
      if ((byte & 0x80) === 0) return result;
      factor *= 128;
    }
    throw new RangeError('varint too long');
  }

  /** Skip the payload of a field of this wire type; returns `[start, end)` of a length-delimited one. */
  skip(wireType: number): [number, number] {
    const start = this.pos;
    switch (wireType) {
      case 0:
        this.varint();
        break;
      case 1:
        this.pos += 8;
        break;
      case 2: {
        const length = this.varint();
        const from = this.pos;
        this.pos += length;
        if (this.pos > this.end) throw new RangeError('truncated length-delimited field');
        return [from, this.pos];
      }
      case 5:
        this.pos += 4;
        break;
      default:
        throw new RangeError(`unsupported wire type ${wireType}`);
    }
    if (this.pos > this.end) throw new RangeError('truncated field');
    return [start, this.pos];
  }
}

/** Calls `visit(field, wireType, start, end)` for every field of a message in `[start, end)`. */
function fields(bytes: Uint8Array, start: number, end: number, visit: (field: number, wireType: number, from: number, to: number) => void): void {
  const cursor = new Cursor(bytes, start, end);
  while (cursor.pos < end) {
    const key = cursor.varint();
    const wireType = key % 8;
    const field = Math.floor(key / 8);
    const [from, to] = cursor.skip(wireType);
    visit(field, wireType, from, to);
  }
}

const MODEL_GRAPH = 7;
const GRAPH_INITIALIZER = 5;
const TENSOR_FLOAT_DATA = 4;
const TENSOR_RAW_DATA = 9;
const TENSOR_DOUBLE_DATA = 10;

/**
 * The data layout of every initializer of the main graph, in file order (the order the decoder returns them).
 * Throws a RangeError on malformed bytes (the caller has already decoded the model, so this
 * means a graph split over several fields, which the writer refuses).
 */
export function initializerLayouts(bytes: Uint8Array): InitializerLayout[] {
  const graphs: [number, number][] = [];
  fields(bytes, 0, bytes.length, (field, wireType, from, to) => {
    if (field === MODEL_GRAPH && wireType === 2) graphs.push([from, to]);
  });
  if (graphs.length !== 1) throw new RangeError(`the model has ${graphs.length} graph fields`);
  const layouts: InitializerLayout[] = [];
  fields(bytes, graphs[0][0], graphs[0][1], (field, wireType, from, to) => {
    if (field !== GRAPH_INITIALIZER || wireType !== 2) return;
    const layout: InitializerLayout = { raw: null, typed: [] };
    fields(bytes, from, to, (f, w, a, b) => {
      if (f === TENSOR_RAW_DATA && w === 2) layout.raw = { offset: a, length: b - a };
      else if (f === TENSOR_FLOAT_DATA && w === 2) layout.typed.push({ offset: a, count: (b - a) / 4, width: 4 });
      else if (f === TENSOR_FLOAT_DATA && w === 5) layout.typed.push({ offset: a, count: 1, width: 4 });
      else if (f === TENSOR_DOUBLE_DATA && w === 2) layout.typed.push({ offset: a, count: (b - a) / 8, width: 8 });
      else if (f === TENSOR_DOUBLE_DATA && w === 1) layout.typed.push({ offset: a, count: 1, width: 8 });
    });
    layouts.push(layout);
  });
  return layouts;
}
