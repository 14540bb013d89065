/**
 * The optimisers behind one interface (src/flow/optimizers.ts): their state, one step of each
 * against its formula, and the state rescaling of MATH.md §5 (a rescaling and its inverse
 * leave the state as it was; a gradient rescales like the first moment).
 */
import { describe, expect, it } from 'vitest';
import type { ParameterArrays } from '../src/flow/metric.js';
import type { Optimizer, OptimizerSettings } from '../src/flow/optimizers.js';
import { createOptimizer, rescaleState } from '../src/flow/optimizers.js';
import { mlp } from '../src/network/builders.js';
import type { Network } from '../src/network/types.js';
import { uniformStream } from './support/fixReference.js';

const settings = (optimizer: Optimizer): OptimizerSettings => ({
  optimizer,
  lr: 0.1,
  momentum: 0.5,
  beta1: 0.9,
  beta2: 0.99,
  adamEpsilon: 1e-8,
  p: 2,
  q: 2,
  includeBiases: false,
  epsilon: 1e-3,
  integrator: 'euler',
});

/** A seeded gradient shaped like the network. */
function randomArrays(net: Network, seed: number): ParameterArrays {
  const next = uniformStream(seed);
  return {
    weight: net.blocks.map((b) => Float64Array.from(b.weight, () => next() - 0.5)),
    bias: net.blocks.map((b) => (b.bias ? Float64Array.from(b.bias, () => next() - 0.5) : null)),
  };
}

const flat = (a: ParameterArrays): number[] => [...a.weight.flatMap((w) => Array.from(w)), ...a.bias.flatMap((b) => Array.from(b ?? []))];

describe('the optimisers', () => {
  const net = mlp([4, 5, 3], { seed: 1, dtype: 'float64', biasScale: 0.2 });

  it('hold the state their update needs: none for gd and flow, first moments for momentum, both for adam', () => {
    const has = (o: Optimizer): [boolean, boolean] => {
      const { state } = createOptimizer(settings(o), net);
      return [state.first !== null, state.second !== null];
    };
    expect([has('gd'), has('flow'), has('momentum'), has('adam')]).toEqual([
      [false, false],
      [false, false],
      [true, false],
      [true, true],
    ]);
  });

  it("gd steps W - lr g; momentum with mu = 0.5 steps W - lr (0.5 m + g); adam's first step is lr sign(g) up to epsilon", () => {
    const g = randomArrays(net, 2);
    const w0 = flat({ weight: net.blocks.map((b) => b.weight as Float64Array), bias: net.blocks.map((b) => b.bias as Float64Array) });
    const stepped = (o: Optimizer, steps: number): number[] => {
      const copy = structuredClone(net);
      const rule = createOptimizer(settings(o), copy);
      for (let t = 1; t <= steps; t++) rule.step(copy, g, t);
      return flat({ weight: copy.blocks.map((b) => b.weight as Float64Array), bias: copy.blocks.map((b) => b.bias as Float64Array) });
    };
    const gFlat = flat(g);
    stepped('gd', 1).forEach((w, e) => expect(w).toBeCloseTo(w0[e] - 0.1 * gFlat[e], 14));
    stepped('momentum', 2).forEach((w, e) => expect(w).toBeCloseTo(w0[e] - 0.1 * gFlat[e] - 0.1 * 1.5 * gFlat[e], 14));
    stepped('adam', 1).forEach((w, e) => expect(w).toBeCloseTo(w0[e] - 0.1 * Math.sign(gFlat[e]), 5));
  });

  it('rescale the state by the factors and back to where it was; the first moment transforms like the gradient', () => {
    const u = net.layers.map((l, k) => Float64Array.from({ length: l.shape[0] }, (_, c) => (k === 1 ? 0.3 * (c - 2) : 0)));
    const minus = u.map((x) => x.map((v) => -v));
    const rule = createOptimizer(settings('adam'), net);
    rule.step(structuredClone(net), randomArrays(net, 3), 1);
    const before = structuredClone(rule.state);
    rule.rescale(net, u);
    expect(flat(rule.state.first!)).not.toEqual(flat(before.first!));
    rule.rescale(net, minus);
    flat(rule.state.first!).forEach((x, e) => expect(x).toBeCloseTo(flat(before.first!)[e], 14));
    flat(rule.state.second!).forEach((x, e) => expect(x).toBeCloseTo(flat(before.second!)[e], 14));
    // Weight [i, j] of block 0 (input j -> hidden i) scales by a[j]/a[i] = exp(-u1[i]); bias by exp(-u1[i]).
    const g = randomArrays(net, 4);
    const scaled = structuredClone(g);
    rescaleState(net, scaled, u, 1);
    expect(scaled.weight[0][2 * 4 + 1]).toBeCloseTo(g.weight[0][2 * 4 + 1] * Math.exp(-u[1][2]), 14);
    expect(scaled.bias[0]![3]).toBeCloseTo(g.bias[0]![3] * Math.exp(-u[1][3]), 14);
    expect(scaled.weight[1][0 * 5 + 4]).toBeCloseTo(g.weight[1][4] * Math.exp(u[1][4]), 14);
  });
});
