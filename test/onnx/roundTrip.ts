/**
 * The ONNX round trip every op test runs: read, balance on the CPU, write back, and run the
 * original and the written model in onnxruntime (outputs within 1e-5 relative); the imported
 * network computes the same function; the written norm is the balanced one; only initializer
 * data bytes changed.
 */
import { expect } from 'vitest';
import { balance, forward, lpqNorm, readOnnx, writeOnnx } from '../../src/index.js';
import { initializerLayouts } from '../../src/io/onnx/wire.js';
import { Random } from '../../src/network/random.js';
import { relativeError, runOrt } from './build.js';
import { decodeForComparison } from './schema.js';

export const P = 2;
export const Q = 2;

/** Everything in the model (decoded by protobufjs, independently of the reader) except the initializers' numbers. */
function withoutData(bytes: Uint8Array): unknown {
  const object = decodeForComparison(bytes) as { graph: { initializer?: Record<string, unknown>[] } };
  for (const t of object.graph.initializer ?? []) {
    delete t.rawData;
    delete t.floatData;
    delete t.doubleData;
  }
  return object;
}

/** The bytes of the original file that hold initializer numbers. */
function dataMask(bytes: Uint8Array): Uint8Array {
  const mask = new Uint8Array(bytes.length);
  for (const layout of initializerLayouts(bytes)) {
    if (layout.raw) mask.fill(1, layout.raw.offset, layout.raw.offset + layout.raw.length);
    for (const s of layout.typed) mask.fill(1, s.offset, s.offset + s.count * s.width);
  }
  return mask;
}

export interface RoundTrip {
  fixedOps: string[];
  initialNorm: number;
  finalNorm: number;
}

export async function roundTrip(bytes: Uint8Array, inputShape: number[], options: { exactForward?: boolean; seed?: number } = {}): Promise<RoundTrip> {
  const { exactForward = true, seed = 7 } = options;
  const onnx = readOnnx(bytes);
  const result = await balance(onnx.network, { p: P, q: Q, backend: 'cpu', tol: 1e-10, maxSweeps: 50000 });
  expect(result.converged).toBe(true);
  const written = writeOnnx(onnx, result.network);

  // Same function in onnxruntime (float32), on random inputs.
  const batch = 3;
  const rng = new Random(seed);
  const size = inputShape.reduce((a, b) => a * b, 1);
  const x = Float32Array.from({ length: batch * size }, () => rng.normal());
  const before = await runOrt(bytes, x, [batch, ...inputShape]);
  const after = await runOrt(written, x, [batch, ...inputShape]);
  expect(before.length).toBeGreaterThan(0);
  expect(relativeError(before, after)).toBeLessThan(1e-5);

  // The imported network computes what onnxruntime computes (when every op is modelled exactly).
  if (exactForward) expect(relativeError(before, forward(onnx.network, x, batch))).toBeLessThan(1e-5);

  // The norm: the balanced network is at balance's final norm, the written file holds it (up to
  // float32 rounding), the original is larger, and balancing the written model again finds
  // nothing left to gain.
  // (float32 weights: the balanced network holds the factors' result rounded to float32)
  expect(Math.abs(lpqNorm(result.network, P, Q) / result.finalNorm - 1)).toBeLessThan(1e-6);
  const reread = readOnnx(written);
  const writtenNorm = lpqNorm(reread.network, P, Q);
  expect(Math.abs(writtenNorm / result.finalNorm - 1)).toBeLessThan(1e-5);
  const initialNorm = lpqNorm(onnx.network, P, Q);
  expect(initialNorm).toBeGreaterThan(result.finalNorm * 1.05);
  const again = await balance(reread.network, { p: P, q: Q, backend: 'cpu', tol: 1e-10, maxSweeps: 50000 });
  expect(again.finalNorm / again.initialNorm).toBeGreaterThan(1 - 1e-5);

  // Only initializer data changed: the decoded model without data is identical, the byte
  // length is the same, and every changed byte lies inside an initializer's data.
  expect(withoutData(written)).toEqual(withoutData(bytes));
  expect(written.length).toBe(bytes.length);
  const mask = dataMask(bytes);
  let changed = 0;
  for (let k = 0; k < bytes.length; k++) {
    if (bytes[k] !== written[k]) {
      changed++;
      expect(mask[k]).toBe(1);
    }
  }
  expect(changed).toBeGreaterThan(0);
  return { fixedOps: onnx.fixedUnits.map((f) => f.op), initialNorm, finalNorm: result.finalNorm };
}
