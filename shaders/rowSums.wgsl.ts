import { blockTileKernel } from './blockTile.js';
import type { Kernel } from './common.js';

/**
 * Row sums of a block segment: per row `i`, log-sum-exp partials of `P[i,j] / alpha[j]`
 * (one per column tile), from which the row-finish kernel gets `rho[i]`.
 */
export function rowSumsKernel(): Kernel {
  return blockTileKernel('rowSums', true, false);
}
