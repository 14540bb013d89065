/**
 * The struct schemas of shaders/struct.ts: one schema gives the WGSL declaration, the buffer size
 * (4 bytes a field, padded to 16) and a packer that writes each field little-endian at its offset;
 * and every kernel's host-written struct is declared in its shader from that schema.
 */
import { describe, expect, it } from 'vitest';
import { blockTileKernel, SegmentParams } from '../shaders/blockTile.js';
import { BuildPowerParams, buildPowerKernel } from '../shaders/buildPower.wgsl.js';
import { State } from '../shaders/common.js';
import { finishSweepKernel } from '../shaders/finishSweep.wgsl.js';
import { NormParams, normKernel } from '../shaders/norm.wgsl.js';
import { RowFinishParams, rowFinishKernel } from '../shaders/rowFinish.wgsl.js';
import type { StructFields, WgslStruct } from '../shaders/struct.js';
import { uniformStruct } from '../shaders/struct.js';
import { UpdateParams, updateKernel } from '../shaders/update.wgsl.js';

const Mixed = uniformStruct('Mixed', { count: 'u32', cls: 'i32', scale: 'f32', last: 'u32', extra: 'f32' });

describe('uniformStruct', () => {
  it('declares the WGSL struct with the fields in schema order', () => {
    expect(Mixed.wgsl).toBe('struct Mixed {\n  count: u32,\n  cls: i32,\n  scale: f32,\n  last: u32,\n  extra: f32,\n}\n');
    expect(Mixed.name).toBe('Mixed');
  });

  it('pads the byte size to a multiple of 16, 4 bytes a field', () => {
    const fields = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'];
    for (let n = 1; n <= fields.length; n++) {
      const struct = uniformStruct(`S${n}`, Object.fromEntries(fields.slice(0, n).map((f) => [f, 'u32' as const])));
      expect(struct.byteSize % 16).toBe(0);
      expect(struct.byteSize).toBeGreaterThanOrEqual(4 * n);
      expect(struct.byteSize - 4 * n).toBeLessThan(16);
      expect(struct.pack(Object.fromEntries(fields.slice(0, n).map((f) => [f, 1])) as never).byteLength).toBe(struct.byteSize);
    }
    expect(Mixed.byteSize).toBe(32);
  });

  it('writes u32, i32 and f32 little-endian at 4-byte offsets, padding zero', () => {
    const values = { count: 0xfffffffe, cls: -3, scale: 0.1, last: 7, extra: -2.5e-20 };
    const bytes = Mixed.pack(values);
    const view = new DataView(bytes);
    expect(view.getUint32(0, true)).toBe(values.count);
    expect(view.getInt32(4, true)).toBe(-3);
    expect(view.getUint32(4, true)).toBe(2 ** 32 - 3);
    expect(view.getFloat32(8, true)).toBe(Math.fround(0.1));
    expect(view.getUint32(12, true)).toBe(7);
    expect(view.getFloat32(16, true)).toBe(Math.fround(-2.5e-20));
    // Little-endian: the low byte first.
    expect(new Uint8Array(bytes, 12, 4)).toEqual(new Uint8Array([7, 0, 0, 0]));
    expect([...new Uint8Array(bytes, 20)].every((b) => b === 0)).toBe(true);
    // Typed arrays on the host see the same layout as WGSL.
    expect(new Int32Array(bytes)[1]).toBe(-3);
    expect(new Float32Array(bytes)[2]).toBe(Math.fround(0.1));
  });

  it('reads back what it packed (f32 rounded to float32)', () => {
    const values = { count: 12, cls: -2147483648, scale: Math.PI, last: 0, extra: 1e30 };
    expect(Mixed.unpack(Mixed.pack(values))).toEqual({ ...values, scale: Math.fround(Math.PI), extra: Math.fround(1e30) });
    const shifted = new Uint8Array(8 + Mixed.byteSize);
    shifted.set(new Uint8Array(Mixed.pack(values)), 8);
    expect(Mixed.unpack(shifted.buffer, 8).cls).toBe(-2147483648);
  });

  it('refuses integers out of range rather than wrapping them', () => {
    const ok = { count: 1, cls: 1, scale: 1, last: 1, extra: 1 };
    expect(() => Mixed.pack({ ...ok, count: -1 })).toThrow(/Mixed\.count: -1 is not representable as u32/);
    expect(() => Mixed.pack({ ...ok, count: 2 ** 32 })).toThrow(/is not representable as u32/);
    expect(() => Mixed.pack({ ...ok, last: 1.5 })).toThrow(/Mixed\.last: 1\.5 is not representable as u32/);
    expect(() => Mixed.pack({ ...ok, cls: 2 ** 31 })).toThrow(/Mixed\.cls: 2147483648 is not representable as i32/);
    expect(() => Mixed.pack({ ...ok, cls: -(2 ** 31) - 1 })).toThrow(/is not representable as i32/);
  });

  it('refuses names that are not WGSL identifiers, and an empty struct', () => {
    expect(() => uniformStruct('Bad', { 'two words': 'u32' })).toThrow(/'two words' is not a WGSL identifier/);
    expect(() => uniformStruct('1st', { a: 'u32' })).toThrow(/'1st' is not a WGSL identifier/);
    expect(() => uniformStruct('Empty', {})).toThrow(/at least one field/);
  });

  it('types the values by the schema (checked by tsc)', () => {
    const Small = uniformStruct('Small', { rows: 'u32', cls: 'i32' });
    // @ts-expect-error a missing field is a compile error
    expect(() => Small.pack({ rows: 1 })).toThrow(/Small\.cls: undefined is not representable as i32/);
    // @ts-expect-error a misspelled field is a compile error
    expect(() => Small.pack({ rows: 1, clss: 2 })).toThrow(/Small\.cls/);
    const rows: number = Small.unpack(Small.pack({ rows: 4, cls: -1 })).rows;
    expect(rows).toBe(4);
  });
});

