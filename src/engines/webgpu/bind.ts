import type { BindingKind, BindingLayout } from '../../../shaders/bindings.js';
import type { CompiledKernel } from './pipelines.js';

/** A buffer for every binding of a kernel, by name (a missing or misspelled name is a compile error). */
export type BindingBuffers<B extends BindingLayout> = { readonly [K in keyof B]: GPUBuffer };

/** `GPUBufferUsage.UNIFORM` and `.STORAGE` (values fixed by the WebGPU specification). */
const USAGE: Record<BindingKind, number> = { uniform: 0x40, storage: 0x80, 'read-only-storage': 0x80 };

/**
 * A bind group of `kernel` from its buffers by name: binding `k` gets the buffer of the kernel's
 * `k`-th declared binding, so no buffer can land on the wrong binding. A buffer whose usage does
 * not allow its binding's kind (a storage buffer on a uniform binding, say) is refused here, with
 * the binding's name, rather than by a validation error about an index.
 */
export function bind<B extends BindingLayout>(device: GPUDevice, label: string, kernel: CompiledKernel<B>, buffers: BindingBuffers<B>): GPUBindGroup {
  const given = buffers as Readonly<Record<string, GPUBuffer | undefined>>;
  for (const name of Object.keys(given)) {
    if (!(name in kernel.bindings)) throw new Error(`${label}: kernel ${kernel.name} has no binding '${name}'`);
  }
  const entries = Object.entries(kernel.bindings).map(([name, b], binding) => {
    const buffer = given[name];
    if (!buffer) throw new Error(`${label}: no buffer for binding '${name}' of kernel ${kernel.name}`);
    if ((buffer.usage & USAGE[b.kind]) === 0) {
      throw new Error(`${label}: buffer '${buffer.label}' cannot be bound as ${b.kind} ('${name}' of kernel ${kernel.name})`);
    }
    return { binding, resource: { buffer } };
  });
  return device.createBindGroup({ label: `weight-balance ${label} bind group`, layout: kernel.layout, entries });
}
