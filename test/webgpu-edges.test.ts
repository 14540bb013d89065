/**
 * The WebGPU engine on the edges of its input and of its life (Dawn + SwiftShader): blocks of
 * one row or one column, nothing rescalable, a net whose only hidden layer is one tie group,
 * three colour classes with p != q and given start factors, grouped blocks split by groups and
 * by rows with folded grids; exact zeros and weights float32 cannot hold; a disposed engine is
 * garbage (not kept alive by the caller's device); set-up failures, dispose twice, dispose or
 * device loss during a read-back; error scopes that never interleave with other code's on a
 * shared device, whose uncaptured errors stay its own; and a stall hand-over that does not
 * depend on the batch size.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect } from 'vitest';
import { balance } from '../src/balance.js';
import { CpuEngine } from '../src/engines/cpu/cpuEngine.js';
import type { WebGpuTuning } from '../src/engines/webgpu/engine.js';
import { WebGpuEngine } from '../src/engines/webgpu/engine.js';
import { BufferUsage } from '../src/engines/webgpu/flags.js';
import { segmentBlocks } from '../src/engines/webgpu/layout.js';
import { mlp } from '../src/network/builders.js';
import { rescale } from '../src/network/rescale.js';
import type { Network } from '../src/network/types.js';
import type { Schedule } from '../src/options.js';
import { compileProblem } from '../src/problem/compile.js';
import type { GpuContext } from './helpers/gpu.js';
import { gpuIt, useGpu, watchBuffers } from './helpers/gpu.js';
import { dagNet, groupedSplitNet } from './support/fixNets.js';
import { uniformStream } from './support/fixReference.js';

const gpu = useGpu();

interface Case {
  p: number;
  q: number;
  schedule: Schedule;
  sweeps: number;
  tuning?: WebGpuTuning;
  initial?: Float64Array;
}

/** Both engines, the same sweeps: objectives within float32 tolerance, the same log factors; returns the problem. */
async function agree(context: GpuContext, net: Network, c: Case): Promise<ReturnType<typeof compileProblem>> {
  const problem = compileProblem(net, { p: c.p, q: c.q });
  const cpu = new CpuEngine(problem, { schedule: c.schedule, initial: c.initial });
  const engine = await WebGpuEngine.create(problem, { schedule: c.schedule, initial: c.initial }, { device: context.device }, c.tuning);
  try {
    const expected = await cpu.sweeps(c.sweeps, 0);
    const got = await engine.sweeps(c.sweeps, 0);
    expect(got).toHaveLength(expected.length);
    for (let s = 0; s < got.length; s++) {
      expect(Math.abs(got[s].F / expected[s].F - 1), `F after sweep ${s + 1}`).toBeLessThan(2e-5);
      expect(Math.abs(got[s].maxStep - expected[s].maxStep), `step of sweep ${s + 1}`).toBeLessThan(1e-6 + 1e-3 * expected[s].maxStep);
    }
    const [u, v] = [await cpu.logFactors(), await engine.logFactors()];
    expect(v).toHaveLength(problem.nVars);
    for (let k = 0; k < u.length; k++) expect(Math.abs(v[k] - u[k]), `log factor ${k}`).toBeLessThan(1e-4);
    const [a, b] = [await cpu.evaluate(), await engine.evaluate()];
    expect(Math.abs(b.F / a.F - 1)).toBeLessThan(2e-5);
    expect(Math.abs(b.maxLogImbalance - a.maxLogImbalance)).toBeLessThan(1e-3 * (1 + a.maxLogImbalance));
  } finally {
    engine.dispose();
  }
  return problem;
}