describe('the kernels declare their structs from the schemas', () => {
  const cases: [string, WgslStruct<StructFields>, string[]][] = [
    ['tile passes', SegmentParams, [blockTileKernel('t', true, true).code]],
    ['build log P', BuildPowerParams, [buildPowerKernel({ singleTap: false, fastP: 0 }).code, buildPowerKernel({ singleTap: true, fastP: 1 }).code]],
    ['norm', NormParams, [normKernel().code]],
    ['row finish', RowFinishParams, [rowFinishKernel({ unitR: false }).code]],
    ['update', UpdateParams, [updateKernel({ evaluate: false }).code, updateKernel({ evaluate: true }).code]],
  ];
  for (const [what, struct, codes] of cases) {
    it(`${what}: the uniform binding has type ${struct.name}, declared once from the schema`, () => {
      for (const code of codes) {
        expect(code).toContain(struct.wgsl);
        expect(code.split(`struct ${struct.name} {`)).toHaveLength(2);
        expect(code).toContain(`var<uniform> params: ${struct.name};`);
        // Every field the shader reads exists in the schema.
        for (const [, field] of code.matchAll(/\bparams\.(\w+)/g)) expect(Object.keys(struct.fields)).toContain(field);
      }
    });
  }

  it('the state struct is shared by every kernel that reads it', () => {
    for (const code of [
      blockTileKernel('t', false, true).code,
      normKernel().code,
      rowFinishKernel({ unitR: true }).code,
      updateKernel({ evaluate: false }).code,
      finishSweepKernel(65).code,
    ]) {
      expect(code).toContain(State.wgsl);
      for (const [, field] of code.matchAll(/\bstate\.(\w+)/g)) expect(Object.keys(State.fields)).toContain(field);
    }
    expect(State.byteSize).toBe(16);
  });
});
