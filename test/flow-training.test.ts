import { beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../src/flow/data.js';
import { splitDataset, teacherStudent, twoSpirals } from '../src/flow/data.js';
import type { Optimizer } from '../src/flow/trainer.js';
import { MlpTrainer, train } from '../src/flow/trainer.js';
import type { Network } from '../src/index.js';
import { balanceResidual, lpqRegulariser, mlp } from '../src/index.js';
import { loadDigits } from '../src/node/digits.js';

const withoutBiases = (n: Network): Network => ({ ...n, blocks: n.blocks.map((b) => ({ ...b, bias: null })) });

/** g[h] = q (In[h] - Out[h]) of every rescalable unit, as one vector. */
function residualVector(n: Network, p: number, q: number, includeBiases = false): number[] {
  return balanceResidual(n, { p, q, includeBiases })
    .g.flatMap((a) => Array.from(a))
    .filter(Number.isFinite);
}

const maxAbs = (v: number[]): number => v.reduce((m, x) => Math.max(m, Math.abs(x)), 0);

/**
 * Relative drift of full-batch training up to time T from what the exact flow predicts,
 * `max_h |g_h(T) - g_h(0) exp(-p q lambda T)| / max_h |g_h(0)|`.
 */
async function drift(
  net: Network,
  data: Dataset,
  optimizer: Optimizer,
  p: number,
  q: number,
  step: number,
  T: number,
  lambda = 0,
): Promise<{ drift: number; lossDrop: number }> {
  const trainer = new MlpTrainer(net, data, { optimizer, p, q, lr: step, lambda, batchSize: data.count });
  const g0 = residualVector(trainer.network(), p, q);
  const before = trainer.evaluate().loss;
  for (let s = 0; s < Math.round(T / step); s++) await trainer.step();
  const g1 = residualVector(trainer.network(), p, q);
  const decay = Math.exp(-p * q * lambda * T);
  return { drift: maxAbs(g1.map((x, i) => x - g0[i] * decay)) / maxAbs(g0), lossDrop: before - trainer.evaluate().loss };
}

describe('the discretised flow keeps the balance residual (MATH.md §5, §7 item 7)', () => {
  const data = teacherStudent({ count: 128, width: 6, hidden: 10, seed: 3 });
  const net = withoutBiases(mlp([6, 12, 10, 1], { seed: 5, dtype: 'float64' }));

  it.each([
    [1, 1, 0.02],
    [1, 2, 0.02],
    [2, 4, 0.02],
    [1.5, 3, 0.02],
  ])('lambda = 0, (p, q) = (%s, %s): the residual stays at its start value up to O(step)', async (p, q, step) => {
    const coarse = await drift(net, data, 'flow', p, q, step, 1);
    const fine = await drift(net, data, 'flow', p, q, step / 2, 1);
    expect(coarse.lossDrop).toBeGreaterThan(0); // it does learn
    expect(fine.drift).toBeLessThan(0.01);
    // First order in the step at a fixed time: halving the step halves the drift.
    expect(coarse.drift / fine.drift).toBeGreaterThan(1.6);
    expect(coarse.drift / fine.drift).toBeLessThan(2.6);
    // Plain gradient descent on the same loss moves the l_{p,q} residual at a rate that does not vanish with the step.
    const gd = await drift(net, data, 'gd', p, q, step / 2, 1);
    expect(gd.drift).toBeGreaterThan(20 * fine.drift);
  });

  it('plain gradient descent with an l1 or l_{p,q} regulariser drifts measurably, the flow does not', async () => {
    for (const [p, q] of [
      [1, 1],
      [1, 2],
      [2, 1],
    ]) {
      const gd = await drift(net, data, 'gd', p, q, 0.005, 1, 1e-2);
      const flow = await drift(net, data, 'flow', p, q, 0.005, 1, 1e-2);
      expect(gd.drift).toBeGreaterThan(0.01);
      expect(flow.drift).toBeLessThan(gd.drift / 10);
    }
  });

  it('for p = q = 2 the flow is gradient descent', async () => {
    const a = new MlpTrainer(net, data, { optimizer: 'flow', p: 2, q: 2, lr: 0.05, lambda: 1e-2, batchSize: 16, seed: 4 });
    const b = new MlpTrainer(net, data, { optimizer: 'gd', p: 2, q: 2, lr: 0.05, lambda: 1e-2, batchSize: 16, seed: 4 });
    for (let s = 0; s < 30; s++) {
      await a.step();
      await b.step();
    }
    const wa = a.network().blocks.flatMap((blk) => Array.from(blk.weight));
    const wb = b.network().blocks.flatMap((blk) => Array.from(blk.weight));
    expect(wa).toEqual(wb);
    expect(wa).not.toEqual(net.blocks.flatMap((blk) => Array.from(blk.weight)));
  });

  /** Least-squares decay rate of log ||g|| against time along full-batch flow steps. */
  async function decayRate(start: Network, p: number, q: number, lambda: number, includeBiases = false): Promise<number> {
    const step = 0.002;
    const trainer = new MlpTrainer(start, data, { optimizer: 'flow', p, q, lr: step, lambda, includeBiases, batchSize: data.count });
    const times: number[] = [];
    const logs: number[] = [];
    for (let s = 0; s <= 400; s++) {
      if (s % 40 === 0) {
        const g = residualVector(trainer.network(), p, q, includeBiases);
        times.push(s * step);
        logs.push(Math.log(Math.hypot(...g)));
      }
      await trainer.step();
    }
    const mt = times.reduce((a, b) => a + b) / times.length;
    const ml = logs.reduce((a, b) => a + b) / logs.length;
    return -times.reduce((a, t, i) => a + (t - mt) * (logs[i] - ml), 0) / times.reduce((a, t) => a + (t - mt) ** 2, 0);
  }

  it.each([
    [1, 1],
    [1, 2],
    [3, 1.5],
    [2, 4],
  ])('lambda > 0, (p, q) = (%s, %s): the residual decays at rate p q lambda', async (p, q) => {
    const rate = await decayRate(net, p, q, 0.5);
    expect(rate / (p * q * 0.5)).toBeGreaterThan(0.9);
    expect(rate / (p * q * 0.5)).toBeLessThan(1.1);
  });

  it.each([
    [1, 1],
    [1, 2],
    [1.5, 3],
  ])('lambda > 0 with biases counted in R (includeBiases), (p, q) = (%s, %s): the same rate', async (p, q) => {
    const biased = mlp([6, 12, 10, 1], { seed: 5, dtype: 'float64', biasScale: 0.3 });
    const rate = await decayRate(biased, p, q, 0.5, true);
    expect(rate / (p * q * 0.5)).toBeGreaterThan(0.9);
    expect(rate / (p * q * 0.5)).toBeLessThan(1.1);
  });

  it('with trained biases counted in R (includeBiases) the residual is kept too', async () => {
    const biased = mlp([6, 12, 10, 1], { seed: 5, dtype: 'float64', biasScale: 0.3 });
    const run = async (step: number): Promise<number> => {
      const trainer = new MlpTrainer(biased, data, { optimizer: 'flow', p: 1, q: 2, includeBiases: true, lr: step, batchSize: data.count });
      const g0 = residualVector(trainer.network(), 1, 2, true);
      for (let s = 0; s < Math.round(1 / step); s++) await trainer.step();
      const g1 = residualVector(trainer.network(), 1, 2, true);
      return maxAbs(g1.map((x, i) => x - g0[i])) / maxAbs(g0);
    };
    const coarse = await run(0.02);
    const fine = await run(0.01);
    expect(fine).toBeLessThan(0.01);
    expect(coarse / fine).toBeGreaterThan(1.6);
  });
});

describe('backpropagation', () => {
  const data = twoSpirals({ perClass: 5, seed: 1 });
  const all = Int32Array.from({ length: data.count }, (_, i) => i);
  /** A copy of the network with one weight (or bias) moved by `delta`. */
  const moved = (n: Network, k: number, e: number, delta: number, bias: boolean): Network => ({
    ...n,
    blocks: n.blocks.map((b, m) => {
      if (m !== k) return b;
      const values = Float64Array.from(bias ? b.bias! : b.weight);
      values[e] += delta;
      return bias ? { ...b, bias: values } : { ...b, weight: values };
    }),
  });

  it.each([
    ['cross-entropy', 'relu'],
    ['cross-entropy', 'leaky_relu'],
    ['squared-error', 'relu'],
    ['squared-error', 'leaky_relu'],
  ] as const)('the gradient of E + lambda R matches central differences (%s, %s hidden units)', (loss, activation) => {
    const net = mlp([2, 5, 4, 2], { seed: 3, dtype: 'float64', biasScale: 0.3, activation });
    const options = { p: 1.5, q: 2.5, includeBiases: true, lambda: 0.3, lr: 0.1, loss, batchSize: data.count };
    const objective = (n: Network): number => new MlpTrainer(n, data, options).gradient(all) + 0.3 * lpqRegulariser(n, options).value;
    const trainer = new MlpTrainer(net, data, options);
    trainer.gradient(all);
    const G = trainer.lastGradient();
    let worst = 0;
    let size = 0;
    net.blocks.forEach((_, k) => {
      for (const bias of [false, true]) {
        const analytic = bias ? G.bias[k]! : G.weight[k];
        for (let e = 0; e < analytic.length; e++) {
          const h = 1e-6;
          const fd = (objective(moved(net, k, e, h, bias)) - objective(moved(net, k, e, -h, bias))) / (2 * h);
          worst = Math.max(worst, Math.abs(fd - analytic[e]));
          size = Math.max(size, Math.abs(fd));
        }
      }
    });
    expect(size).toBeGreaterThan(1e-2);
    expect(worst / size).toBeLessThan(1e-6);
  });

  it('gradient() of a batch larger than the minibatch size is the full-batch gradient; bad indices are refused', () => {
    const net = mlp([2, 5, 4, 2], { seed: 3, dtype: 'float64', biasScale: 0.3 });
    const small = new MlpTrainer(net, data, { p: 1, q: 1, lr: 0.1, batchSize: 4 });
    const full = new MlpTrainer(net, data, { p: 1, q: 1, lr: 0.1, batchSize: data.count });
    expect(small.gradient(all)).toBeCloseTo(full.gradient(all), 14);
    const [a, b] = [small.lastGradient(), full.lastGradient()];
    a.weight.forEach((g, k) => g.forEach((x, e) => expect(x).toBeCloseTo(b.weight[k][e], 14)));
    a.bias.forEach((g, k) => g!.forEach((x, e) => expect(x).toBeCloseTo(b.bias[k]![e], 14)));
    expect(() => small.gradient(Int32Array.of(0, data.count))).toThrow(/minibatch index 10 is outside the data set \(0\.\.9\)/);
    expect(() => small.gradient(new Int32Array(0))).toThrow(/the minibatch is empty/);
  });
});

describe('the fix during training', () => {
  const data = twoSpirals({ perClass: 40, seed: 2 });
  const net = mlp([2, 16, 12, 2], { seed: 8, dtype: 'float64', biasScale: 0.1 });

  it("balances the network every k steps, leaving the caller's network and data untouched", async () => {
    const weights = net.blocks.map((b) => Array.from(b.weight));
    const inputs = Array.from(data.inputs);
    const result = await train(net, data, { optimizer: 'gd', p: 1, q: 1, lr: 0.05, lambda: 1e-3, steps: 12, fixEvery: 4, logEvery: 4 });
    expect(net.blocks.map((b) => Array.from(b.weight))).toEqual(weights);
    expect(Array.from(data.inputs)).toEqual(inputs);
    expect(result.network.blocks[0].weight).not.toEqual(net.blocks[0].weight);
    expect(result.fixes).toBe(3);
    expect(result.logs[0].residual).toBeGreaterThan(0.1);
    for (const log of result.logs.slice(1)) expect(log.residual).toBeLessThan(1e-6);
  });

  it.each(['gd', 'momentum', 'adam', 'flow'] as const)('%s with the fix every k steps works around a frozen (dead) unit', async (optimizer) => {
    // Unit 2 of layer 1: no incoming weight and a negative bias, so In = 0 at every fix (frozen at factor 1).
    const dead: Network = {
      ...net,
      blocks: net.blocks.map((b, k) => {
        if (k !== 0) return b;
        const weight = Float64Array.from(b.weight, (w, e) => (Math.floor(e / 2) === 2 ? 0 : w));
        const bias = Float64Array.from(b.bias!, (x, i) => (i === 2 ? -1 : x));
        return { ...b, weight, bias };
      }),
    };
    const trainer = new MlpTrainer(dead, data, { optimizer, p: 1, q: 2, lr: 0.02, batchSize: 16, fixEvery: 2 });
    const before = trainer.evaluate().loss;
    for (let s = 0; s < 8; s++) await trainer.step();
    expect(trainer.fixes).toBe(4);
    expect(trainer.residual()).toBeLessThan(1e-6);
    const after = trainer.network();
    expect(Array.from(after.blocks[0].weight.subarray(4, 6))).toEqual([0, 0]);
    expect(balanceResidual(after, { p: 1, q: 2 }).g[1][2]).toBeNaN(); // frozen, not balanced
    const { first, second } = trainer.optimizerState();
    for (const state of [first, second]) if (state) expect(state.weight.every((w) => w.every(Number.isFinite))).toBe(true);
    expect(trainer.evaluate().loss).toBeLessThan(before);
  });

  it.each(['momentum', 'adam'] as const)('rescales the %s state like the gradient: m -> (a[j]/a[i]) m, v -> (a[j]/a[i])^2 v', async (optimizer) => {
    // One full-batch step with a negligible learning rate: the state is a function of the gradient at W0.
    const trainer = new MlpTrainer(net, data, { optimizer, p: 1, q: 2, lr: 1e-14, batchSize: data.count, fixEvery: 1 });
    await trainer.step();
    expect(trainer.fixes).toBe(1);
    const balanced = trainer.network();
    expect(balanceResidual(balanced, { p: 1, q: 2 }).maxRelative).toBeLessThan(1e-6);
    // The gradient of the data loss at the balanced weights, computed from scratch.
    const fresh = new MlpTrainer(balanced, data, { optimizer: 'gd', p: 1, q: 2, lr: 1, batchSize: data.count });
    fresh.gradient(Int32Array.from({ length: data.count }, (_, i) => i));
    const G = fresh.lastGradient();
    const { first, second } = trainer.optimizerState();
    const scale = optimizer === 'adam' ? 1 - 0.9 : 1;
    const close = (a: Float64Array, b: Float64Array, power: number, factor: number): void => {
      const worst = Math.max(...Array.from(a, (x, e) => Math.abs(x - factor * b[e] ** power)));
      const size = Math.max(...Array.from(b, (x) => Math.abs(factor * x ** power)));
      expect(worst / size).toBeLessThan(1e-6);
    };
    G.weight.forEach((g, k) => close(first!.weight[k], g, 1, scale));
    G.bias.forEach((g, k) => close(first!.bias[k]!, g!, 1, scale));
    if (optimizer === 'adam') {
      G.weight.forEach((g, k) => close(second!.weight[k], g, 2, 1 - 0.999));
      G.bias.forEach((g, k) => close(second!.bias[k]!, g!, 2, 1 - 0.999));
    }
  });
});

describe('every optimiser and loss learns', () => {
  const data = twoSpirals({ perClass: 60, turns: 0.5, seed: 1 }); // two half-turn arcs: learnable in a few hundred steps
  const net = mlp([2, 24, 24, 2], { seed: 3, dtype: 'float64', biasScale: 0.1 });
  it.each([
    ['gd', 'cross-entropy', 0.1],
    ['momentum', 'cross-entropy', 0.02],
    ['adam', 'cross-entropy', 0.01],
    ['flow', 'cross-entropy', 0.3],
    ['gd', 'squared-error', 0.05],
    ['flow', 'squared-error', 0.1],
  ] as const)('%s on %s', async (optimizer, loss, lr) => {
    const result = await train(net, data, { optimizer, loss, lr, p: 1, q: 1, lambda: 1e-4, steps: 300, logEvery: 300, batchSize: 16 });
    const [first, last] = [result.logs[0], result.logs[result.logs.length - 1]];
    expect(last.loss).toBeLessThan(0.7 * first.loss);
    expect(last.accuracy).toBeGreaterThan(Math.max(0.6, first.accuracy));
  });
});

describe('a diverging run', () => {
  it('stops with an error naming the step, before the fix would meet non-finite weights', async () => {
    const data = twoSpirals({ perClass: 30, turns: 0.5, seed: 2 });
    const net = mlp([2, 16, 16, 2], { seed: 4, dtype: 'float64', biasScale: 0.1 });
    const copy = net.blocks.map((b) => Array.from(b.weight));
    const run = train(net, data, { optimizer: 'gd', lr: 0.05, p: 0.5, q: 3, lambda: 1e-2, steps: 200, fixEvery: 5, batchSize: 8 });
    await expect(run).rejects.toThrow(
      /training diverged at step \d+: (the minibatch loss is (NaN|Infinity)|a weight is no longer finite); try a smaller learning rate/,
    );
    expect(net.blocks.map((b) => Array.from(b.weight))).toEqual(copy);
    // The same settings with a sane learning rate train to the end.
    await expect(train(net, data, { optimizer: 'gd', lr: 0.05, p: 1, q: 1, lambda: 1e-4, steps: 20, fixEvery: 5, batchSize: 8 })).resolves.toBeTruthy();
  });
});

describe('learning the 8x8 digits', () => {
  let split: { train: Dataset; test: Dataset };
  beforeAll(() => {
    split = splitDataset(loadDigits(), { seed: 0 });
  });

  it('the l1 flow reaches a test accuracy above 90% on a fixed split', async () => {
    const net = withoutBiases(mlp([64, 64, 32, 10], { seed: 0, dtype: 'float64' }));
    const result = await train(net, split.train, {
      optimizer: 'flow',
      p: 1,
      q: 1,
      lambda: 1e-4,
      lr: 1,
      steps: 300,
      batchSize: 32,
      logEvery: 100,
      test: split.test,
    });
    expect(result.logs[0].accuracy).toBeLessThan(0.3); // it starts near chance
    expect(result.testAccuracy).toBeGreaterThan(0.9);
    // The flow never changes a weight's sign (p = q = 1, exponential step).
    let flipped = 0;
    result.network.blocks.forEach((b, k) =>
      b.weight.forEach((w, e) => {
        if (Math.sign(w) !== Math.sign(net.blocks[k].weight[e])) flipped++;
      }),
    );
    expect(flipped).toBe(0);
  });
});
