import type { Engine, EngineOptions } from './engine.js';
import type { Problem } from '../problem/problem.js';
import { WebGpuEngine } from './webgpu/engine.js';

/** Where the WebGPU engine gets its device. */
export interface GpuSource {
  /** A `GPU` object to request the adapter from (e.g. Dawn's in Node); default `navigator.gpu`. */
  gpu?: GPU;
  /** A device to use; the engine then destroys only what it created, never the device. */
  device?: GPUDevice;
}

/**
 * Create the WebGPU engine on the caller's device, or on a device of `gpu` / `navigator.gpu`,
 * or throw why it cannot run here (the driver then falls back to the CPU engine).
 */
export async function createWebGpuEngine(problem: Problem, options: EngineOptions, source: GpuSource): Promise<Engine> {
  return WebGpuEngine.create(problem, options, { gpu: source.gpu, device: source.device });
}
