import { balance } from '../balance.js';
import { BalanceAbortedError, WeightBalanceError } from '../errors.js';
import { Random } from '../network/random.js';
import type { Network } from '../network/types.js';
import type { ModelEvaluation } from './backprop.js';
import { MlpBackprop } from './backprop.js';
import type { Dataset } from './data.js';
import { permutation, validateDataset } from './data.js';
import type { ParameterArrays } from './metric.js';
import { balanceResidual, regulariserUnchecked } from './metric.js';
import type { OptimizerRule, OptimizerState } from './optimizers.js';
import { createOptimizer } from './optimizers.js';
import type { ResolvedTrainerOptions, TrainerOptions } from './trainerOptions.js';
import { integer, resolveTrainerOptions, validateFit } from './trainerOptions.js';

/**
 * A small float64 trainer for ReLU MLPs, for studying the weight-balancing flows (MATH.md §5):
 * minimise `L = E + lambda R` with `R = ||W||_{p,q}^q` by gradient descent (plain, momentum,
 * Adam) or by the flow `dW/dt = -M(W) grad L`, optionally re-applying the fix (`balance`) every
 * k steps with the optimiser state rescaled to match. The parts: options and checks
 * (`trainerOptions.ts`), the loss and its gradient (`backprop.ts`), the optimisers and their
 * state rescaling (`optimizers.ts`); this file batches, steps and fixes.
 */

export type { LossKind, ModelEvaluation } from './backprop.js';
export type { Optimizer } from './optimizers.js';
export type { TrainerOptions } from './trainerOptions.js';

/** A float64 copy of an MLP (the trainer's own weights). */
function copyNetwork(net: Network): Network {
  return {
    ...net,
    layers: net.layers.map((l) => ({ ...l, shape: [...l.shape] })),
    blocks: net.blocks.map((b) => ({ ...b, weight: Float64Array.from(b.weight), bias: b.bias ? Float64Array.from(b.bias) : null })),
  };
}

const copyArrays = (s: ParameterArrays | null): ParameterArrays | null =>
  s && { weight: s.weight.map((w) => w.slice()), bias: s.bias.map((b) => (b ? b.slice() : null)) };

/**
 * Trains one ReLU MLP on one data set. Owns a float64 copy of the network: the caller's network
 * and data are never written. Every option is validated before the first step.
 *
 * Biases (blocks with a non-null `bias`) are trained too. With `includeBiases` they count in `R`
 * and take the flow's metric, so the residual is kept exactly as for the weights; note that for
 * `p < 2` the metric vanishes at zero (`|b|^(2-p)`), so biases that start at exactly zero stay
 * there under the flow. Without `includeBiases` they take plain gradient steps, and the flow then
 * keeps the residual only up to the biases' share `b[h] dE/db[h]`.
 *
 * @example
 * const trainer = new MlpTrainer(mlp([64, 128, 64, 10], { dtype: 'float64' }), train, { optimizer: 'flow', p: 1, q: 1, lr: 0.5 });
 * for (let s = 0; s < 500; s++) await trainer.step();
 * trainer.evaluate(test).accuracy;
 */
export class MlpTrainer {
  /** Steps taken so far. */
  steps = 0;
  /** Times the fix was applied. */
  fixes = 0;
  private net: Network;
  private readonly data: Dataset;
  private readonly o: ResolvedTrainerOptions;
  private readonly rng: Random;
  private order: Int32Array;
  private cursor = 0;
  private readonly backprop: MlpBackprop;
  private readonly optimizer: OptimizerRule;

  constructor(network: Network, data: Dataset, options: TrainerOptions) {
    this.o = resolveTrainerOptions(options, network, data);
    this.net = copyNetwork(network);
    this.data = data;
    this.rng = new Random(this.o.seed);
    this.order = permutation(data.count, this.rng);
    this.backprop = new MlpBackprop(this.net, this.o.loss, Math.min(this.o.batchSize, data.count));
    this.optimizer = createOptimizer(this.o, this.net);
  }

