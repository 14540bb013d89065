import type { Kernel } from './bindings.js';
import type { TileBindings } from './blockTile.js';
import { blockTileKernel } from './blockTile.js';

/**
 * Column sums of a block segment: per column `j`, log-sum-exp partials of `y[i] * P[i,j]`
 * with `y = rho^(r-1) * alpha` (one per row tile), from which the update kernel gets `Out`.
 */
export function columnSumsKernel(): Kernel<typeof TileBindings> {
  return blockTileKernel('columnSums', false, true);
}
