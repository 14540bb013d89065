/**
 * The WebAssembly memories the CPU engine's kernels run on, and the ones that hold a network's
 * weights where the kernels read them in place ({@link weightBuffer}): the layout constants, and
 * which memory an array lies in. A shared memory's `buffer` is a new `SharedArrayBuffer` object
 * after each `grow`, while arrays made before keep the old one: every buffer a memory has had is
 * remembered here, so that an array made at any time is found in its memory.
 */

/** Bytes below this hold the module's own data (AssemblyScript's math tables). */
export const RESERVED = 65536;
/** A WebAssembly page. */
export const PAGE = 65536;
/** The most memory a wasm32 instance can address (65536 pages). */
export const MAX_BYTES = 4 * 1024 ** 3;

/** Every buffer of a memory that holds weights, to that memory. */
const owners = new WeakMap<ArrayBufferLike, WebAssembly.Memory>();

/** Remember `memory` (its current buffer) as one that holds weights the kernels may read in place. */
export function registerWeightMemory(memory: WebAssembly.Memory): void {
  owners.set(memory.buffer, memory);
}

/** The weight memory (see {@link registerWeightMemory}) that `array` lies in, or `null`. */
export function weightMemoryOf(array: ArrayBufferView): WebAssembly.Memory | null {
  return owners.get(array.buffer) ?? null;
}

/**
 * Grow a weight memory by at least `bytes`; returns the byte offset (a multiple of 16) where the
 * new room starts. Arrays made on it before stay valid (the memory is shared).
 */
export function growWeightMemory(memory: WebAssembly.Memory, bytes: number): number {
  const start = memory.buffer.byteLength;
  const pages = Math.ceil(bytes / PAGE);
  if (start + pages * PAGE > MAX_BYTES) throw new Error('the weights and P do not fit in 4 GiB of WebAssembly memory');
  if (pages > 0) memory.grow(pages);
  registerWeightMemory(memory);
  return start;
}

/** Whether two buffers are the same memory (the same buffer, or buffers of one weight memory). */
export function sameMemory(a: ArrayBufferLike, b: ArrayBufferLike): boolean {
  if (a === b) return true;
  const owner = owners.get(a);
  return owner !== undefined && owner === owners.get(b);
}
