/**
 * `balance()` on the WebGPU engine (Dawn + SwiftShader in Node): the same balanced network as
 * the CPU backend, the caller's device left alive, a device destroyed mid-run finishing on the
 * CPU from the last verified factors with the input untouched, abort, and the same refusals as
 * the CPU backend from the one shared validation.
 */
import { describe, expect, it, vi } from 'vitest';
import type { BalanceOptions, BalanceResult } from '../src/balance.js';
import { balance } from '../src/balance.js';
import { BufferUsage } from '../src/engines/webgpu/flags.js';
import { WeightBalanceError } from '../src/errors.js';
import { mlp } from '../src/network/builders.js';
import type { Network } from '../src/network/types.js';
import { gpuIt, useGpu, watchBuffers } from './helpers/gpu.js';
import { cnnNet, mlpNet, residualNet } from './support/fixNets.js';
import { weightDistance } from './support/fixReference.js';

const gpu = useGpu();

function expectMonotone(result: BalanceResult, tolerance: number): void {
  for (let s = 1; s < result.history.length; s++) expect(result.history[s]).toBeLessThanOrEqual(result.history[s - 1] * (1 + tolerance));
}

async function cpuReference(net: Network, options: BalanceOptions): Promise<BalanceResult> {
  return balance(net, { ...options, backend: 'cpu', gpu: undefined, device: undefined, onSweep: undefined, signal: undefined });
}

