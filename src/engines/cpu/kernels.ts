import type { Problem } from '../../problem/problem.js';
import type { PowerArray } from './passes.js';
import { columnPass, fusedPass, powerMatrix, rowPass } from './passes.js';

/** The element type of `P`: float32 halves its memory and traffic (sums stay float64); float64 is the reference. */
export type PowerPrecision = 'float32' | 'float64';

/**
 * `P` of every block of a problem and the linear passes over it, on one kind of kernel. The
 * passes read and write the kernels' own vectors (views into WebAssembly memory for the WASM
 * kernels): `x`, `y` and `C` per global unit, `S` per row of the block being passed.
 */
export interface PowerKernels {
  /** `js`: plain loops (everywhere); `wasm-simd`: WebAssembly SIMD. */
  readonly name: 'js' | 'wasm-simd';
  readonly precision: PowerPrecision;
  readonly x: Float64Array;
  readonly y: Float64Array;
  readonly C: Float64Array;
  readonly S: Float64Array;
  /** `S[i] = sum_j P[i,j] x[col j]`. */
  rowPass(k: number): void;
  /** `C[col j] += sum_i y[row i] P[i,j]`. */
  columnPass(k: number): void;
  /** Both, in one read of `P`. */
  fusedPass(k: number): void;
  /** Entry `index` of block `k`'s `P`. */
  entry(k: number, index: number): number;
  dispose(): void;
  /**
   * Dispose, handing over the memory that held `P` (nothing of the kernels refers to it any
   * more): the caller may reuse it, e.g. for the rescaled weights, instead of new memory.
   */
  release(): ArrayBuffer[];
}

/** The largest number of rows of a block (the length of `S`). */
export function maxRows(problem: Problem): number {
  let most = 0;
  for (const b of problem.blocks) most = Math.max(most, b.rows);
  return most;
}

/** The kernels in plain JavaScript: the path wherever WebAssembly SIMD is missing. */
export class JsKernels implements PowerKernels {
  readonly name = 'js' as const;
  readonly x: Float64Array;
  readonly y: Float64Array;
  readonly C: Float64Array;
  readonly S: Float64Array;
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
  }

  rowPass(k: number): void {
    rowPass(this.problem.blocks[k], this.P[k], this.x, this.S);
  }

  columnPass(k: number): void {
    columnPass(this.problem.blocks[k], this.P[k], this.y, this.C);
  }

  fusedPass(k: number): void {
    fusedPass(this.problem.blocks[k], this.P[k], this.x, this.y, this.S, this.C);
  }

  entry(k: number, index: number): number {
    return this.P[k][index];
  }

  dispose(): void {
    this.P = [];
  }

  release(): ArrayBuffer[] {
    const buffers = this.P.map((P) => P.buffer as ArrayBuffer);
    this.dispose();
    return buffers;
  }
}
