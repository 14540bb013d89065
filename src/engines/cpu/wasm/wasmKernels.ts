import type { RangeFold } from '../../../network/finite.js';
import { settle } from '../../../network/finite.js';
import { Arena } from '../../../network/rescale.js';
import type { Problem } from '../../../problem/problem.js';
import type { PassSums, PowerKernels, PowerPrecision } from '../kernels.js';
import { maxCols, maxRows } from '../kernels.js';
import { powerMatrix } from '../passes.js';
import { PASSES_RELAXED_SHARED_WASM_BASE64, PASSES_RELAXED_WASM_BASE64, PASSES_SHARED_WASM_BASE64, PASSES_WASM_BASE64 } from './kernels.generated.js';
import { growWeightMemory, MAX_BYTES, PAGE, RESERVED, weightMemoryOf } from './memory.js';
import type { RescaleRows32 } from './wasmArena.js';
import { WasmArena } from './wasmArena.js';

/** The signatures of the passes (pointers are byte offsets into the imported memory; `P` may be float32 weights read in place). */
type RowPass = (P: number, rows: number, cols: number, groups: number, r0: number, r1: number, x: number, S: number) => void;
type ColumnPass = (P: number, rows: number, cols: number, groups: number, r0: number, r1: number, y: number, C: number) => void;
type FusedPass = (P: number, rows: number, cols: number, groups: number, r0: number, r1: number, x: number, y: number, S: number, C: number) => void;
type RowColumnPass = (
  P: number,
  rows: number,
  cols: number,
  groups: number,
  r0: number,
  r1: number,
  x: number,
  w: number,
  e: number,
  S: number,
  C: number,
) => void;

/** A blocked float32 pass: the same arguments, then its float32 column scratch `F` (`x` is the float32 copy of `x`). */
type WithScratch<Pass extends (...args: never[]) => void> = (...args: [...Parameters<Pass>, F: number]) => void;

/** The exports of assembly/passes.ts (pointers are byte offsets into the imported memory). */
interface PassExports {
  rowPass32: RowPass;
  rowPass64: RowPass;
  columnPass32: ColumnPass;
  columnPass64: ColumnPass;
  fusedPass32: FusedPass;
  fusedPass64: FusedPass;
  rowColumnPass32: RowColumnPass;
  rowColumnPass64: RowColumnPass;
  rowPassSquares: RowPass;
  columnPassSquares: ColumnPass;
  fusedPassSquares: FusedPass;
  rowColumnPassSquares: RowColumnPass;
  rowPassMagnitudes: RowPass;
  columnPassMagnitudes: ColumnPass;
  fusedPassMagnitudes: FusedPass;
  rowColumnPassMagnitudes: RowColumnPass;
  squares32(W: number, n: number, scale: number, P: number): void;
  buildPower32(W: number, wide: number, n: number, taps: number, p: number, scale: number, P: number): void;
  buildPower64(W: number, wide: number, n: number, taps: number, p: number, scale: number, P: number): void;
  toFloat32(x: number, n: number, x32: number): void;
  rowPassBlocked32: RowPass;
  columnPassBlocked32: WithScratch<ColumnPass>;
  fusedPassBlocked32: WithScratch<FusedPass>;
  rowColumnPassBlocked32: WithScratch<RowColumnPass>;
  rescaleRows32: RescaleRows32;
  foldRange(W: number, wide: number, n: number, range: number): void;
}

/** The pass exports, by index (a {@link PassCall} names its export by its index here, so that a worker thread can make it). */
export const PASS_EXPORTS = [
  'rowPass32',
  'rowPass64',
  'columnPass32',
  'columnPass64',
  'fusedPass32',
  'fusedPass64',
  'rowPassBlocked32',
  'columnPassBlocked32',
  'fusedPassBlocked32',
  'rowColumnPass32',
  'rowColumnPass64',
  'rowColumnPassBlocked32',
  'rowPassSquares',
  'columnPassSquares',
  'fusedPassSquares',
  'rowColumnPassSquares',
  'rowPassMagnitudes',
  'columnPassMagnitudes',
  'fusedPassMagnitudes',
  'rowColumnPassMagnitudes',
] as const;