describe('balance() with the WebGPU backend', () => {
  gpuIt(gpu, "gives the CPU backend's balanced network, from an injected GPU object", async ({ gpu: dawn }) => {
    for (const [net, p, q, schedule] of [
      [mlpNet(1, 'float32'), 2, 2, 'alternating'],
      [cnnNet(2), 1, 2, 'parallel'],
      [residualNet(3), 3, 1.5, 'alternating'],
    ] as const) {
      const copy = structuredClone(net);
      const options: BalanceOptions = { p, q, schedule, tol: 1e-6, maxSweeps: 3000 };
      const result = await balance(net, { ...options, backend: 'webgpu', gpu: dawn });
      expect(result.backend).toBe('webgpu');
      expect(result.fallback).toBeNull();
      expect(result.adapter).toMatch(/\S/);
      expect(result.converged).toBe(true);
      expectMonotone(result, 1e-5);
      const reference = await cpuReference(net, options);
      expect(Math.abs(result.finalNorm / reference.finalNorm - 1)).toBeLessThan(1e-5);
      expect(weightDistance(result.network, reference.network)).toBeLessThan(1e-3);
      expect(result.maxLogImbalance).toBeLessThan(1e-3);
      expect(net).toEqual(copy);
    }
  });

  gpuIt(gpu, "inPlace: the GPU's balanced values written over the input's arrays, which the result holds", async ({ gpu: dawn }) => {
    const net = mlpNet(1, 'float32');
    const options: BalanceOptions = { p: 2, q: 2, tol: 1e-5, backend: 'webgpu', gpu: dawn };
    const copied = await balance(net, options);
    const own = net.blocks.map((b) => b.weight);
    const result = await balance(net, { ...options, inPlace: true });
    expect(result.backend).toBe('webgpu');
    result.network.blocks.forEach((b, k) => {
      expect(b.weight).toBe(own[k]);
      expect(b.weight).toEqual(copied.network.blocks[k].weight);
    });
  });

  gpuIt(gpu, "uses the caller's device and leaves it alive", async ({ device }) => {
    const net = mlpNet(4);
    for (let run = 0; run < 2; run++) {
      const result = await balance(net, { p: 2, q: 2, backend: 'webgpu', device, tol: 1e-5 });
      expect(result.backend).toBe('webgpu');
      expect(result.fallback).toBeNull();
    }
  });

  gpuIt(gpu, 'falls back to the CPU from the last verified factors when the device is destroyed mid-run', async ({ gpu: dawn }) => {
    const adapter = await dawn.requestAdapter();
    expect(adapter).not.toBeNull();
    const device = await adapter!.requestDevice({ label: 'destroyed mid-run' });
    const net = cnnNet(5);
    const copy = structuredClone(net);
    const options: BalanceOptions = { p: 2, q: 2, schedule: 'parallel', tol: 1e-9, maxSweeps: 5000, sweepsPerBatch: 16 };
    const backends: string[] = [];
    const result = await balance(net, {
      ...options,
      backend: 'webgpu',
      device,
      onSweep: ({ sweep, backend }) => {
        backends.push(backend);
        if (sweep === 20) device.destroy();
      },
    });
    expect(backends.slice(0, 32).every((b) => b === 'webgpu')).toBe(true);
    expect(backends[backends.length - 1]).toBe('cpu');
    expect(result.backend).toBe('cpu');
    expect(result.fallback?.kind).toBe('device-lost');
    expect(result.fallback?.message).toMatch(/WebGPU failed after 33 verified sweeps/);
    expect(result.converged).toBe(true);
    const reference = await cpuReference(net, options);
    expect(Math.abs(result.finalNorm / reference.finalNorm - 1)).toBeLessThan(1e-9);
    expect(weightDistance(result.network, reference.network)).toBeLessThan(1e-6);
    expect(net).toEqual(copy);
  });

  gpuIt(gpu, 'falls back to the CPU from the last verified factors when a GPU call raises a validation error mid-run', async ({ gpu: dawn }) => {
    const adapter = await dawn.requestAdapter();
    expect(adapter).not.toBeNull();
    const device = await adapter!.requestDevice({ label: 'validation error mid-run' });
    const net = mlpNet(8);
    const copy = structuredClone(net);
    const options: BalanceOptions = { p: 2, q: 3, schedule: 'parallel', tol: 1e-9, maxSweeps: 5000, sweepsPerBatch: 16 };
    // Once sweep 20 is seen, the engine's next submission also makes an invalid buffer inside
    // the engine's own error scopes (as a faulty kernel set-up would).
    let poison = false;
    const { queue } = device;
    const submit = queue.submit.bind(queue);
    queue.submit = (buffers: Iterable<GPUCommandBuffer>) => {
      if (poison) {
        poison = false;
        device.createBuffer({ label: 'invalid (MAP_READ with STORAGE)', size: 16, usage: BufferUsage.MAP_READ | BufferUsage.STORAGE });
      }
      submit(buffers);
    };
    try {
      const result = await balance(net, {
        ...options,
        backend: 'webgpu',
        device,
        onSweep: ({ sweep }) => {
          if (sweep === 20) poison = true;
        },
      });
      expect(result.backend).toBe('cpu');
      expect(result.fallback?.kind).toBe('gpu-error');
      expect(result.fallback?.message).toMatch(/WebGPU failed after 33 verified sweeps: WebGPU validation error/);
      expect(result.converged).toBe(true);
      const reference = await cpuReference(net, options);
      expect(Math.abs(result.finalNorm / reference.finalNorm - 1)).toBeLessThan(1e-9);
      expect(weightDistance(result.network, reference.network)).toBeLessThan(1e-6);
      expect(net).toEqual(copy);
    } finally {
      device.destroy();
    }
  });

  gpuIt(gpu, 'reaches a tol below the float32 floor by finishing on the CPU', async ({ device }) => {
    const net = mlp([64, 256, 256, 256, 10], { seed: 1 });
    const options: BalanceOptions = { p: 2, q: 2, schedule: 'alternating', tol: 1e-7, maxSweeps: 1500 };
    const result = await balance(net, { ...options, backend: 'webgpu', device });
    const reference = await cpuReference(net, options);
    expect(result.converged).toBe(true);
    expect(result.maxLogImbalance * 0.5).toBeLessThan(1e-6); // eta = 1/(2q) = 1/4 .. 1/2 of it is the last step
    if (result.backend === 'cpu') {
      // SwiftShader here: the float32 steps stall above 1e-7, and the float64 engine finishes.
      expect(result.fallback?.kind).toBe('stalled');
      expect(result.fallback?.message).toMatch(/float32 precision floor/);
      expect(result.sweeps).toBeLessThan(reference.sweeps + 4 * 16);
    } else {
      expect(result.fallback).toBeNull();
    }
    expect(Math.abs(result.finalNorm / reference.finalNorm - 1)).toBeLessThan(1e-6);
  });

  gpuIt(gpu, 'aborts with the input untouched', async ({ gpu: dawn }) => {
    const net = mlpNet(6);
    const copy = structuredClone(net);
    const controller = new AbortController();
    const run = balance(net, {
      p: 2,
      q: 3,
      backend: 'webgpu',
      gpu: dawn,
      tol: 0,
      maxSweeps: 10000,
      signal: controller.signal,
      onSweep: ({ sweep }) => {
        if (sweep === 16) controller.abort();
      },
    });
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(net).toEqual(copy);
  });

  gpuIt(gpu, 'labels every buffer it makes and frees them all, at the end and on abort', async ({ device }) => {
    const { made, freed, restore } = watchBuffers(device);
    try {
      const net = cnnNet(9);
      // The paper's update: the accelerated schedule runs this CNN (layers split by convolution group) on the CPU.
      await balance(net, { p: 1.5, q: 2, backend: 'webgpu', device, tol: 1e-5, schedule: 'parallel' });
      // The accelerated schedule's buffers (coarse tables, indirect arguments, snapshots) too.
      const accelerated = await balance(mlpNet(9), { p: 1.5, q: 2, backend: 'webgpu', device, tol: 1e-5 });
      expect([accelerated.schedule, accelerated.backend]).toEqual(['accelerated', 'webgpu']);
      expect(made.some((b) => b.label.includes('accelerated indirect arguments'))).toBe(true);
      expect(made.length).toBeGreaterThan(10);
      expect(made.every((b) => b.label.startsWith('weight-balance '))).toBe(true);
      expect(made.filter((b) => !freed.has(b))).toEqual([]);
      made.length = 0;
      const controller = new AbortController();
      const run = balance(net, {
        p: 1.5,
        q: 2,
        backend: 'webgpu',
        device,
        tol: 0,
        maxSweeps: 10000,
        schedule: 'parallel',
        signal: controller.signal,
        onSweep: ({ sweep }) => {
          if (sweep === 16) controller.abort();
        },
      });
      await expect(run).rejects.toMatchObject({ name: 'AbortError' });
      expect(made.length).toBeGreaterThan(10);
      expect(made.filter((b) => !freed.has(b))).toEqual([]);
    } finally {
      restore();
    }
  });

  gpuIt(gpu, 'refuses what the CPU backend refuses, with the same messages', async ({ gpu: dawn, device }) => {
    const nan = mlpNet(7);
    nan.blocks[1].weight[3] = Number.NaN;
    const infinite = mlpNet(7);
    infinite.blocks[0].weight[0] = Number.POSITIVE_INFINITY;
    const good = mlpNet(7);
    const cases: [Network, BalanceOptions][] = [
      [nan, { p: 2, q: 2 }],
      [infinite, { p: 2, q: 2 }],
      [good, { p: 0, q: 2 }],
      [good, { p: 2, q: -1 }],
      [good, { p: Number.NaN, q: 2 }],
      [good, { p: 2, q: Number.POSITIVE_INFINITY }],
    ];
    for (const [net, options] of cases) {
      const copy = structuredClone(net);
      const cpu = await balance(net, { ...options, backend: 'cpu' }).then(
        () => null,
        (error: unknown) => error,
      );
      expect(cpu).toBeInstanceOf(WeightBalanceError);
      for (const source of [{ gpu: dawn }, { device }]) {
        const onGpu = await balance(net, { ...options, backend: 'webgpu', ...source }).then(
          () => null,
          (error: unknown) => error,
        );
        expect(onGpu).toBeInstanceOf(WeightBalanceError);
        expect((onGpu as Error).message).toBe((cpu as Error).message);
      }
      expect(net).toEqual(copy);
    }
  });
});

