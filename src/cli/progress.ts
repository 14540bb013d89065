/**
 * Progress of a balance run on stderr: a bar that redraws in place on a terminal, one line per
 * sweep in a log.
 */
import type { SweepProgress } from '../balance.js';
import type { CliIO } from './io.js';

/** Receives every sweep; `finish` ends the bar. */
export interface ProgressReporter {
  sweep(progress: SweepProgress): void;
  finish(): void;
}

const BAR_WIDTH = 24;
const REDRAW_MS = 80;

function line(p: SweepProgress): string {
  return `sweep ${p.sweep}  ||W||/||W0|| ${p.ratio.toFixed(8)}  norm ${p.norm.toPrecision(8)}  max|log(Out/In)| ${p.maxLogImbalance.toExponential(2)}  passes ${p.passes.toFixed(1)}`;
}

/**
 * A reporter for a run stopping at `tol` (on the imbalance `max |log(Out/In)|`) or `maxSweeps`.
 * The bar's fill is the larger of the sweeps used and the progress of `log(imbalance)` from the
 * first sweep's down to `log(tol)`; it never moves back.
 */
export function progressReporter(io: CliIO, run: { tol: number; maxSweeps: number }): ProgressReporter {
  if (!io.isTTY) {
    return { sweep: (p) => io.err(`${line(p)}\n`), finish: () => undefined };
  }
  let firstStep = NaN;
  let shown = 0;
  let lastDraw = 0;
  let drawn = false;
  let latest: SweepProgress | null = null;
  const draw = (): void => {
    if (!latest) return;
    const bar = '#'.repeat(Math.round(shown * BAR_WIDTH)).padEnd(BAR_WIDTH, '.');
    io.err(`\r\x1b[K[${bar}] ${line(latest)}`);
    drawn = true;
    lastDraw = Date.now();
  };
  return {
    sweep(p) {
      latest = p;
      if (Number.isNaN(firstStep)) firstStep = p.maxLogImbalance;
      const bySweeps = run.maxSweeps > 0 ? p.sweep / run.maxSweeps : 1;
      const span = Math.log(firstStep) - Math.log(run.tol);
      const byStep = run.tol > 0 && span > 0 && p.maxLogImbalance > 0 ? (Math.log(firstStep) - Math.log(p.maxLogImbalance)) / span : 0;
      shown = Math.min(1, Math.max(shown, bySweeps, byStep));
      if (Date.now() - lastDraw >= REDRAW_MS) draw();
    },
    finish() {
      draw();
      if (drawn) io.err('\n');
    },
  };
}
