import { blockTileKernel } from './blockTile.js';
import type { Kernel } from './common.js';

/**
 * Row and column sums from one read of `P`: valid when `p = q`, where `y = alpha` does not
 * depend on the row sums (MATH.md §2), so one pass gives both `rho` and `Out`.
 */
export function fusedSumsKernel(): Kernel {
  return blockTileKernel('fusedSums', true, true);
}