/** A pass over `P`. */
export type PassKind = 'rows' | 'columns' | 'fused' | 'rowColumn';
const PASS_INDEX: Record<PassKind, number> = { rows: 0, columns: 2, fused: 4, rowColumn: 9 };
const BLOCKED_INDEX: Record<PassKind, number> = { rows: 6, columns: 7, fused: 8, rowColumn: 11 };
/** The passes that read float32 weights in place (by p): squaring each as it is read (`P = fround(w * w)`, p = 2) or taking its magnitude (p = 1). */
const IN_PLACE_INDEX: Record<1 | 2, Record<PassKind, number>> = {
  2: { rows: 12, columns: 13, fused: 14, rowColumn: 15 },
  1: { rows: 16, columns: 17, fused: 18, rowColumn: 19 },
};

/** One call of a pass export: its index in {@link PASS_EXPORTS} and its arguments. */
export type PassCall = [exportIndex: number, ...args: number[]];

/**
 * Which build of the kernels runs: `relaxed` (relaxed SIMD: `f64x2.relaxed_madd`, a fused
 * multiply-add where the machine has one; only the rounding of each term differs) or `plain`
 * (SIMD alone). Chrome and Node 22+ validate relaxed SIMD; Node 20 only with
 * `--experimental-wasm-relaxed-simd`.
 */
export type WasmSimd = 'relaxed' | 'plain';

/** The build chosen by {@link chooseWasmSimd}, or `auto`: relaxed where this engine validates it. */
let choice: WasmSimd | 'auto' = 'auto';
/** The build that compiles from now on (decided once per choice). */
let chosen: WasmSimd | undefined;
/**
 * Each build's kernels, compiled on first use (`null`: not available here): on an ordinary memory,
 * and importing a shared memory (for the worker threads). Kept across choices, so that a module
 * compiles (and V8 optimises its code) once.
 */
const builds: Record<WasmSimd, { compiled?: WebAssembly.Module | null; shared?: WebAssembly.Module | null }> = { relaxed: {}, plain: {} };

/**
 * Choose the build of the kernels made from now on (`auto`, the default: relaxed SIMD where
 * `WebAssembly.validate` accepts it, else plain SIMD); the tests and the benchmark force each.
 * Kernels already made keep theirs.
 */
export function chooseWasmSimd(simd: WasmSimd | 'auto'): void {
  choice = simd;
  chosen = undefined;
}

/** The build the kernels are made from (see {@link chooseWasmSimd}). */
export function wasmSimd(): WasmSimd {
  if (chosen === undefined) {
    chosen = choice !== 'auto' ? choice : typeof WebAssembly === 'object' && WebAssembly.validate(bytes(PASSES_RELAXED_WASM_BASE64)) ? 'relaxed' : 'plain';
  }
  return chosen;
}

/** The chosen build's modules. */
function build(): { compiled?: WebAssembly.Module | null; shared?: WebAssembly.Module | null } {
  return builds[wasmSimd()];
}

/** The chosen build's bytes, on an ordinary or a shared memory. */
function moduleBytes(shared: boolean): Uint8Array<ArrayBuffer> {
  const relaxed = wasmSimd() === 'relaxed';
  if (shared) return bytes(relaxed ? PASSES_RELAXED_SHARED_WASM_BASE64 : PASSES_SHARED_WASM_BASE64);
  return bytes(relaxed ? PASSES_RELAXED_WASM_BASE64 : PASSES_WASM_BASE64);
}

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
  rowColumnPass32: disposed,
  rowColumnPass64: disposed,
  rowPassSquares: disposed,
  columnPassSquares: disposed,
  fusedPassSquares: disposed,
  rowColumnPassSquares: disposed,
  rowPassMagnitudes: disposed,
  columnPassMagnitudes: disposed,
  fusedPassMagnitudes: disposed,
  rowColumnPassMagnitudes: disposed,
  squares32: disposed,
  buildPower32: disposed,
  buildPower64: disposed,
  toFloat32: disposed,
  rowPassBlocked32: disposed,
  columnPassBlocked32: disposed,
  fusedPassBlocked32: disposed,
  rowColumnPassBlocked32: disposed,
  rescaleRows32: disposed,
  foldRange: disposed,
};

