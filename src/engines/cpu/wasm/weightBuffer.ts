import { MAX_BYTES, PAGE, RESERVED, registerWeightMemory } from './memory.js';
import { prepareSharedKernels, prepareWasmKernels } from './wasmKernels.js';

/**
 * Bytes for a network's weights in memory that the CPU engine's WebAssembly kernels read in
 * place: a `Uint8Array` of `length` bytes in a shared WebAssembly memory, its byte `alignAt`
 * on a 16-byte boundary (where the first float32 weight will be). Float32 arrays made on it as
 * views, not copies (`readSafetensors(bytes, { share: true })`), are read by the kernels where
 * they lie when `p = 2` or `p = 1` (each weight squared, or taken absolute, as it is read: no `P`
 * beside them, and no memory to page in for it), and with `balance(net, { inPlace: true })` the
 * balanced weights are written over them. Resolves `null` where shared WebAssembly memory or the SIMD kernels are not
 * available: use an ordinary array then.
 */
export async function weightBuffer(length: number, alignAt = 0): Promise<Uint8Array | null> {
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`weightBuffer: length must be a non-negative integer, got ${length}`);
  if (!(await prepareWasmKernels()) || !(await prepareSharedKernels())) return null;
  const start = RESERVED + ((16 - (alignAt % 16)) % 16);
  if (start + length > MAX_BYTES) return null;
  let memory: WebAssembly.Memory;
  try {
    memory = new WebAssembly.Memory({ initial: Math.ceil((start + length) / PAGE), maximum: MAX_BYTES / PAGE, shared: true });
  } catch {
    return null; // no room for it here
  }
  registerWeightMemory(memory);
  return new Uint8Array(memory.buffer, start, length);
}
