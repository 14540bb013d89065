/**
 * Where the demo's networks come from (presets, a custom MLP) and what it reports about them:
 * a description, a fingerprint of the weights, per-layer norms and outputs on fixed probe inputs.
 */

import type { Network } from '../../src/index.js';
import { cnn, forward, mlp, WeightBalanceError } from '../../src/index.js';
import { rowMasses } from '../../src/math/norm.js';
import { Random } from '../../src/network/random.js';
import { isHomogeneous, layerSize } from '../../src/network/types.js';

/** A ready-made network. */
export interface Preset {
  id: string;
  label: string;
  build(seed: number): Network;
}

/** The three MLPs of the paper's Fig. 2 (MATH.md §6) and a small CNN. */
export const PRESETS: readonly Preset[] = [
  { id: 'mlp-2', label: 'MLP 200-2500-1250-10 (Fig. 2)', build: (seed) => mlp([200, 2500, 1250, 10], { seed }) },
  { id: 'mlp-4', label: 'MLP 200-2000-1000-500-250-10 (Fig. 2)', build: (seed) => mlp([200, 2000, 1000, 500, 250, 10], { seed }) },
  { id: 'mlp-6', label: 'MLP 200-1000-750-750-500-500-250-10 (Fig. 2)', build: (seed) => mlp([200, 1000, 750, 750, 500, 500, 250, 10], { seed }) },
  { id: 'cnn', label: 'Small CNN (1x8x8, conv/grouped/depthwise)', build: (seed) => cnn({ seed }) },
];

/**
 * Parse a custom MLP architecture: layer sizes, input first, separated by `-`, `x`, `,` or
 * spaces (e.g. `200-64-32-10`), and build it.
 */
export function customMlp(text: string, seed: number): Network {
  const parts = text
    .trim()
    .split(/[\s,x×-]+/)
    .filter((s) => s.length > 0);
  if (parts.length < 2) throw new WeightBalanceError('give at least an input and an output size, e.g. 200-64-10');
  const sizes = parts.map((s) => {
    const n = Number(s);
    if (!/^\d+$/.test(s) || !Number.isInteger(n) || n <= 0) throw new WeightBalanceError(`'${s}' is not a positive whole number of units`);
    return n;
  });
  const weights = sizes.slice(1).reduce((sum, n, k) => sum + n * sizes[k], 0);
  if (weights > 50_000_000) throw new WeightBalanceError(`${weights.toLocaleString('en')} weights is too many for a browser page (at most 50,000,000)`);
  return mlp(sizes, { seed });
}

/** Total weights (biases excluded) of a network. */
export function weightCount(net: Network): number {
  return net.blocks.reduce((sum, b) => sum + b.weight.length, 0);
}

/** A one-line description: layer shapes and the number of weights. */
export function describe(net: Network): string {
  const shapes = net.layers.map((l) => l.shape.join('x')).join(' → ');
  return `${shapes} · ${net.blocks.length} blocks · ${weightCount(net).toLocaleString('en')} weights`;
}

/** FNV-1a (32 bit) of all shapes, weights and biases: changes if any byte of the network does. */
export function fingerprint(net: Network): string {
  let h = 0x811c9dc5;
  const mix = (bytes: Uint8Array): void => {
    for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  };
  for (const b of net.blocks) {
    mix(new Uint8Array(Int32Array.from(b.shape).buffer));
    mix(new Uint8Array(b.weight.buffer, b.weight.byteOffset, b.weight.byteLength));
    if (b.bias) mix(new Uint8Array(b.bias.buffer, b.bias.byteOffset, b.bias.byteLength));
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}

/**
 * `||W_k||_{p,q}` of the incoming weights of every layer after the input:
 * `(sum_i rho_i^(q/p))^(1/q)` with `rho_i = sum_j |W[i,j]|^p` over the layer's units.
 */
export function layerNorms(net: Network, p: number, q: number): number[] {
  return rowMasses(net, p)
    .slice(1)
    .map((rho) => {
      let sum = 0;
      for (const r of rho) sum += Math.pow(r, q / p);
      return Math.pow(sum, 1 / q);
    });
}

/** Number of fixed inputs the function check runs. */
export const PROBE_BATCH = 4;

/**
 * Outputs on `PROBE_BATCH` fixed standard-normal inputs (seed 12345): two networks compute the
 * same function exactly when these agree (up to rounding).
 */
export function probeOutputs(net: Network): Float64Array {
  const rng = new Random(12345);
  const inputs = Float64Array.from({ length: PROBE_BATCH * layerSize(net.layers[0]) }, () => rng.normal());
  return forward(net, inputs, PROBE_BATCH);
}

/** `max |a - b| / max |a|`: how far two output vectors are apart, relative to their size. */
export function relativeDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(a[i]));
  }
  return scale > 0 ? diff / scale : diff;
}

/** Input, a hidden layer, or the output. */
export function layerKind(net: Network, layer: number): 'input' | 'hidden' | 'output' {
  return layer === 0 ? 'input' : layer === net.layers.length - 1 ? 'output' : 'hidden';
}

/**
 * Units per layer that balancing leaves at factor 1 by rule: every output unit, every unit of a
 * hidden layer whose activation is not positively homogeneous (e.g. Sigmoid from an ONNX file),
 * every unit of a gate (`Layer.gate`), and a hidden layer's listed `fixed` units. The input layer
 * counts 0 (it is never rescaled).
 */
export function fixedUnitsByLayer(net: Network): number[] {
  const gates = new Set(net.layers.flatMap((l) => (l.gate !== undefined ? [l.gate] : [])));
  return net.layers.map((layer, k) => {
    const kind = layerKind(net, k);
    if (kind === 'input') return 0;
    if (kind === 'output' || !isHomogeneous(layer.activation) || gates.has(k)) return layer.shape[0];
    return new Set(layer.fixed ?? []).size;
  });
}
