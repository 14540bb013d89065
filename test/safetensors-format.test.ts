/**
 * The safetensors format at its edges: a value a narrow float format cannot hold is refused
 * instead of written as an infinity, the data section is exactly covered by the tensors (no
 * polyglot files), and a Node Buffer (a pooled view) is read exactly.
 */
import { describe, expect, it } from 'vitest';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors.js';
import { mlp } from '../src/network/builders.js';
import { refusal } from './support/refusal.js';

describe('narrow float formats refuse values they cannot hold', () => {
  it('safetensors: a bfloat16 tensor whose value rounds to infinity is refused, naming it', () => {
    const net = mlp([3, 4, 2], { seed: 1 });
    net.blocks[0].storage = { weight: 'bfloat16' };
    net.blocks[0].weight[5] = 3.4e38; // finite in float32, beyond the largest bfloat16
    const before = structuredClone(net);
    expect(refusal(() => writeSafetensors(net))).toMatch(/'0\.weight'.*entry 5.*bfloat16/);
    expect(net).toEqual(before);
    net.blocks[0].weight[5] = -3.38e38; // the largest bfloat16 still is written and read back
    expect(readSafetensors(writeSafetensors(net)).blocks[0].weight[5]).toBeLessThan(-3.3e38);
  });
});

describe('safetensors: the data section is exactly covered by the tensors (no polyglot files)', () => {
  /** A file of one dense layer `0` with its header patched by `patch` and `extra` bytes appended to the data. */
  function file(
    patch: (header: Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>) => void,
    extra = 0,
    rawHeader?: (text: string) => string,
  ): Uint8Array {
    const good = writeSafetensors(mlp([2, 2], { seed: 0 }));
    const n = Number(new DataView(good.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(good.subarray(8, 8 + n)));
    const data = good.subarray(8 + n);
    patch(header);
    const text = new TextEncoder().encode(rawHeader ? rawHeader(JSON.stringify(header)) : JSON.stringify(header));
    const out = new Uint8Array(8 + text.length + data.length + extra);
    new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
    out.set(text, 8);
    out.set(data, 8 + text.length);
    return out;
  }

  it("accepts the library's own files", () => {
    expect(readSafetensors(file(() => undefined)).blocks).toHaveLength(1);
  });

  it('refuses bytes after the last tensor, a gap between tensors, and a duplicated tensor name hiding a range', () => {
    expect(refusal(() => readSafetensors(file(() => undefined, 8)))).toMatch(/8 bytes .*not part of any tensor|not covered/);
    // Bias first at [16, 24], weight at [0, 16] -> move the bias to [24, 32] in a file 8 bytes longer.
    expect(
      refusal(() =>
        readSafetensors(
          file((h) => {
            h['0.bias'].data_offsets = [24, 32];
          }, 8),
        ),
      ),
    ).toMatch(/\[16, 24\).*not part of any tensor/);
    // Two '0.bias' entries: JSON keeps the last; the first one's bytes must not go unnoticed.
    const duplicated = file(
      (h) => {
        h['0.bias'].data_offsets = [24, 32];
      },
      8,
      (text) => text.replace('"0.bias":', '"0.bias":{"dtype":"F32","shape":[2],"data_offsets":[16,24]},"0.bias":'),
    );
    expect(refusal(() => readSafetensors(duplicated))).toMatch(/'0\.bias'.*twice|duplicate|not part of any tensor/);
  });
});

describe('Node Buffers (whose slice() is a view, not a copy)', () => {
  it('readSafetensors reads a Buffer (pooled, at an offset) exactly, and its weights share no memory with it', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      const net = mlp([3, 4, 2], { seed: 1, dtype, biasScale: 0.1 });
      const bytes = writeSafetensors(net);
      for (const buffer of [Buffer.from(bytes), Buffer.concat([Buffer.from('prefix!'), Buffer.from(bytes)]).subarray(7)]) {
        const before = Buffer.from(buffer);
        const read = readSafetensors(buffer);
        expect(read).toEqual(net);
        for (const b of read.blocks) {
          expect(b.weight.buffer).not.toBe(buffer.buffer);
          b.weight.fill(7);
        }
        expect(buffer.equals(before)).toBe(true);
      }
    }
  });
});
