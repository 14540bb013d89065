/**
 * `weight-balance balance IN -p P -q Q [...] [-o OUT] [--json]`: balance a model file
 * (`.safetensors` or `.onnx`) and report what its reader fixed.
 */

import type { BalanceResult } from '../../balance.js';
import { NetworkValueError, WeightBalanceError } from '../../errors.js';
import type { ActivationSpec } from '../../io/safetensors.js';
import { parseActivation } from '../../io/safetensors.js';
import type { Network } from '../../network/types.js';
import { defineCommand, flagArg, stringArg, UsageError } from '../args.js';
import { BALANCE_OPTION_SPEC, BALANCE_OPTION_USAGE, readBalanceOptions, resultJson, resultSummary, runBalance, runStatus } from '../balanceRun.js';
import { collectGarbage } from '../memory.js';
import type { FixedUnitsNote, ModelSource } from '../modelFile.js';
import { checkOutputPath, readModelFile, releaseSourceState, sameFile, writeModelFile } from '../modelFile.js';
import { progressReporter } from '../progress.js';

const USAGE = `usage: weight-balance balance IN.safetensors|IN.onnx [options] [-o OUT] [--json]

Rescale the hidden units of a ReLU network to minimise the entrywise l_{p,q} norm of its
weights, leaving its function unchanged. Progress goes to stderr, one line per sweep (a bar
that redraws on a terminal): the sweep, ||W||/||W0||, the norm, 'change' (the largest
log-factor change of the sweep: the run stops when it falls below --tol), elapsed time,
sweeps/s and an estimate of the time left.

IN is a safetensors file (an nn.Sequential state dict, or one written by this tool) or an ONNX
model (its external data files are read from its directory). Units that an ONNX op cannot be
rescaled through (Sigmoid, Tanh, Softmax, or an op this tool does not know) are fixed, and
listed in the summary.

options:
${BALANCE_OPTION_USAGE}
  --activation ACT           the activation between the layers of a state dict read
                             without graph metadata (a state dict cannot say it): relu,
                             leaky_relu:SLOPE (e.g. leaky_relu:0.1), identity, sigmoid, tanh,
                             gelu. Without it ReLU is assumed, and the summary says so.
  -o, --output OUT           write the balanced network there (atomically); without it,
                             nothing is written. OUT.safetensors from either input;
                             OUT.onnx only from an .onnx input: a copy of IN with only its
                             weight initializers changed. External data files are written
                             next to OUT under the names IN gives them (so OUT must be IN
                             itself or in another directory). An .onnx input whose network
                             alone is not the model (an unknown op kept as a barrier, an
                             input Transpose) cannot be written as .safetensors. All of this
                             is checked before balancing.
  --in-place, --force        allow OUT to be IN itself (write over the input); --in-place
                             without -o writes back to IN
  --json                     print exactly one JSON object on stdout: { backend, adapter, p, q,
                             schedule, sweeps, passes, initialNorm, finalNorm, history, maxLogImbalance,
                             frozenUnits, ms, includeBiases, converged, fallback, input,
                             output, written, fixedUnits, notes }
                             written: the files written (companions first, OUT last; [] without -o)
                             fixedUnits: units fixed by IN's ops, one entry per layer and op:
                               { layer, name, units, op, node, reason } (all 'units' of layer
                               index 'layer' are fixed; reason 'activation' = not positively
                               homogeneous, 'unsupported' = an op kept as a barrier,
                               'gate' = a squeeze-and-excitation gate)
                             notes: other remarks on IN (what was assumed, such as the
                             activation of a state dict; folded BatchNorms...)
                             fallback: null, or { kind, message } when the run left (or
                               never reached) WebGPU; kind is one of no-webgpu, no-adapter,
                               software-adapter, device-lost, gpu-error, not-monotone, stalled,
                               cpu-schedule
                             passes: reads of the |W|^p matrices by the sweeps (what a run costs)`;

/** One line per node that fixed units. */
function fixedUnitsLines(fixed: FixedUnitsNote[]): string[] {
  const byNode = new Map<string, FixedUnitsNote[]>();
  for (const f of fixed) {
    const key = JSON.stringify([f.node, f.op]);
    byNode.set(key, [...(byNode.get(key) ?? []), f]);
  }
  return [...byNode.values()].map((entries) => {
    const { op, node, reason } = entries[0];
    const layers = entries.map((f) => `${f.units} of layer ${f.layer} '${f.name}'`).join(', ');
    const why =
      reason === 'activation'
        ? 'not positively homogeneous'
        : reason === 'unfoldable-batchnorm'
          ? 'a BatchNormalization that cannot be folded (its input is not the output of one Conv/Gemm/MatMul): kept as a barrier'
          : reason === 'gate'
            ? 'a squeeze-and-excitation gate: its channels scale the gated ones, which are balanced'
            : 'op not supported: kept as a barrier';
    return `  ${op} '${node}' (${why}): ${layers}`;
  });
}

