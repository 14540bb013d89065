/**
 * PyTorch state dicts read from their names (issue 13, points 2 and 3): the activation is never
 * assumed silently (it comes from the caller or the metadata, or the ReLU assumption is
 * reported), BatchNorm entries (running statistics, int64 `num_batches_tracked`) are folded into
 * the block before them with the function kept, and a convolution chain that needs stride or
 * padding metadata says so with an example.
 */
import { describe, expect, it } from 'vitest';
import { balance } from '../src/balance.js';
import { WeightBalanceError } from '../src/errors.js';
import { parseActivation, readSafetensors, readSafetensorsModel } from '../src/io/safetensors.js';
import { forward } from '../src/network/forward.js';
import { Random } from '../src/network/random.js';

interface Tensor {
  dtype: string;
  shape: number[];
  values: number[];
}

/** A safetensors file from named tensors (F32 or I64) and optional metadata. */
function file(tensors: Record<string, Tensor>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const data = t.dtype === 'I64' ? new Uint8Array(BigInt64Array.from(t.values.map(BigInt)).buffer) : new Uint8Array(Float32Array.from(t.values).buffer);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + data.length] };
    offset += data.length;
    chunks.push(data);
  }
  const text = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + text.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  let at = 8 + text.length;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

function f32(shape: number[], rng: Random, spread = 0): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const rowLength = n / shape[0];
  const factors = Array.from({ length: shape[0] }, () => Math.exp(spread * rng.normal()));
  // Rounded through float32 so that the reference computation sees the stored numbers.
  return { dtype: 'F32', shape, values: Array.from(Float32Array.from({ length: n }, (_, k) => rng.normal() * factors[Math.floor(k / rowLength)])) };
}

/** nn.Sequential(Linear(3, 5), Act, Linear(5, 2)) as a state dict. */
function twoLayer(rng: Random): Record<string, Tensor> {
  return { '0.weight': f32([5, 3], rng, 1.5), '0.bias': f32([5], rng), '2.weight': f32([2, 5], rng, 1.5), '2.bias': f32([2], rng) };
}

/** y = W2 act(W1 x + b1) + b2, by hand, for one input. */
function reference(t: Record<string, Tensor>, act: (z: number) => number, x: number[], hidden = '0', out = '2', bn?: string): number[] {
  const w1 = t[`${hidden}.weight`].values;
  const b1 = t[`${hidden}.bias`].values;
  const h = b1.map((b, i) => {
    let z = b + x.reduce((s, xj, j) => s + w1[i * x.length + j] * xj, 0);
    if (bn)
      z =
        (t[`${bn}.weight`].values[i] * (z - t[`${bn}.running_mean`].values[i])) / Math.sqrt(t[`${bn}.running_var`].values[i] + 1e-5) +
        t[`${bn}.bias`].values[i];
    return act(z);
  });
  const w2 = t[`${out}.weight`].values;
  return t[`${out}.bias`].values.map((b, i) => b + h.reduce((s, hj, j) => s + w2[i * h.length + j] * hj, 0));
}

function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number): void {
  const scale = Math.max(...Array.from(b, Math.abs));
  for (let k = 0; k < b.length; k++) expect(Math.abs(a[k] - b[k]) / scale, `entry ${k}: ${a[k]} vs ${b[k]}`).toBeLessThan(tol);
}

describe('state dicts: activations are never assumed silently (13.2)', () => {
  const x = [0.3, -1.2, 0.8];

  it('without an activation, ReLU is assumed and the assumption is reported', () => {
    const t = twoLayer(new Random(1));
    const read = readSafetensorsModel(file(t));
    expect(read.network.layers[1].activation).toBe('relu');
    expect(read.assumptions.join(' ')).toMatch(/does not say its activations: ReLU is assumed.*--activation/);
    expectClose(
      forward(read.network, x),
      reference(t, (z) => Math.max(z, 0), x),
      1e-6,
    );
  });

  it('a Tanh net read with activation tanh keeps its function through balance (its hidden units are fixed)', async () => {
    const t = twoLayer(new Random(2));
    const read = readSafetensorsModel(file(t), { activation: parseActivation('tanh') });
    expect(read.network.layers[1].activation).toBe('tanh');
    expect(read.assumptions.join(' ')).toMatch(/activation between layers: tanh, from the caller/);
    const expected = reference(t, Math.tanh, x);
    expectClose(forward(read.network, x), expected, 1e-6);
    const result = await balance(read.network, { p: 2, q: 2, backend: 'cpu' });
    expectClose(forward(result.network, x), expected, 1e-6);
    // Read as ReLU instead, the same file computes something else: the assumption matters.
    const relu = forward(readSafetensors(file(t)), x);
    expect(Math.max(...relu.map((v, k) => Math.abs(v - expected[k])))).toBeGreaterThan(1e-3);
  });

  it('the metadata can give the activation (leaky_relu:0.1); the caller overrides it', () => {
    const t = twoLayer(new Random(3));
    const bytes = file(t, { weight_balance: JSON.stringify({ version: 1, activation: 'leaky_relu:0.1' }) });
    const read = readSafetensorsModel(bytes);
    expect(read.network.layers[1]).toMatchObject({ activation: 'leaky_relu', negativeSlope: 0.1 });
    expect(read.assumptions.join(' ')).toMatch(/from __metadata__\.weight_balance/);
    expectClose(
      forward(read.network, x),
      reference(t, (z) => (z >= 0 ? z : 0.1 * z), x),
      1e-6,
    );
    expect(readSafetensors(bytes, { activation: { activation: 'sigmoid' } }).layers[1].activation).toBe('sigmoid');
  });

  it('parseActivation accepts the documented forms and refuses others by name', () => {
    expect(parseActivation('relu')).toEqual({ activation: 'relu' });
    expect(parseActivation('leaky_relu:0.2')).toEqual({ activation: 'leaky_relu', negativeSlope: 0.2 });
    expect(parseActivation('gelu')).toEqual({ activation: 'gelu' });
    for (const bad of ['swish', 'relu:0.1', 'leaky_relu:', 'leaky_relu:x', 'tanh:1:2', '']) {
      expect(() => parseActivation(bad), bad).toThrow(WeightBalanceError);
    }
    expect(() => parseActivation('swish')).toThrow(/unknown activation 'swish'.*leaky_relu:SLOPE/);
  });
});

