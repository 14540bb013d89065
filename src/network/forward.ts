import { WeightBalanceError } from '../errors.js';
import type { Activation, Block, Layer, Network } from './types.js';
import { layerSize } from './types.js';
import { blockOutputShape, preActivationShape, validateNetwork } from './validate.js';

function activate(z: Float64Array, layer: Layer): void {
  const act: Activation = layer.activation;
  const slope = layer.negativeSlope ?? 0.01;
  switch (act) {
    case 'relu':
      for (let i = 0; i < z.length; i++) z[i] = z[i] > 0 ? z[i] : 0;
      break;
    case 'leaky_relu':
      for (let i = 0; i < z.length; i++) z[i] = z[i] > 0 ? z[i] : slope * z[i];
      break;
    case 'identity':
      break;
    case 'sigmoid':
      for (let i = 0; i < z.length; i++) z[i] = 1 / (1 + Math.exp(-z[i]));
      break;
    case 'tanh':
      for (let i = 0; i < z.length; i++) z[i] = Math.tanh(z[i]);
      break;
    case 'gelu':
      for (let i = 0; i < z.length; i++) {
        const x = z[i];
        z[i] = 0.5 * x * (1 + Math.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
      }
      break;
    case 'softmax': {
      let m = -Infinity;
      for (const v of z) m = Math.max(m, v);
      let s = 0;
      for (let i = 0; i < z.length; i++) {
        z[i] = Math.exp(z[i] - m);
        s += z[i];
      }
      for (let i = 0; i < z.length; i++) z[i] /= s;
      break;
    }
  }
}

function applyBlock(net: Network, b: Block, x: Float64Array, z: Float64Array): void {
  const w = b.weight;
  if (b.kind === 'conv2d' && b.transposed) {
    applyTransposed(net, b, x, z);
    return;
  }
  if (b.kind === 'dense') {
    const [out, inp] = b.shape;
    for (let i = 0; i < out; i++) {
      let s = b.bias ? b.bias[i] : 0;
      for (let k = 0, o = i * inp; k < inp; k++) s += w[o + k] * x[k];
      z[i] += s;
    }
    return;
  }
  const [, H, W] = net.layers[b.from].shape;
  const [out, inPerGroup, kh, kw] = b.shape;
  const [, OH, OW] = blockOutputShape(net, b);
  const outPerGroup = out / b.groups;
  const [dh, dw] = b.dilation ?? [1, 1];
  for (let o = 0; o < out; o++) {
    const g = Math.floor(o / outPerGroup);
    const bias = b.bias ? b.bias[o] : 0;
    for (let oy = 0; oy < OH; oy++) {
      for (let ox = 0; ox < OW; ox++) {
        let s = bias;
        for (let c = 0; c < inPerGroup; c++) {
          const xc = (g * inPerGroup + c) * H * W;
          const wc = (o * inPerGroup + c) * kh * kw;
          for (let ky = 0; ky < kh; ky++) {
            const iy = oy * b.stride[0] - b.padding[0] + ky * dh;
            if (iy < 0 || iy >= H) continue;
            for (let kx = 0; kx < kw; kx++) {
              const ix = ox * b.stride[1] - b.padding[1] + kx * dw;
              if (ix < 0 || ix >= W) continue;
              s += w[wc + ky * kw + kx] * x[xc + iy * W + ix];
            }
          }
        }
        z[(o * OH + oy) * OW + ox] += s;
      }
    }
  }
}

/** A concat layer's pre-activation: its sources joined along the units, then `select`ed. */
function joinUnits(layer: Layer, sources: Float64Array[], z: Float64Array): void {
  // [C, H, W] row-major: joining channels joins the arrays.
  const joined = sources.length === 1 ? sources[0] : new Float64Array(sources.reduce((n, s) => n + s.length, 0));
  let offset = 0;
  if (sources.length > 1) {
    for (const s of sources) {
      joined.set(s, offset);
      offset += s.length;
    }
  }
  if (!layer.select) {
    z.set(joined);
    return;
  }
  const positions = z.length / layer.select.length;
  layer.select.forEach((u, k) => {
    z.set(joined.subarray(u * positions, (u + 1) * positions), k * positions);
  });
}

/** Multiply each unit's positions by its gate value. */
function applyGate(gate: Float64Array, z: Float64Array): void {
  const positions = z.length / gate.length;
  for (let i = 0; i < z.length; i++) z[i] *= gate[Math.floor(i / positions)];
}

/** A transposed convolution: each input position adds its taps to the output positions it reaches. */
function applyTransposed(net: Network, b: Block & { kind: 'conv2d' }, x: Float64Array, z: Float64Array): void {
  const [, H, W] = net.layers[b.from].shape;
  const [out, inPerGroup, kh, kw] = b.shape;
  const [, OH, OW] = blockOutputShape(net, b);
  const outPerGroup = out / b.groups;
  const [dh, dw] = b.dilation ?? [1, 1];
  const w = b.weight;
  for (let o = 0; o < out; o++) {
    if (b.bias) for (let t = o * OH * OW; t < (o + 1) * OH * OW; t++) z[t] += b.bias[o];
    const g = Math.floor(o / outPerGroup);
    for (let c = 0; c < inPerGroup; c++) {
      const xc = (g * inPerGroup + c) * H * W;
      const wc = (o * inPerGroup + c) * kh * kw;
      for (let iy = 0; iy < H; iy++) {
        for (let ky = 0; ky < kh; ky++) {
          const oy = iy * b.stride[0] - b.padding[0] + ky * dh;
          if (oy < 0 || oy >= OH) continue;
          for (let ix = 0; ix < W; ix++) {
            for (let kx = 0; kx < kw; kx++) {
              const ox = ix * b.stride[1] - b.padding[1] + kx * dw;
              if (ox < 0 || ox >= OW) continue;
              z[(o * OH + oy) * OW + ox] += w[wc + ky * kw + kx] * x[xc + iy * W + ix];
            }
          }
        }
      }
    }
  }
}

/**
 * Pool a `[C, H, W]` map. A window covers the padded input `[-p, n + p)` (a ceil-mode last window
 * is cut there); max ignores the padded positions, average divides by the positions it covers
 * inside the input, or inside the padded input with `countPadding`.
 */
function pool(z: Float64Array, pre: number[], layer: Layer): Float64Array {
  const p = layer.pool!;
  const [C, H, W] = pre;
  const [, OH, OW] = layer.shape;
  const [ph, pw] = p.padding ?? [0, 0];
  const out = new Float64Array(C * OH * OW);
  for (let oy = 0; oy < OH; oy++) {
    const y0 = oy * p.stride[0] - ph;
    const y1 = Math.min(y0 + p.size[0], H + ph);
    const [iy0, iy1] = [Math.max(y0, 0), Math.min(y1, H)];
    for (let ox = 0; ox < OW; ox++) {
      const x0 = ox * p.stride[1] - pw;
      const x1 = Math.min(x0 + p.size[1], W + pw);
      const [ix0, ix1] = [Math.max(x0, 0), Math.min(x1, W)];
      const count = p.countPadding ? (y1 - y0) * (x1 - x0) : (iy1 - iy0) * (ix1 - ix0);
      for (let c = 0; c < C; c++) {
        let acc = p.kind === 'max' ? -Infinity : 0;
        for (let iy = iy0; iy < iy1; iy++) {
          for (let ix = ix0; ix < ix1; ix++) {
            const v = z[(c * H + iy) * W + ix];
            acc = p.kind === 'max' ? Math.max(acc, v) : acc + v;
          }
        }
        out[(c * OH + oy) * OW + ox] = p.kind === 'max' ? acc : acc / count;
      }
    }
  }
  return out;
}

/**
 * Evaluate a network in float64 on a batch of inputs (row-major, `batch x inputSize`, feature
 * maps in C, H, W order). Returns `batch x outputSize`. A reference for checking that a
 * rescaling preserves the network's function.
 */
export function forward(net: Network, inputs: ArrayLike<number>, batch = 1): Float64Array {
  validateNetwork(net);
  if (!Number.isInteger(batch) || batch < 0) throw new WeightBalanceError(`forward: batch must be an integer >= 0, got ${String(batch)}`);
  if (inputs === null || typeof inputs !== 'object' || typeof inputs.length !== 'number') {
    throw new WeightBalanceError(`forward: inputs must be an array of numbers, got ${inputs === null ? 'null' : typeof inputs}`);
  }
  const inSize = layerSize(net.layers[0]);
  if (inputs.length !== batch * inSize) throw new WeightBalanceError(`forward: expected ${batch} x ${inSize} inputs, got ${inputs.length} values`);
  const outSize = layerSize(net.layers[net.layers.length - 1]);
  const result = new Float64Array(batch * outSize);
  for (let n = 0; n < batch; n++) {
    const outputs: Float64Array[] = [Float64Array.from({ length: inSize }, (_, k) => inputs[n * inSize + k])];
    for (let k = 1; k < net.layers.length; k++) {
      const layer = net.layers[k];
      const incoming = net.blocks.filter((b) => b.to === k);
      const pre = preActivationShape(net, k);
      let z: Float64Array = new Float64Array(pre.reduce((a, b) => a * b, 1));
      if (layer.concat)
        joinUnits(
          layer,
          layer.concat.map((s) => outputs[s]),
          z,
        );
      for (const b of incoming) applyBlock(net, b, outputs[b.from], z);
      for (const s of layer.skips ?? []) {
        const src = outputs[s];
        for (let i = 0; i < z.length; i++) z[i] += src[i];
      }
      if (layer.gate !== undefined) applyGate(outputs[layer.gate], z);
      activate(z, layer);
      if (layer.pool) z = pool(z, pre, layer);
      outputs.push(z);
    }
    result.set(outputs[outputs.length - 1], n * outSize);
  }
  return result;
}