function bytes(base64: string): Uint8Array<ArrayBuffer> {
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
  const b = build();
  if (b.compiled === undefined) {
    const code = moduleBytes(false);
    if (typeof WebAssembly !== 'object' || !WebAssembly.validate(code)) b.compiled = null;
    else {
      try {
        b.compiled = new WebAssembly.Module(code);
      } catch {
        return false; // a synchronous compile refused here (a page's main thread): prepareWasmKernels() compiles it
      }
    }
  }
  return b.compiled !== null;
}

/** Compile the kernels asynchronously (allowed everywhere); resolves whether they are available. */
export async function prepareWasmKernels(): Promise<boolean> {
  const b = build();
  if (b.compiled === undefined) {
    const code = moduleBytes(false);
    try {
      b.compiled = typeof WebAssembly === 'object' && WebAssembly.validate(code) ? await WebAssembly.compile(code) : null;
    } catch {
      b.compiled = null;
    }
  }
  return b.compiled !== null;
}

/**
 * The kernels on a shared memory (for the worker threads), compiled asynchronously once; `null`
 * where shared WebAssembly memory or the module is not available.
 */
export async function prepareSharedKernels(): Promise<WebAssembly.Module | null> {
  const b = build();
  if (b.shared === undefined) {
    try {
      new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
      const code = moduleBytes(true);
      b.shared = WebAssembly.validate(code) ? await WebAssembly.compile(code) : null;
    } catch {
      b.shared = null;
    }
  }
  return b.shared;
}

/** The kernels on a shared memory if compiled (by {@link prepareSharedKernels}), else `null`. */
export function sharedKernels(): WebAssembly.Module | null {
  return build().shared ?? null;
}

/** Weights per copy into the range fold's memory (256 KiB of float32, 512 KiB of float64: they stay in cache). */
const FOLD_CHUNK = 1 << 16;
/** The range fold on the kernels (`null`: not available here), made on first use. */
let folder: RangeFold | null | undefined;

/**
 * Validation's read of the weights' values ({@link RangeFold}) on the WebAssembly SIMD kernel
 * (`assembly/range.ts`): each array copied a chunk at a time into a small memory of its own
 * (in cache) and folded there, the same range and first non-finite entry as `foldWeightRange`.
 * `null` where the kernels are not available (then validation reads in JS).
 */
export function wasmRangeFold(): RangeFold | null {
  if (folder !== undefined) return folder;
  if (!wasmKernelsAvailable()) return null; // not cached: a page may compile the kernels later
  try {
    const pages = Math.ceil((RESERVED + 8 * FOLD_CHUNK + 16) / PAGE);
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    const { foldRange } = new WebAssembly.Instance(build().compiled as WebAssembly.Module, { env: { memory } }).exports as unknown as PassExports;
    const at = RESERVED + 16;
    const range = new Float64Array(memory.buffer, RESERVED, 2);
    const f32 = new Float32Array(memory.buffer, at, FOLD_CHUNK);
    const f64 = new Float64Array(memory.buffer, at, FOLD_CHUNK);
    folder = (w, into) => {
      const wide = w instanceof Float64Array;
      const chunk = wide ? f64 : f32;
      range[0] = into.largest;
      range[1] = into.smallest;
      for (let k = 0; k < w.length; k += FOLD_CHUNK) {
        const n = Math.min(FOLD_CHUNK, w.length - k);
        chunk.set(w.subarray(k, k + n));
        foldRange(at, wide ? 1 : 0, n, RESERVED);
      }
      return settle(w, into, range[0], range[1]);
    };
  } catch {
    folder = null; // a synchronous instance refused here (a page's main thread)
  }
  return folder;
}

/**
 * Bytes from `C` to the end of the blocked passes' column scratch: what each worker thread gets
 * again as its own (its column sums and its scratch, at the same distance from each other).
 */
function threadBytes(problem: Problem): number {
  return Math.ceil((8 * (problem.nUnits + maxRows(problem)) + 4 * (problem.nUnits + maxCols(problem))) / 16) * 16;
}

/** Bytes of the vectors (with the regions of `partials` worker threads) and of the `P` of the blocks not `inPlace`. */
function regionBytes(problem: Problem, precision: PowerPrecision, partials: number, inPlace: readonly boolean[] = []): number {
  const size = precision === 'float32' ? 4 : 8;
  let total = 8 * (5 * problem.nUnits + maxRows(problem)) + 4 * (problem.nUnits + maxCols(problem)) + 64 + partials * threadBytes(problem);
  problem.blocks.forEach((b, k) => {
    if (!inPlace[k]) total += Math.ceil((b.rows * b.cols * size) / 16) * 16;
  });
  return total;
}

