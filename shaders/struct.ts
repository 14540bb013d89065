/**
 * One schema per host-written WGSL struct gives both its WGSL declaration and its TypeScript
 * packer (in the style of TypeGPU), so the two cannot drift apart and the host fills fields by
 * name instead of by position.
 *
 * Every field is a 4-byte scalar, so field `k` sits at byte offset `4k` in both the uniform and
 * the storage address spaces (no implicit padding between fields); the buffer size is rounded up
 * to a multiple of 16 bytes, as uniform buffers require.
 */

/** The WGSL scalar types a struct field may have (4 bytes each, 4-byte aligned). */
export type Scalar = 'u32' | 'i32' | 'f32';

/** Field names to WGSL scalar types, in declaration (= memory) order. */
export type StructFields = Readonly<Record<string, Scalar>>;

/** A value for every field of a struct, by name (a missing or misspelled field is a compile error). */
export type StructValues<F extends StructFields> = { readonly [K in keyof F]: number };

/** A WGSL struct of 4-byte scalars: its declaration, its size and its host-side packing. */
export interface WgslStruct<F extends StructFields> {
  /** The WGSL type name. */
  readonly name: string;
  /** The schema it was made from. */
  readonly fields: F;
  /** The WGSL declaration `struct Name { field: type, ... }`, to interpolate into a shader. */
  readonly wgsl: string;
  /** Bytes of the host buffer: 4 per field, rounded up to a multiple of 16. */
  readonly byteSize: number;
  /** The fields written little-endian at their offsets into a fresh buffer of {@link byteSize} bytes (padding zero). */
  pack(values: StructValues<F>): ArrayBuffer;
  /** The fields read back from `buffer` at `byteOffset` (f32 fields as stored, i.e. rounded to float32). */
  unpack(buffer: ArrayBuffer, byteOffset?: number): StructValues<F>;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Write one scalar, refusing a value its type cannot hold (DataView would wrap it silently). */
function writeScalar(view: DataView, offset: number, type: Scalar, value: number, label: string): void {
  if (type === 'f32') {
    view.setFloat32(offset, value, true);
    return;
  }
  const [min, max] = type === 'u32' ? [0, 2 ** 32 - 1] : [-(2 ** 31), 2 ** 31 - 1];
  if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${label}: ${value} is not representable as ${type}`);
  if (type === 'u32') view.setUint32(offset, value, true);
  else view.setInt32(offset, value, true);
}

/** Read one scalar. */
function readScalar(view: DataView, offset: number, type: Scalar): number {
  if (type === 'u32') return view.getUint32(offset, true);
  if (type === 'i32') return view.getInt32(offset, true);
  return view.getFloat32(offset, true);
}

/**
 * Declare a WGSL struct of 4-byte scalars once, e.g.
 * `const NormParams = uniformStruct('NormParams', { nUnits: 'u32', groups: 'u32' })`:
 * shaders interpolate `${NormParams.wgsl}`, the host writes `NormParams.pack({ nUnits, groups })`
 * into a buffer of `NormParams.byteSize` bytes. The layout is valid for `var<uniform>` and for
 * `var<storage>` bindings alike.
 */
export function uniformStruct<const F extends StructFields>(name: string, fields: F): WgslStruct<F> {
  const entries = Object.entries(fields);
  for (const id of [name, ...entries.map(([field]) => field)]) {
    if (!IDENTIFIER.test(id)) throw new Error(`struct ${name}: '${id}' is not a WGSL identifier`);
  }
  if (entries.length === 0) throw new Error(`struct ${name}: a WGSL struct needs at least one field`);
  const byteSize = Math.ceil((4 * entries.length) / 16) * 16;
  return {
    name,
    fields,
    wgsl: `struct ${name} {\n${entries.map(([field, type]) => `  ${field}: ${type},\n`).join('')}}\n`,
    byteSize,
    pack(values) {
      const buffer = new ArrayBuffer(byteSize);
      const view = new DataView(buffer);
      entries.forEach(([field, type], k) => writeScalar(view, 4 * k, type, values[field], `${name}.${field}`));
      return buffer;
    },
    unpack(buffer, byteOffset = 0) {
      const view = new DataView(buffer, byteOffset, 4 * entries.length);
      return Object.fromEntries(entries.map(([field, type], k) => [field, readScalar(view, 4 * k, type)])) as StructValues<F>;
    },
  };
}
