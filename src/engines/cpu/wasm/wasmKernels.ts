import type { Problem } from '../../../problem/problem.js';
import type { PowerKernels, PowerPrecision } from '../kernels.js';
import { maxRows } from '../kernels.js';
import { powerMatrix } from '../passes.js';
import type { RowPiece } from '../threads/rowRanges.js';
import { PASSES_SHARED_WASM_BASE64, PASSES_WASM_BASE64 } from './kernels.generated.js';

/** The exports of assembly/passes.ts (pointers are byte offsets into the imported memory). */
interface PassExports {
  rowPass32(P: number, rows: number, cols: number, groups: number, x: number, S: number): void;
  rowPass64(P: number, rows: number, cols: number, groups: number, x: number, S: number): void;
  columnPass32(P: number, rows: number, cols: number, groups: number, y: number, C: number): void;
  columnPass64(P: number, rows: number, cols: number, groups: number, y: number, C: number): void;
  fusedPass32(P: number, rows: number, cols: number, groups: number, x: number, y: number, S: number, C: number): void;
  fusedPass64(P: number, rows: number, cols: number, groups: number, x: number, y: number, S: number, C: number): void;
  squares32(W: number, n: number, scale: number, P: number): void;
  buildPower32(W: number, wide: number, n: number, taps: number, p: number, scale: number, P: number): void;
  buildPower64(W: number, wide: number, n: number, taps: number, p: number, scale: number, P: number): void;
}

/** Bytes below this hold the module's own data (AssemblyScript's math tables). */
const RESERVED = 65536;
const PAGE = 65536;
/** The most memory a wasm32 instance can address (65536 pages). */
const MAX_BYTES = 4 * 1024 ** 3;

/** The pass exports a worker thread may call, by index (see {@link WasmKernels.call}). */
export const PASS_EXPORTS = ['rowPass32', 'rowPass64', 'columnPass32', 'columnPass64', 'fusedPass32', 'fusedPass64'] as const;

/** A pass over `P`. */
export type PassKind = 'rows' | 'columns' | 'fused';
const PASS_INDEX: Record<PassKind, number> = { rows: 0, columns: 2, fused: 4 };

/** One call of a pass export: its index in {@link PASS_EXPORTS} and its arguments. */
export type PassCall = [exportIndex: number, ...args: number[]];

let compiled: WebAssembly.Module | null | undefined;
/** The kernels importing a shared memory (for the worker threads), compiled on first use. */
let compiledShared: WebAssembly.Module | null | undefined;

const disposed = (): never => {
  throw new Error('the WebAssembly kernels were disposed');
};
/** What a disposed instance calls. */
const DISPOSED: PassExports = {
  rowPass32: disposed,
  rowPass64: disposed,
  columnPass32: disposed,
  columnPass64: disposed,
  fusedPass32: disposed,
  fusedPass64: disposed,
  squares32: disposed,
  buildPower32: disposed,
  buildPower64: disposed,
};

function bytes(base64 = PASSES_WASM_BASE64): Uint8Array<ArrayBuffer> {
  const text = atob(base64);
  const out = new Uint8Array(new ArrayBuffer(text.length));
  for (let k = 0; k < text.length; k++) out[k] = text.charCodeAt(k);
  return out;
}

/**
 * Whether WebAssembly with SIMD is available, compiling the kernels once (synchronously: Node and
 * workers; a browser's main thread refuses large synchronous compiles, so call
 * {@link prepareWasmKernels} first there).
 */
export function wasmKernelsAvailable(): boolean {
  if (compiled === undefined) {
    const code = bytes();
    if (typeof WebAssembly !== 'object' || !WebAssembly.validate(code)) compiled = null;
    else {
      try {
        compiled = new WebAssembly.Module(code);
      } catch {
        return false; // a synchronous compile refused here (a page's main thread): prepareWasmKernels() compiles it
      }
    }
  }
  return compiled !== null;
}

