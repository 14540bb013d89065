import type { LinearPasses, LogPasses } from '../../schedule/blockStatistics.js';
import type { BlockSums } from './blockSums.js';
import { LinearBlockSums } from './blockSums.js';

/**
 * The CPU engine's passes as the schedules on linear statistics (`src/schedule/`) call them:
 * `sums()` the engine's block sums now, `pass` its runner (which moves the engine to logarithms
 * when a linear pass loses precision). In logarithms always, and linear while the arithmetic is
 * (a linear pass that loses precision returns `false`, and the log passes take over). `chain`
 * false: no row-then-column pass (a read of `P` for the rows and one for the columns).
 */
export function statisticsPasses(sums: () => BlockSums, pass: (run: () => boolean) => void, chain: boolean): LogPasses {
  const linear = (): LinearBlockSums | null => {
    const s = sums();
    return s instanceof LinearBlockSums ? s : null;
  };
  const linearPasses: LinearPasses = {
    rows: (k, x, S) => linear()?.linearRows(k, x, S) ?? false,
    columns: (k, y, C) => linear()?.linearColumns(k, y, C) ?? false,
    fused: (k, x, y, S, C) => linear()?.linearFused(k, x, y, S, C) ?? false,
    rowsColumns: chain ? (k, x, la, bias, S, C) => linear()?.linearRowsColumns(k, x, la, bias, S, C) ?? false : undefined,
  };
  return {
    rows: (k, lx, lS) => pass(() => sums().rows(k, lx, lS)),
    columns: (k, ly, lC) => pass(() => sums().columns(k, ly, lC)),
    fused: (k, lx, ly, lS, lC) => pass(() => sums().fused(k, lx, ly, lS, lC)),
    rowsColumns: chain ? (k, lx, la, logBias, lS, lC) => pass(() => sums().rowsColumns(k, lx, la, logBias, lS, lC)) : undefined,
    linear: () => (linear() ? linearPasses : null),
  };
}
