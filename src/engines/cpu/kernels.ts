import { Arena } from '../../network/rescale.js';
import type { Problem } from '../../problem/problem.js';
import type { PowerArray } from './passes.js';
import { columnPass, fusedPass, powerMatrix, rowColumnPass, rowPass } from './passes.js';

/** The element type of `P`: float32 halves its memory and traffic (sums stay float64); float64 is the reference. */
export type PowerPrecision = 'float32' | 'float64';

/**
 * How the passes add: `float64`, every product and sum (the reference); `blocked32` (float32 `P`
 * on the WebAssembly kernels only), float32 products added in float32 within blocks of at most 64
 * columns of a row or 4 rows of a column, the blocks added in float64: twice the SIMD lanes, a
 * relative error of the sums of about 1e-7 at worst.
 */
export type PassSums = 'float64' | 'blocked32';

/**
 * Which kernels run the passes: `js`, plain loops (everywhere); `wasm-simd`, WebAssembly SIMD;
 * `wasm-relaxed-simd`, the same kernels built with relaxed SIMD (fused multiply-adds), where the
 * engine validates it (Chrome, Node 22+).
 */
export type KernelsName = 'js' | 'wasm-simd' | 'wasm-relaxed-simd';

/**
 * `P` of every block of a problem and the linear passes over it, on one kind of kernel. The
 * passes read and write the kernels' own vectors (views into WebAssembly memory for the WASM
 * kernels): `x`, `y` and `C` per global unit, `S` per row of the block being passed, and `w`
 * (two entries per global unit) for the row-then-column pass.
 */
export interface PowerKernels {
  readonly name: KernelsName;
  readonly precision: PowerPrecision;
  /** How the passes add now (see {@link PassSums}). */
  readonly sums: PassSums;
  readonly x: Float64Array;
  readonly y: Float64Array;
  readonly C: Float64Array;
  readonly S: Float64Array;
  /** Per global unit `u`, `w[2u] = A` and `w[2u + 1] = B` of its column weight `A (S + B)^(r - 1)` in {@link rowColumnPass}. */
  readonly w: Float64Array;
  /** `S[i] = sum_j P[i,j] x[col j]`, for the rows `i` in `[r0, r1)` of block `k` (default: all). */
  rowPass(k: number, r0?: number, r1?: number): void;
  /** `C[col j] += sum_i y[row i] P[i,j]` over the rows `i` in `[r0, r1)` (default: all). */
  columnPass(k: number, r0?: number, r1?: number): void;
  /** Both, in one read of `P`. */
  fusedPass(k: number, r0?: number, r1?: number): void;
  /**
   * The row sums `S`, then `C[col j] += sum_i y_i P[i,j]` with each row's weight from its own sum,
   * `y_i = A (S[i] + B)^(r - 1)` (`A`, `B` from `w` at the row's unit; 0 when `S[i] + B = 0`):
   * one read of `P` for `p != q` where the block alone writes its rows' units.
   */
  rowColumnPass(k: number, r0?: number, r1?: number): void;
  /** Entry `index` of block `k`'s `P`. */
  entry(k: number, index: number): number;
  /**
   * The smallest row (`rows`) or column (`columns`) sum of block `k`, relative to a largest vector
   * entry of 1, that the passes give to their precision (below it, underflow in the arithmetic
   * may have dropped terms); 0 when only float64 underflow can.
   */
  smallestSum(k: number, along: 'rows' | 'columns'): number;
  /** Add in float64 from now on (when a blocked float32 sum came out below {@link smallestSum}). */
  useFloat64Sums(): void;
  dispose(): void;
  /**
   * Dispose, handing over the memory that held `P` (nothing of the kernels refers to it any
   * more) as an {@link Arena}: the caller places the rescaled weights there instead of in new
   * memory (and the WebAssembly kernels rescale float32 blocks there in SIMD).
   */
  release(): Arena;
}

/** The largest number of rows of a block (the length of `S`). */
export function maxRows(problem: Problem): number {
  let most = 0;
  for (const b of problem.blocks) most = Math.max(most, b.rows);
  return most;
}

/** The largest number of columns of a block (per group). */
export function maxCols(problem: Problem): number {
  let most = 0;
  for (const b of problem.blocks) most = Math.max(most, b.cols);
  return most;
}

/** The kernels in plain JavaScript: the path wherever WebAssembly SIMD is missing. */
export class JsKernels implements PowerKernels {
  readonly name = 'js' as const;
  readonly sums = 'float64' as const;
  readonly x: Float64Array;
  readonly y: Float64Array;
  readonly C: Float64Array;
  readonly S: Float64Array;
  readonly w: Float64Array;
  private P: PowerArray[];

  constructor(
    private readonly problem: Problem,
    readonly precision: PowerPrecision,
    scale: number,
  ) {
    const make = (n: number): PowerArray => (precision === 'float32' ? new Float32Array(n) : new Float64Array(n));
    this.P = problem.blocks.map((b) => powerMatrix(b, problem.p, scale, make(b.rows * b.cols)));
    this.x = new Float64Array(problem.nUnits);
    this.y = new Float64Array(problem.nUnits);
    this.C = new Float64Array(problem.nUnits);
    this.S = new Float64Array(maxRows(problem));
    this.w = new Float64Array(2 * problem.nUnits);
  }

  rowPass(k: number, r0?: number, r1?: number): void {
    rowPass(this.problem.blocks[k], this.P[k], this.x, this.S, r0, r1);
  }

  columnPass(k: number, r0?: number, r1?: number): void {
    columnPass(this.problem.blocks[k], this.P[k], this.y, this.C, r0, r1);
  }

  fusedPass(k: number, r0?: number, r1?: number): void {
    fusedPass(this.problem.blocks[k], this.P[k], this.x, this.y, this.S, this.C, r0, r1);
  }

  rowColumnPass(k: number, r0?: number, r1?: number): void {
    rowColumnPass(this.problem.blocks[k], this.P[k], this.x, this.w, this.problem.r - 1, this.S, this.C, r0, r1);
  }

  entry(k: number, index: number): number {
    return this.P[k][index];
  }

  smallestSum(): number {
    return 0;
  }

  useFloat64Sums(): void {}

  dispose(): void {
    this.P = [];
  }

  release(): Arena {
    const buffers = this.P.map((P) => P.buffer as ArrayBuffer);
    this.dispose();
    return new Arena(buffers);
  }
}
