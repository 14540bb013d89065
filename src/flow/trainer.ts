import { balance } from '../balance.js';
import { BalanceAbortedError, WeightBalanceError } from '../errors.js';
import { validateNetwork } from '../network/validate.js';
import type { Network } from '../network/types.js';
import { validateDataset } from './data.js';
import type { Dataset } from './data.js';
import { balanceResidual, metricProduct, regulariserUnchecked } from './metric.js';
import type { FlowOptions, ParameterArrays } from './metric.js';
import { validateExponents } from '../options.js';
import { Random } from '../network/random.js';
import { permutation } from './data.js';
import { checkIntegrator, eulerUpdate, exponentialUpdate } from './steps.js';
import type { Integrator } from './steps.js';

/**
 * A small float64 trainer for ReLU MLPs with its own backpropagation, for studying the
 * weight-balancing flows (MATH.md §5): minimise `L = E + lambda R` with `R = ||W||_{p,q}^q` by
 * gradient descent (plain, momentum, Adam) or by the flow `dW/dt = -M(W) grad L`, optionally
 * re-applying the fix (`balance`) every k steps with the optimiser state rescaled to match.
 */

/** The data loss `E`. */
export type LossKind = 'cross-entropy' | 'squared-error';

/** How a step uses the gradient of `L`. `flow` is the weight-balancing flow. */
export type Optimizer = 'gd' | 'momentum' | 'adam' | 'flow';

/** Options of {@link MlpTrainer}. */
export interface TrainerOptions extends FlowOptions {
  /** Default `gd`. */
  optimizer?: Optimizer;
  /** Learning rate (the flow's time step), finite and > 0. */
  lr: number;
  /** Weight of the regulariser `R = ||W||_{p,q}^q`, finite and >= 0 (default 0). */
  lambda?: number;
  /** Default: cross-entropy for labelled data, squared error for regression. */
  loss?: LossKind;
  /** Examples per minibatch (default 32; the whole set when larger). */
  batchSize?: number;
  /** Re-apply the fix every this many steps (default 0: never). */
  fixEvery?: number;
  /** Momentum coefficient of `momentum` (default 0.9). */
  momentum?: number;
  /** Adam's `beta1`, `beta2` and epsilon (defaults 0.9, 0.999, 1e-8). */
  beta1?: number;
  beta2?: number;
  adamEpsilon?: number;
  /** The flow's discretisation (default: `exponential` for `p = q = 1`, else `euler`). */
  integrator?: Integrator;
  /** Seed of the minibatch order (default 0). */
  seed?: number;
}

/** The data loss and accuracy of a network on a data set. */
export interface ModelEvaluation {
  /** Mean data loss `E` (cross-entropy or `0.5 · squared error` per example). */
  loss: number;
  /** Fraction of examples classified correctly; `NaN` for regression. */
  accuracy: number;
}

function fail(message: string): never {
  throw new WeightBalanceError(message);
}

function finite(name: string, value: unknown, min: number, strict: boolean): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || (strict ? !(value > min) : !(value >= min))) {
    fail(`${name} must be a finite number ${strict ? '>' : '>='} ${min}, got ${String(value)}`);
  }
  return value;
}

function integer(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) fail(`${name} must be an integer >= ${min}, got ${String(value)}`);
  return value;
}

const HIDDEN = new Set(['relu', 'leaky_relu', 'identity']);

/** Check that a network is a chain of dense layers with ReLU-like hidden units and a linear output. */
function validateMlp(net: Network): void {
  validateNetwork(net);
  const L = net.layers.length - 1;
  if (net.blocks.length !== L) fail(`the trainer needs an MLP: ${L} dense blocks between ${L + 1} layers, got ${net.blocks.length}`);
  net.blocks.forEach((b, k) => {
    if (b.kind !== 'dense' || b.from !== k || b.to !== k + 1) fail(`the trainer needs an MLP: block ${k} ('${b.name}') must be dense from layer ${k} to layer ${k + 1}`);
  });
  net.layers.forEach((layer, k) => {
    if (layer.shape.length !== 1 || layer.pool || (layer.skips?.length ?? 0) > 0) fail(`the trainer needs an MLP: layer ${k} ('${layer.name}') must be flat, without pooling or skips`);
    if (k > 0 && k < L && !HIDDEN.has(layer.activation)) fail(`the trainer needs ReLU-like hidden units: layer ${k} ('${layer.name}') is '${layer.activation}'`);
    // Backprop masks by the sign of the activation, which is the sign of the input only for a slope >= 0.
    if (layer.activation === 'leaky_relu' && (layer.negativeSlope ?? 0.01) < 0) fail(`layer ${k} ('${layer.name}'): the trainer needs a leaky ReLU slope >= 0, got ${layer.negativeSlope}`);
  });
  if (net.layers[L].activation !== 'identity') fail(`the output layer must be linear ('identity', the loss applies the softmax), got '${net.layers[L].activation}'`);
}

