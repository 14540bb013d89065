/**
 * The one backend choice of the library, used by `balance()`, the CLI and the demo: which
 * engine a run starts on, with which adapter, and why not WebGPU when it is not.
 *
 * - `cpu`: WebGPU is never touched.
 * - `webgpu`: any adapter, a software one included; no WebGPU at all (no `GPU` object, no
 *   adapter) is a {@link WeightBalanceError}: an explicit request that cannot start.
 * - `auto`: WebGPU on a hardware adapter only; otherwise the CPU, with the reason as a
 *   {@link Fallback} (`no-webgpu`, `no-adapter`, `software-adapter`).
 *
 * The adapter is requested once per run and handed to the engine (no second request).
 */

import { describeAdapter } from '../engines/webgpu/device.js';
import { WeightBalanceError } from '../errors.js';
import type { Backend } from '../options.js';
import type { Fallback } from './fallback.js';

/**
 * The part of a WebGPU `GPU` object the library calls (`navigator.gpu`, or Dawn's
 * `create([])` in Node). Typed structurally so that the published types need no `@webgpu/types`.
 */
export interface GpuLike {
  requestAdapter(options?: { powerPreference?: 'low-power' | 'high-performance' }): Promise<unknown>;
}

/** A WebGPU `GPUAdapter` (structural, see {@link GpuLike}). */
export interface GpuAdapterLike {
  readonly limits: object;
  requestDevice(descriptor?: never): Promise<unknown>;
}

/** A WebGPU `GPUDevice` (structural, see {@link GpuLike}). */
export interface GpuDeviceLike {
  readonly queue: object;
  readonly limits: object;
  createBuffer(descriptor: never): unknown;
  destroy(): void;
}

/** Where the WebGPU engine may get its device; all optional. */
export interface GpuSource {
  /** A `GPU` object to request the adapter from (e.g. Dawn's in Node); default `navigator.gpu`. */
  gpu?: GpuLike;
  /** An adapter to use (e.g. the one {@link chooseBackend} chose); one device is requested from it. */
  adapter?: GpuAdapterLike;
  /** A device to use; the engine then destroys only what it created, never the device. */
  device?: GpuDeviceLike;
}

/** Where a run starts. */
export interface BackendChoice {
  backend: 'cpu' | 'webgpu';
  /** For `webgpu`: the caller's device, or the adapter chosen (requested once); else `{}`. */
  source: { device?: GpuDeviceLike; adapter?: GpuAdapterLike };
  /** A description of the adapter (vendor, architecture, device, description), or `null`. */
  adapter: string | null;
  /** Why `auto` chose the CPU, or `null`. */
  fallback: Fallback | null;
}

/** Software renderers that expose themselves as WebGPU adapters (matched in the adapter's vendor, architecture, device and description). */
const SOFTWARE_ADAPTER = /swiftshader|llvmpipe|lavapipe|softpipe|\bwarp\b|microsoft basic render/i;

/** What {@link isSoftwareAdapter} reads of a `GPUAdapterInfo`. */
export interface AdapterInfoLike {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

/**
 * Whether an adapter is a software renderer: `isFallbackAdapter` where the browser says so,
 * else its vendor/architecture/device/description names SwiftShader, llvmpipe, lavapipe or WARP.
 */
export function isSoftwareAdapter(info: AdapterInfoLike | undefined, adapter?: { isFallbackAdapter?: boolean }): boolean {
  if (info?.isFallbackAdapter === true || adapter?.isFallbackAdapter === true) return true;
  const text = [info?.vendor, info?.architecture, info?.device, info?.description].filter((s) => typeof s === 'string').join(' ');
  return SOFTWARE_ADAPTER.test(text);
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const cpuFor = (fallback: Fallback | null): BackendChoice => ({ backend: 'cpu', source: {}, adapter: null, fallback });

/**
 * Decide where a run starts (see the module comment). Throws a {@link WeightBalanceError}
 * only for `backend: 'webgpu'` with no WebGPU at all.
 */
export async function chooseBackend(requested: Backend, source: GpuSource = {}): Promise<BackendChoice> {
  if (requested === 'cpu') return cpuFor(null);
  const refuse = (fallback: Fallback): BackendChoice => {
    if (requested === 'webgpu') throw new WeightBalanceError(`backend 'webgpu' cannot start: ${fallback.message}`);
    return cpuFor(fallback);
  };
  if (source.device) {
    const { adapterInfo } = source.device as { adapterInfo?: GPUAdapterInfo };
    const name = describeAdapter(adapterInfo);
    if (requested === 'auto' && isSoftwareAdapter(adapterInfo)) return cpuFor(softwareFallback(name));
    return { backend: 'webgpu', source: { device: source.device }, adapter: name, fallback: null };
  }
  let adapter = (source.adapter as unknown as GPUAdapter | undefined) ?? null;
  if (!adapter) {
    const gpu = (source.gpu as unknown as GPU | undefined) ?? (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
    if (!gpu) return refuse({ kind: 'no-webgpu', message: 'WebGPU unavailable: navigator.gpu is not available (no WebGPU in this environment)' });
    try {
      adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    } catch (error) {
      return refuse({ kind: 'no-adapter', message: `WebGPU unavailable: requesting an adapter failed: ${message(error)}` });
    }
    if (!adapter) return refuse({ kind: 'no-adapter', message: 'WebGPU unavailable: no WebGPU adapter was found' });
  }
  const info = adapter.info as GPUAdapterInfo | undefined;
  const name = describeAdapter(info);
  if (requested === 'auto' && isSoftwareAdapter(info, adapter as { isFallbackAdapter?: boolean })) return cpuFor(softwareFallback(name));
  return { backend: 'webgpu', source: { adapter: adapter as unknown as GpuAdapterLike }, adapter: name, fallback: null };
}

function softwareFallback(name: string): Fallback {
  return {
    kind: 'software-adapter',
    message: `only a software adapter (${name}): the float64 CPU engine is faster; backend 'webgpu' runs on it anyway`,
  };
}
