/**
 * The WebGPU engine against the float64 CPU engine, sweep by sweep, on Dawn + SwiftShader:
 * MLPs, CNNs (grouped, depthwise), residual nets with tied units, random (p, q) including
 * non-integer and q < p, both schedules, biases, large exponents with weights from 1e-8 to 1e4,
 * and small forced limits (blocks split over several buffers, grids folded into 2-D).
 */
import { describe, expect, it } from 'vitest';
import { normKernel } from '../shaders/norm.wgsl.js';
import { CpuEngine } from '../src/engines/cpu/cpuEngine.js';
import { WebGpuEngine } from '../src/engines/webgpu/engine.js';
import { foldGrid, segmentBlocks } from '../src/engines/webgpu/layout.js';
import { compileKernel } from '../src/engines/webgpu/pipelines.js';
import { mlp } from '../src/network/builders.js';
import type { Network } from '../src/network/types.js';
import { compileProblem } from '../src/problem/compile.js';
import { agree, relative } from './helpers/engineAgreement.js';
import { gpuIt, useGpu } from './helpers/gpu.js';
import { cnnNet, convResidualNet, mlpNet, residualNet } from './support/fixNets.js';
import { randomExponents, uniformStream } from './support/fixReference.js';

const gpu = useGpu();

/** An MLP whose weights span 1e-8 to 1e4 in magnitude. */
function wideRangeNet(seed: number): Network {
  const net = mlp([5, 8, 7, 3], { seed });
  const next = uniformStream(seed + 100);
  for (const b of net.blocks) for (let i = 0; i < b.weight.length; i++) b.weight[i] = (next() < 0.5 ? -1 : 1) * Math.pow(10, -8 + 12 * next());
  return net;
}

describe('WebGPU engine agrees with the CPU engine', () => {
  gpuIt(gpu, 'MLP, p = q = 2 (fused pass), both schedules', async (context) => {
    await agree(context, mlpNet(1, 'float32'), { p: 2, q: 2, schedule: 'parallel', sweeps: 40 });
    await agree(context, mlpNet(1, 'float32'), { p: 2, q: 2, schedule: 'alternating', sweeps: 40 });
  });

  gpuIt(gpu, 'CNN with grouped and depthwise convolutions', async (context) => {
    await agree(context, cnnNet(2), { p: 2, q: 1, schedule: 'parallel', sweeps: 40 });
    await agree(context, cnnNet(2), { p: 1, q: 1, schedule: 'alternating', sweeps: 40 });
  });

  gpuIt(gpu, 'residual nets with tied units (dense and convolutional)', async (context) => {
    const net = residualNet(3);
    const problem = compileProblem(net, { p: 2, q: 2 });
    const hidden = net.layers.slice(1, -1).reduce((n, l) => n + l.shape[0], 0);
    expect(problem.nVars).toBeLessThan(hidden); // ties merged units into shared variables
    await agree(context, net, { p: 2, q: 2, schedule: 'alternating', sweeps: 40 });
    await agree(context, convResidualNet(4), { p: 2, q: 2, schedule: 'parallel', sweeps: 40 });
  });

  gpuIt(gpu, 'random (p, q): non-integer, q < p and q > p, both schedules', async (context) => {
    const pairs = randomExponents(11, 3);
    expect(pairs.some(([p, q]) => q < p) && pairs.some(([p, q]) => q > p)).toBe(true);
    for (const [k, [p, q]] of pairs.entries()) {
      await agree(context, mlpNet(5 + k), { p, q, schedule: k % 2 === 0 ? 'parallel' : 'alternating', sweeps: 30 });
    }
  });

  gpuIt(gpu, 'biases included as edges from a constant unit', async (context) => {
    await agree(context, mlpNet(6), { p: 2, q: 3, schedule: 'parallel', sweeps: 30, includeBiases: true });
  });

  gpuIt(gpu, 'large exponents, weights from 1e-8 to 1e4: no overflow or underflow', async (context) => {
    const net = wideRangeNet(3);
    for (const [p, q, schedule] of [
      [32, 32, 'parallel'],
      [32, 1, 'alternating'],
      [1, 32, 'parallel'],
    ] as const) {
      await agree(context, net, { p, q, schedule, sweeps: 60 });
    }
  });

  gpuIt(gpu, 'starts from given log factors', async (context) => {
    const net = mlpNet(7);
    const problem = compileProblem(net, { p: 2, q: 4 });
    const next = uniformStream(9);
    const initial = Float64Array.from({ length: problem.nVars }, () => 2 * next() - 1);
    await agree(context, net, { p: 2, q: 4, schedule: 'parallel', sweeps: 20, initial });
  });

  gpuIt(gpu, 'stops after the first sweep whose imbalance is <= tol, like the CPU engine', async (context) => {
    const problem = compileProblem(mlpNet(8), { p: 2, q: 2 });
    const cpu = new CpuEngine(problem, { schedule: 'parallel' });
    const engine = await WebGpuEngine.create(problem, { schedule: 'parallel' }, { device: context.device });
    try {
      const tol = 6e-6;
      const expected = await cpu.sweeps(500, tol);
      const got = await engine.sweeps(500, tol); // several submissions of at most 64 sweeps
      expect(expected.length).toBeGreaterThan(64);
      expect(Math.abs(got.length - expected.length)).toBeLessThanOrEqual(2);
      expect(got[got.length - 1].maxLogImbalance).toBeLessThanOrEqual(tol);
      for (const record of got.slice(0, -1)) expect(record.maxLogImbalance).toBeGreaterThan(tol);
      // The sweeps after the converged one in its batch were no-ops: the factors are those of the last record.
      const again = await engine.evaluate();
      expect(relative(again.F, got[got.length - 1].F)).toBeLessThan(1e-6);
    } finally {
      engine.dispose();
    }
  });
});