/** What the reader of IN reported, for the human summary ('' when nothing). */
function sourceReport(source: ModelSource): string {
  const lines: string[] = [];
  if (source.fixedUnits.length > 0) {
    // A layer can be fixed by two ops (e.g. the Sigmoid that makes it and an unknown op reading it).
    const layers = new Map(source.fixedUnits.map((f) => [f.layer, f.units]));
    const units = [...layers.values()].reduce((n, u) => n + u, 0);
    lines.push(
      `units fixed by the model's ops (factor 1): ${units} in ${layers.size} layer${layers.size > 1 ? 's' : ''}`,
      ...fixedUnitsLines(source.fixedUnits),
    );
  }
  if (source.notes.length > 0) lines.push('notes', ...source.notes.map((n) => `  ${n}`));
  return lines.length ? `${lines.join('\n')}\n` : '';
}

/** The `balance` subcommand. */
export default defineCommand(
  'balance',
  USAGE,
  {
    ...BALANCE_OPTION_SPEC,
    output: { type: 'string', short: 'o' },
    'in-place': { type: 'boolean' },
    force: { type: 'boolean' },
    json: { type: 'boolean' },
    activation: { type: 'string' },
  },
  async (args, io) => {
    if (args.positionals.length !== 1) {
      throw new UsageError(args.positionals.length === 0 ? 'give the model file to balance' : `expected one input file, got ${args.positionals.length}`);
    }
    const input = args.positionals[0];
    const overwrite = flagArg(args, 'in-place') || flagArg(args, 'force');
    const output = stringArg(args, 'output') ?? (flagArg(args, 'in-place') ? input : null);
    const json = flagArg(args, 'json');
    const options = readBalanceOptions(args);
    if (output !== null && !overwrite && (await sameFile(input, output))) {
      throw new UsageError(`'${output}' is the input file: writing over it needs --in-place (or --force)`);
    }
    const activationText = stringArg(args, 'activation');
    let activation: ActivationSpec | undefined;
    try {
      activation = activationText === undefined ? undefined : parseActivation(activationText);
    } catch (error) {
      throw new UsageError(`--activation: ${error instanceof WeightBalanceError ? error.message : String(error)}`);
    }
    const readStarted = performance.now();
    // A holder, so that nothing here keeps the input network alive once balance() returns. The
    // CLI owns the bytes it read: the weights may be views of them (one copy in memory). The
    // values are read once per run: balance() checks them (with their range) and checks the
    // balanced ones as it writes them, so neither the reader nor the writer reads them to check.
    const read: { network: Network | null; source: ModelSource } = await readModelFile(input, {
      share: true,
      checkValues: false,
      ...(activation ? { activation } : {}),
    });
    const { source } = read;
    const readMs = performance.now() - readStarted;
    if (output !== null) await checkOutputPath(output, source);
    // Hold one copy of the weights: not the file's bytes (the readers keep views of them, or the
    // bytes around the weight data), and not the input network once balanced (the rescaled one
    // is written).
    releaseSourceState(source, output);
    collectGarbage(); // the file's bytes, before balancing allocates P (see ../memory.ts)
    const progress = progressReporter(io, options);
    let result: BalanceResult;
    try {
      // The CLI owns the network it read: the balanced values are written over it (no second copy).
      const balancing = runBalance(read.network as Network, options, (p) => progress.sweep(p), true);
      read.network = null;
      result = await balancing;
    } catch (error) {
      // A value of IN refused by balance() names the file, as the reader would have.
      if (error instanceof NetworkValueError) throw new WeightBalanceError(`'${input}': ${error.message}`);
      throw error;
    } finally {
      progress.finish();
    }
    const writeStarted = performance.now();
    // result.network comes straight from balance(): every value was checked as it was written.
    const written = output !== null ? await writeModelFile(output, result.network, source, { checkValues: false }) : [];
    const files = { input, output, companions: written.slice(0, -1), readMs, writeMs: performance.now() - writeStarted };
    if (json) {
      io.out(`${JSON.stringify({ ...resultJson(result, options, files), written, fixedUnits: source.fixedUnits, notes: source.notes })}\n`);
    } else {
      io.out(`balanced ${input}\n${resultSummary(result, options, files)}${sourceReport(source)}`);
    }
    return runStatus(result);
  },
);
