import type { Problem } from '../../../problem/problem.js';
import type { PowerKernels, PowerPrecision } from '../kernels.js';
import type { PassCall, PassKind } from '../wasm/wasmKernels.js';
import { PASS_EXPORTS, WasmKernels } from '../wasm/wasmKernels.js';
import type { ThreadPool } from './pool.js';
import { rowPieces, rowRanges } from './rowRanges.js';

/** Entries of `P` below which a thread's share of a block is not worth waking a worker for. */
export const MIN_ENTRIES_PER_THREAD = 1 << 15;

/**
 * The WebAssembly SIMD kernels with each pass split by rows over a {@link ThreadPool}: `P` and
 * the vectors live in one shared memory, every thread runs the same kernels on its rows, and
 * the calling thread runs the first range and waits for the rest. Column sums: each worker adds
 * into a partial `C` of its own, which the calling thread adds into `C` after the pass (the same
 * sums as one thread up to the order of the additions). A block too small to split runs on the
 * calling thread alone.
 */
export class ThreadedKernels implements PowerKernels {
  readonly name = 'wasm-simd' as const;
  private readonly wasm: WasmKernels;
  /** Per block, the row boundaries of the threads' ranges (two entries: not split). */
  private readonly bounds: number[][];
  /** Worker `t`'s partial column sums (`t = 1, 2, ...`), per global unit. */
  private partials: Float64Array[];
  private readonly calls = new Map<string, { own: PassCall[]; workers: PassCall[][] }>();

  constructor(
    private readonly problem: Problem,
    readonly precision: PowerPrecision,
    scale: number,
    module: WebAssembly.Module,
    private readonly pool: ThreadPool,
    minEntriesPerThread = MIN_ENTRIES_PER_THREAD,
  ) {
    this.wasm = new WasmKernels(problem, precision, scale, { module, partials: pool.size - 1 });
    this.partials = Array.from({ length: pool.size - 1 }, (_, w) => new Float64Array(this.wasm.C.buffer, this.wasm.cAtFor(w + 1), problem.nUnits));
    this.bounds = problem.blocks.map((b) => rowRanges(b.rows, pool.size, Math.ceil(minEntriesPerThread / Math.max(1, b.cols))));
    try {
      pool.load(module, this.wasm.memory as WebAssembly.Memory, PASS_EXPORTS);
    } catch (error) {
      this.wasm.dispose();
      throw error;
    }
  }

  /** Threads the passes use on the largest split block (1 when none is split). */
  get threads(): number {
    return Math.max(1, ...this.bounds.map((b) => b.length - 1));
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

  rowPass(k: number): void {
    this.split('rows', k);
  }

  columnPass(k: number): void {
    this.split('columns', k);
  }

  fusedPass(k: number): void {
    this.split('fused', k);
  }

  entry(k: number, index: number): number {
    return this.wasm.entry(k, index);
  }

  /** Let the workers drop the shared memory, then drop it here. */
  dispose(): void {
    this.pool.unload();
    this.partials = [];
    this.wasm.dispose();
  }

  /** One pass over block `k`, by rows over the pool's threads; column sums reduced into `C`. */
  private split(kind: PassKind, k: number): void {
    const wasm = this.wasm;
    if (this.bounds[k].length <= 2) {
      wasm.run(wasm.call(kind, k));
      return;
    }
    const { own, workers } = this.callsOf(kind, k);
    const b = this.problem.blocks[k];
    const c0 = b.colUnit0;
    const c1 = c0 + b.cols * b.groups;
    const partials = kind === 'rows' ? [] : this.partials.slice(0, workers.length);
    for (const partial of partials) partial.fill(0, c0, c1);
    this.pool.run(workers, () => {
      for (const call of own) wasm.run(call);
    });
    const C = wasm.C;
    for (const partial of partials) for (let c = c0; c < c1; c++) C[c] += partial[c];
  }

  /** The calls of a pass over block `k`: this thread's, and each worker's (computed once). */
  private callsOf(kind: PassKind, k: number): { own: PassCall[]; workers: PassCall[][] } {
    const key = `${kind}:${k}`;
    let calls = this.calls.get(key);
    if (!calls) {
      const b = this.problem.blocks[k];
      const bounds = this.bounds[k];
      const of = (t: number): PassCall[] => rowPieces(b.rows, b.groups, bounds[t], bounds[t + 1]).map((piece) => this.wasm.call(kind, k, piece, t));
      calls = { own: of(0), workers: bounds.slice(2).map((_, w) => of(w + 1)) };
      this.calls.set(key, calls);
    }
    return calls;
  }
}