describe('WebGPU engine on edge cases agrees with the CPU engine', () => {
  gpuIt(gpu, 'blocks of one row and of one column', async (context) => {
    const narrow = await agree(context, mlp([5, 1, 4], { seed: 1 }), { p: 2, q: 3, schedule: 'parallel', sweeps: 10 });
    expect(narrow.blocks[0].rows).toBe(1);
    const thin = await agree(context, mlp([1, 6, 1], { seed: 1 }), { p: 1, q: 1, schedule: 'alternating', sweeps: 10 });
    expect(thin.blocks[0].cols).toBe(1);
  });

  gpuIt(gpu, 'nothing rescalable: no variables, every sweep a no-op', async (context) => {
    for (const schedule of ['parallel', 'alternating', 'accelerated'] as const) {
      const problem = compileProblem(mlp([4, 3], { seed: 1 }), { p: 2, q: 3 });
      expect(problem.nVars).toBe(0);
      const cpu = new CpuEngine(problem, { schedule });
      const engine = await WebGpuEngine.create(problem, { schedule }, { device: context.device });
      try {
        const F = (await cpu.evaluate()).F;
        // No variable, no imbalance: the first sweep meets any tol, 0 included.
        const got = await engine.sweeps(3, 0);
        expect(got).toHaveLength(1);
        for (const record of got) {
          expect(record.maxStep).toBe(0);
          expect(record.maxLogImbalance).toBe(0);
          expect(Math.abs(record.F / F - 1)).toBeLessThan(1e-6);
        }
        expect(await cpu.sweeps(3, 0)).toHaveLength(1);
        expect(await engine.sweeps(5, 1e-6)).toHaveLength(1);
        expect(await engine.logFactors()).toHaveLength(0);
        expect((await engine.evaluate()).maxLogImbalance).toBe(0);
      } finally {
        engine.dispose();
      }
    }
  });

  gpuIt(gpu, 'the only hidden layer is one tie group', async (context) => {
    const net = mlp([5, 6, 3], { seed: 2 });
    net.ties = [Array.from({ length: 6 }, (_, unit) => ({ layer: 1, unit }))];
    expect(compileProblem(net, { p: 2, q: 3 }).nVars).toBe(1);
    await agree(context, net, { p: 2, q: 3, schedule: 'parallel', sweeps: 15 });
    await agree(context, net, { p: 2, q: 2, schedule: 'alternating', sweeps: 15 });
    await agree(context, net, { p: 2, q: 3, schedule: 'accelerated', sweeps: 4 });
  });

  gpuIt(gpu, 'three colour classes, p != q, alternating and accelerated, from given factors', async (context) => {
    const problem = compileProblem(dagNet(3), { p: 3, q: 1.5 });
    expect(problem.nClasses).toBeGreaterThanOrEqual(3);
    const initial = Float64Array.from({ length: problem.nVars }, (_, k) => Math.sin(k + 1));
    await agree(context, dagNet(3), { p: 3, q: 1.5, schedule: 'alternating', sweeps: 20, initial });
    await agree(context, dagNet(3), { p: 1.5, q: 4, schedule: 'alternating', sweeps: 20 });
    await agree(context, dagNet(3), { p: 3, q: 1.5, schedule: 'accelerated', sweeps: 6, initial });
  });

  gpuIt(gpu, 'grouped convolutions split by groups and by rows, several segments per group, grids folded', async (context) => {
    const net = groupedSplitNet();
    const problem = compileProblem(net, { p: 1.5, q: 2.5 });
    // 600 bytes: block 0 (3 groups of 288 bytes) goes by whole groups, two and one per segment.
    const byGroups = segmentBlocks(problem, 600).filter((s) => s.block === 0);
    expect(byGroups.map((s) => s.groups)).toEqual([2, 1]);
    // 200 bytes: each group of block 0 is split by rows over two segments.
    const byRows = segmentBlocks(problem, 200).filter((s) => s.block === 0);
    expect(byRows.map((s) => [s.groups, s.rows])).toEqual(Array.from({ length: 6 }, () => [1, 2]));
    for (const maxBufferBytes of [600, 200]) {
      await agree(context, net, { p: 1.5, q: 2.5, schedule: 'alternating', sweeps: 20, tuning: { maxBufferBytes, maxWorkgroupsPerDimension: 3 } });
    }
    await agree(context, net, { p: 2, q: 2, schedule: 'parallel', sweeps: 20, tuning: { maxBufferBytes: 200, maxWorkgroupsPerDimension: 2 } });
    await agree(context, mlp([3, 300, 2], { seed: 5 }), { p: 2, q: 2, schedule: 'parallel', sweeps: 20, tuning: { maxWorkgroupsPerDimension: 3 } });
  });
});

