/**
 * The one backend choice (`chooseBackend`, used by `balance`, the CLI and the demo): `auto`
 * never picks a software adapter, `webgpu` takes any adapter and refuses to start without
 * WebGPU, and the adapter is requested once per run and handed to the engine.
 */
import { describe, expect, it, vi } from 'vitest';
import { balance } from '../src/balance.js';
import type { AdapterInfoLike } from '../src/driver/backend.js';
import { chooseBackend, isSoftwareAdapter } from '../src/driver/backend.js';
import { WeightBalanceError } from '../src/errors.js';
import { mlpNet } from './support/fixNets.js';

/** A `GPU` whose one adapter has the given info; counts the requests. `requestDevice` fails (no real device). */
function fakeGpu(info: AdapterInfoLike, adapterFlag?: boolean) {
  const requestDevice = vi.fn(async () => {
    throw new Error('fake adapter: no device');
  });
  const adapter = { info, limits: {}, requestDevice, ...(adapterFlag === undefined ? {} : { isFallbackAdapter: adapterFlag }) };
  const requestAdapter = vi.fn(async () => adapter);
  return { gpu: { requestAdapter }, adapter, requestAdapter, requestDevice };
}

const SOFTWARE: AdapterInfoLike[] = [
  { vendor: 'google', architecture: 'swiftshader', description: 'SwiftShader Device (Subzero)' },
  { vendor: 'mesa', architecture: '', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' },
  { vendor: 'mesa', device: 'lavapipe', description: '' },
  { vendor: 'microsoft', architecture: '', description: 'Microsoft Basic Render Driver' },
  { vendor: 'microsoft', architecture: 'warp' },
  { vendor: 'nvidia', architecture: 'ampere', isFallbackAdapter: true },
];
const HARDWARE: AdapterInfoLike[] = [
  { vendor: 'nvidia', architecture: 'ampere', description: 'NVIDIA GeForce RTX 3080' },
  { vendor: 'intel', architecture: 'gen-12lp', description: 'Intel(R) Xe Graphics' },
  { vendor: 'apple', architecture: 'metal-3' },
];

describe('isSoftwareAdapter', () => {
  it('recognises SwiftShader, llvmpipe, lavapipe, WARP and isFallbackAdapter; not hardware adapters', () => {
    for (const info of SOFTWARE) expect(isSoftwareAdapter(info), JSON.stringify(info)).toBe(true);
    for (const info of HARDWARE) expect(isSoftwareAdapter(info), JSON.stringify(info)).toBe(false);
    expect(isSoftwareAdapter(HARDWARE[0], { isFallbackAdapter: true })).toBe(true);
    expect(isSoftwareAdapter(undefined)).toBe(false);
  });
});

describe('chooseBackend', () => {
  it('auto: the CPU on a software adapter, reported as software-adapter with the words "software adapter"', async () => {
    for (const info of SOFTWARE) {
      const { gpu, requestAdapter } = fakeGpu(info);
      const choice = await chooseBackend('auto', { gpu });
      expect(choice.backend).toBe('cpu');
      expect(choice.fallback?.kind).toBe('software-adapter');
      expect(choice.fallback?.message).toMatch(/software adapter/);
      expect(requestAdapter).toHaveBeenCalledTimes(1);
    }
    const flagged = fakeGpu(HARDWARE[0], true);
    expect((await chooseBackend('auto', { gpu: flagged.gpu })).fallback?.kind).toBe('software-adapter');
  });

  it('auto: WebGPU on a hardware adapter, the adapter handed on; webgpu: any adapter', async () => {
    for (const info of HARDWARE) {
      const { gpu, adapter } = fakeGpu(info);
      const choice = await chooseBackend('auto', { gpu });
      expect(choice.backend).toBe('webgpu');
      expect(choice.source.adapter).toBe(adapter);
      expect(choice.fallback).toBeNull();
    }
    const { gpu, adapter } = fakeGpu(SOFTWARE[0]);
    const explicit = await chooseBackend('webgpu', { gpu });
    expect(explicit.backend).toBe('webgpu');
    expect(explicit.source.adapter).toBe(adapter);
    expect(explicit.adapter).toMatch(/swiftshader/i);
  });

  it("a caller's device: used by webgpu, by auto unless its adapter is a software one", async () => {
    const device = { queue: {}, limits: {}, createBuffer: () => ({}), destroy: () => undefined, adapterInfo: SOFTWARE[0] };
    expect((await chooseBackend('webgpu', { device })).source.device).toBe(device);
    expect((await chooseBackend('auto', { device })).fallback?.kind).toBe('software-adapter');
    const hardware = { ...device, adapterInfo: HARDWARE[0] };
    expect((await chooseBackend('auto', { device: hardware })).backend).toBe('webgpu');
  });

  it('cpu never asks for an adapter', async () => {
    const { gpu, requestAdapter } = fakeGpu(HARDWARE[0]);
    expect(await chooseBackend('cpu', { gpu })).toEqual({ backend: 'cpu', source: {}, adapter: null, fallback: null });
    expect(requestAdapter).not.toHaveBeenCalled();
  });

  it('a failing requestAdapter: auto reports no-adapter, webgpu is a WeightBalanceError', async () => {
    const gpu = {
      requestAdapter: async () => {
        throw new Error('driver crashed');
      },
    };
    expect((await chooseBackend('auto', { gpu })).fallback).toEqual({
      kind: 'no-adapter',
      message: 'WebGPU unavailable: requesting an adapter failed: driver crashed',
    });
    await expect(chooseBackend('webgpu', { gpu })).rejects.toThrow(WeightBalanceError);
  });
});

describe('balance() and the backend choice', () => {
  it('auto on a software adapter runs on the CPU and never requests a device; one adapter request per run', async () => {
    const { gpu, requestAdapter, requestDevice } = fakeGpu(SOFTWARE[0]);
    // A schedule WebGPU runs (the default, accelerated, runs on the CPU without asking for an adapter).
    const result = await balance(mlpNet(1), { p: 2, q: 2, schedule: 'parallel', gpu, tol: 1e-6 });
    expect(result.backend).toBe('cpu');
    expect(result.fallback?.kind).toBe('software-adapter');
    expect(requestAdapter).toHaveBeenCalledTimes(1);
    expect(requestDevice).not.toHaveBeenCalled();
  });

  it('webgpu on an adapter whose device cannot be made: the CPU finishes (gpu-error), the adapter was requested once', async () => {
    const { gpu, requestAdapter, requestDevice } = fakeGpu(HARDWARE[0]);
    const result = await balance(mlpNet(1), { p: 2, q: 2, backend: 'webgpu', gpu, tol: 1e-6 });
    expect(result.backend).toBe('cpu');
    expect(result.fallback).toEqual({ kind: 'gpu-error', message: 'WebGPU unavailable: fake adapter: no device' });
    expect(result.adapter).toMatch(/nvidia/);
    expect(requestAdapter).toHaveBeenCalledTimes(1);
    expect(requestDevice).toHaveBeenCalledTimes(1);
    expect(result.converged).toBe(true);
  });
});