  /** The options in force (defaults filled in). */
  get options(): Readonly<TrainerOptions> {
    return { ...this.o };
  }

  /** A copy of the current network (float64). */
  network(): Network {
    return copyNetwork(this.net);
  }

  /** The optimiser state (momentum, Adam moments): copies, `null` where the optimiser has none. */
  optimizerState(): OptimizerState {
    const { first, second } = this.optimizer.state;
    return { first: copyArrays(first), second: copyArrays(second) };
  }

  /**
   * One minibatch step; then the fix, when `fixEvery` steps have passed since the last.
   * Returns the minibatch's data loss `E` before the step.
   */
  async step(): Promise<number> {
    const batch = this.nextBatch();
    const loss = this.gradient(batch);
    if (!Number.isFinite(loss)) this.diverged(`the minibatch loss is ${loss}`);
    this.optimizer.step(this.net, this.backprop.grad, this.steps + 1);
    this.steps++;
    if (this.o.fixEvery > 0 && this.steps % this.o.fixEvery === 0) {
      if (!this.net.blocks.every((b) => b.weight.every(Number.isFinite) && (!b.bias || b.bias.every(Number.isFinite)))) {
        this.diverged('a weight is no longer finite');
      }
      await this.fix();
    }
    return loss;
  }

  /** Stop a run whose arithmetic overflowed, saying so (rather than failing later in the fix). */
  private diverged(what: string): never {
    throw new WeightBalanceError(`training diverged at step ${this.steps + 1}: ${what}; try a smaller learning rate`);
  }

  /**
   * `(1/B) sum` gradient of the data loss over the examples `batch` (indices into the training
   * set, any number), plus `lambda grad R`; returns `E`.
   */
  gradient(batch: Int32Array): number {
    if (batch.length === 0) throw new WeightBalanceError('the minibatch is empty');
    for (const m of batch) {
      if (!Number.isInteger(m) || m < 0 || m >= this.data.count)
        throw new WeightBalanceError(`minibatch index ${m} is outside the data set (0..${this.data.count - 1})`);
    }
    const loss = this.backprop.gradient(this.net, this.data, batch);
    if (this.o.lambda > 0) {
      const R = regulariserUnchecked(this.net, this.o.p, this.o.q, this.o.includeBiases);
      const lambda = this.o.lambda;
      const { grad } = this.backprop;
      grad.weight.forEach((g, k) => {
        const r = R.weight[k];
        for (let e = 0; e < g.length; e++) g[e] += lambda * r[e];
      });
      grad.bias.forEach((g, k) => {
        const r = R.bias[k];
        if (g && r) for (let e = 0; e < g.length; e++) g[e] += lambda * r[e];
      });
    }
    return loss;
  }

  /** The gradient of the last {@link gradient} call (copies). */
  lastGradient(): ParameterArrays {
    return copyArrays(this.backprop.grad)!;
  }

  /**
   * Apply the fix now: balance the network (CPU, alternating schedule, to a tight tolerance) and
   * rescale the optimiser state so that it describes the same trajectory in the new coordinates:
   * `m[i,j] -> (a[j]/a[i]) m[i,j]`, `v -> (a[j]/a[i])^2 v`, bias moments `1/a[i]`, `1/a[i]^2`.
   */
  async fix(): Promise<void> {
    const result = await balance(this.net, {
      p: this.o.p,
      q: this.o.q,
      includeBiases: this.o.includeBiases,
      backend: 'cpu',
      schedule: 'alternating',
      tol: 1e-10,
      maxSweeps: 100000,
    });
    this.optimizer.rescale(this.net, result.logFactors);
    this.net = copyNetwork(result.network);
    this.fixes++;
  }

  /** Mean data loss and accuracy of the current network on a data set (default: the training set). */
  evaluate(data: Dataset = this.data): ModelEvaluation {
    if (data !== this.data) {
      validateDataset(data);
      validateFit(this.net, data, this.o.loss);
    }
    return this.backprop.evaluate(this.net, data);
  }

