import type { Arena } from '../../../network/rescale.js';
import type { Problem } from '../../../problem/problem.js';
import type { PassSums, PowerKernels, PowerPrecision } from '../kernels.js';
import type { PassCall, PassKind } from '../wasm/wasmKernels.js';
import { PASS_EXPORTS, WasmKernels } from '../wasm/wasmKernels.js';
import type { ThreadPool } from './pool.js';
import { rowRanges } from './rowRanges.js';
import { CONTROL } from './workerProgram.js';

/** Entries of `P` below which a chunk of a pass is not worth handing to another thread. */
export const MIN_ENTRIES_PER_CHUNK = 1 << 14;

/** Chunks per thread of a split pass: the threads claim them one at a time, so that a thread the system runs late costs little. */
const CHUNKS_PER_THREAD = 4;

/**
 * The WebAssembly SIMD kernels with each pass split by rows over a {@link ThreadPool}: `P` and
 * the vectors live in one shared memory, and a pass over a block is cut into chunks of rows (the
 * kernels' row range) that the calling thread and the workers claim one at a time. Column sums:
 * each worker adds into a partial `C` of its own (and the blocked passes use a scratch of its own), which the calling thread adds into `C` after the pass (the same sums
 * as one thread up to the order of the additions). A block too small to cut runs on the calling
 * thread alone.
 */
export class ThreadedKernels implements PowerKernels {
  private readonly wasm: WasmKernels;
  /** Per block, the row boundaries of its chunks (two entries: not split). */
  private readonly bounds: number[][];
  /** Worker `w`'s partial column sums (`w = 0, 1, ...`), per global unit. */
  private partials: Float64Array[];
  private readonly chunks = new Map<string, PassCall[][]>();

  constructor(
    private readonly problem: Problem,
    readonly precision: PowerPrecision,
    scale: number,
    sums: PassSums | undefined,
    module: WebAssembly.Module,
    private readonly pool: ThreadPool,
    minEntriesPerChunk = MIN_ENTRIES_PER_CHUNK,
  ) {
    const workers = pool.size - 1;
    this.wasm = new WasmKernels(problem, precision, scale, sums, { module, partials: workers });
    const wasm = this.wasm;
    this.partials = Array.from({ length: workers }, (_, w) => wasm.partialSums(w));
    this.bounds = problem.blocks.map((b) =>
      rowRanges(b.rows, Math.min(CONTROL.maxChunks, pool.size * CHUNKS_PER_THREAD), Math.ceil(minEntriesPerChunk / Math.max(1, b.cols))),
    );
    const shifts = Array.from({ length: workers }, (_, w) => wasm.threadShift(w));
    try {
      pool.load(module, wasm.memory as WebAssembly.Memory, PASS_EXPORTS, shifts);
    } catch (error) {
      wasm.dispose();
      throw error;
    }
  }

  /** The build of the kernels the threads run (see {@link WasmKernels.name}). */
  get name(): 'wasm-simd' | 'wasm-relaxed-simd' {
    return this.wasm.name;
  }

  /** Threads the passes are split over: the pool's, when some block is cut into chunks (else 1). */
  get threads(): number {
    return this.bounds.some((b) => b.length > 2) ? this.pool.size : 1;
  }

  get x(): Float64Array {
    return this.wasm.x;
  }
  get y(): Float64Array {
    return this.wasm.y;
  }
  get C(): Float64Array {
    return this.wasm.C;
  }
  get S(): Float64Array {
    return this.wasm.S;
  }
  get w(): Float64Array {
    return this.wasm.w;
  }

  get sums(): PassSums {
    return this.wasm.sums;
  }

  rowPass(k: number, r0?: number, r1?: number): void {
    this.split('rows', k, r0, r1);
  }

  columnPass(k: number, r0?: number, r1?: number): void {
    this.split('columns', k, r0, r1);
  }

  fusedPass(k: number, r0?: number, r1?: number): void {
    this.split('fused', k, r0, r1);
  }

  /** Each thread's rows give their own weights (a row's weight needs its own sum only), their column terms into the thread's partial sums. */
  rowColumnPass(k: number, r0?: number, r1?: number): void {
    this.split('rowColumn', k, r0, r1);
  }

  entry(k: number, index: number): number {
    return this.wasm.entry(k, index);
  }

  smallestSum(k: number, along: 'rows' | 'columns'): number {
    return this.wasm.smallestSum(k, along);
  }

  useFloat64Sums(): void {
    this.wasm.useFloat64Sums();
  }

  /** Let the workers drop the shared memory, then drop it here. */
  dispose(): void {
    this.pool.unload();
    this.partials = [];
    this.wasm.dispose();
  }

  /**
   * Dispose, handing over the shared memory (a `SharedArrayBuffer`) once the workers have let it
   * go: the balanced weights are placed there, as after a run on one thread, rather than in as
   * many bytes of new memory (paging in 537 MB cost ~2.5 s here, ~12 passes over `P`, and raised
   * the peak up to ~2.8x the weights while `P` awaited collection). No pass runs any more, so no
   * worker writes to it.
   */
  release(): Arena {
    this.pool.unload();
    this.partials = [];
    return this.wasm.release();
  }

  /**
   * One pass over block `k` (or its rows `[r0, r1)`, on this thread), its chunks over the pool's
   * threads; the workers' column sums added into `C`.
   */
  private split(kind: PassKind, k: number, r0?: number, r1?: number): void {
    const wasm = this.wasm;
    const b = this.problem.blocks[k];
    wasm.stage(kind, k);
    if (this.bounds[k].length <= 2 || (r0 ?? 0) !== 0 || (r1 ?? b.rows) !== b.rows) {
      wasm.run(wasm.call(kind, k, r0, r1));
      return;
    }
    const c0 = b.colUnit0;
    const c1 = c0 + b.cols * b.groups;
    const partials = kind === 'rows' ? [] : this.partials;
    for (const partial of partials) partial.fill(0, c0, c1);
    this.pool.run(this.chunksOf(kind, k), wasm.shiftedArguments(kind), (call) => wasm.run(call));
    const C = wasm.C;
    for (const partial of partials) for (let c = c0; c < c1; c++) C[c] += partial[c];
  }

  /** The chunks of a pass over block `k`, each the call over its rows (computed once per way of adding). */
  private chunksOf(kind: PassKind, k: number): PassCall[][] {
    const key = `${kind}:${k}:${this.wasm.sums}`;
    let chunks = this.chunks.get(key);
    if (!chunks) {
      const bounds = this.bounds[k];
      chunks = bounds.slice(1).map((end, i) => [this.wasm.call(kind, k, bounds[i], end)]);
      this.chunks.set(key, chunks);
    }
    return chunks;
  }
}