describe('state dicts: BatchNorm entries are folded (13.3)', () => {
  /** nn.Sequential(Linear(3, 5), BatchNorm1d(5), ReLU, Linear(5, 2)). */
  function withBatchNorm(rng: Random): Record<string, Tensor> {
    const t = twoLayer(rng);
    return {
      '0.weight': t['0.weight'],
      '0.bias': t['0.bias'],
      '1.weight': { dtype: 'F32', shape: [5], values: Array.from(Float32Array.from({ length: 5 }, () => 0.5 + rng.uniform())) },
      '1.bias': f32([5], rng),
      '1.running_mean': f32([5], rng),
      '1.running_var': { dtype: 'F32', shape: [5], values: Array.from(Float32Array.from({ length: 5 }, () => 0.1 + 3 * rng.uniform())) },
      '1.num_batches_tracked': { dtype: 'I64', shape: [], values: [1234] },
      '3.weight': t['2.weight'],
      '3.bias': t['2.bias'],
    };
  }

  it('running_mean, running_var and int64 num_batches_tracked are recognised and folded; the function is kept, also after balance', async () => {
    const t = withBatchNorm(new Random(4));
    const x = [1.1, -0.4, 0.7];
    const read = readSafetensorsModel(file(t), { activation: { activation: 'relu' } });
    expect(read.foldedBatchNorms).toEqual(['1']);
    expect(read.network.blocks.map((b) => b.name)).toEqual(['0', '3']);
    const expected = reference(t, (z) => Math.max(z, 0), x, '0', '3', '1');
    expectClose(forward(read.network, x), expected, 1e-5);
    const result = await balance(read.network, { p: 2, q: 2, backend: 'cpu' });
    expectClose(forward(result.network, x), expected, 1e-5);
  });

  it('a BatchNorm that follows no block, or a missing running_var, is refused as unfoldable', () => {
    const t = withBatchNorm(new Random(5));
    const first = {
      '0.weight': t['1.weight'],
      '0.bias': t['1.bias'],
      '0.running_mean': t['1.running_mean'],
      '0.running_var': t['1.running_var'],
      '1.weight': f32([2, 5], new Random(6)),
    };
    expect(() => readSafetensors(file(first))).toThrow(/BatchNorm '0' cannot be folded: it does not follow a Linear or Conv2d/);
    const { '1.running_var': _var, ...missing } = t;
    expect(() => readSafetensors(file(missing))).toThrow(/BatchNorm '1' cannot be folded: tensor '1.running_var' is missing/);
    const wrong = { ...t, '1.running_mean': f32([4], new Random(7)) };
    expect(() => readSafetensors(file(wrong))).toThrow(/BatchNorm '1' cannot be folded into block '0' \(5 units\)/);
  });

  it('a convolution chain that only fits with padding or stride says the metadata must give them, with an example', () => {
    const rng = new Random(8);
    // Conv 3x3 with padding 1 keeps 6x6 (16 * 36 = 576 features), which the Linear reads; without padding it is 4x4.
    const t = { '0.weight': f32([4, 2, 3, 3], rng), '2.weight': f32([3, 4 * 6 * 6], rng) };
    const message = (() => {
      try {
        readSafetensors(file(t, { weight_balance: JSON.stringify({ version: 1, input: [2, 6, 6] }) }));
      } catch (error) {
        return (error as Error).message;
      }
      return '';
    })();
    expect(message).toMatch(/shapes do not chain/);
    expect(message).toMatch(/stride 1, no padding and no pooling.*"padding":\[1,1\]/);
  });
});
