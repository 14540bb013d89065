import { firstNonFinite } from '../../../network/finite.js';
import type { BlockShape } from '../../../network/rescale.js';
import { Arena } from '../../../network/rescale.js';
import { sameMemory } from './memory.js';

/** The `rescaleRows32` export of assembly/rescale.ts (pointers are byte offsets into the memory): 1 when a value written is not finite. */
export type RescaleRows32 = (W: number, rows: number, cols: number, rowsPerGroup: number, rowFactor: number, colFactor: number, out: number) => number;

/**
 * The arena of a WebAssembly memory that held `P` (from `start`, past the module's own data):
 * the rescaled arrays are placed there, and a float32 block is rescaled there in place by the
 * SIMD kernel: its weights copied into their new array (memory already paged in; or the weights
 * themselves, rescaled where they lie), then each multiplied by its row's and column's factors,
 * the same float64 product rounded once to float32 as the JS loop (equal bit for bit), every
 * value checked finite as it is written.
 */
export class WasmArena extends Arena {
  /** Scratch for a block's row and column factors, in the memory (taken from the arena when first needed, larger when a block needs more). */
  private factors: Float64Array | null = null;

  constructor(
    private readonly memory: ArrayBufferLike,
    start: number,
    private readonly rescaleRows32: RescaleRows32,
  ) {
    super([memory as ArrayBuffer], start);
  }

  override scaleRows32(w: Float32Array, out: Float32Array, shape: BlockShape, rowFactor: Float64Array, colFactor: Float64Array): number {
    const factors = sameMemory(out.buffer, this.memory) && shape.taps === 1 ? this.scratch(rowFactor.length + colFactor.length) : null;
    if (!factors) return super.scaleRows32(w, out, shape, rowFactor, colFactor);
    factors.set(rowFactor);
    factors.set(colFactor, rowFactor.length);
    if (out !== w) out.set(w);
    const at = factors.byteOffset;
    const bad = this.rescaleRows32(out.byteOffset, shape.rows, shape.cols, shape.rowsPerGroup, at, at + 8 * rowFactor.length, out.byteOffset);
    return bad ? firstNonFinite(out) : -1;
  }

  /** `length` float64 entries of scratch in the memory, or `null` where the arena has no room. */
  private scratch(length: number): Float64Array | null {
    if (!this.factors || this.factors.length < length) this.factors = this.take(length, true) as Float64Array | null;
    return this.factors;
  }
}
