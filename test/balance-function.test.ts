/**
 * MATH.md §7 item 1: balancing leaves the network's function unchanged (float64 nets to 1e-10
 * relative, float32 nets to 1e-5), on MLPs, CNNs (grouped, depthwise, pooling) and residual nets
 * with tied units, for random (p, q) and both schedules, starting far from balance.
 */
import { describe, expect, it } from 'vitest';
import { balance } from '../src/balance.js';
import { forward } from '../src/network/forward.js';
import type { Network } from '../src/network/types.js';
import { NETS, scrambled } from './support/fixNets.js';
import { outputDistance, randomExponents, referenceProblem } from './support/fixReference.js';

const PAIRS = randomExponents(7, 4);

function snapshot(net: Network): unknown {
  return structuredClone(net);
}

describe('function preserved (MATH.md §7.1)', () => {
  for (const [name, build] of Object.entries(NETS)) {
    for (const dtype of ['float64', 'float32'] as const) {
      it(`${name} (${dtype}): same outputs after balancing, both schedules, random (p, q)`, async () => {
        const limit = dtype === 'float64' ? 1e-10 : 1e-5;
        const original = build(21, dtype);
        // Start far from balance: random factors over 2 decades either way (same function).
        const { net } = scrambled(original, referenceProblem(original, 2, 2), 99, 2);
        expect(outputDistance(forward, original, net, 1)).toBeLessThan(limit);
        const before = snapshot(net);
        for (const [k, [p, q]] of PAIRS.entries()) {
          const schedule = k % 2 === 0 ? 'parallel' : 'alternating';
          const result = await balance(net, { p, q, schedule, backend: 'cpu', tol: 1e-8, maxSweeps: 20000, includeBiases: k >= 2 });
          // The weights did change (the test could fail) ...
          expect(result.finalNorm).toBeLessThan(result.initialNorm * 0.99);
          // ... the function did not.
          expect(outputDistance(forward, net, result.network, 1000 + k), `${name} ${dtype} p=${p} q=${q} ${schedule}`).toBeLessThan(limit);
          // Same precision out as in.
          result.network.blocks.forEach((b, i) => expect(b.weight.constructor).toBe(net.blocks[i].weight.constructor));
        }
        expect(net).toEqual(before);
      });
    }
  }

  it('leaky ReLU and identity hidden units are rescaled too, and the function is kept', async () => {
    const base = NETS.mlp(4);
    const net: Network = {
      ...base,
      layers: base.layers.map((l, k) => (k === 1 ? { ...l, activation: 'leaky_relu', negativeSlope: 0.1 } : k === 2 ? { ...l, activation: 'identity' } : l)),
    };
    const result = await balance(net, { p: 1.5, q: 2.5, backend: 'cpu', tol: 1e-9 });
    expect(result.logFactors[1].some((x) => Math.abs(x) > 1e-3)).toBe(true);
    expect(result.logFactors[2].some((x) => Math.abs(x) > 1e-3)).toBe(true);
    expect(outputDistance(forward, net, result.network, 5)).toBeLessThan(1e-10);
  });
});
