/** The data of the coarse model (`coarse.ts`): its rows, from the last pass, and their state at a shift. */

/**
 * One row of the coarse model: the row's mass `rho` splits into a part that no shift of a column
 * group moves (`fixedShare`: fixed columns, biases) and parts read from groups `groups[t]`
 * (`shares[t]`); the row itself moves with `rowGroup`.
 */
export interface CoarseRows {
  /** `rho^r` per row (its term of `F`). */
  term: Float64Array;
  rowGroup: Int32Array;
  fixedShare: Float64Array;
  /** CSR: the shares of row `i` are `start[i] .. start[i + 1]`. */
  start: Int32Array;
  groups: Int32Array;
  shares: Float64Array;
}

/**
 * Each row's weight `w_i = term_i (rho_i(c) / rho_i)^r` (its term of `F` at the shift) and its
 * column groups' shares of its mass `pi_t` (indexed like `CoarseRows.shares`): what a product
 * with the Hessian needs (`coarseCg.ts`).
 */
export interface RowWeights {
  w: Float64Array;
  pi: Float64Array;
}
