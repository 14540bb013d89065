/**
 * Where the CLI gets WebGPU in Node (Dawn, through `src/node/webgpu.ts`).
 *
 * - `cpu`: WebGPU is never loaded.
 * - `webgpu`: Dawn's `GPU` is passed to `balance`, whatever adapter it offers (SwiftShader
 *   included); `balance` falls back to the CPU if it cannot run there.
 * - `auto`: WebGPU only on a hardware adapter. A software adapter (SwiftShader, a CPU emulation
 *   in float32) is slower than the float64 CPU engine, so `auto` then runs on the CPU and says why.
 */
import type { Backend } from '../options.js';

/** What a run should use: the backend to ask `balance` for, its `GPU`, and why WebGPU was skipped. */
export interface GpuChoice {
  backend: Backend;
  gpu?: GPU;
  /** Why `auto` chose the CPU, or `null`. */
  note: string | null;
}

/** Decide where a run with the given `--backend` goes. */
export async function gpuForBackend(backend: Backend): Promise<GpuChoice> {
  if (backend === 'cpu') return { backend, note: null };
  const { nodeGpu } = await import('../node/webgpu.js');
  const gpu = await nodeGpu();
  if (backend === 'webgpu') return gpu ? { backend, gpu, note: null } : { backend, note: null };
  if (!gpu) return { backend: 'cpu', note: 'WebGPU unavailable: the webgpu package could not be loaded' };
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch {
    adapter = null;
  }
  if (!adapter) return { backend: 'cpu', note: 'WebGPU unavailable: no adapter' };
  const info = adapter.info;
  if (info?.isFallbackAdapter || /swiftshader/i.test(`${info?.vendor} ${info?.architecture} ${info?.description}`)) {
    return { backend: 'cpu', note: `only a software WebGPU adapter (${info?.description || info?.architecture || 'fallback'}): the float64 CPU engine is faster; --backend webgpu runs on it anyway` };
  }
  return { backend, gpu, note: null };
}
