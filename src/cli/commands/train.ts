/**
 * `weight-balance train --data digits|spirals|teacher --arch 64,128,64,10 -p 1 -q 1 --lambda 1e-4
 * --optimizer gd|flow [--fix-every k] --steps N --lr 0.05 --seed 0 [--json]`: train a ReLU MLP with
 * gradient descent or the weight-balancing flow and report its loss, accuracy and balance residual.
 */

import { WeightBalanceError } from '../../errors.js';
import type { Dataset } from '../../flow/data.js';
import { splitDataset, teacherStudent, twoSpirals } from '../../flow/data.js';
import type { LossKind, Optimizer, TrainLog, TrainResult } from '../../flow/trainer.js';
import { train } from '../../flow/trainer.js';
import { mlp } from '../../network/builders.js';
import type { Network } from '../../network/types.js';
import { loadDigits } from '../../node/digits.js';
import { validateExponents } from '../../options.js';
import { choiceArg, defineCommand, flagArg, integerArg, numberArg, parseSizes, stringArg, UsageError } from '../args.js';
import type { CliIO } from '../io.js';

const USAGE = `usage: weight-balance train [options] [--json]

Train a ReLU MLP on a built-in data set by gradient descent on L = E + lambda ||W||_{p,q}^q, or by
the weight-balancing flow dW/dt = -M(W) grad L, which keeps every hidden unit's balance residual
g[h] = q (In[h] - Out[h]) decaying at rate p q lambda. Logs the training loss E, the training
accuracy and max_h |g[h]| / (In[h] + Out[h]); ends with the test accuracy (fixed 80/20 split).

options:
  --data digits|spirals|teacher   8x8 handwritten digits (shipped, CC BY 4.0), two spirals, or a
                             teacher-student regression (default digits)
  --arch SIZES               layer sizes, input first, e.g. 64,128,64,10 (default per data set:
                             digits 64,128,64,10; spirals 2,32,32,2; teacher 10,32,32,1)
  -p P, -q Q                 exponents of the regulariser and of the flow's metric (default 1, 1)
  --lambda L                 weight of the regulariser, >= 0 (default 1e-4)
  --optimizer gd|momentum|adam|flow   (default flow)
  --fix-every K              re-apply the fix (balance) every K steps, optimiser state rescaled
                             (default 0: never)
  --steps N                  training steps (default 500)
  --lr R                     learning rate, the flow's time step, > 0 (default 0.05)
  --batch B                  minibatch size (default 32)
  --loss cross-entropy|squared-error   (default: cross-entropy, squared-error for teacher)
  --biases                   train biases too (initialised N(0, 0.01^2)), counted in the
                             regulariser and the metric
  --seed S                   seeds the network, the data and the minibatches (default 0)
  --log-every K              log every K steps (default: about 50 lines)
  --json                     print exactly one JSON object on stdout:
                             { step, loss, accuracy, residual, testAccuracy }: step lists the
                             logged step indices (0 = before training), and loss, accuracy and
                             residual hold one value per logged step (accuracy is null for the
                             regression)`;

const DATA = ['digits', 'spirals', 'teacher'] as const;
const OPTIMIZERS = ['gd', 'momentum', 'adam', 'flow'] as const;
const LOSSES = ['cross-entropy', 'squared-error'] as const;
const DEFAULT_ARCH: Record<(typeof DATA)[number], number[]> = {
  digits: [64, 128, 64, 10],
  spirals: [2, 32, 32, 2],
  teacher: [10, 32, 32, 1],
};

function dataset(name: (typeof DATA)[number], seed: number): Dataset {
  if (name === 'digits') return loadDigits();
  if (name === 'spirals') return twoSpirals({ perClass: 200, seed });
  return teacherStudent({ count: 1000, width: 10, hidden: 20, seed });
}

function checkFinite(what: string, value: number, strict: boolean): void {
  if (!Number.isFinite(value) || (strict ? !(value > 0) : value < 0)) {
    throw new WeightBalanceError(`${what} must be a finite number ${strict ? '> 0' : '>= 0'}, got ${value}`);
  }
}

const format = (x: number, digits = 4): string => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');

function line(log: TrainLog): string {
  return `step ${String(log.step).padStart(6)}  loss ${format(log.loss)}  accuracy ${format(log.accuracy)}  residual ${log.residual.toExponential(3)}\n`;
}

