/**
 * Progress of a balance run on stderr, like tqdm: the sweep, `||W||/||W0||`, the imbalance
 * `max |log(Out/In)|` after the sweep (the quantity `--tol` bounds), the passes over `P` so far,
 * elapsed time, sweeps per second
 * and, where it can be estimated, the time left. On a terminal a bar redraws in place (and the
 * elapsed time ticks before the first sweep arrives); in a log, one line per sweep.
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
const TICK_MS = 250;

/** A duration for people: `0.8 s`, `42 s`, `3 min 05 s`, `1 h 02 min`. */
export function formatDuration(ms: number): string {
  const s = ms / 1000;
  if (s < 10) return `${s.toFixed(1)} s`;
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(Math.round(s % 60)).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.round((s % 3600) / 60)).padStart(2, '0')} min`;
}

/**
 * Sweeps left until the imbalance falls to `tol`, from the linear decrease of its
 * logarithm over the later half of the run (the fix converges linearly), never beyond
 * `maxSweeps`; `null` when it cannot be estimated (no decrease yet, `tol = 0` and no cap...).
 */
export function sweepsLeft(logSteps: readonly number[], tol: number, maxSweeps: number): number | null {
  const n = logSteps.length;
  const cap = Math.max(0, maxSweeps - n);
  if (n < 3 || !(tol > 0)) return n > 0 && maxSweeps > 0 && !(tol > 0) ? cap : null;
  const from = Math.floor(n / 2);
  const slope = (logSteps[n - 1] - logSteps[from - 1]) / (n - from);
  if (!(slope < 0) || !Number.isFinite(slope)) return null;
  const left = Math.max(0, Math.ceil((Math.log(tol) - logSteps[n - 1]) / slope));
  return Math.min(left, cap);
}

/**
 * A reporter for a run stopping at `tol` (on the imbalance `max |log(Out/In)|`) or `maxSweeps`.
 * The bar's fill is the larger of the sweeps used and the progress of `log(imbalance)` from the
 * first sweep's down to `log(tol)`; it never moves back.
 */
export function progressReporter(io: CliIO, run: { tol: number; maxSweeps: number }, now: () => number = Date.now): ProgressReporter {
  const started = now();
  const logSteps: number[] = [];
  let latest: SweepProgress | null = null;
  let shown = 0;
  const stats = (): string => {
    const elapsed = now() - started;
    const parts = [`elapsed ${formatDuration(elapsed)}`];
    if (latest && elapsed > 0) {
      const rate = (latest.sweep / elapsed) * 1000;
      parts.push(`${rate >= 100 ? rate.toFixed(0) : rate.toPrecision(3)} sweeps/s`);
      const left = sweepsLeft(logSteps, run.tol, run.maxSweeps);
      if (left !== null && rate > 0) parts.push(`ETA ${formatDuration((left / rate) * 1000)}`);
    }
    return parts.join(', ');
  };
  const line = (): string =>
    latest
      ? `sweep ${latest.sweep}  ||W||/||W0|| ${latest.ratio.toFixed(8)}  norm ${latest.norm.toPrecision(8)}  max|log(Out/In)| ${latest.maxLogImbalance.toExponential(2)}  passes ${latest.passes.toFixed(1)}  ${stats()}`
      : `sweep 0  ${stats()}`;
  const record = (p: SweepProgress): void => {
    latest = p;
    logSteps.push(Math.log(p.maxLogImbalance));
    const bySweeps = run.maxSweeps > 0 ? p.sweep / run.maxSweeps : 1;
    const span = logSteps[0] - Math.log(run.tol);
    const byStep = run.tol > 0 && span > 0 && p.maxLogImbalance > 0 ? (logSteps[0] - Math.log(p.maxLogImbalance)) / span : 0;
    shown = Math.min(1, Math.max(shown, bySweeps, byStep));
  };
  if (!io.isTTY) {
    return {
      sweep: (p) => {
        record(p);
        io.err(`${line()}\n`);
      },
      finish: () => undefined,
    };
  }
  let lastDraw = 0;
  const draw = (): void => {
    const bar = '#'.repeat(Math.round(shown * BAR_WIDTH)).padEnd(BAR_WIDTH, '.');
    io.err(`\r\x1b[K[${bar}] ${line()}`);
    lastDraw = now();
  };
  draw();
  const ticker = setInterval(draw, TICK_MS);
  ticker.unref?.();
  return {
    sweep(p) {
      record(p);
      if (now() - lastDraw >= REDRAW_MS) draw();
    },
    finish() {
      clearInterval(ticker);
      draw();
      io.err('\n');
    },
  };
}