describe('WebGPU engine life cycle', () => {
  gpuIt(gpu, "a disposed engine is not kept alive by the caller's device (its loss callback holds no engine)", async ({ device }) => {
    setFlagsFromString('--expose-gc');
    const collect = runInNewContext('gc') as () => void;
    let engine: WebGpuEngine | null = await WebGpuEngine.create(
      compileProblem(mlp([50, 40, 3], { seed: 1 }), { p: 2, q: 3 }),
      { schedule: 'parallel' },
      { device },
    );
    await engine.sweeps(2, 0);
    const ref = new WeakRef(engine);
    engine.dispose();
    engine = null;
    for (let k = 0; k < 10 && ref.deref(); k++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      collect();
    }
    expect(ref.deref(), 'the disposed engine is still reachable').toBeUndefined();
  });

  gpuIt(gpu, 'a device lost while a read-back is pending: the call and every later one reject naming the loss', async ({ gpu: dawn }) => {
    const adapter = await dawn.requestAdapter();
    const device = await adapter!.requestDevice({ label: 'lost during a read-back' });
    const engine = await WebGpuEngine.create(compileProblem(mlp([6, 5, 3], { seed: 2 }), { p: 2, q: 3 }), { schedule: 'alternating' }, { device });
    try {
      const pending = engine.sweeps(64, 0);
      device.destroy();
      await expect(pending).rejects.toThrow(/device was lost/);
      await expect(engine.evaluate()).rejects.toThrow(/device was lost/);
      await expect(engine.logFactors()).rejects.toThrow(/device was lost/);
    } finally {
      engine.dispose();
      engine.dispose();
    }
  });

  gpuIt(gpu, 'a set-up that fails after making buffers frees them; no listener on the device; dispose twice and during a read', async ({ device }) => {
    const { made, freed, restore } = watchBuffers(device);
    const listeners = new Set<unknown>();
    const { addEventListener, removeEventListener } = device;
    device.addEventListener = function add(this: GPUDevice, type: string, listener: unknown, ...rest: unknown[]) {
      listeners.add(listener);
      return (addEventListener as (...args: unknown[]) => void).call(this, type, listener, ...rest);
    } as typeof device.addEventListener;
    device.removeEventListener = function remove(this: GPUDevice, type: string, listener: unknown, ...rest: unknown[]) {
      listeners.delete(listener);
      return (removeEventListener as (...args: unknown[]) => void).call(this, type, listener, ...rest);
    } as typeof device.removeEventListener;
    try {
      const problem = compileProblem(mlp([50, 40, 3], { seed: 1 }), { p: 2, q: 3 });
      // 2000 weights need 8 workgroups to build log P: more than a 2 x 2 grid, found only after the first uploads.
      const failing = WebGpuEngine.create(problem, { schedule: 'parallel' }, { device }, { maxWorkgroupsPerDimension: 2 });
      await expect(failing).rejects.toThrow(/exceeds 2\^2/);
      expect(made.length).toBeGreaterThan(3);
      expect(made.filter((b) => !freed.has(b))).toEqual([]);
      expect(listeners.size).toBe(0);

      made.length = 0;
      const engine = await WebGpuEngine.create(problem, { schedule: 'parallel' }, { device });
      expect(listeners.size, "the engine listens to nothing on the caller's device").toBe(0);
      const pending = engine.sweeps(8, 0);
      engine.dispose();
      await expect(pending).rejects.toThrow();
      engine.dispose();
      expect(made.filter((b) => !freed.has(b))).toEqual([]);
      expect(listeners.size).toBe(0);
      await expect(engine.evaluate()).rejects.toThrow(/disposed/);
    } finally {
      restore();
      Object.assign(device, { addEventListener, removeEventListener });
    }
  });
});

describe('WebGPU engine error scopes on a shared device', () => {
  gpuIt(gpu, "are pushed and popped with no await between: other code's scopes around an await keep their own errors", async ({ device }) => {
    const engine = await WebGpuEngine.create(compileProblem(mlp([6, 5, 3], { seed: 2 }), { p: 2, q: 3 }), { schedule: 'parallel' }, { device });
    try {
      // Other code on the same device: a scope around a faulty call, popped after an await
      // during which the engine runs a batch.
      device.pushErrorScope('validation');
      device.createBuffer({ label: 'faulty (MAP_READ with STORAGE)', size: 16, usage: BufferUsage.MAP_READ | BufferUsage.STORAGE });
      const run = engine.sweeps(8, 0);
      const theirs = await device.popErrorScope();
      expect(theirs?.message ?? null, "the other code's own error").toMatch(/usage/i);
      await expect(run, 'the engine is not blamed for it').resolves.toHaveLength(8);
      for (const call of [() => engine.evaluate(), () => engine.logFactors()]) {
        device.pushErrorScope('validation');
        const pending = call();
        expect(await device.popErrorScope()).toBeNull();
        await pending;
      }
    } finally {
      engine.dispose();
    }
  });
});