/** Check that a network fits a data set: input width, output size, loss. */
function validateFit(net: Network, data: Dataset, loss: LossKind): void {
  const first = net.layers[0].shape[0];
  const last = net.layers[net.layers.length - 1].shape[0];
  if (first !== data.width) fail(`the architecture's first size (${first}) differs from the width of the data '${data.name}' (${data.width})`);
  if (data.labels && last !== data.classes) fail(`the architecture's last size (${last}) must equal the number of classes of '${data.name}' (${data.classes})`);
  if (!data.labels && last !== data.outputs) fail(`the architecture's last size (${last}) must equal the number of targets of '${data.name}' (${data.outputs})`);
  if (loss === 'cross-entropy' && !data.labels) fail(`cross-entropy needs class labels; '${data.name}' is a regression data set (use squared-error)`);
}

/** A float64 copy of an MLP (the trainer's own weights). */
function copyNetwork(net: Network): Network {
  return {
    ...net,
    layers: net.layers.map((l) => ({ ...l, shape: [...l.shape] })),
    blocks: net.blocks.map((b) => ({ ...b, weight: Float64Array.from(b.weight), bias: b.bias ? Float64Array.from(b.bias) : null })),
  };
}

function zerosLike(net: Network): ParameterArrays {
  return {
    weight: net.blocks.map((b) => new Float64Array(b.weight.length)),
    bias: net.blocks.map((b) => (b.bias ? new Float64Array(b.bias.length) : null)),
  };
}

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
  private readonly sizes: number[];
  private readonly o: Required<Omit<TrainerOptions, 'includeBiases' | 'epsilon'>> & { includeBiases: boolean; epsilon: number };
  private readonly rng: Random;
  private order: Int32Array;
  private cursor = 0;
  private acts: Float64Array[];
  private deltas: Float64Array[];
  private readonly grad: ParameterArrays;
  private first: ParameterArrays | null = null;
  private second: ParameterArrays | null = null;

  constructor(network: Network, data: Dataset, options: TrainerOptions) {
    if (!options || typeof options !== 'object') fail('the trainer needs options { p, q, lr }');
    validateExponents(options.p, options.q);
    const optimizer = options.optimizer ?? 'gd';
    if (!['gd', 'momentum', 'adam', 'flow'].includes(optimizer)) fail(`optimizer must be 'gd', 'momentum', 'adam' or 'flow', got '${String(optimizer)}'`);
    const p = options.p;
    const q = options.q;
    const integrator = checkIntegrator(options.integrator ?? (optimizer === 'flow' && p === 1 && q === 1 ? 'exponential' : 'euler'), p, q);
    validateDataset(data);
    const loss = options.loss ?? (data.labels ? 'cross-entropy' : 'squared-error');
    if (loss !== 'cross-entropy' && loss !== 'squared-error') fail(`loss must be 'cross-entropy' or 'squared-error', got '${String(loss)}'`);
    this.o = {
      p, q, optimizer, integrator, loss,
      includeBiases: options.includeBiases ?? false,
      epsilon: finite('epsilon', options.epsilon ?? 1e-3, 0, true),
      lr: finite('the learning rate (lr)', options.lr, 0, true),
      lambda: finite('lambda', options.lambda ?? 0, 0, false),
      batchSize: integer('batchSize', options.batchSize ?? 32, 1),
      fixEvery: integer('fixEvery', options.fixEvery ?? 0, 0),
      momentum: finite('momentum', options.momentum ?? 0.9, 0, false),
      beta1: finite('beta1', options.beta1 ?? 0.9, 0, false),
      beta2: finite('beta2', options.beta2 ?? 0.999, 0, false),
      adamEpsilon: finite('adamEpsilon', options.adamEpsilon ?? 1e-8, 0, true),
      seed: options.seed ?? 0,
    };
    if (this.o.momentum >= 1 || this.o.beta1 >= 1 || this.o.beta2 >= 1) fail('momentum, beta1 and beta2 must be < 1');
    validateMlp(network);
    validateFit(network, data, loss);
    this.net = copyNetwork(network);
    this.data = data;
    this.sizes = this.net.layers.map((l) => l.shape[0]);
    this.rng = new Random(this.o.seed);
    this.order = permutation(data.count, this.rng);
    const batch = Math.min(this.o.batchSize, data.count);
    this.acts = this.sizes.map((n) => new Float64Array(Math.max(batch, EVAL_CHUNK) * n));
    this.deltas = this.sizes.map((n) => new Float64Array(batch * n));
    this.grad = zerosLike(this.net);
    if (optimizer === 'momentum' || optimizer === 'adam') this.first = zerosLike(this.net);
    if (optimizer === 'adam') this.second = zerosLike(this.net);
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
  optimizerState(): { first: ParameterArrays | null; second: ParameterArrays | null } {
    const copy = (s: ParameterArrays | null): ParameterArrays | null =>
      s && { weight: s.weight.map((w) => w.slice()), bias: s.bias.map((b) => b && b.slice()) };
    return { first: copy(this.first), second: copy(this.second) };
  }

  /**
   * One minibatch step; then the fix, when `fixEvery` steps have passed since the last.
   * Returns the minibatch's data loss `E` before the step.
   */
  async step(): Promise<number> {
    const batch = this.nextBatch();
    const loss = this.gradient(batch);
    if (!Number.isFinite(loss)) this.diverged(`the minibatch loss is ${loss}`);
    this.update();
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
    const B = batch.length;
    if (B === 0) fail('the minibatch is empty');
    for (const m of batch) {
      if (!Number.isInteger(m) || m < 0 || m >= this.data.count) fail(`minibatch index ${m} is outside the data set (0..${this.data.count - 1})`);
    }
    if (B * this.sizes[0] > this.deltas[0].length) {
      this.acts = this.sizes.map((n) => new Float64Array(Math.max(B, EVAL_CHUNK) * n));
      this.deltas = this.sizes.map((n) => new Float64Array(B * n));
    }
    const { grad } = this;
    for (const g of grad.weight) g.fill(0);
    for (const g of grad.bias) g?.fill(0);
    const d0 = this.sizes[0];
    const x = this.acts[0];
    for (let n = 0; n < B; n++) x.set(this.data.inputs.subarray(batch[n] * d0, (batch[n] + 1) * d0), n * d0);
    this.forwardRows(B);
    const L = this.sizes.length - 1;
    const loss = this.outputDelta(batch, this.acts[L], this.deltas[L], B);
    for (let k = L - 1; k >= 0; k--) this.backward(k, B);
    if (this.o.lambda > 0) {
      const R = regulariserUnchecked(this.net, this.o.p, this.o.q, this.o.includeBiases);
      const lambda = this.o.lambda;
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
    return { weight: this.grad.weight.map((g) => g.slice()), bias: this.grad.bias.map((g) => g && g.slice()) };
  }

  /**
   * Apply the fix now: balance the network (CPU, alternating schedule, to a tight tolerance) and
   * rescale the optimiser state so that it describes the same trajectory in the new coordinates:
   * `m[i,j] -> (a[j]/a[i]) m[i,j]`, `v -> (a[j]/a[i])^2 v`, bias moments `1/a[i]`, `1/a[i]^2`.
   */
  async fix(): Promise<void> {
    const result = await balance(this.net, {
      p: this.o.p, q: this.o.q, includeBiases: this.o.includeBiases,
      backend: 'cpu', schedule: 'alternating', tol: 1e-10, maxSweeps: 100000,
    });
    const u = result.logFactors;
    const scaleState = (state: ParameterArrays | null, power: number): void => {
      if (!state) return;
      this.net.blocks.forEach((b, k) => {
        const [rows, cols] = b.shape as [number, number];
        const W = state.weight[k];
        const uo = u[b.to];
        const ui = u[b.from];
        for (let i = 0; i < rows; i++) {
          for (let j = 0; j < cols; j++) W[i * cols + j] *= Math.exp(power * (ui[j] - uo[i]));
        }
        const s = state.bias[k];
        if (s) for (let i = 0; i < rows; i++) s[i] *= Math.exp(-power * uo[i]);
      });
    };
    scaleState(this.first, 1);
    scaleState(this.second, 2);
    this.net = copyNetwork(result.network);
    this.fixes++;
  }

  /** Mean data loss and accuracy of the current network on a data set (default: the training set). */
  evaluate(data: Dataset = this.data): ModelEvaluation {
    if (data !== this.data) {
      validateDataset(data);
      validateFit(this.net, data, this.o.loss);
    }
    let loss = 0;
    let correct = 0;
    const d0 = this.sizes[0];
    const L = this.sizes.length - 1;
    const C = this.sizes[L];
    for (let start = 0; start < data.count; start += EVAL_CHUNK) {
      const B = Math.min(EVAL_CHUNK, data.count - start);
      this.acts[0].set(data.inputs.subarray(start * d0, (start + B) * d0));
      this.forwardRows(B);
      const z = this.acts[L];
      for (let n = 0; n < B; n++) {
        const row = z.subarray(n * C, (n + 1) * C);
        loss += this.exampleLoss(data, start + n, row, null);
        if (data.labels) {
          let best = 0;
          for (let c = 1; c < C; c++) if (row[c] > row[best]) best = c;
          if (best === data.labels[start + n]) correct++;
        }
      }
    }
    return { loss: loss / data.count, accuracy: data.labels ? correct / data.count : NaN };
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

  /** Forward pass of the first `B` rows of `acts[0]` through every layer. */
  private forwardRows(B: number): void {
    const L = this.sizes.length - 1;
    for (let k = 0; k < L; k++) {
      const block = this.net.blocks[k];
      const W = block.weight;
      const bias = block.bias;
      const nIn = this.sizes[k];
      const nOut = this.sizes[k + 1];
      const x = this.acts[k];
      const y = this.acts[k + 1];
      const layer = this.net.layers[k + 1];
      const slope = layer.activation === 'relu' ? 0 : layer.activation === 'leaky_relu' ? layer.negativeSlope ?? 0.01 : 1;
      for (let n = 0; n < B; n++) {
        const xo = n * nIn;
        for (let i = 0; i < nOut; i++) {
          let s = bias ? bias[i] : 0;
          const wo = i * nIn;
          for (let j = 0; j < nIn; j++) s += W[wo + j] * x[xo + j];
          y[n * nOut + i] = s > 0 ? s : slope * s;
        }
      }
    }
  }

  /** Loss of one example given its output row; writes `dE/dz` (unscaled) into `delta` if given. */
  private exampleLoss(data: Dataset, m: number, z: Float64Array, delta: Float64Array | null): number {
    const C = z.length;
    if (this.o.loss === 'cross-entropy') {
      const y = data.labels![m];
      let max = -Infinity;
      for (let c = 0; c < C; c++) max = Math.max(max, z[c]);
      let sum = 0;
      for (let c = 0; c < C; c++) sum += Math.exp(z[c] - max);
      if (delta) for (let c = 0; c < C; c++) delta[c] = Math.exp(z[c] - max) / sum - (c === y ? 1 : 0);
      return Math.log(sum) + max - z[y];
    }
    let loss = 0;
    for (let c = 0; c < C; c++) {
      const t = data.labels ? (data.labels[m] === c ? 1 : 0) : data.targets![m * C + c];
      const d = z[c] - t;
      loss += 0.5 * d * d;
      if (delta) delta[c] = d;
    }
    return loss;
  }

  /** `dE/dz` of the output for the batch (mean over the batch); returns the mean loss. */
  private outputDelta(batch: Int32Array, z: Float64Array, delta: Float64Array, B: number): number {
    const C = this.sizes[this.sizes.length - 1];
    let loss = 0;
    for (let n = 0; n < B; n++) {
      const d = delta.subarray(n * C, (n + 1) * C);
      loss += this.exampleLoss(this.data, batch[n], z.subarray(n * C, (n + 1) * C), d);
      for (let c = 0; c < C; c++) d[c] /= B;
    }
    return loss / B;
  }

  /** Backpropagate through block `k`: accumulate its gradients and the delta of layer `k`. */
  private backward(k: number, B: number): void {
    const block = this.net.blocks[k];
    const W = block.weight;
    const nIn = this.sizes[k];
    const nOut = this.sizes[k + 1];
    const x = this.acts[k];
    const delta = this.deltas[k + 1];
    const gW = this.grad.weight[k];
    const gB = this.grad.bias[k];
    const below = k > 0 ? this.deltas[k] : null;
    if (below) below.fill(0, 0, B * nIn);
    for (let n = 0; n < B; n++) {
      const xo = n * nIn;
      for (let i = 0; i < nOut; i++) {
        const d = delta[n * nOut + i];
        if (d === 0) continue;
        if (gB) gB[i] += d;
        const wo = i * nIn;
        for (let j = 0; j < nIn; j++) gW[wo + j] += d * x[xo + j];
        if (below) for (let j = 0; j < nIn; j++) below[xo + j] += d * W[wo + j];
      }
    }
    if (below) {
      const layer = this.net.layers[k];
      if (layer.activation === 'identity') return;
      const slope = layer.activation === 'relu' ? 0 : layer.negativeSlope ?? 0.01;
      for (let e = 0; e < B * nIn; e++) if (!(x[e] > 0)) below[e] *= slope;
    }
  }

  private update(): void {
    const { lr, optimizer } = this.o;
    const G = this.grad;
    const blocks = this.net.blocks;
    if (optimizer === 'flow') {
      if (this.o.integrator === 'exponential') {
        // p = q = 1: M = diag(|W|); each weight's magnitude follows exp(-step sign(W) G).
        blocks.forEach((b, k) => {
          exponentialUpdate(b.weight as Float64Array, G.weight[k], lr);
          const gb = G.bias[k];
          if (b.bias && gb) {
            if (this.o.includeBiases) exponentialUpdate(b.bias as Float64Array, gb, lr);
            else eulerUpdate(b.bias as Float64Array, gb, lr);
          }
        });
        return;
      }
      const D = metricProduct(this.net, G, this.o.p, this.o.q, this.o.includeBiases, this.o.epsilon);
      this.apply(D, lr);
      return;
    }
    if (optimizer === 'gd') {
      this.apply(G, lr);
      return;
    }
    const m = this.first!;
    if (optimizer === 'momentum') {
      const mu = this.o.momentum;
      this.each((k, bias) => {
        const g = bias ? G.bias[k]! : G.weight[k];
        const s = bias ? m.bias[k]! : m.weight[k];
        for (let e = 0; e < g.length; e++) s[e] = mu * s[e] + g[e];
      });
      this.apply(m, lr);
      return;
    }
    const v = this.second!;
    const { beta1, beta2, adamEpsilon } = this.o;
    const t = this.steps + 1;
    const c1 = 1 / (1 - Math.pow(beta1, t));
    const c2 = 1 / (1 - Math.pow(beta2, t));
    this.each((k, bias) => {
      const g = bias ? G.bias[k]! : G.weight[k];
      const s1 = bias ? m.bias[k]! : m.weight[k];
      const s2 = bias ? v.bias[k]! : v.weight[k];
      const W = bias ? blocks[k].bias! : blocks[k].weight;
      for (let e = 0; e < g.length; e++) {
        s1[e] = beta1 * s1[e] + (1 - beta1) * g[e];
        s2[e] = beta2 * s2[e] + (1 - beta2) * g[e] * g[e];
        W[e] -= (lr * s1[e] * c1) / (Math.sqrt(s2[e] * c2) + adamEpsilon);
      }
    });
  }

  /** Visit every parameter array: the weights of each block, then its bias if it has one. */
  private each(visit: (k: number, bias: boolean) => void): void {
    this.net.blocks.forEach((b, k) => {
      visit(k, false);
      if (b.bias) visit(k, true);
    });
  }

  /** `W <- W - lr D` for weights and biases. */
  private apply(D: ParameterArrays, lr: number): void {
    this.net.blocks.forEach((b, k) => {
      eulerUpdate(b.weight as Float64Array, D.weight[k], lr);
      const db = D.bias[k];
      if (b.bias && db) eulerUpdate(b.bias as Float64Array, db, lr);
    });
  }
}

/** Examples per forward pass when evaluating a whole data set. */
const EVAL_CHUNK = 256;

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
