/**
 * The accelerated schedule on the WebGPU engine (Dawn + SwiftShader): sweep for sweep the CPU
 * engine's accelerated schedule (objective, step, imbalance, passes per sweep, log factors) on an
 * MLP, a convolutional net with a residual connection, residual nets with ties, (p, q) with
 * p != q both ways, biases (a coarse space that is not exact), given start factors, split blocks
 * and folded grids; a sweep whose long step Armijo's test rejects (the safe region); the sweep
 * that ends after the coarse shift (no pass); the convolutional nets of the pass-count figures
 * (`CONV_NETS`: layers split by convolution group, rows reading many groups, up to 128 groups
 * solved densely, and the depthwise nets of 193 and 385 groups by conjugate gradients as on the
 * CPU) for (2, 2), (1, 2), (3, 1.5), and a deep MLP of more than 32 groups, on the GPU; the
 * problems it does not take (a row written by more than 10 blocks reading shifted groups) run the
 * same schedule on the CPU, which the result says (`cpu-schedule`). Through `balance()`: the default schedule on `webgpu`,
 * the same network as the CPU, a history that never rises (within float32 rounding), and the
 * hand-over to the CPU continuing with the accelerated schedule.
 */
import { afterEach, describe, expect, vi } from 'vitest';
import { COARSE_MAX_SLOTS } from '../shaders/coarseSolve.wgsl.js';
import { balance } from '../src/balance.js';
import { CpuEngine } from '../src/engines/cpu/cpuEngine.js';
import { ScheduleNotOnGpuError } from '../src/engines/engine.js';
import { passCost, sweepPlan } from '../src/engines/plan.js';
import { WebGpuEngine } from '../src/engines/webgpu/engine.js';
import { mlp, sequential } from '../src/network/builders.js';
import type { Network } from '../src/network/types.js';
import { compileProblem } from '../src/problem/compile.js';
import { AcceleratedSchedule } from '../src/schedule/accelerated.js';
import { coarseSpace, MAX_COARSE_GROUPS } from '../src/schedule/coarseSpace.js';
import { agree, MONOTONE, relative } from './helpers/engineAgreement.js';
import { gpuIt, useGpu } from './helpers/gpu.js';
import { CONV_NETS, mlpNet, residualNet } from './support/fixNets.js';
import { randomExponents, uniformStream, weightDistance } from './support/fixReference.js';

const gpu = useGpu();