/** Compile the kernels asynchronously (allowed everywhere); resolves whether they are available. */
export async function prepareWasmKernels(): Promise<boolean> {
  if (compiled === undefined) {
    const code = bytes();
    try {
      compiled = typeof WebAssembly === 'object' && WebAssembly.validate(code) ? await WebAssembly.compile(code) : null;
    } catch {
      compiled = null;
    }
  }
  return compiled !== null;
}

/**
 * The kernels on a shared memory (for the worker threads), compiled asynchronously once; `null`
 * where shared WebAssembly memory or the module is not available.
 */
export async function prepareSharedKernels(): Promise<WebAssembly.Module | null> {
  if (compiledShared === undefined) {
    try {
      new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
      const code = bytes(PASSES_SHARED_WASM_BASE64);
      compiledShared = WebAssembly.validate(code) ? await WebAssembly.compile(code) : null;
    } catch {
      compiledShared = null;
    }
  }
  return compiledShared;
}

/** The kernels on a shared memory if compiled (by {@link prepareSharedKernels}), else `null`. */
export function sharedKernels(): WebAssembly.Module | null {
  return compiledShared ?? null;
}

/** Bytes of WebAssembly memory a problem needs (with `partials` extra column-sum vectors), or Infinity beyond what wasm32 can address. */
export function wasmBytes(problem: Problem, precision: PowerPrecision, partials = 0): number {
  const size = precision === 'float32' ? 4 : 8;
  let total = RESERVED + 8 * ((3 + partials) * problem.nUnits + maxRows(problem)) + 64;
  for (const b of problem.blocks) total += Math.ceil((b.rows * b.cols * size) / 16) * 16;
  return total <= MAX_BYTES ? total : Infinity;
}

/**
 * Where the kernels' memory is shared with worker threads: the module compiled for a shared
 * memory, and how many extra column-sum vectors (one per worker) to lay out after `S`.
 */
export interface SharedLayout {
  module: WebAssembly.Module;
  partials: number;
}

/**
 * The WebAssembly SIMD kernels: one memory per engine holding every block's `P` and the vectors
 * (`x`, `y`, `C`, `S`, and with a {@link SharedLayout} one more `C` per worker thread).
 */
export class WasmKernels implements PowerKernels {
  readonly name = 'wasm-simd' as const;
  x: Float64Array;
  y: Float64Array;
  C: Float64Array;
  S: Float64Array;
  private exports: PassExports;
  /** The memory (a shared one with a {@link SharedLayout}); `null` once disposed. */
  memory: WebAssembly.Memory | null;
  /** Byte offset of each block's `P`, and a view of it. */
  private readonly offsets: number[] = [];
  private views: (Float32Array | Float64Array)[] = [];
  private readonly xAt: number;
  private readonly yAt: number;
  private readonly cAt: number;
  private readonly sAt: number;
  /** The byte offset of `C` for thread `t` (0: the calling thread's `C`; `t >= 1`: worker `t`'s partial sums). */
  readonly cAtFor: (t: number) => number;

