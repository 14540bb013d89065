/**
 * Random networks for the property tests of the numerics (issue 14): small ReLU MLPs, some with
 * a residual skip, exponents up to 32 and weights spread over 12 decades with random signs and
 * some zeros; all drawn from one seed, which names the case in every failure message.
 */

import type { LayerSpec } from '../../src/network/builders.js';
import { sequential } from '../../src/network/builders.js';
import type { Network } from '../../src/network/types.js';
import { uniformStream } from './fixReference.js';

/** One random case: a float64 network and the exponents to balance it with. */
export interface WideCase {
  seed: number;
  net: Network;
  p: number;
  q: number;
  includeBiases: boolean;
  /** Decades between the smallest and the largest non-zero weight magnitude drawn. */
  decades: number;
  /** A line that reproduces the case in a failure message. */
  label: string;
}

/** A random case from `seed`: half of the cases have `max(p, q) >= 20`. */
export function wideCase(seed: number): WideCase {
  const next = uniformStream(seed * 7919 + 17);
  const int = (lo: number, hi: number): number => lo + Math.floor(next() * (hi - lo + 1));
  const exponent = (): number => Math.round((0.5 + 31.5 * next() ** 2) * 100) / 100;
  let p = exponent();
  let q = exponent();
  if (seed % 2 === 0 && Math.max(p, q) < 20) [p, q] = next() < 0.5 ? [20 + 12 * next(), q] : [p, 20 + 12 * next()];
  p = Math.round(p * 100) / 100;
  q = Math.round(q * 100) / 100;
  const width = int(1, 4);
  const specs: LayerSpec[] = [];
  const hidden = int(1, 3);
  for (let k = 0; k < hidden; k++) specs.push({ type: 'dense', units: width, ...(k >= 1 && next() < 0.3 ? { skip: k } : {}) });
  specs.push({ type: 'dense', units: int(1, 2) });
  const net = sequential([int(1, 3)], specs, { seed, dtype: 'float64', biasScale: 1 });
  const decades = 12;
  const draw = (): number => (next() < 0.08 ? 0 : (next() < 0.5 ? -1 : 1) * Math.pow(10, -decades * next()));
  for (const b of net.blocks) {
    for (let k = 0; k < b.weight.length; k++) b.weight[k] = draw();
    if (b.bias) for (let k = 0; k < b.bias.length; k++) b.bias[k] = draw();
  }
  const includeBiases = next() < 0.25;
  const sizes = net.layers.map((l) => l.shape[0]).join('-');
  return { seed, net, p, q, includeBiases, decades, label: `seed ${seed}: ${sizes}, p = ${p}, q = ${q}, includeBiases ${includeBiases}` };
}
