/**
 * `weight-balance paper` (`npm start`): the main job on the embedded default. Build the paper's
 * 200-2500-1250-10 He-initialised ReLU net (seed 0), balance it for p = q = 2, print
 * `||W|| / ||W0||` after every sweep and a summary.
 */
import { mlp } from '../../network/builders.js';
import { defineCommand, flagArg, integerArg, parseSizes, stringArg, UsageError } from '../args.js';
import { BALANCE_OPTION_SPEC, BALANCE_OPTION_USAGE, formatTol, readBalanceOptions, resultJson, resultSummary, runBalance, runStatus } from '../balanceRun.js';
import { checkOutputPath, writeModelFile } from '../modelFile.js';

/** The network of the paper's Fig. 2 that `npm start` balances. */
export const PAPER_ARCH = [200, 2500, 1250, 10] as const;

const USAGE = `usage: weight-balance paper [--arch SIZES] [--seed N] [options] [-o OUT.safetensors] [--json]

Build the ${PAPER_ARCH.join('-')} ReLU MLP of the paper's Fig. 2 (He-normal weights, zero biases,
seed 0), balance it (p = q = 2 unless given) and print ||W||/||W0|| after every sweep.

options:
  --arch SIZES               another MLP, e.g. 200,2000,1000,500,250,10
  --seed N                   seed of the weights (default 0)
${BALANCE_OPTION_USAGE}
  -o, --output OUT           also write the balanced network there (.safetensors)
  --json                     print only the JSON report of the run (as 'balance --json')`;

/** The `paper` subcommand. */
export default defineCommand(
  'paper',
  USAGE,
  {
    ...BALANCE_OPTION_SPEC,
    arch: { type: 'string' },
    seed: { type: 'string' },
    output: { type: 'string', short: 'o' },
    json: { type: 'boolean' },
  },
  async (args, io) => {
    if (args.positionals.length > 0) throw new UsageError(`unexpected argument '${args.positionals[0]}'`);
    const arch = stringArg(args, 'arch');
    const sizes = arch === undefined ? [...PAPER_ARCH] : parseSizes(arch, '--arch');
    const seed = integerArg(args, 'seed', 0);
    const output = stringArg(args, 'output') ?? null;
    const json = flagArg(args, 'json');
    const options = readBalanceOptions(args);
    if (output !== null) await checkOutputPath(output);
    const net = mlp(sizes, { seed });
    const weights = net.blocks.reduce((n, b) => n + b.weight.length, 0);
    if (!json) {
      io.out(`${sizes.join('-')} ReLU MLP, He-normal weights (seed ${seed}), ${weights} weights\n`);
      io.out(`balancing for p = ${options.p}, q = ${options.q} (${options.schedule} schedule, tol ${formatTol(options.tol)}, backend ${options.backend})\n\n`);
      io.out(`${'sweep'.padStart(6)}  ||W||/||W0||\n${'0'.padStart(6)}  ${(1).toFixed(10)}\n`);
    }
    const result = await runBalance(net, options, json ? undefined : (p) => io.out(`${String(p.sweep).padStart(6)}  ${p.ratio.toFixed(10)}\n`));
    if (output !== null) await writeModelFile(output, result.network);
    const files = { input: null, output };
    if (json) io.out(`${JSON.stringify(resultJson(result, options, files))}\n`);
    else io.out(`\nsummary\n${resultSummary(result, options, files)}`);
    return runStatus(result);
  },
);
