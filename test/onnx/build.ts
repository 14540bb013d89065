/**
 * Build ONNX models in code for the tests (with the library's own schema subset; onnxruntime
 * then checks independently that the bytes are a valid model), and run them with onnxruntime.
 */
import * as ort from 'onnxruntime-node';
import type { Random } from '../../src/network/random.js';
import { onnxTypes } from './schema.js';

export const FLOAT = 1;
export const DOUBLE = 11;

/** A float initializer; `storage` picks raw_data (default) or float_data / double_data. */
export function tensor(name: string, dims: number[], values: ArrayLike<number>, options: { type?: number; storage?: 'raw' | 'typed' } = {}): object {
  const type = options.type ?? FLOAT;
  const n = dims.reduce((a, b) => a * b, 1);
  if (values.length !== n) throw new Error(`tensor ${name}: ${values.length} values for dims ${dims}`);
  if (options.storage === 'typed') {
    return type === DOUBLE ? { name, dims, dataType: type, doubleData: Array.from(values) } : { name, dims, dataType: type, floatData: Array.from(values) };
  }
  const raw = type === DOUBLE ? new Uint8Array(Float64Array.from(values).buffer) : new Uint8Array(Float32Array.from(values).buffer);
  return { name, dims, dataType: type, rawData: raw };
}

/** An INT64 initializer (shapes). */
export function int64Tensor(name: string, values: number[]): object {
  return { name, dims: [values.length], dataType: 7, int64Data: values };
}

type AttrValue = number | number[] | string | { float: number } | { floats: number[] };

/** A node; integer attributes as numbers or arrays, floats as `{ float }`, strings as strings. */
export function node(opType: string, input: string[], output: string[], attrs: Record<string, AttrValue> = {}, name = output[0]): object {
  const attribute = Object.entries(attrs).map(([key, v]) => {
    if (typeof v === 'number') return { name: key, type: 2, i: v };
    if (typeof v === 'string') return { name: key, type: 3, s: new TextEncoder().encode(v) };
    if (Array.isArray(v)) return { name: key, type: 7, ints: v };
    if ('float' in v) return { name: key, type: 1, f: v.float };
    return { name: key, type: 6, floats: v.floats };
  });
  return { opType, input, output, name, attribute };
}

/** A tensor value info (`dims` entries may be symbolic names). */
export function valueInfo(name: string, dims: (number | string)[], elemType = FLOAT): object {
  return {
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  };
}

/** Encode a model: IR version 8, default-domain opset 13. */
export function model(graph: { node: object[]; initializer: object[]; input: object[]; output: object[]; valueInfo?: object[] }, opset = 13): Uint8Array {
  const message = onnxTypes.ModelProto.fromObject({
    irVersion: 8,
    producerName: 'weight-balance-tests',
    opsetImport: [{ domain: '', version: opset }],
    graph: { name: 'test', ...graph },
    metadataProps: [{ key: 'note', value: 'kept byte for byte' }],
  });
  // A plain Uint8Array: a Node Buffer's slice() would share memory instead of copying.
  return new Uint8Array(onnxTypes.ModelProto.encode(message).finish());
}

/** Random normal values, optionally scaled per leading-axis row by wild factors (unbalanced). */
export function randn(rng: Random, dims: number[], std = 0.5, rowSpread = 0): Float32Array {
  const n = dims.reduce((a, b) => a * b, 1);
  const rows = dims[0];
  const rowLength = n / rows;
  const factors = Array.from({ length: rows }, () => Math.exp(rowSpread * rng.normal()));
  return Float32Array.from({ length: n }, (_, k) => rng.normal() * std * factors[Math.floor(k / rowLength)]);
}

/** Run a model with onnxruntime on one float32 input named `x`; returns the output `y`. */
export async function runOrt(bytes: Uint8Array, input: Float32Array, dims: number[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const result = await session.run({ x: new ort.Tensor('float32', input, dims) });
    return result.y.data as Float32Array;
  } finally {
    await session.release();
  }
}

/** `max |a - b| / max |a|`. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let k = 0; k < a.length; k++) {
    diff = Math.max(diff, Math.abs(a[k] - b[k]));
    scale = Math.max(scale, Math.abs(a[k]));
  }
  return diff / scale;
}
