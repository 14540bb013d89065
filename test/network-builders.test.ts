/**
 * The builders' initialisation (issue 2, "Network model"): `mlp(sizes, { seed, init: 'he' })`
 * and `cnn()` draw He-normal weights (mean 0, variance 2 / fan-in, fan-in = in/groups * kh * kw
 * for a convolution) and zero biases, from a seeded PRNG: one seed gives one network.
 */
import { describe, expect, it } from 'vitest';
import { WeightBalanceError } from '../src/errors.js';
import { cnn, mlp } from '../src/network/builders.js';
import type { Network } from '../src/network/types.js';

/** Sample mean and variance of an array. */
function moments(values: ArrayLike<number>): { mean: number; variance: number } {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i];
  const mean = sum / values.length;
  let squares = 0;
  for (let i = 0; i < values.length; i++) squares += (values[i] - mean) ** 2;
  return { mean, variance: squares / values.length };
}

/** The fan-in of a block: inputs per output unit (taps included). */
function fanIn(net: Network, k: number): number {
  return net.blocks[k].shape.slice(1).reduce((a, b) => a * b, 1);
}

function expectHe(net: Network): void {
  net.blocks.forEach((block, k) => {
    const n = block.weight.length;
    const expected = 2 / fanIn(net, k);
    const { mean, variance } = moments(block.weight);
    // Standard errors of the sample mean and variance of n normal draws: sqrt(v/n), v sqrt(2/n).
    expect(Math.abs(mean), `block ${k} mean`).toBeLessThan(5 * Math.sqrt(expected / n));
    expect(Math.abs(variance / expected - 1), `block ${k} variance`).toBeLessThan(5 * Math.sqrt(2 / n));
    if (block.bias)
      expect(
        Array.from(block.bias).every((b) => b === 0),
        `block ${k} biases`,
      ).toBe(true);
  });
}

describe('He-normal initialisation', () => {
  it("mlp: weights of mean 0 and variance 2 / fan-in, zero biases, for init: 'he' and by default", () => {
    const net = mlp([200, 500, 300, 10], { seed: 3, init: 'he' });
    expectHe(net);
    expect(mlp([200, 500, 300, 10], { seed: 3 })).toEqual(net);
  });

  it('cnn: fan-in = in/groups * kh * kw for every convolution (plain, grouped, depthwise), zero biases', () => {
    const net = cnn({ seed: 4 });
    expect(net.blocks.some((b) => b.kind === 'conv2d' && b.groups > 1)).toBe(true);
    expectHe(net);
  });

  it('one seed gives one network; another seed another; the dtype only changes the precision', () => {
    const a = mlp([20, 30, 5], { seed: 11 });
    expect(mlp([20, 30, 5], { seed: 11 })).toEqual(a);
    expect(mlp([20, 30, 5], { seed: 12 }).blocks[0].weight).not.toEqual(a.blocks[0].weight);
    const wide = mlp([20, 30, 5], { seed: 11, dtype: 'float64' });
    expect(wide.blocks[0].weight).toBeInstanceOf(Float64Array);
    expect(Float32Array.from(wide.blocks[0].weight)).toEqual(a.blocks[0].weight);
  });

  it('an unknown init is refused by name', () => {
    expect(() => mlp([4, 3, 2], { init: 'xavier' as never })).toThrow(WeightBalanceError);
    expect(() => mlp([4, 3, 2], { init: 'xavier' as never })).toThrow(/unknown init 'xavier'/);
  });
});