/** Bytes of WebAssembly memory a problem needs (with the regions of `partials` worker threads), or Infinity beyond what wasm32 can address. */
export function wasmBytes(problem: Problem, precision: PowerPrecision, partials = 0): number {
  const total = RESERVED + regionBytes(problem, precision, partials);
  return total <= MAX_BYTES ? total : Infinity;
}

/**
 * The weight memory (`weightBuffer.ts`) whose float32 weights the kernels read in place, squared
 * (p = 2) or taken absolute (p = 1) as they are read, and which blocks: `P` exactly as stored
 * (float32 `P`, weights not scaled, float64 sums), a block of one weight per entry of `P`, its
 * weights in that memory; `null` where no block is, or no kernels on a shared memory are compiled.
 */
export function weightsInPlace(
  problem: Problem,
  precision: PowerPrecision,
  scale: number,
  sums: PassSums,
): { memory: WebAssembly.Memory; blocks: boolean[] } | null {
  if ((problem.p !== 2 && problem.p !== 1) || precision !== 'float32' || scale !== 1 || sums !== 'float64' || !sharedKernels()) return null;
  let memory: WebAssembly.Memory | null = null;
  const blocks = problem.blocks.map((b) => {
    const home = b.taps === 1 && b.weight instanceof Float32Array ? weightMemoryOf(b.weight) : null;
    memory ??= home;
    return home !== null && home === memory;
  });
  return memory ? { memory, blocks } : null;
}

/**
 * Where the kernels' memory is shared with worker threads: the module compiled for a shared
 * memory, and how many workers get a region of their own (column sums and scratch) after `S`.
 */
export interface SharedLayout {
  module: WebAssembly.Module;
  partials: number;
}

/**
 * The WebAssembly SIMD kernels: one memory per engine holding every block's `P` (or, for blocks
 * whose float32 weights lie in a weight memory, that memory grown by the rest: see
 * {@link weightsInPlace}) and the vectors
 * (`x`, `y`, `w`, `C`, `S`, the blocked passes' float32 `x` and scratch, and with a {@link SharedLayout}
 * a region per worker thread).
 */
export class WasmKernels implements PowerKernels {
  /** The build these kernels run (relaxed SIMD where validated, see {@link chooseWasmSimd}). */
  readonly simd: WasmSimd;
  /** How the passes add now: `blocked32` only on float32 `P`, until {@link useFloat64Sums}. */
  sums: PassSums;
  x: Float64Array;
  y: Float64Array;
  C: Float64Array;
  S: Float64Array;
  w: Float64Array;
  private exports: PassExports;
  /** The memory (a shared one with a {@link SharedLayout}); `null` once disposed. */
  memory: WebAssembly.Memory | null;
  /** Byte offset of each block's `P`, and a view of it. */
  private readonly offsets: number[] = [];
  private views: (Float32Array | Float64Array)[] = [];
  private readonly xAt: number;
  private readonly yAt: number;
  private readonly wAt: number;
  private readonly cAt: number;
  private readonly sAt: number;
  /** Byte offset of the float32 copy of `x` that the blocked passes read (per global unit), and of their float32 column scratch. */
  private readonly x32At: number;
  private readonly scratchAt: number;
  /** Byte offset of worker `w`'s region (its column sums; its scratch follows as the caller's follows `C`). */
  private readonly regionAt: number;
  /** Where the kernels' own data starts in the memory: past the module's data, or past the weights in a weight memory. */
  private readonly base: number;
  /** Per block, whether its `P` is its float32 weights read in place, squared or taken absolute as they are read (see {@link weightsInPlace}). */
  readonly inPlace: readonly boolean[];

  /** {@link PowerKernels.name}: which build of the WebAssembly kernels runs. */
  get name(): 'wasm-simd' | 'wasm-relaxed-simd' {
    return this.simd === 'relaxed' ? 'wasm-relaxed-simd' : 'wasm-simd';
  }

