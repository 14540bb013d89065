/**
 * The balance run shared by `balance` and `paper`: its options, the call to the library with
 * WebGPU wired in, and the two ways of reporting it (a human summary, one JSON object).
 */

import type { BalanceResult, SweepProgress } from '../balance.js';
import { balance, DEFAULT_TOL, validateRunOptions } from '../balance.js';
import { defaultThreads } from '../driver/threads.js';
import type { Network } from '../network/types.js';
import type { Backend, BalanceKernels, Schedule } from '../options.js';
import { SCHEDULES, validateExponents } from '../options.js';
import type { OptionSpec, ParsedArgs } from './args.js';
import { choiceArg, flagArg, integerArg, numberArg } from './args.js';
import { gpuForBackend } from './gpu.js';

/** The command-line options of a balance run. */
export const BALANCE_OPTION_SPEC: OptionSpec = {
  p: { type: 'string', short: 'p' },
  q: { type: 'string', short: 'q' },
  schedule: { type: 'string' },
  backend: { type: 'string' },
  tol: { type: 'string' },
  'max-sweeps': { type: 'string' },
  'include-biases': { type: 'boolean' },
  threads: { type: 'string' },
  verbose: { type: 'boolean' },
};

/** Usage lines for {@link BALANCE_OPTION_SPEC}. */
export const BALANCE_OPTION_USAGE = [
  '  -p P                       exponent inside each row of incoming weights, P > 0 (default 2)',
  '  -q Q                       exponent across rows, Q > 0 (default 2)',
  '  --schedule accelerated|parallel|alternating',
  "                             accelerated (default, every backend): the paper's update with a",
  '                             coarse layer correction and a safeguarded longer step, several',
  "                             times fewer passes over the weights; parallel: the paper's",
  '                             update of all hidden units at once;',
  '                             alternating: one class of non-adjacent units at a time',
  '  --backend auto|cpu|webgpu  where the arithmetic runs (default auto: WebGPU on a hardware',
  '                             adapter, else the float64 CPU engine; webgpu: any adapter, a',
  '                             software adapter (SwiftShader, llvmpipe) included)',
  '  --verbose                  show what WebGPU (Dawn, Vulkan) prints while auto looks for an',
  '                             adapter (hidden by default)',
  `  --tol T                    stop once max |log(Out/In)| over the hidden units is <= T (default ${DEFAULT_TOL})`,
  '  --max-sweeps N             at most N sweeps (default 10000)',
  '  --include-biases           count biases in the norm (as weights from a fixed unit)',
  `  --threads N                the most threads for the CPU engine's passes over the weights`,
  `                             (default: the number of cores, at most 8, here ${defaultThreads()}; 1: one`,
  '                             thread). A network under 2^20 weights always runs on one thread',
].join('\n');

/** A balance run's settings, parsed and checked. */
export interface BalanceRunOptions {
  p: number;
  q: number;
  schedule: Schedule;
  backend: Backend;
  tol: number;
  maxSweeps: number;
  includeBiases: boolean;
  /** The most threads for the CPU engine's passes (default: the library's). */
  threads?: number;
  /** Show what WebGPU prints while `auto` looks for an adapter. */
  verbose?: boolean;
}

const BACKENDS = ['auto', 'cpu', 'webgpu'] as const;

/** How the summary names the kernels a run's passes ran on. */
const KERNELS_TEXT: Record<BalanceKernels, string> = {
  webgpu: 'WebGPU',
  'wasm-relaxed-simd': 'WebAssembly relaxed SIMD',
  'wasm-simd': 'WebAssembly SIMD',
  js: 'JavaScript',
  log: 'log-sum-exp passes in JavaScript',
};

/**
 * Read the balance options from a command line. Malformed values are usage errors; `p`, `q`,
 * `tol` and `maxSweeps` are checked at once by the library's own validation so that a bad value
 * is refused before any file is read.
 */
export function readBalanceOptions(args: ParsedArgs): BalanceRunOptions {
  const backend = choiceArg(args, 'backend', BACKENDS, 'auto');
  const options: BalanceRunOptions = {
    p: numberArg(args, 'p', 2),
    q: numberArg(args, 'q', 2),
    schedule: choiceArg(args, 'schedule', SCHEDULES, 'accelerated'),
    backend,
    tol: numberArg(args, 'tol', DEFAULT_TOL),
    maxSweeps: integerArg(args, 'max-sweeps', 10000),
    includeBiases: flagArg(args, 'include-biases'),
    threads: integerArg(args, 'threads', defaultThreads()),
    verbose: flagArg(args, 'verbose'),
  };
  validateExponents(options.p, options.q);
  const { verbose: _, ...run } = options;
  validateRunOptions(run);
  return options;
}

/**
 * Balance a network with the CLI's settings; Dawn's `GPU` comes from {@link gpuForBackend}, `balance` chooses the backend.
 * `inPlace`: the caller gives the network's arrays up (see `BalanceOptions.inPlace`).
 */
