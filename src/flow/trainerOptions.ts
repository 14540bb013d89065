import { WeightBalanceError } from '../errors.js';
import type { Network } from '../network/types.js';
import { validateNetwork } from '../network/validate.js';
import { validateExponents } from '../options.js';
import type { LossKind } from './backprop.js';
import type { Dataset } from './data.js';
import { validateDataset } from './data.js';
import type { FlowOptions } from './metric.js';
import type { Optimizer, OptimizerSettings } from './optimizers.js';
import type { Integrator } from './steps.js';
import { checkIntegrator } from './steps.js';

/** Options of the trainer ({@link MlpTrainer}). */
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

/** Trainer options with every default filled in. */
export type ResolvedTrainerOptions = OptimizerSettings & Required<Pick<TrainerOptions, 'lambda' | 'loss' | 'batchSize' | 'fixEvery' | 'seed'>>;

function fail(message: string): never {
  throw new WeightBalanceError(message);
}

function finite(name: string, value: unknown, min: number, strict: boolean): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || (strict ? !(value > min) : !(value >= min))) {
    fail(`${name} must be a finite number ${strict ? '>' : '>='} ${min}, got ${String(value)}`);
  }
  return value;
}

/** `value` if it is an integer >= `min`; a {@link WeightBalanceError} naming `name` otherwise. */
export function integer(name: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) fail(`${name} must be an integer >= ${min}, got ${String(value)}`);
  return value;
}

/**
 * Check the options, the network and the data, in that order, and fill in the defaults: every
 * refusal comes before the first step.
 */
export function resolveTrainerOptions(options: TrainerOptions, network: Network, data: Dataset): ResolvedTrainerOptions {
  if (!options || typeof options !== 'object') fail('the trainer needs options { p, q, lr }');
  validateExponents(options.p, options.q);
  const optimizer = options.optimizer ?? 'gd';
  if (!['gd', 'momentum', 'adam', 'flow'].includes(optimizer)) fail(`optimizer must be 'gd', 'momentum', 'adam' or 'flow', got '${String(optimizer)}'`);
  const { p, q } = options;
  const integrator = checkIntegrator(options.integrator ?? (optimizer === 'flow' && p === 1 && q === 1 ? 'exponential' : 'euler'), p, q);
  validateDataset(data);
  const loss = options.loss ?? (data.labels ? 'cross-entropy' : 'squared-error');
  if (loss !== 'cross-entropy' && loss !== 'squared-error') fail(`loss must be 'cross-entropy' or 'squared-error', got '${String(loss)}'`);
  const resolved: ResolvedTrainerOptions = {
    p,
    q,
    optimizer,
    integrator,
    loss,
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
  if (resolved.momentum >= 1 || resolved.beta1 >= 1 || resolved.beta2 >= 1) fail('momentum, beta1 and beta2 must be < 1');
  validateMlp(network);
  validateFit(network, data, loss);
  return resolved;
}

const HIDDEN = new Set(['relu', 'leaky_relu', 'identity']);

/** Check that a network is a chain of dense layers with ReLU-like hidden units and a linear output. */
function validateMlp(net: Network): void {
  validateNetwork(net);
  const L = net.layers.length - 1;
  if (net.blocks.length !== L) fail(`the trainer needs an MLP: ${L} dense blocks between ${L + 1} layers, got ${net.blocks.length}`);
  net.blocks.forEach((b, k) => {
    if (b.kind !== 'dense' || b.from !== k || b.to !== k + 1)
      fail(`the trainer needs an MLP: block ${k} ('${b.name}') must be dense from layer ${k} to layer ${k + 1}`);
  });
  net.layers.forEach((layer, k) => {
    if (layer.shape.length !== 1 || layer.pool || (layer.skips?.length ?? 0) > 0)
      fail(`the trainer needs an MLP: layer ${k} ('${layer.name}') must be flat, without pooling or skips`);
    if (k > 0 && k < L && !HIDDEN.has(layer.activation))
      fail(`the trainer needs ReLU-like hidden units: layer ${k} ('${layer.name}') is '${layer.activation}'`);
    // Backprop masks by the sign of the activation, which is the sign of the input only for a slope >= 0.
    if (layer.activation === 'leaky_relu' && (layer.negativeSlope ?? 0.01) < 0)
      fail(`layer ${k} ('${layer.name}'): the trainer needs a leaky ReLU slope >= 0, got ${layer.negativeSlope}`);
  });
  if (net.layers[L].activation !== 'identity')
    fail(`the output layer must be linear ('identity', the loss applies the softmax), got '${net.layers[L].activation}'`);
}

/** Check that a network fits a data set: input width, output size, loss. */
export function validateFit(net: Network, data: Dataset, loss: LossKind): void {
  const first = net.layers[0].shape[0];
  const last = net.layers[net.layers.length - 1].shape[0];
  if (first !== data.width) fail(`the architecture's first size (${first}) differs from the width of the data '${data.name}' (${data.width})`);
  if (data.labels && last !== data.classes) fail(`the architecture's last size (${last}) must equal the number of classes of '${data.name}' (${data.classes})`);
  if (!data.labels && last !== data.outputs)
    fail(`the architecture's last size (${last}) must equal the number of targets of '${data.name}' (${data.outputs})`);
  if (loss === 'cross-entropy' && !data.labels) fail(`cross-entropy needs class labels; '${data.name}' is a regression data set (use squared-error)`);
}