  /** `R = ||W||_{p,q}^q` of the current network. */
  regulariser(): number {
    return regulariserUnchecked(this.net, this.o.p, this.o.q, this.o.includeBiases).value;
  }

  /** `max_h |g[h]| / (In[h] + Out[h])` of the current network (0 when balanced). */
  residual(): number {
    return balanceResidual(this.net, { p: this.o.p, q: this.o.q, includeBiases: this.o.includeBiases }).maxRelative;
  }

  private nextBatch(): Int32Array {
    const B = Math.min(this.o.batchSize, this.data.count);
    if (this.cursor + B > this.order.length) {
      this.order = permutation(this.data.count, this.rng);
      this.cursor = 0;
    }
    const batch = this.order.subarray(this.cursor, this.cursor + B);
    this.cursor += B;
    return batch;
  }
}

/** One logged point of a training run. */
export interface TrainLog {
  step: number;
  /** Mean data loss `E` on the training set. */
  loss: number;
  /** Training accuracy (`NaN` for regression). */
  accuracy: number;
  /** `max_h |g[h]| / (In[h] + Out[h])`. */
  residual: number;
  /** `R = ||W||_{p,q}^q`. */
  regulariser: number;
}

/** Options of {@link train}. */
export interface TrainOptions extends TrainerOptions {
  /** Number of steps, an integer >= 0. */
  steps: number;
  /** Log every this many steps (default: about 50 logs per run); step 0 and the last are logged. */
  logEvery?: number;
  /** Held-out data for the final test accuracy. */
  test?: Dataset;
  /** Called at every logged step. */
  onLog?: (log: TrainLog) => void;
  /** Cancels the run between steps (rejects with an `AbortError`). */
  signal?: AbortSignal;
}

/** The outcome of {@link train}. */
export interface TrainResult {
  network: Network;
  logs: TrainLog[];
  /** Test loss and accuracy, or `NaN` without test data (accuracy `NaN` for regression too). */
  testLoss: number;
  testAccuracy: number;
  /** Times the fix was applied. */
  fixes: number;
  /** Wall time in milliseconds. */
  ms: number;
}

/**
 * Train a ReLU MLP with gradient descent or the weight-balancing flow, logging the training
 * loss, accuracy and balance residual `max_h |g[h]| / (In[h] + Out[h])`. Bad options, a network
 * that does not fit the data and bad data are refused before the first step.
 *
 * @example
 * const { train: tr, test } = splitDataset(loadDigits(), { seed: 0 });
 * const result = await train(mlp([64, 128, 64, 10], { seed: 0 }), tr, { optimizer: 'flow', p: 1, q: 1, lr: 0.5, steps: 1000, test });
 */
export async function train(network: Network, data: Dataset, options: TrainOptions): Promise<TrainResult> {
  const started = performance.now();
  const steps = integer('steps', options?.steps, 0);
  const logEvery = integer('logEvery', options.logEvery ?? Math.max(1, Math.round(steps / 50)), 1);
  const trainer = new MlpTrainer(network, data, options);
  if (options.test) {
    validateDataset(options.test);
    validateFit(network, options.test, trainer.options.loss!);
  }
  const logs: TrainLog[] = [];
  const log = (): void => {
    const { loss, accuracy } = trainer.evaluate();
    const entry = { step: trainer.steps, loss, accuracy, residual: trainer.residual(), regulariser: trainer.regulariser() };
    logs.push(entry);
    options.onLog?.(entry);
  };
  log();
  for (let s = 1; s <= steps; s++) {
    if (options.signal?.aborted) throw new BalanceAbortedError('training was aborted');
    await trainer.step();
    if (s % logEvery === 0 || s === steps) log();
  }
  const test = options.test ? trainer.evaluate(options.test) : { loss: NaN, accuracy: NaN };
  return { network: trainer.network(), logs, testLoss: test.loss, testAccuracy: test.accuracy, fixes: trainer.fixes, ms: performance.now() - started };
}
