/**
 * `weight-balance fig2` (`npm run fig2`): the reference experiment of MATH.md §6 (the paper's
 * Fig. 2). Three He-initialised ReLU MLPs, several (p, q), both schedules: the ratio
 * `||W||_{p,q} / ||W0||_{p,q}` after every sweep goes to a CSV file, and a table gives the final
 * ratio and the sweeps needed to come within 1e-3 and 1e-6 (relative) of it.
 */
import { validateRunOptions } from '../../balance.js';
import { mlp } from '../../network/builders.js';
import type { Backend, Schedule } from '../../options.js';
import { SCHEDULES, validateExponents } from '../../options.js';
import { choiceArg, defineCommand, integerArg, numberArg, parseNumber, parseSizes, stringArg, stringListArg, UsageError } from '../args.js';
import { runBalance } from '../balanceRun.js';
import { fig2Svg, svgPathFor } from '../fig2Figure.js';
import { checkTargetPath, writeFileAtomic } from '../modelFile.js';

/** The three networks of MATH.md §6: 200 inputs, 3750 hidden units, 10 outputs. */
export const FIG2_NETS: readonly (readonly number[])[] = [
  [200, 2500, 1250, 10],
  [200, 2000, 1000, 500, 250, 10],
  [200, 1000, 750, 750, 500, 500, 250, 10],
];

/** The (p, q) pairs of the experiment. */
export const FIG2_EXPONENTS: readonly (readonly [number, number])[] = [
  [1, 1],
  [2, 2],
  [1, 2],
  [2, 1],
  [2, 4],
  [4, 4],
];

/** Default cap on the sweeps of one run. */
export const FIG2_MAX_SWEEPS = 2000;

/** Default stopping tolerance on the imbalance `max |log(Out/In)|`. */
export const FIG2_TOL = 1e-8;

/**
 * The number of sweeps after which the ratio stays within `eps` (relative) of its final value:
 * the first `k` with `history[k] <= final * (1 + eps)` (the history never increases).
 */
export function sweepsWithin(history: readonly number[], eps: number): number {
  const target = history[history.length - 1] * (1 + eps);
  const k = history.findIndex((h) => h <= target);
  return k < 0 ? history.length - 1 : k;
}

const USAGE = `usage: weight-balance fig2 [--csv FILE] [--max-sweeps N] [--tol T] [--arch SIZES]... [--pq P,Q]... [--schedule S]...
       [--backend B] [--seed N]

The experiment of the paper's Fig. 2: for each network, (p, q) and schedule, balance the
He-initialised ReLU MLP (seed 0, zero biases) and record ||W||_{p,q}/||W0||_{p,q} after every sweep.
Prints a table of the final ratio and of the sweeps needed to come within 1e-3 and 1e-6
(relative) of it; writes every ratio to a CSV file (net,p,q,schedule,sweep,ratio) and draws
them next to it as an SVG figure (FILE with .svg for .csv: one panel per network, one line per
(p, q), dashed for the alternating schedule).

options:
  --csv FILE           the CSV file (default fig2.csv); the figure goes to fig2.svg
  --max-sweeps N       cap per run (default ${FIG2_MAX_SWEEPS})
  --tol T              stop a run once max |log(Out/In)| is <= T (default ${FIG2_TOL})
  --arch SIZES         a network (repeatable; default the three of the paper:
                       ${FIG2_NETS.map((n) => n.join('-')).join(', ')})
  --pq P,Q             an exponent pair (repeatable; default ${FIG2_EXPONENTS.map(([p, q]) => `${p},${q}`).join(' ')})
  --schedule S         parallel, alternating or accelerated (repeatable; default the paper's
                       two: parallel and alternating)
  --backend B          cpu (default: the float64 reference), auto or webgpu
  --seed N             seed of the weights (default 0)`;

interface Fig2Row {
  net: string;
  p: number;
  q: number;
  schedule: Schedule;
  history: number[];
  converged: boolean;
  ms: number;
}

function parsePair(text: string): [number, number] {
  const parts = text.split(',');
  if (parts.length !== 2) throw new UsageError(`--pq: expected P,Q like 2,4, got '${text}'`);
  return [parseNumber(parts[0], '--pq'), parseNumber(parts[1], '--pq')];
}

