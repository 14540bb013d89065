import type { Engine, EngineOptions } from './engine.js';
import type { Problem } from '../problem/problem.js';
import type { GpuTarget } from './webgpu/device.js';
import { WebGpuEngine } from './webgpu/engine.js';

/**
 * Create the WebGPU engine on the caller's device, or on a device of the chosen adapter,
 * or throw why it cannot run here (the driver then falls back to the CPU engine).
 */
export async function createWebGpuEngine(problem: Problem, options: EngineOptions, target: GpuTarget): Promise<Engine> {
  return WebGpuEngine.create(problem, options, target);
}
