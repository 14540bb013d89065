/**
 * `weight-balance balance IN -p P -q Q [...] [-o OUT] [--json]`: balance a model file.
 */
import { UsageError, defineCommand, flagArg, stringArg } from '../args.js';
import { BALANCE_OPTION_SPEC, BALANCE_OPTION_USAGE, readBalanceOptions, resultJson, resultSummary, runBalance } from '../balanceRun.js';
import { checkOutputPath, readModelFile, writeModelFile } from '../modelFile.js';
import { progressReporter } from '../progress.js';

const USAGE = `usage: weight-balance balance IN.safetensors [options] [-o OUT.safetensors] [--json]

Rescale the hidden units of a ReLU network to minimise the entrywise l_{p,q} norm of its
weights, leaving its function unchanged. Progress goes to stderr, one line per sweep.

options:
${BALANCE_OPTION_USAGE}
  -o, --output OUT           write the balanced network there (atomically); without it,
                             nothing is written
  --json                     print exactly one JSON object on stdout: { backend, adapter, p, q,
                             schedule, sweeps, initialNorm, finalNorm, history, maxLogImbalance,
                             frozenUnits, ms, includeBiases, converged, fallback, input,
                             output }`;

/** The `balance` subcommand. */
export default defineCommand('balance', USAGE, {
  ...BALANCE_OPTION_SPEC,
  output: { type: 'string', short: 'o' },
  json: { type: 'boolean' },
}, async (args, io) => {
  if (args.positionals.length !== 1) {
    throw new UsageError(args.positionals.length === 0 ? 'give the model file to balance' : `expected one input file, got ${args.positionals.length}`);
  }
  const input = args.positionals[0];
  const output = stringArg(args, 'output') ?? null;
  const json = flagArg(args, 'json');
  const options = readBalanceOptions(args);
  if (output !== null) await checkOutputPath(output);
  const { network, source } = await readModelFile(input);
  const progress = progressReporter(io, options);
  let result;
  try {
    result = await runBalance(network, options, (p) => progress.sweep(p));
  } finally {
    progress.finish();
  }
  if (output !== null) await writeModelFile(output, result.network, source);
  const files = { input, output };
  if (json) io.out(`${JSON.stringify(resultJson(result, options, files))}\n`);
  else io.out(`balanced ${input}\n${resultSummary(result, options, files)}`);
  return 0;
});
