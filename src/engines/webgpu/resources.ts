import type { StructFields, StructValues, WgslStruct } from '../../../shaders/struct.js';
import { BufferUsage } from './flags.js';

const FLOAT32_MAX = 3.4028234663852886e38;
const FLOAT32_MIN_NORMAL = 1.1754943508222875e-38;

/**
 * The single owner of a set of GPU buffers: every buffer is made here, labelled, and destroyed by
 * {@link GpuResources.destroy} (the engine's for its life, the rescaling's for one segment).
 */
export class GpuResources {
  private readonly buffers: GPUBuffer[] = [];

  constructor(private readonly device: GPUDevice) {}

  /** A labelled buffer of at least `size` bytes (16 at least, a multiple of 4), filled with `data` if given. */
  buffer(label: string, size: number, usage: number, data?: ArrayBufferView & ArrayLike<number>): GPUBuffer {
    const buffer = this.device.createBuffer({ label: `weight-balance ${label}`, size: Math.max(16, Math.ceil(size / 4) * 4), usage });
    this.buffers.push(buffer);
    if (data && data.byteLength > 0) this.device.queue.writeBuffer(buffer, 0, data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
    return buffer;
  }

  /** A uniform buffer holding one struct, packed by name from `values`. */
  uniform<F extends StructFields>(label: string, struct: WgslStruct<F>, values: StructValues<F>): GPUBuffer {
    return this.buffer(label, struct.byteSize, BufferUsage.UNIFORM | BufferUsage.COPY_DST, new Uint8Array(struct.pack(values)));
  }

  /** Destroy one buffer made here now (e.g. uploads no longer needed). */
  release(buffer: GPUBuffer): void {
    const k = this.buffers.indexOf(buffer);
    if (k >= 0) this.buffers.splice(k, 1);
    buffer.destroy();
  }

  /** Destroy every buffer made here. Safe to call twice. */
  destroy(): void {
    for (const buffer of this.buffers) buffer.destroy();
    this.buffers.length = 0;
  }
}

/**
 * Entries `[start, end)` of `values` times `scale` (a power of two: exact) as float32, refusing
 * values float32 cannot hold, subnormals included (the driver then falls back to the CPU).
 */
export function float32Values(values: ArrayLike<number>, start: number, end: number, scale: number, label: string): Float32Array {
  const out = new Float32Array(end - start);
  for (let k = 0; k < out.length; k++) {
    const w = values[start + k] * scale;
    const a = Math.abs(w);
    if (a > FLOAT32_MAX || (a !== 0 && a < FLOAT32_MIN_NORMAL)) {
      throw new Error(`${label}: weight ${values[start + k]} spans more than float32 can hold on the GPU`);
    }
    out[k] = w;
  }
  return out;
}
