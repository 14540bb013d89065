import type { BindingLayout, Kernel } from '../../../shaders/bindings.js';
import { ShaderStage } from './flags.js';

type DeviceCache = Map<string, Promise<CompiledKernel>>;

/** Pipelines per device, keyed by the kernel's name, its WGSL (which holds every `#if` choice) and its override constants. */
const cache = new WeakMap<GPUDevice, DeviceCache>();

/** A compiled kernel with the explicit bind group layout its bind groups are made with, and its bindings by name. */
export interface CompiledKernel<B extends BindingLayout = BindingLayout> {
  readonly name: string;
  readonly pipeline: GPUComputePipeline;
  readonly layout: GPUBindGroupLayout;
  readonly bindings: B;
}

/**
 * The compute pipeline of a kernel specialised by `constants` (WGSL `override`s), compiled once
 * per device and reused by every engine on that device. The bind group layout is made from the
 * kernel's binding declaration (binding `k` is its `k`-th name), as its WGSL is.
 */
export function compileKernel<B extends BindingLayout>(device: GPUDevice, kernel: Kernel<B>, constants: Record<string, number>): Promise<CompiledKernel<B>> {
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
      entries: Object.values(kernel.bindings).map((b, binding) => ({ binding, visibility: ShaderStage.COMPUTE, buffer: { type: b.kind } })),
    });
    const module = device.createShaderModule({ label: `${label} module`, code: kernel.code });
    const promise = device
      .createComputePipelineAsync({
        label: `${label} pipeline`,
        layout: device.createPipelineLayout({ label: `${label} pipeline layout`, bindGroupLayouts: [layout] }),
        compute: { module, entryPoint: 'main', constants },
      })
      .then((pipeline): CompiledKernel => ({ name: kernel.name, pipeline, layout, bindings: kernel.bindings }));
    promise.catch(() => perDevice?.delete(key));
    entry = promise;
    perDevice.set(key, entry);
  }
  // The key holds the kernel's code, whose binding lines come from its declaration: same key, same bindings.
  return entry as Promise<CompiledKernel<B>>;
}