describe('balance() without WebGPU', () => {
  it('the default schedule (accelerated) on every backend: auto looks for an adapter for it and says why it runs on the CPU; webgpu without an adapter is refused', async () => {
    const requestAdapter = vi.fn(async () => null);
    const gpuObject = { requestAdapter } as unknown as GPU;
    const result = await balance(mlpNet(1), { p: 2, q: 2, backend: 'auto', gpu: gpuObject });
    expect(result.schedule).toBe('accelerated');
    expect(result.backend).toBe('cpu');
    expect(result.fallback?.kind).toBe('no-adapter');
    expect(requestAdapter).toHaveBeenCalled();
    requestAdapter.mockClear();
    await expect(balance(mlpNet(1), { p: 2, q: 2, backend: 'webgpu', gpu: gpuObject })).rejects.toThrow(/backend 'webgpu' cannot start/);
    expect(requestAdapter).toHaveBeenCalled();
  });

  it('auto falls back to the CPU and says why; an explicit webgpu is refused before any work', async () => {
    expect((globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu).toBeUndefined();
    const result = await balance(mlpNet(1), { p: 2, q: 2, schedule: 'parallel', backend: 'auto', tol: 1e-6 });
    expect(result.backend).toBe('cpu');
    expect(result.adapter).toBeNull();
    expect(result.fallback?.kind).toBe('no-webgpu');
    expect(result.fallback?.message).toMatch(/WebGPU unavailable: navigator\.gpu is not available/);
    const net = mlpNet(1);
    const onSweep = vi.fn();
    await expect(balance(net, { p: 2, q: 2, backend: 'webgpu', tol: 1e-6, onSweep })).rejects.toThrow(WeightBalanceError);
    await expect(balance(net, { p: 2, q: 2, backend: 'webgpu', tol: 1e-6 })).rejects.toThrow(
      /backend 'webgpu' cannot start: .*navigator\.gpu is not available/,
    );
    expect(onSweep).not.toHaveBeenCalled();
  });

  it('no adapter: auto runs on the CPU (no-adapter), webgpu is refused', async () => {
    const noAdapter = { requestAdapter: async () => null } as unknown as GPU;
    const result = await balance(mlpNet(1), { p: 2, q: 2, schedule: 'parallel', backend: 'auto', gpu: noAdapter, tol: 1e-6 });
    expect(result.backend).toBe('cpu');
    expect(result.fallback).toEqual({ kind: 'no-adapter', message: 'WebGPU unavailable: no WebGPU adapter was found' });
    expect(result.converged).toBe(true);
    await expect(balance(mlpNet(1), { p: 2, q: 2, backend: 'webgpu', gpu: noAdapter, tol: 1e-6 })).rejects.toThrow(
      /backend 'webgpu' cannot start: WebGPU unavailable: no WebGPU adapter was found/,
    );
  });
});
