import type { Kernel } from './bindings.js';
import type { TileBindings } from './blockTile.js';
import { blockTileKernel } from './blockTile.js';

/**
 * Row sums of a block segment: per row `i`, log-sum-exp partials of `P[i,j] / alpha[j]`
 * (one per column tile), from which the row-finish kernel gets `rho[i]`.
 */
export function rowSumsKernel(): Kernel<typeof TileBindings> {
  return blockTileKernel('rowSums', true, false);
}