export async function runBalance(
  net: Network,
  options: BalanceRunOptions,
  onSweep?: (progress: SweepProgress) => void,
  inPlace = false,
): Promise<BalanceResult> {
  const { verbose, ...run } = options;
  const { source, fallback } = await gpuForBackend(run.backend, verbose);
  const result = await balance(net, { ...run, ...source, ...(fallback ? { backend: 'cpu' as const } : {}), onSweep, inPlace });
  return fallback ? { ...result, fallback } : result;
}

/** Where a run read and wrote its network. */
export interface RunFiles {
  input: string | null;
  output: string | null;
  /** Files written with `output` (e.g. ONNX external data); absent: none. */
  companions?: string[];
  /** Wall milliseconds reading the input and writing the output (absent: not timed). */
  readMs?: number;
  writeMs?: number;
}

/**
 * The exit status of a run that balanced and wrote its network but stopped at `--max-sweeps`
 * before `max |log(Out/In)| <= --tol` (1 is a refused input or a failed run, 2 a usage error).
 */
export const EXIT_NOT_CONVERGED = 3;

/** The exit status of a finished run: 0, or {@link EXIT_NOT_CONVERGED}. */
export function runStatus(result: BalanceResult): number {
  return result.converged ? 0 : EXIT_NOT_CONVERGED;
}

/**
 * The JSON report of a run: `{ backend, adapter, p, q, schedule, sweeps, passes, initialNorm,
 * finalNorm, history, maxLogImbalance, frozenUnits, ms }` plus `includeBiases`, `converged`,
 * `fallback` (`null` or `{ kind, message }`), `precision` (of `P`), `threads` (of the CPU passes), `kernels` (see `BalanceResult.kernels`), `phases` (wall ms: `readMs`,
 * `setupMs`, `sweepsMs`, `rescaleMs`, `writeMs`), `input` and `output`. `history` holds the norm before the first sweep and after each sweep.
 */
export function resultJson(result: BalanceResult, options: BalanceRunOptions, files: RunFiles): Record<string, unknown> {
  return {
    backend: result.backend,
    adapter: result.adapter,
    p: result.p,
    q: result.q,
    schedule: result.schedule,
    includeBiases: options.includeBiases,
    sweeps: result.sweeps,
    passes: result.passes,
    initialNorm: result.initialNorm,
    finalNorm: result.finalNorm,
    history: result.history,
    maxLogImbalance: result.maxLogImbalance,
    frozenUnits: result.frozenUnits,
    ms: result.ms,
    converged: result.converged,
    fallback: result.fallback,
    precision: result.precision,
    threads: result.threads,
    kernels: result.kernels,
    phases: { readMs: files.readMs ?? null, ...result.phases, writeMs: files.writeMs ?? null },
    input: files.input,
    output: files.output,
  };
}

/** A human summary of a run, several aligned lines ending in a newline. */
export function resultSummary(result: BalanceResult, options: BalanceRunOptions, files: RunFiles): string {
  const norm = `l_{${result.p},${result.q}}`;
  const stop = result.converged
    ? `converged: max |log(Out/In)| <= ${formatTol(options.tol)}`
    : `NOT converged: stopped at --max-sweeps ${options.maxSweeps} before max |log(Out/In)| <= ${formatTol(options.tol)} (exit status ${EXIT_NOT_CONVERGED})`;
  const backend =
    result.backend === 'webgpu'
      ? `webgpu (${result.adapter ?? 'unknown adapter'})`
      : `cpu (${result.precision} P, float64 sums, ${KERNELS_TEXT[result.kernels]}${result.threads > 1 ? `, ${result.threads} threads` : ''})`;
  const rows: Array<[string, string]> = [
    [`${norm} norm`, `${result.initialNorm.toPrecision(8)} -> ${result.finalNorm.toPrecision(8)}`],
    ['||W||/||W0||', (result.finalNorm / result.initialNorm).toFixed(8)],
    ['sweeps', `${result.sweeps} (${result.schedule}; ${stop})`],
    ['passes over P', `${result.passes.toFixed(1)} (reads of the |W|^p matrices)`],
    ['max |log(Out/In)|', result.maxLogImbalance.toExponential(3)],
    ['frozen units', String(result.frozenUnits.length)],
    ['backend', backend + (result.fallback && options.backend !== 'cpu' ? ` [${result.fallback.kind}: ${result.fallback.message}]` : '')],
    ['time', `${(result.ms / 1000).toFixed(2)} s (${(result.ms / Math.max(1, result.passes)).toFixed(2)} ms per pass)`],
  ];
  if (files.output) rows.push(['written to', files.output + (files.companions?.length ? ` (with ${files.companions.join(', ')})` : '')]);
  else if (files.input) rows.push(['written to', '(nothing: no -o given)']);
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n') + '\n';
}

/** A tolerance as written on a command line: `1e-6` rather than `0.000001`. */
export function formatTol(tol: number): string {
  return tol !== 0 && Math.abs(tol) < 1e-3 ? tol.toExponential() : String(tol);
}
