/** Where the engine gets its device: the caller's device, else an adapter already chosen, else `gpu`'s (or `navigator.gpu`'s) adapter. */
export interface GpuTarget {
  device?: GPUDevice;
  adapter?: GPUAdapter;
  gpu?: GPU;
}

/** A device for the engine, and whether the engine owns it (then it destroys it at the end). */
export interface AcquiredDevice {
  device: GPUDevice;
  /** `true` when the engine requested the device itself. */
  owned: boolean;
  /** A description of the adapter, e.g. `google swiftshader ...`. */
  adapter: string;
}

/** A one-line description of an adapter from its `GPUAdapterInfo` (vendor, architecture, device, description). */
export function describeAdapter(info: GPUAdapterInfo | undefined): string {
  if (!info) return 'unknown WebGPU adapter';
  const parts = [info.vendor, info.architecture, info.device, info.description].filter((s) => typeof s === 'string' && s.length > 0);
  const text = [...new Set(parts)].join(' ').trim();
  return text.length > 0 ? text : 'unknown WebGPU adapter';
}

/**
 * Get a device: the caller's `GPUDevice` (never destroyed by the engine), else one from the
 * given adapter, else from an adapter of the injected `GPU` object (Dawn's in Node) or of `navigator.gpu`, with the largest
 * buffer limits the adapter offers. Throws why WebGPU cannot run here.
 */
export async function acquireDevice(source: GpuTarget): Promise<AcquiredDevice> {
  if (source.device) {
    const info = (source.device as GPUDevice & { adapterInfo?: GPUAdapterInfo }).adapterInfo;
    return { device: source.device, owned: false, adapter: describeAdapter(info) };
  }
  const gpu = source.gpu ?? (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (!source.adapter && !gpu) throw new Error('navigator.gpu is not available (no WebGPU in this environment)');
  const adapter = source.adapter ?? (await gpu!.requestAdapter({ powerPreference: 'high-performance' }));
  if (!adapter) throw new Error('no WebGPU adapter was found');
  const limits = adapter.limits;
  const device = await adapter.requestDevice({
    label: 'weight-balance device',
    requiredLimits: {
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
    },
  });
  return { device, owned: true, adapter: describeAdapter(adapter.info) };
}