/** A convolutional net with a residual connection and no grouped convolution (every layer one group of the coarse space). */
function convNet(seed: number): Network {
  return sequential(
    [2, 6, 6],
    [
      { type: 'conv', channels: 5, kernel: 3, padding: 1 },
      { type: 'conv', channels: 5, kernel: 3, padding: 1, skip: 1 },
      { type: 'conv', channels: 6, kernel: 3, padding: 1, stride: 2 },
      { type: 'dense', units: 4 },
    ],
    { seed, biasScale: 0.2 },
  );
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('WebGPU engine, accelerated schedule, agrees with the CPU engine sweep for sweep', () => {
  gpuIt(gpu, 'MLP, p = q = 2 (exact coarse space, fused pass)', async (context) => {
    const net = mlpNet(1, 'float32');
    expect(coarseSpace(compileProblem(net, { p: 2, q: 2 })).exact).toBe(true);
    await agree(context, net, { p: 2, q: 2, schedule: 'accelerated', sweeps: 8 });
  });

  gpuIt(gpu, 'convolutional net with a residual connection, p != q', async (context) => {
    // Three sweeps: the fourth's long step decides on a decrease of F below float32's resolution.
    await agree(context, convNet(1), { p: 2, q: 1, schedule: 'accelerated', sweeps: 3 });
    await agree(context, convNet(2), { p: 1.5, q: 3, schedule: 'accelerated', sweeps: 6 });
  });

  gpuIt(
    gpu,
    "a long step far too long: Armijo's test rejects it, the safe region (dispatched indirectly) runs, then the shorter long step, as on the CPU",
    async (context) => {
      for (const [p, q] of [
        [2, 2],
        [1.5, 3],
      ]) {
        const problem = compileProblem(mlpNet(3), { p, q });
        const evaluation = passCost(problem, sweepPlan(problem, 'accelerated').evaluate);
        const records = await agree(context, mlpNet(3), { p, q, schedule: 'accelerated', sweeps: 6, tuning: { longEta: 5 } });
        const paths = records.map((r) => Math.round(r.passes / evaluation));
        expect(paths[0], `(${p}, ${q})`).toBe(2);
        expect(paths, `(${p}, ${q})`).toContain(1);
      }
    },
  );

  gpuIt(gpu, 'residual nets with tied units (dense and convolutional)', async (context) => {
    await agree(context, residualNet(3), { p: 2, q: 2, schedule: 'accelerated', sweeps: 5 });
    await agree(context, residualNet(4), { p: 3, q: 1.5, schedule: 'accelerated', sweeps: 5 });
    await agree(context, convNet(4), { p: 2, q: 3, schedule: 'accelerated', sweeps: 5 });
  });

  gpuIt(gpu, 'random (p, q), q < p and q > p, and biases (a coarse space that is not exact)', async (context) => {
    const pairs = randomExponents(17, 3);
    expect(pairs.some(([p, q]) => q < p) && pairs.some(([p, q]) => q > p)).toBe(true);
    for (const [k, [p, q]] of pairs.entries()) await agree(context, mlpNet(5 + k), { p, q, schedule: 'accelerated', sweeps: 6 });
    const problem = compileProblem(mlpNet(6), { p: 2, q: 3, includeBiases: true });
    expect(coarseSpace(problem).exact).toBe(false);
    await agree(context, mlpNet(6), { p: 2, q: 3, schedule: 'accelerated', sweeps: 6, includeBiases: true });
  });

  gpuIt(gpu, 'starts from given log factors; blocks split over many buffers and folded grids', async (context) => {
    const net = mlpNet(7);
    const problem = compileProblem(net, { p: 2, q: 4 });
    const next = uniformStream(9);
    const initial = Float64Array.from({ length: problem.nVars }, () => 2 * next() - 1);
    await agree(context, net, { p: 2, q: 4, schedule: 'accelerated', sweeps: 6, initial });
    await agree(context, convNet(2), { p: 2, q: 2, schedule: 'accelerated', sweeps: 6, tuning: { maxBufferBytes: 512, maxWorkgroupsPerDimension: 8 } });
  });

  gpuIt(gpu, 'a sweep whose coarse shift alone meets tol ends there, with no pass, as on the CPU', async (context) => {
    const problem = compileProblem(mlpNet(2), { p: 2, q: 2 });
    // The balanced factors, then whole layers moved off them: the coarse shift alone undoes that.
    const reference = new CpuEngine(problem, { schedule: 'accelerated' });
    await reference.sweeps(200, 1e-12);
    const balanced = await reference.logFactors();
    const space = coarseSpace(problem);
    expect(space.exact && space.nGroups > 1).toBe(true);
    const initial = balanced.slice();
    problem.unitVar.forEach((v, unit) => {
      const g = space.unitGroup[unit];
      if (v >= 0 && g >= 0) initial[v] = balanced[v] + 0.4 * (g % 2 === 0 ? g + 1 : -g);
    });
    const tol = 1e-4;
    const cpu = await new CpuEngine(problem, { schedule: 'accelerated', initial }).sweeps(10, tol);
    const engine = await WebGpuEngine.create(problem, { schedule: 'accelerated', initial }, { device: context.device });
    try {
      const start = await engine.evaluate();
      expect(start.maxLogImbalance).toBeGreaterThan(0.1);
      const got = await engine.sweeps(10, tol);
      expect(cpu.map((r) => r.passes)).toEqual([0]);
      expect(got.map((r) => r.passes)).toEqual([0]);
      expect(got[0].maxLogImbalance).toBeLessThanOrEqual(tol);
      expect(relative(got[0].F, cpu[0].F)).toBeLessThan(2e-5);
      expect(Math.abs(got[0].maxStep - cpu[0].maxStep)).toBeLessThan(1e-4);
      // The sweeps after it in the batch were no-ops: the factors are the shifted ones.
      const u = await engine.logFactors();
      for (let v = 0; v < problem.nVars; v++) expect(Math.abs(u[v] - balanced[v]), `variable ${v}`).toBeLessThan(1e-3);
    } finally {
      engine.dispose();
    }
  });

  for (const [name, build] of Object.entries(CONV_NETS)) {
    gpuIt(gpu, `${name}: coarse space split by convolution group, (2, 2), (1, 2), (3, 1.5)`, async (context) => {
      const problem = compileProblem(build(1), { p: 2, q: 2 });
      const space = coarseSpace(problem);
      expect(space.nGroups).toBeGreaterThan(1);
      // Past MAX_COARSE_GROUPS the solve is by conjugate gradients on both engines; 384 and 1024 channels only through balance() below (time).
      if (name === 'depthwise-384' || name === 'depthwise-1024') return;
      if (name.startsWith('depthwise-')) expect(space.nGroups).toBeGreaterThan(MAX_COARSE_GROUPS);
      for (const [p, q] of [
        [2, 2],
        [1, 2],
        [3, 1.5],
      ])
        await agree(context, build(1), { p, q, schedule: 'accelerated', sweeps: 4 });
    });
  }

  gpuIt(gpu, 'more than 32 groups (a deep MLP), and rows reading several groups split by a dense block, in split segments', async (context) => {
    const deep = mlp([3, ...Array.from({ length: 34 }, () => 4), 2], { seed: 1 });
    expect(coarseSpace(compileProblem(deep, { p: 2, q: 2 })).nGroups).toBeGreaterThan(32);
    await agree(context, deep, { p: 2, q: 2, schedule: 'accelerated', sweeps: 4 });
    const wide = CONV_NETS['wide-depthwise'](2);
    await agree(context, wide, { p: 1, q: 2, schedule: 'accelerated', sweeps: 3, tuning: { maxBufferBytes: 4096, maxWorkgroupsPerDimension: 8 } });
  });

  gpuIt(
    gpu,
    'the convolutional nets run on the GPU through balance(); a row written by too many blocks runs the same schedule on the CPU, which the result says',
    async (context) => {
      for (const [name, build] of Object.entries(CONV_NETS)) {
        // 384 and 1024 channels (769 and 2049 groups) run on the GPU too, but take a minute or more under SwiftShader.
        if (name === 'depthwise-384' || name === 'depthwise-1024') continue;
        const groups = coarseSpace(compileProblem(build(2), { p: 2, q: 2 })).nGroups;
        if (name.startsWith('depthwise-')) expect(groups).toBeGreaterThan(MAX_COARSE_GROUPS);
        const result = await balance(build(2), { p: 2, q: 2, tol: 1e-4, backend: 'webgpu', device: context.device });
        expect(result.schedule).toBe('accelerated');
        expect(result.converged).toBe(true);
        expect(result.fallback, name).toBeNull();
        expect(result.backend).toBe('webgpu');
      }
      // One layer written by a block from each of the layers before it: more slots than the solve takes.
      const chain = mlp([3, ...Array.from({ length: COARSE_MAX_SLOTS + 1 }, () => 3), 2], { seed: 3 });
      const last = COARSE_MAX_SLOTS + 1;
      const extra = Array.from({ length: COARSE_MAX_SLOTS }, (_, k) => ({ ...chain.blocks[last], name: `skip${k + 1}`, from: k + 1, bias: null }));
      const fan = { ...chain, blocks: [...chain.blocks, ...extra] };
      const problem = compileProblem(fan, { p: 2, q: 2 });
      await expect(WebGpuEngine.create(problem, { schedule: 'accelerated' }, { device: context.device })).rejects.toThrow(ScheduleNotOnGpuError);
      const result = await balance(fan, { p: 2, q: 2, backend: 'webgpu', device: context.device });
      expect(result.schedule).toBe('accelerated');
      expect(result.backend).toBe('cpu');
      expect(result.fallback?.kind).toBe('cpu-schedule');
      expect(result.fallback?.message).toMatch(/at most 10 blocks/);
      expect(result.converged).toBe(true);
    },
  );
});

describe('balance() on WebGPU with the accelerated schedule', () => {
  gpuIt(gpu, "is the default; gives the CPU's balanced network; the history never rises beyond float32 rounding", async ({ gpu: dawn }) => {
    for (const [net, p, q] of [
      [mlpNet(1, 'float32'), 2, 2],
      [convNet(3), 1, 2],
      [residualNet(3), 3, 1.5],
    ] as const) {
      const copy = structuredClone(net);
      const result = await balance(net, { p, q, tol: 1e-5, backend: 'webgpu', gpu: dawn });
      expect(result.schedule).toBe('accelerated');
      expect(result.backend).toBe('webgpu');
      expect(result.fallback).toBeNull();
      expect(result.converged).toBe(true);
      for (let s = 1; s < result.history.length; s++) expect(result.history[s], `sweep ${s}`).toBeLessThanOrEqual(result.history[s - 1] * (1 + MONOTONE));
      const reference = await balance(net, { p, q, tol: 1e-5, backend: 'cpu' });
      expect(reference.schedule).toBe('accelerated');
      expect(Math.abs(result.finalNorm / reference.finalNorm - 1)).toBeLessThan(1e-5);
      expect(weightDistance(result.network, reference.network)).toBeLessThan(1e-3);
      // Far fewer passes than the paper's update needs on the GPU.
      const paper = await balance(net, { p, q, tol: 1e-5, backend: 'webgpu', gpu: dawn, schedule: 'parallel' });
      expect(result.passes).toBeLessThan(paper.passes / 2);
      expect(net).toEqual(copy);
    }
  });

  gpuIt(gpu, 'where float32 stalls, the CPU continues with the accelerated schedule from the verified factors', async ({ gpu: dawn }) => {
    const sweep = vi.spyOn(AcceleratedSchedule.prototype, 'sweep');
    const backends: string[] = [];
    const result = await balance(mlpNet(1, 'float32'), {
      p: 2,
      q: 2,
      tol: 1e-10,
      maxSweeps: 400,
      backend: 'webgpu',
      gpu: dawn,
      onSweep: (s) => backends.push(s.backend),
    });
    expect(result.fallback?.kind).toBe('stalled');
    expect(result.converged).toBe(true);
    expect(result.maxLogImbalance).toBeLessThanOrEqual(1e-10);
    const onCpu = backends.filter((b) => b === 'cpu').length;
    expect(backends.indexOf('cpu')).toBeGreaterThan(0);
    expect(onCpu).toBeGreaterThan(0);
    // Every CPU sweep after the hand-over was an accelerated one.
    expect(sweep).toHaveBeenCalledTimes(onCpu);
  });
});
