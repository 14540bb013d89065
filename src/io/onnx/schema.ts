/**
 * The subset of the ONNX protobuf schema (onnx.proto, IR version 3 and later) that the reader
 * uses: TypeScript shapes of the decoded messages (see decode.ts) and element-type codes.
 */

/** `TensorProto.DataType` values the reader knows. */
export const DataType = {
  FLOAT: 1,
  INT32: 6,
  INT64: 7,
  FLOAT16: 10,
  DOUBLE: 11,
  BFLOAT16: 16,
} as const;

/** The name of a `TensorProto.DataType` value, for messages. */
export function dataTypeName(code: number): string {
  const names: Record<number, string> = {
    0: 'UNDEFINED',
    1: 'FLOAT',
    2: 'UINT8',
    3: 'INT8',
    4: 'UINT16',
    5: 'INT16',
    6: 'INT32',
    7: 'INT64',
    8: 'STRING',
    9: 'BOOL',
    10: 'FLOAT16',
    11: 'DOUBLE',
    12: 'UINT32',
    13: 'UINT64',
    14: 'COMPLEX64',
    15: 'COMPLEX128',
    16: 'BFLOAT16',
  };
  return names[code] ?? `type ${code}`;
}

/** A decoded `TensorProto` (int64 fields as numbers, absent fields undefined). */
export interface TensorProto {
  dims?: number[];
  dataType?: number;
  floatData?: number[];
  int32Data?: number[];
  int64Data?: number[];
  name?: string;
  rawData?: Uint8Array;
  doubleData?: number[];
  externalData?: { key?: string; value?: string }[];
  dataLocation?: number;
}

/** A decoded `TensorShapeProto.Dimension`. */
export interface Dimension {
  dimValue?: number;
  dimParam?: string;
}

/** A decoded `ValueInfoProto` (tensor types only). */
export interface ValueInfoProto {
  name?: string;
  type?: { tensorType?: { elemType?: number; shape?: { dim?: Dimension[] } } };
}

/** A decoded `AttributeProto`. */
export interface AttributeProto {
  name?: string;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: TensorProto;
  floats?: number[];
  ints?: number[];
  type?: number;
}

/** A decoded `NodeProto`. */
export interface NodeProto {
  input?: string[];
  output?: string[];
  name?: string;
  opType?: string;
  attribute?: AttributeProto[];
  domain?: string;
}

/** A decoded `GraphProto`. */
export interface GraphProto {
  node?: NodeProto[];
  name?: string;
  initializer?: TensorProto[];
  input?: ValueInfoProto[];
  output?: ValueInfoProto[];
  valueInfo?: ValueInfoProto[];
  sparseInitializer?: { values?: TensorProto }[];
}

/** A decoded `ModelProto`. */
export interface ModelProto {
  irVersion?: number;
  producerName?: string;
  graph?: GraphProto;
  opsetImport?: { domain?: string; version?: number }[];
}