describe('large nets on small limits', () => {
  it('splits blocks by groups and by rows, and folds grids', () => {
    const problem = compileProblem(cnnNet(2), { p: 2, q: 2 });
    const segments = segmentBlocks(problem, 512);
    expect(segments.length).toBeGreaterThan(problem.blocks.length);
    for (const s of segments) expect(s.rows * s.cols * s.taps * 4).toBeLessThanOrEqual(512);
    problem.blocks.forEach((b, k) => {
      const rows = segments.filter((s) => s.block === k).reduce((n, s) => n + s.rows, 0);
      expect(rows).toBe(b.rows);
    });
    expect(segments.some((s) => s.groups > 1 && s.groups < problem.blocks[s.block].groups)).toBe(true);
    expect(segments.some((s) => s.rows < s.rowsPerGroup * s.groups || (s.groups === 1 && problem.blocks[s.block].groups > 1))).toBe(true);
    expect(() => segmentBlocks(problem, 16)).toThrow(/exceeds/);
    expect(foldGrid(10, 65535)).toEqual([10, 1]);
    const [x, y] = foldGrid(70000, 65535);
    expect(x).toBeLessThanOrEqual(65535);
    expect(x * y).toBeGreaterThanOrEqual(70000);
    expect(() => foldGrid(10, 3)).toThrow();
  });

  gpuIt(gpu, 'gives the same results with blocks split over many buffers and folded grids', async (context) => {
    await agree(context, cnnNet(2), { p: 2, q: 2, schedule: 'parallel', sweeps: 25, tuning: { maxBufferBytes: 512, maxWorkgroupsPerDimension: 8 } });
    await agree(context, mlp([130, 100, 70, 5], { seed: 4 }), {
      p: 1.5,
      q: 3,
      schedule: 'alternating',
      sweeps: 25,
      tuning: { maxBufferBytes: 4096, maxWorkgroupsPerDimension: 2 },
    });
  });
});

describe('pipelines', () => {
  gpuIt(gpu, 'are compiled once per device and specialisation', async (context) => {
    const a = compileKernel(context.device, normKernel(), { R: 1.5 });
    const b = compileKernel(context.device, normKernel(), { R: 1.5 });
    const c = compileKernel(context.device, normKernel(), { R: 2 });
    expect(a).toBe(b);
    expect(c).not.toBe(a);
    expect((await a).pipeline).toBe((await b).pipeline);
    await c;
  });
});