  constructor(
    private readonly problem: Problem,
    readonly precision: PowerPrecision,
    scale: number,
    sums: PassSums = 'float64',
    shared?: SharedLayout,
  ) {
    if (!shared && !wasmKernelsAvailable()) throw new Error('WebAssembly SIMD is not available');
    const partials = shared?.partials ?? 0;
    this.sums = precision === 'float32' ? sums : 'float64';
    const host = weightsInPlace(problem, precision, scale, this.sums);
    this.inPlace = host?.blocks ?? problem.blocks.map(() => false);
    const bytes = regionBytes(problem, precision, partials, this.inPlace);
    let module: WebAssembly.Module;
    if (host) {
      // The weights' own memory, grown by the vectors and the P of any block not read in place.
      this.memory = host.memory;
      this.base = growWeightMemory(host.memory, bytes);
      module = shared?.module ?? (sharedKernels() as WebAssembly.Module);
    } else {
      if (RESERVED + bytes > MAX_BYTES) throw new Error('P does not fit in 4 GiB of WebAssembly memory');
      const pages = Math.ceil((RESERVED + bytes) / PAGE);
      this.memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: shared !== undefined });
      this.base = RESERVED;
      module = shared ? shared.module : (build().compiled as WebAssembly.Module);
    }
    this.simd = wasmSimd();
    const instance = new WebAssembly.Instance(module, { env: { memory: this.memory } });
    this.exports = instance.exports as unknown as PassExports;
    const buffer = this.memory.buffer;
    const n = problem.nUnits;
    this.xAt = this.base;
    this.yAt = this.xAt + 8 * n;
    this.wAt = this.yAt + 8 * n;
    this.cAt = this.wAt + 16 * n;
    this.sAt = this.cAt + 8 * n;
    this.x32At = this.sAt + 8 * maxRows(problem);
    this.scratchAt = this.x32At + 4 * n;
    this.x = new Float64Array(buffer, this.xAt, n);
    this.y = new Float64Array(buffer, this.yAt, n);
    this.C = new Float64Array(buffer, this.cAt, n);
    this.S = new Float64Array(buffer, this.sAt, maxRows(problem));
    this.w = new Float64Array(buffer, this.wAt, 2 * n);
    this.regionAt = Math.ceil((this.scratchAt + 4 * maxCols(problem)) / 16) * 16;
    let at = this.regionAt + partials * threadBytes(problem);
    problem.blocks.forEach((b, k) => {
      if (this.inPlace[k]) {
        const weight = b.weight as Float32Array;
        this.offsets.push(weight.byteOffset);
        this.views.push(weight);
        return;
      }
      const entries = b.rows * b.cols;
      this.offsets.push(at);
      const view = precision === 'float32' ? new Float32Array(buffer, at, entries) : new Float64Array(buffer, at, entries);
      this.views.push(view);
      this.build(b, view, at, scale);
      at += Math.ceil((entries * view.BYTES_PER_ELEMENT) / 16) * 16;
    });
  }

  rowPass(k: number, r0?: number, r1?: number): void {
    this.stage('rows', k);
    this.run(this.call('rows', k, r0, r1));
  }

  columnPass(k: number, r0?: number, r1?: number): void {
    this.run(this.call('columns', k, r0, r1));
  }

  fusedPass(k: number, r0?: number, r1?: number): void {
    this.stage('fused', k);
    this.run(this.call('fused', k, r0, r1));
  }

  rowColumnPass(k: number, r0?: number, r1?: number): void {
    this.stage('rowColumn', k);
    this.run(this.call('rowColumn', k, r0, r1));
  }

  /**
   * The call of a pass export over the rows `[r0, r1)` of block `k` (default: all): pointers into
   * this memory, so that a worker thread holding the same shared memory can make it, adding its
   * own offset ({@link threadShift}) to the arguments {@link shiftedArguments} names. The blocked
   * passes read `x` as staged by {@link stage}.
   */
  call(kind: PassKind, k: number, r0 = 0, r1 = this.problem.blocks[k].rows): PassCall {
    const b = this.problem.blocks[k];
    const blocked = this.sums === 'blocked32';
    const index = this.inPlace[k]
      ? IN_PLACE_INDEX[this.problem.p as 1 | 2][kind]
      : blocked
        ? BLOCKED_INDEX[kind]
        : PASS_INDEX[kind] + (this.precision === 'float32' ? 0 : 1);
    const head = [this.offsets[k], b.rows, b.cols, b.groups, r0, r1];
    const x = blocked ? this.x32At + 4 * b.colUnit0 : this.xAt + 8 * b.colUnit0;
    const y = this.yAt + 8 * b.rowUnit0;
    const C = this.cAt + 8 * b.colUnit0;
    const scratch = blocked ? [this.scratchAt] : [];
    if (kind === 'rows') return [index, ...head, x, this.sAt];
    if (kind === 'columns') return [index, ...head, y, C, ...scratch];
    if (kind === 'rowColumn') return [index, ...head, x, this.wAt + 16 * b.rowUnit0, this.problem.r - 1, this.sAt, C, ...scratch];
    return [index, ...head, x, y, this.sAt, C, ...scratch];
  }

  /** The positions (a bit per argument) of a pass call's arguments a worker thread shifts to its own region: the column sums and the scratch. */
  shiftedArguments(kind: PassKind): number {
    const C = { rows: 0, columns: 7, fused: 9, rowColumn: 10 }[kind];
    if (C === 0) return 0;
    return this.sums === 'blocked32' ? (1 << C) | (1 << (C + 1)) : 1 << C;
  }

  /** What worker `w` (0, 1, ...) adds to the shifted arguments; its column sums are then {@link partialSums}. */
  threadShift(w: number): number {
    return this.regionAt + w * threadBytes(this.problem) - this.cAt;
  }

  /** Worker `w`'s column sums, per global unit. */
  partialSums(w: number): Float64Array {
    return new Float64Array(this.C.buffer, this.cAt + this.threadShift(w), this.problem.nUnits);
  }

  /** What a pass needs before its calls run on any thread: the blocked passes' float32 copy of the block's `x`. */
  stage(kind: PassKind, k: number): void {
    if (this.sums === 'blocked32' && kind !== 'columns') this.stageX(this.problem.blocks[k]);
  }

  /** Make a call of {@link call} on this thread. */
  run(call: PassCall): void {
    const [index, ...args] = call;
    (this.exports[PASS_EXPORTS[index]] as (...values: number[]) => void)(...args);
  }

  /**
   * Round the block's columns of `x` to float32 for the blocked passes; returns where. A pass split
   * over threads by rows rounds them once, before the threads start.
   */
  stageX(b: Problem['blocks'][number]): number {
    const at = this.x32At + 4 * b.colUnit0;
    this.exports.toFloat32(this.xAt + 8 * b.colUnit0, b.cols * b.groups, at);
    return at;
  }

  /**
   * Blocked float32 sums: every rounding of a term to float32 may lose at most 2^-149 (the
   * spacing of float32 subnormals) times `1 + P[i,j]` (`x`, `y` <= 1), with `P` below
   * `taps * 2^p` (the weights are scaled below 2); a sum above 1e9 times that over its terms
   * is within 1e-9 of float64's. Float64 sums: 0.
   */
  smallestSum(k: number, along: 'rows' | 'columns'): number {
    if (this.sums !== 'blocked32') return 0;
    const b = this.problem.blocks[k];
    const terms = along === 'rows' ? b.cols : b.rows / b.groups;
    return 1e9 * 2 ** -149 * terms * (1 + b.taps * 2 ** this.problem.p);
  }

  useFloat64Sums(): void {
    this.sums = 'float64';
  }

  entry(k: number, index: number): number {
    const value = this.views[k][index];
    if (!this.inPlace[k]) return value;
    return this.problem.p === 2 ? Math.fround(value * value) : Math.abs(value);
  }

  /** Drop every reference to the memory (views, instance) so that it can be reclaimed. */
  dispose(): void {
    this.views = [];
    this.memory = null;
    this.x = this.y = this.C = this.S = this.w = new Float64Array(0);
    this.exports = DISPOSED;
  }

  /**
   * Dispose, handing over the WebAssembly memory (it held `P` and the vectors; nothing uses it any
   * more) as an arena past the module's own data (in a weight memory: past the weights, whose
   * float32 blocks the SIMD kernel rescales where they lie with `inPlace`), where float32 blocks
   * are rescaled by the SIMD kernel (`assembly/rescale.ts`).
   */
  release(): Arena {
    const buffer = this.memory?.buffer;
    const rescale = this.exports.rescaleRows32;
    this.dispose();
    return buffer ? new WasmArena(buffer, this.base, rescale) : new Arena();
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