  constructor(
    private readonly problem: Problem,
    readonly precision: PowerPrecision,
    scale: number,
    shared?: SharedLayout,
  ) {
    if (!shared && !wasmKernelsAvailable()) throw new Error('WebAssembly SIMD is not available');
    const partials = shared?.partials ?? 0;
    const total = wasmBytes(problem, precision, partials);
    if (!Number.isFinite(total)) throw new Error('P does not fit in 4 GiB of WebAssembly memory');
    const pages = Math.ceil(total / PAGE);
    this.memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: shared !== undefined });
    const module = shared ? shared.module : (compiled as WebAssembly.Module);
    const instance = new WebAssembly.Instance(module, { env: { memory: this.memory } });
    this.exports = instance.exports as unknown as PassExports;
    const buffer = this.memory.buffer;
    const n = problem.nUnits;
    this.xAt = RESERVED;
    this.yAt = this.xAt + 8 * n;
    this.cAt = this.yAt + 8 * n;
    this.sAt = this.cAt + 8 * n;
    this.x = new Float64Array(buffer, this.xAt, n);
    this.y = new Float64Array(buffer, this.yAt, n);
    this.C = new Float64Array(buffer, this.cAt, n);
    this.S = new Float64Array(buffer, this.sAt, maxRows(problem));
    const partialsAt = this.sAt + 8 * this.S.length;
    this.cAtFor = (t) => (t === 0 ? this.cAt : partialsAt + 8 * n * (t - 1));
    let at = Math.ceil((partialsAt + 8 * n * partials) / 16) * 16;
    for (const b of problem.blocks) {
      const entries = b.rows * b.cols;
      this.offsets.push(at);
      const view = precision === 'float32' ? new Float32Array(buffer, at, entries) : new Float64Array(buffer, at, entries);
      this.views.push(view);
      this.build(b, view, at, scale);
      at += Math.ceil((entries * view.BYTES_PER_ELEMENT) / 16) * 16;
    }
  }

  rowPass(k: number): void {
    this.run(this.call('rows', k));
  }

  columnPass(k: number): void {
    this.run(this.call('columns', k));
  }

  fusedPass(k: number): void {
    this.run(this.call('fused', k));
  }

  /**
   * The call of a pass export over rows `piece` of block `k` (the whole block by default), adding
   * its column sums into thread `t`'s `C` ({@link cAtFor}): pointers into this memory, so that a
   * worker thread holding the same shared memory can make it.
   */
  call(kind: PassKind, k: number, piece?: RowPiece, t = 0): PassCall {
    const b = this.problem.blocks[k];
    const { start, rows, groups, group } = piece ?? { start: 0, rows: b.rows, groups: b.groups, group: 0 };
    const P = this.offsets[k] + start * b.cols * (this.precision === 'float32' ? 4 : 8);
    const x = this.xAt + 8 * (b.colUnit0 + group * b.cols);
    const y = this.yAt + 8 * (b.rowUnit0 + start);
    const S = this.sAt + 8 * start;
    const C = this.cAtFor(t) + 8 * (b.colUnit0 + group * b.cols);
    const index = PASS_INDEX[kind] + (this.precision === 'float32' ? 0 : 1);
    if (kind === 'rows') return [index, P, rows, b.cols, groups, x, S];
    if (kind === 'columns') return [index, P, rows, b.cols, groups, y, C];
    return [index, P, rows, b.cols, groups, x, y, S, C];
  }

  /** Make a call of {@link call} on this thread. */
  run(call: PassCall): void {
    const [index, ...args] = call;
    (this.exports[PASS_EXPORTS[index]] as (...values: number[]) => void)(...args);
  }

  entry(k: number, index: number): number {
    return this.views[k][index];
  }

  /** Drop every reference to the memory (views, instance) so that it can be reclaimed. */
  dispose(): void {
    this.views = [];
    this.memory = null;
    this.x = this.y = this.C = this.S = new Float64Array(0);
    this.exports = DISPOSED;
  }

  /**
   * Build one block's `P` in place: the weights are copied into its slot (at its end when `P` is
   * wider than them, so that each entry is read before it is overwritten) and raised there. Taps
   * summed, or float64 weights into float32 `P`, are built by the JS loop into the view.
   */
  private build(b: Problem['blocks'][number], view: Float32Array | Float64Array, at: number, scale: number): void {
    const { p } = this.problem;
    const w = b.weight;
    const wide = w instanceof Float64Array;
    const narrowing = wide && this.precision === 'float32';
    if (b.taps !== 1 || narrowing) {
      powerMatrix(b, p, scale, view);
      return;
    }
    const n = w.length;
    const from = at + n * view.BYTES_PER_ELEMENT - n * w.BYTES_PER_ELEMENT;
    if (wide) new Float64Array(this.memory!.buffer, from, n).set(w);
    else new Float32Array(this.memory!.buffer, from, n).set(w);
    if (p === 2 && !wide && this.precision === 'float32') this.exports.squares32(from, n, scale, at);
    else if (this.precision === 'float32') this.exports.buildPower32(from, wide ? 1 : 0, n, 1, p, scale, at);
    else this.exports.buildPower64(from, wide ? 1 : 0, n, 1, p, scale, at);
  }
}