function table(rows: Fig2Row[]): string {
  const header = ['net', 'p', 'q', 'schedule', 'sweeps', 'final ratio', 'to 1e-3', 'to 1e-6', 'seconds'];
  const cells = rows.map((r) => [
    r.net,
    String(r.p),
    String(r.q),
    r.schedule,
    `${r.history.length - 1}${r.converged ? '' : '*'}`,
    (r.history[r.history.length - 1] / r.history[0]).toFixed(8),
    String(sweepsWithin(r.history, 1e-3)),
    String(sweepsWithin(r.history, 1e-6)),
    (r.ms / 1000).toFixed(2),
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...cells.map((row) => row[c].length)));
  const format = (row: string[]): string => row.map((x, c) => (c === 0 || c === 3 ? x.padEnd(widths[c]) : x.padStart(widths[c]))).join('  ');
  return [format(header), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(format)].join('\n') + '\n';
}

/** The `fig2` subcommand. */
export default defineCommand(
  'fig2',
  USAGE,
  {
    csv: { type: 'string' },
    'max-sweeps': { type: 'string' },
    tol: { type: 'string' },
    arch: { type: 'string', multiple: true },
    pq: { type: 'string', multiple: true },
    schedule: { type: 'string', multiple: true },
    backend: { type: 'string' },
    seed: { type: 'string' },
  },
  async (args, io) => {
    if (args.positionals.length > 0) throw new UsageError(`unexpected argument '${args.positionals[0]}'`);
    const csvPath = stringArg(args, 'csv') ?? 'fig2.csv';
    const maxSweeps = integerArg(args, 'max-sweeps', FIG2_MAX_SWEEPS);
    const tol = numberArg(args, 'tol', FIG2_TOL);
    const seed = integerArg(args, 'seed', 0);
    const backend: Backend = choiceArg(args, 'backend', ['auto', 'cpu', 'webgpu'] as const, 'cpu');
    const archList = stringListArg(args, 'arch');
    const nets = archList.length ? archList.map((a) => parseSizes(a, '--arch')) : FIG2_NETS.map((n) => [...n]);
    const pqList = stringListArg(args, 'pq');
    const exponents = pqList.length ? pqList.map(parsePair) : FIG2_EXPONENTS.map(([p, q]) => [p, q] as [number, number]);
    const scheduleList = stringListArg(args, 'schedule');
    for (const s of scheduleList)
      if (!(SCHEDULES as readonly string[]).includes(s)) throw new UsageError(`--schedule: expected one of ${SCHEDULES.join(', ')}, got '${s}'`);
    const schedules = (scheduleList.length ? scheduleList : ['parallel', 'alternating']) as Schedule[];
    // Every refusal before the first run: the experiment can take many minutes.
    for (const [p, q] of exponents) validateExponents(p, q);
    validateRunOptions({ p: 1, q: 1, tol, maxSweeps, backend });
    const svgPath = svgPathFor(csvPath);
    await checkTargetPath(csvPath);
    await checkTargetPath(svgPath);

    const started = performance.now();
    const rows: Fig2Row[] = [];
    const total = nets.length * exponents.length * schedules.length;
    for (const sizes of nets) {
      const net = mlp(sizes, { seed });
      for (const [p, q] of exponents) {
        for (const schedule of schedules) {
          const result = await runBalance(net, { p, q, schedule, backend, tol, maxSweeps, includeBiases: false });
          const row: Fig2Row = { net: sizes.join('-'), p, q, schedule, history: result.history, converged: result.converged, ms: result.ms };
          rows.push(row);
          io.err(
            `[${rows.length}/${total}] ${row.net} p=${p} q=${q} ${schedule}: ${result.sweeps} sweeps${result.converged ? '' : ' (cap)'}, ` +
              `ratio ${(result.finalNorm / result.initialNorm).toFixed(6)}, ${(result.ms / 1000).toFixed(1)} s (${result.backend})\n`,
          );
        }
      }
    }
    const lines = ['net,p,q,schedule,sweep,ratio'];
    for (const r of rows) r.history.forEach((h, k) => lines.push(`${r.net},${r.p},${r.q},${r.schedule},${k},${h / r.history[0]}`));
    await writeFileAtomic(csvPath, lines.join('\n') + '\n');
    await writeFileAtomic(
      svgPath,
      fig2Svg(rows.map((r) => ({ net: r.net, p: r.p, q: r.q, schedule: r.schedule, ratios: r.history.map((h) => h / r.history[0]) }))),
    );
    io.out(table(rows));
    if (rows.some((r) => !r.converged)) io.out(`\n* = stopped at --max-sweeps ${maxSweeps} before max |log(Out/In)| <= ${tol}\n`);
    io.out(`${rows.length} runs in ${((performance.now() - started) / 1000).toFixed(1)} s; ratios per sweep written to ${csvPath}, the figure to ${svgPath}\n`);
    return 0;
  },
);
