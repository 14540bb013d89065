import type { Engine, EngineOptions } from './engine.js';
import type { Problem } from '../problem/problem.js';

/** Where the WebGPU engine gets its device. */
export interface GpuSource {
  /** A `GPU` object to request the adapter from (e.g. Dawn's in Node); default `navigator.gpu`. */
  gpu?: GPU;
  /** A device to use; the engine then destroys only what it created, never the device. */
  device?: GPUDevice;
}

/** Create the WebGPU engine, or throw why it cannot run here. */
export async function createWebGpuEngine(problem: Problem, options: EngineOptions, source: GpuSource): Promise<Engine> {
  void problem;
  void options;
  void source;
  throw new Error('the WebGPU engine is not built yet');
}
