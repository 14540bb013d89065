/** The data of the coarse model (`coarse.ts`): its rows, from the last pass, and their state at a shift. */

/**
 * One row per unit of the coarse model: the row's mass `rho` splits into a part that no shift of
 * a column group moves (`fixedShare`: fixed columns, biases) and parts read from groups; the row
 * itself moves with `rowGroup`. The parts come in *entries*, one per block writing the row: entry
 * `e` reads list `list[e]` (the shifted groups of one convolution group of the block's columns)
 * with mass `coef[e]`, which the list splits by `fractions`. So the share of group `groups[t]` in
 * row `i`'s mass is `coef[e] * fractions[t] / mass[i]` — stored once per list, not once per row
 * and group, since every row of a block's convolution group splits the same way.
 */
export interface CoarseRows {
  /** `rho^r` per row (its term of `F`). */
  term: Float64Array;
  rowGroup: Int32Array;
  /** Per row, the mass the shares are relative to. */
  mass: Float64Array;
  /** Per row, the unshifted share of its mass. */
  fixedShare: Float64Array;
  /** CSR: the entries of row `i` are `start[i] .. start[i + 1]`. */
  start: Int32Array;
  list: Int32Array;
  coef: Float64Array;
  /** CSR: the parts of list `l` are `listStart[l] .. listStart[l + 1]`. */
  listStart: Int32Array;
  groups: Int32Array;
  fractions: Float64Array;
}

/**
 * The state of the rows at a shift that a product with the Hessian needs (`coarseCg.ts`): each
 * row's weight `w_i = term_i (rho_i(c) / rho_i)^r` (its term of `F` at the shift), each entry's
 * `kappa[e]` and each group's `scale[g] = exp(-p c[g])`, so that part `t` of entry `e` holds the
 * share `kappa[e] * fractions[t] * scale[groups[t]]` of its row's shifted mass.
 */
export interface RowWeights {
  w: Float64Array;
  kappa: Float64Array;
  scale: Float64Array;
}

/** `exp(-p c[g])` per group: how a column of group `g` scales the rows reading it. */
export function columnScales(c: Float64Array, p: number): Float64Array {
  const scale = new Float64Array(c.length);
  for (let g = 0; g < c.length; g++) scale[g] = Math.exp(-p * c[g]);
  return scale;
}
