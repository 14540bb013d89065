/**
 * The export of a balance run as CSV: one row per (p, q) and sweep, with the norm, the ratio to
 * the initial norm and the largest log-factor step of that sweep (empty before the first sweep).
 */
import type { SeriesData } from './convergenceChart.js';
import type { Finished } from './results.js';

/** The header of the CSV export. */
export const CSV_HEADER = 'p,q,schedule,backend,sweep,norm,ratio,max_step';

/** The histories of the finished runs (in pair order; `series[k]` holds run k's steps). */
export function historiesCsv(finished: readonly Finished[], series: readonly SeriesData[]): string {
  const lines = [CSV_HEADER];
  finished.forEach(({ pair, result }, k) => {
    const steps = series[k]?.steps ?? [];
    result.history.forEach((norm, sweep) => {
      const step = steps[sweep];
      lines.push([pair.p, pair.q, result.schedule, result.backend, sweep, norm, norm / result.history[0], step == null ? '' : step].join(','));
    });
  });
  return `${lines.join('\n')}\n`;
}