describe('balance() on a device shared with other code', () => {
  gpuIt(gpu, "other code's uncaptured errors reach its own handler and do not make the run fall back", async ({ gpu: dawn }) => {
    const adapter = await dawn.requestAdapter();
    const device = await adapter!.requestDevice({ label: 'shared with faulty code' });
    const seen: string[] = [];
    device.addEventListener('uncapturederror', (event) => seen.push((event as GPUUncapturedErrorEvent).error.message));
    try {
      const faulty = (): void =>
        void device.createBuffer({ label: 'faulty (MAP_READ with STORAGE)', size: 16, usage: BufferUsage.MAP_READ | BufferUsage.STORAGE });
      const result = await balance(mlp([6, 8, 5, 3], { seed: 3 }), { p: 2, q: 2, backend: 'webgpu', device, tol: 1e-6, sweepsPerBatch: 4, onSweep: faulty });
      expect(seen.length, "the faulty code's errors").toBeGreaterThan(0);
      expect(result.fallback).toBeNull();
      expect(result.backend).toBe('webgpu');
    } finally {
      device.destroy();
    }
  });
});

describe('balance() on WebGPU: float32 edge weights', () => {
  gpuIt(gpu, 'exact zeros run on the GPU; a weight float32 cannot hold beside the largest hands the run to the CPU, input untouched', async ({ device }) => {
    const zeros = mlp([6, 8, 5, 3], { seed: 5, dtype: 'float64' });
    for (let k = 0; k < zeros.blocks[1].weight.length; k += 3) zeros.blocks[1].weight[k] = 0;
    const options = { p: 1.5, q: 2, tol: 1e-6, schedule: 'parallel' } as const;
    const onGpu = await balance(zeros, { ...options, backend: 'webgpu', device });
    expect(onGpu.backend).toBe('webgpu');
    expect(onGpu.fallback).toBeNull();
    const reference = await balance(zeros, { ...options, backend: 'cpu' });
    expect(Math.abs(onGpu.finalNorm / reference.finalNorm - 1)).toBeLessThan(1e-5);

    const tiny = structuredClone(zeros);
    tiny.blocks[0].weight[1] = 1e-300; // 1e-300 / (largest ~ 1): below float32's smallest normal
    const copy = structuredClone(tiny);
    const fallen = await balance(tiny, { ...options, backend: 'webgpu', device });
    expect(fallen.backend).toBe('cpu');
    expect(fallen.fallback?.kind).toBe('gpu-error');
    expect(fallen.fallback?.message).toMatch(/^WebGPU unavailable: .*spans more than float32 can hold/);
    const exact = await balance(tiny, { ...options, backend: 'cpu' });
    expect(fallen.finalNorm).toBe(exact.finalNorm);
    expect(tiny).toEqual(copy);
  });
});

describe('balance() on WebGPU: the float32 stall hand-over', () => {
  gpuIt(gpu, 'does not depend on the batch size (an early non-decreasing step is not the float32 floor)', async ({ device }) => {
    // A deep narrow MLP scrambled by factors up to 1e6: the parallel schedule's largest step
    // goes up now and then before it settles, far above float32's floor (~1e-7).
    const base = mlp([4, 6, 6, 6, 6, 6, 6, 6, 6, 2], { seed: 2, dtype: 'float64' });
    const next = uniformStream(2);
    const last = base.layers.length - 1;
    const net = rescale(
      base,
      base.layers.map((layer, k) => Float64Array.from({ length: layer.shape[0] }, () => (k === 0 || k === last ? 0 : (2 * next() - 1) * 6 * Math.LN10))),
    );
    const runs = [];
    for (const sweepsPerBatch of [16, 1]) {
      const steps: number[] = [];
      const result = await balance(net, {
        p: 2,
        q: 2,
        schedule: 'parallel',
        tol: 1e-5,
        maxSweeps: 2000,
        backend: 'webgpu',
        device,
        sweepsPerBatch,
        onSweep: (s) => steps.push(s.maxStep),
      });
      expect(
        steps.some((step, k) => k > 0 && step >= steps[k - 1]),
        'the steps are not monotone',
      ).toBe(true);
      runs.push(result);
    }
    for (const result of runs) {
      expect(result.converged).toBe(true);
      expect(result.fallback).toBeNull();
      expect(result.backend).toBe('webgpu');
    }
    expect(runs[1].sweeps).toBe(runs[0].sweeps);
  });
});
