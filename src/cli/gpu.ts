/**
 * Where the CLI gets WebGPU in Node: Dawn's `GPU` (through `src/engines/webgpu/node.ts`),
 * handed to `balance`, whose one backend choice (`src/driver/backend.ts`) decides: `auto` runs on
 * a hardware adapter only, `webgpu` on any adapter. `cpu` never loads Dawn.
 */
import type { GpuSource } from '../driver/backend.js';
import type { Backend } from '../options.js';

/** The `GPU` source for a run with the given `--backend` (empty for `cpu`, or when Dawn cannot be loaded). */
export async function gpuForBackend(backend: Backend): Promise<GpuSource> {
  if (backend === 'cpu') return {};
  const { nodeGpu } = await import('../engines/webgpu/node.js');
  const gpu = await nodeGpu();
  return gpu ? { gpu } : {};
}