/** The `train` subcommand. */
export default defineCommand(
  'train',
  USAGE,
  {
    data: { type: 'string' },
    arch: { type: 'string' },
    p: { type: 'string', short: 'p' },
    q: { type: 'string', short: 'q' },
    lambda: { type: 'string' },
    optimizer: { type: 'string' },
    'fix-every': { type: 'string' },
    steps: { type: 'string' },
    lr: { type: 'string' },
    batch: { type: 'string' },
    loss: { type: 'string' },
    biases: { type: 'boolean' },
    seed: { type: 'string' },
    'log-every': { type: 'string' },
    json: { type: 'boolean' },
  },
  async (args, io) => {
    if (args.positionals.length > 0) throw new UsageError(`unexpected argument '${args.positionals[0]}'`);
    const dataName = choiceArg(args, 'data', DATA, 'digits');
    const arch = stringArg(args, 'arch');
    const sizes = arch === undefined ? DEFAULT_ARCH[dataName] : parseSizes(arch, '--arch');
    const p = numberArg(args, 'p', 1);
    const q = numberArg(args, 'q', 1);
    const lambda = numberArg(args, 'lambda', 1e-4);
    const lr = numberArg(args, 'lr', 0.05);
    const optimizer: Optimizer = choiceArg(args, 'optimizer', OPTIMIZERS, 'flow');
    const fixEvery = integerArg(args, 'fix-every', 0);
    const steps = integerArg(args, 'steps', 500);
    const batchSize = integerArg(args, 'batch', 32);
    const seed = integerArg(args, 'seed', 0);
    const logEvery = integerArg(args, 'log-every', Math.max(1, Math.round(steps / 50)));
    const biases = flagArg(args, 'biases');
    const json = flagArg(args, 'json');
    // Refuse bad numbers before loading or building anything.
    validateExponents(p, q);
    checkFinite('the learning rate (--lr)', lr, true);
    checkFinite('--lambda', lambda, false);
    if (fixEvery < 0) throw new WeightBalanceError(`--fix-every must be >= 0, got ${fixEvery}`);
    if (steps < 0) throw new WeightBalanceError(`--steps must be >= 0, got ${steps}`);
    if (batchSize < 1) throw new WeightBalanceError(`--batch must be >= 1, got ${batchSize}`);
    if (logEvery < 1) throw new WeightBalanceError(`--log-every must be >= 1, got ${logEvery}`);

    const data = dataset(dataName, seed);
    const loss: LossKind = choiceArg(args, 'loss', LOSSES, data.labels ? 'cross-entropy' : 'squared-error');
    const { train: trainSet, test } = splitDataset(data, { seed });
    checkArchitecture(sizes, data, dataName);
    // Biases start small but not zero: for p < 2 the flow's metric vanishes at zero (|b|^(2-p)), so zero biases would never move.
    const built = mlp(sizes, { seed, dtype: 'float64', biasScale: biases ? 0.01 : 0 });
    const network: Network = biases ? built : { ...built, blocks: built.blocks.map((b) => ({ ...b, bias: null })) };

    if (!json)
      io.out(
        `train ${dataName} (${trainSet.count} train, ${test.count} test)  arch ${sizes.join(',')}  ${optimizer}  p ${p}  q ${q}  lambda ${lambda}  lr ${lr}${fixEvery > 0 ? `  fix every ${fixEvery}` : ''}\n`,
      );
    const result = await train(network, trainSet, {
      optimizer,
      p,
      q,
      lambda,
      lr,
      loss,
      batchSize,
      fixEvery,
      seed,
      steps,
      logEvery,
      test,
      includeBiases: biases,
      onLog: json ? undefined : (log) => io.out(line(log)),
    });
    report(io, result, json);
    return 0;
  },
);

/** The data set's width and outputs must be the first and last sizes of `--arch`. */
function checkArchitecture(sizes: number[], data: Dataset, dataName: string): void {
  if (sizes[0] !== data.width)
    throw new WeightBalanceError(`--arch: the first size (${sizes[0]}) differs from the width of the data '${dataName}' (${data.width})`);
  const last = sizes[sizes.length - 1];
  if (last !== data.outputs) {
    throw new WeightBalanceError(
      `--arch: the last size (${last}) must equal the ${data.labels ? 'number of classes' : 'number of targets'} of '${dataName}' (${data.outputs})`,
    );
  }
}

/** The end of a run: one JSON object (`--json`, non-finite values as null) or the test figures. */
function report(io: CliIO, result: TrainResult, json: boolean): void {
  const finite = (x: number): number | null => (Number.isFinite(x) ? x : null);
  if (json) {
    io.out(
      `${JSON.stringify({
        step: result.logs.map((l) => l.step),
        loss: result.logs.map((l) => finite(l.loss)),
        accuracy: result.logs.map((l) => finite(l.accuracy)),
        residual: result.logs.map((l) => finite(l.residual)),
        testAccuracy: finite(result.testAccuracy),
      })}\n`,
    );
  } else {
    io.out(
      `test loss ${format(result.testLoss)}  test accuracy ${format(result.testAccuracy)}  (${(result.ms / 1000).toFixed(1)} s${result.fixes > 0 ? `, ${result.fixes} fixes` : ''})\n`,
    );
  }
}
