/**
 * The one registry of model-file formats (`src/io/formats.ts`) that the CLI and the demo share:
 * formats by extension, the refusals a write makes before any work, and a round trip.
 */
import { describe, expect, it } from 'vitest';
import { WeightBalanceError } from '../src/errors.js';
import { checkWritable, extensionOf, MODEL_FORMATS, modelFormatFor, outputBytes } from '../src/io/formats.js';
import { mlp } from '../src/network/builders.js';

describe('the model-format registry', () => {
  it('finds formats by extension, case-insensitively, and names the supported ones otherwise', () => {
    expect(modelFormatFor('dir.v2/net.SafeTensors').name).toBe('safetensors');
    expect(modelFormatFor('model.onnx', 'write').name).toBe('onnx');
    expect(extensionOf('dir.v2/noext')).toBe('');
    expect(() => modelFormatFor('net.pt')).toThrow(
      /^'net\.pt' is not a \.safetensors or \.onnx file \(cannot read '\.pt'; supported: \.safetensors, \.onnx\)$/,
    );
    expect(() => modelFormatFor('noext', 'write')).toThrow(/cannot write files without an extension/);
    expect(new Set(MODEL_FORMATS.flatMap((f) => f.extensions)).size).toBe(MODEL_FORMATS.flatMap((f) => f.extensions).length);
  });

  it('writing .onnx needs a network read from .onnx: refused for a built net and for a safetensors source', () => {
    const net = mlp([4, 6, 3], { seed: 1 });
    const read = modelFormatFor('a.safetensors').read(outputBytes(modelFormatFor('a.safetensors').write!(net, null)));
    for (const source of [null, read]) {
      const error = (() => {
        try {
          checkWritable('out.onnx', source);
          return null;
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(WeightBalanceError);
      expect((error as Error).message).toMatch(/^cannot write 'out\.onnx': writing '\.onnx' needs a network read from an '\.onnx' file/);
    }
    expect(checkWritable('out.safetensors', read).own).toBe(read);
  });

  it('refuses to convert a model whose network is not the whole model', () => {
    const read = { format: 'onnx', network: mlp([2, 2], { seed: 0 }), fixedUnits: [], notes: [], inexact: ["op 'Erf' is kept as a barrier"], state: null };
    expect(() => checkWritable('out.safetensors', read, 'in.onnx')).toThrow(/the network read from 'in\.onnx' does not compute .*Erf.*write '\.onnx' instead/);
  });

  it('round-trips a network through safetensors', () => {
    const net = mlp([5, 7, 3], { seed: 2, dtype: 'float64' });
    const format = modelFormatFor('x.safetensors');
    const read = format.read(outputBytes(format.write!(net, null)));
    expect(read.network.blocks.map((b) => Array.from(b.weight))).toEqual(net.blocks.map((b) => Array.from(b.weight)));
    expect(read).toMatchObject({ format: 'safetensors', fixedUnits: [], notes: [], inexact: [] });
  });
});
