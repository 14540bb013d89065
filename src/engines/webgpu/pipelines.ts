import type { Kernel } from '../../../shaders/common.js';
import { ShaderStage } from './flags.js';

type DeviceCache = Map<string, Promise<{ pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }>>;

/** Pipelines per device, keyed by the kernel's name, its WGSL (which holds every `#if` choice) and its override constants. */
const cache = new WeakMap<GPUDevice, DeviceCache>();

/** A compiled kernel with the explicit bind group layout its bind groups are made with. */
export interface CompiledKernel {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
}

/**
 * The compute pipeline of a kernel specialised by `constants` (WGSL `override`s), compiled once
 * per device and reused by every engine on that device.
 */
export function compileKernel(device: GPUDevice, kernel: Kernel, constants: Record<string, number>): Promise<CompiledKernel> {
  let perDevice = cache.get(device);
  if (!perDevice) {
    perDevice = new Map();
    cache.set(device, perDevice);
  }
  const key = `${kernel.name}\u0000${kernel.code}\u0000${JSON.stringify(Object.entries(constants).sort())}`;
  let entry = perDevice.get(key);
  if (!entry) {
    const label = `weight-balance ${kernel.name} ${JSON.stringify(constants)}`;
    const layout = device.createBindGroupLayout({
      label: `${label} bind group layout`,
      entries: kernel.bindings.map((type, binding) => ({ binding, visibility: ShaderStage.COMPUTE, buffer: { type } })),
    });
    const module = device.createShaderModule({ label: `${label} module`, code: kernel.code });
    const promise = device
      .createComputePipelineAsync({
        label: `${label} pipeline`,
        layout: device.createPipelineLayout({ label: `${label} pipeline layout`, bindGroupLayouts: [layout] }),
        compute: { module, entryPoint: 'main', constants },
      })
      .then((pipeline) => ({ pipeline, layout }));
    promise.catch(() => perDevice?.delete(key));
    entry = promise;
    perDevice.set(key, entry);
  }
  return entry;
}
