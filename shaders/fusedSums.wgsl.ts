import type { Kernel } from './bindings.js';
import type { TileBindings } from './blockTile.js';
import { blockTileKernel } from './blockTile.js';

/**
 * Row and column sums from one read of `P`: valid when `p = q`, where `y = alpha` does not
 * depend on the row sums (MATH.md §2), so one pass gives both `rho` and `Out`.
 */
export function fusedSumsKernel(): Kernel<typeof TileBindings> {
  return blockTileKernel('fusedSums', true, true);
}
