/**
 * The final rescaling on the GPU (issue 3, "shaders": the rescaling of weights and biases):
 * the WebGPU engine's `rescaleWeights` gives the host `rescale()` of the same factors within
 * float32 rounding (an MLP with biases, the CNN with grouped and depthwise convolutions and a
 * dense layer reading a feature map, a residual net with ties, split segments and folded grids);
 * `balance()` uses it for float32 networks that finish on the GPU (the result computes the
 * input's function, the input is untouched, every buffer is labelled and freed), keeps the exact
 * host path for float64 networks, and falls back to the host when the GPU fails at this step.
 */
import { afterEach, describe, expect, vi } from 'vitest';
import { WORKGROUP } from '../shaders/common.js';
import type { BalanceOptions, BalanceResult } from '../src/balance.js';
import { balance, layerLogFactors, unitLogFactors } from '../src/balance.js';
import type { RescaledBlock } from '../src/engines/engine.js';
import type { WebGpuTuning } from '../src/engines/webgpu/engine.js';
import { WebGpuEngine } from '../src/engines/webgpu/engine.js';
import { foldGrid, segmentBlocks } from '../src/engines/webgpu/layout.js';
import { mlp } from '../src/network/builders.js';
import { forward } from '../src/network/forward.js';
import { rescale } from '../src/network/rescale.js';
import type { Network, WeightArray } from '../src/network/types.js';
import { layerSize } from '../src/network/types.js';
import { compileProblem } from '../src/problem/compile.js';
import type { GpuContext } from './helpers/gpu.js';
import { gpuIt, useGpu, watchBuffers } from './helpers/gpu.js';
import { cnnNet, groupedSplitNet, mlpNet, residualNet } from './support/fixNets.js';
import { uniformStream } from './support/fixReference.js';

const gpu = useGpu();

afterEach(() => {
  vi.restoreAllMocks();
});

/** The largest relative difference of `got` from `want`, entry by entry (an entry that should be zero must be zero). */
function worstRelative(got: ArrayLike<number>, want: ArrayLike<number>): number {
  expect(got.length).toBe(want.length);
  let worst = 0;
  for (let k = 0; k < want.length; k++) {
    if (want[k] === 0) {
      if (got[k] !== 0) return Infinity;
      continue;
    }
    worst = Math.max(worst, Math.abs(got[k] / want[k] - 1));
  }
  return worst;
}

/** Every block's weights and biases within `tolerance` (relative, per entry) of the host's. */
function expectBlocksClose(got: readonly { weight: WeightArray; bias: WeightArray | null }[], host: Network, tolerance: number): number {
  expect(got).toHaveLength(host.blocks.length);
  let worst = 0;
  host.blocks.forEach((b, k) => {
    const w = worstRelative(got[k].weight, b.weight);
    expect(w, `weights of block ${k}`).toBeLessThan(tolerance);
    worst = Math.max(worst, w);
    if (b.bias) {
      const bias = got[k].bias;
      expect(bias, `biases of block ${k}`).not.toBeNull();
      const e = worstRelative(bias!, b.bias);
      expect(e, `biases of block ${k}`).toBeLessThan(tolerance);
      worst = Math.max(worst, e);
    } else {
      expect(got[k].bias).toBeNull();
    }
  });
  return worst;
}

/**
 * The engine's rescaling of `net` against the host's, for the factors after a few sweeps and
 * for large random factors (up to e^±30 per unit: weights change by up to e^60, across
 * float32's exponent range); the problem's arrays stay untouched.
 */
async function agreeWithHost(context: GpuContext, net: Network, tuning?: WebGpuTuning): Promise<void> {
  const copy = structuredClone(net);
  const problem = compileProblem(net, { p: 2, q: 2 });
  const engine = await WebGpuEngine.create(problem, { schedule: 'parallel' }, { device: context.device }, tuning);
  try {
    await engine.sweeps(20, 0);
    const next = uniformStream(7);
    const random = Float64Array.from({ length: problem.nVars }, () => (2 * next() - 1) * 30);
    for (const u of [await engine.logFactors(), random]) {
      const host = rescale(net, layerLogFactors(net, problem, u));
      const got: RescaledBlock[] = await engine.rescaleWeights(unitLogFactors(problem, u));
      expectBlocksClose(got, host, 1e-6);
      for (const b of got) {
        expect(b.weight).toBeInstanceOf(Float32Array);
        if (b.bias) expect(b.bias).toBeInstanceOf(Float32Array);
      }
    }
    expect(net).toEqual(copy);
  } finally {
    engine.dispose();
  }
}

/** `count` inputs of `net` from a seeded stream. */
function inputsOf(net: Network, count: number): Float64Array {
  const next = uniformStream(11);
  return Float64Array.from({ length: count * layerSize(net.layers[0]) }, () => 2 * next() - 1);
}

/** The largest output difference relative to the largest output. */
function functionDistance(a: Network, b: Network): number {
  const x = inputsOf(a, 4);
  const [ya, yb] = [forward(a, x, 4), forward(b, x, 4)];
  expect(ya).toHaveLength(4 * layerSize(a.layers[a.layers.length - 1]));
  let scale = 0;
  let worst = 0;
  for (let k = 0; k < ya.length; k++) {
    scale = Math.max(scale, Math.abs(ya[k]));
    worst = Math.max(worst, Math.abs(ya[k] - yb[k]));
  }
  return worst / scale;
}

describe('WebGPU rescaling kernel against the host rescale()', () => {
  gpuIt(gpu, 'an MLP with biases, the CNN (grouped, depthwise, dense on a feature map), a residual net with ties, tiny weights', async (context) => {
    await agreeWithHost(context, mlpNet(1, 'float32'));
    await agreeWithHost(context, cnnNet(2, 'float32'));
    await agreeWithHost(context, residualNet(3, 'float32'));
    // Weights near 1e-7: the engine uploads them divided by its power-of-two normScale (2^-24
    // here), which the kernel multiplies back exactly.
    const small = mlpNet(4, 'float32');
    for (const b of small.blocks) b.weight.forEach((w, k) => (b.weight[k] = w * 1e-7));
    await agreeWithHost(context, small);
  });

  gpuIt(gpu, 'blocks split over several segments (by groups and by rows) and grids folded into two dimensions', async (context) => {
    const grouped = groupedSplitNet({ dtype: 'float32', biasScale: 0.2 });
    const wide = mlp([3, 300, 2], { seed: 5, dtype: 'float32', biasScale: 0.3 });
    const cases: [Network, Required<Pick<WebGpuTuning, 'maxBufferBytes' | 'maxWorkgroupsPerDimension'>>][] = [
      [grouped, { maxBufferBytes: 600, maxWorkgroupsPerDimension: 3 }],
      [grouped, { maxBufferBytes: 200, maxWorkgroupsPerDimension: 2 }],
      [wide, { maxBufferBytes: 4096, maxWorkgroupsPerDimension: 3 }],
    ];
    let split = 0;
    let folded = 0;
    for (const [net, tuning] of cases) {
      const segments = segmentBlocks(compileProblem(net, { p: 2, q: 2 }), tuning.maxBufferBytes);
      split += segments.length - net.blocks.length;
      folded += segments.filter((s) => foldGrid(Math.ceil((s.rows * s.cols * s.taps) / WORKGROUP), tuning.maxWorkgroupsPerDimension)[1] > 1).length;
      await agreeWithHost(context, net, tuning);
    }
    expect(split, 'segments beyond one per block').toBeGreaterThan(5);
    expect(folded, 'segments whose rescaling grid is folded').toBeGreaterThan(0);
  });
});

describe('balance() rescales float32 networks on the GPU', () => {
  gpuIt(
    gpu,
    'the host rescale() of the same factors within float32 rounding, the same function, the input untouched, every buffer labelled and freed',
    async ({ device }) => {
      const spy = vi.spyOn(WebGpuEngine.prototype, 'rescaleWeights');
      for (const [net, p, q] of [
        [mlpNet(1, 'float32'), 2, 2],
        [cnnNet(2, 'float32'), 1, 2],
        [residualNet(3, 'float32'), 3, 1.5],
      ] as const) {
        const copy = structuredClone(net);
        const { made, freed, restore } = watchBuffers(device);
        let result: BalanceResult;
        try {
          // The paper's update: the accelerated schedule runs the CNN (layers split by convolution group) on the CPU.
          result = await balance(net, { p, q, backend: 'webgpu', device, tol: 1e-6, maxSweeps: 3000, schedule: 'parallel' });
        } finally {
          restore();
        }
        expect(result.backend).toBe('webgpu');
        expect(result.fallback).toBeNull();
        expect(made.length).toBeGreaterThan(0);
        expect(
          made.map((b) => b.label).filter((label) => !label.startsWith('weight-balance ')),
          'unlabelled buffers',
        ).toEqual([]);
        expect(
          made.filter((b) => !freed.has(b)).map((b) => b.label),
          'buffers left',
        ).toEqual([]);
        expect(
          made.some((b) => b.label.includes('rescale')),
          'the rescaling ran on the GPU',
        ).toBe(true);
        expectBlocksClose(result.network.blocks, rescale(net, result.logFactors), 1e-6);
        expect(functionDistance(net, result.network)).toBeLessThan(1e-5);
        expect(net).toEqual(copy);
      }
      expect(spy).toHaveBeenCalledTimes(3);
    },
  );

  gpuIt(gpu, 'a float64 network keeps the host path: bit-identical to rescale()', async ({ device }) => {
    const spy = vi.spyOn(WebGpuEngine.prototype, 'rescaleWeights');
    const net = cnnNet(4);
    const result = await balance(net, { p: 2, q: 2, backend: 'webgpu', device, tol: 1e-6, schedule: 'parallel' });
    expect(result.backend).toBe('webgpu');
    expect(result.fallback).toBeNull();
    expect(spy).not.toHaveBeenCalled();
    expect(result.network).toEqual(rescale(net, result.logFactors));
    expect(result.network.blocks[0].weight).toBeInstanceOf(Float64Array);
  });
});

describe('balance(): a GPU failure at the final rescaling falls back to the host', () => {
  // The paper's update: the accelerated schedule runs these CNNs (layers split by convolution group) on the CPU.
  const options: BalanceOptions = { p: 2, q: 2, backend: 'webgpu', tol: 1e-6, schedule: 'parallel' };

  gpuIt(gpu, 'an engine whose rescaling throws', async ({ device }) => {
    vi.spyOn(WebGpuEngine.prototype, 'rescaleWeights').mockRejectedValue(new Error('stub failure'));
    const net = mlpNet(5, 'float32');
    const copy = structuredClone(net);
    const result = await balance(net, { ...options, device });
    expect(result.backend).toBe('webgpu');
    expect(result.fallback).toEqual({ kind: 'gpu-error', message: 'WebGPU failed at the final rescaling: stub failure; rescaled on the CPU' });
    expect(result.network).toEqual(rescale(net, result.logFactors));
    expect(functionDistance(net, result.network)).toBeLessThan(1e-5);
    expect(net).toEqual(copy);
  });

  gpuIt(gpu, 'a device destroyed while the rescaled weights are read back; every buffer freed', async ({ gpu: dawn }) => {
    const adapter = await dawn.requestAdapter();
    const device = await adapter!.requestDevice({ label: 'lost at the final rescaling' });
    const { queue } = device;
    const submit = queue.submit.bind(queue);
    let destroyed = false;
    queue.submit = (buffers: Iterable<GPUCommandBuffer>) => {
      const list = [...buffers];
      submit(list);
      if (list.some((b) => b.label.includes('rescale'))) {
        destroyed = true;
        device.destroy();
      }
    };
    const { made, freed, restore } = watchBuffers(device);
    try {
      const net = cnnNet(6, 'float32');
      const copy = structuredClone(net);
      const result = await balance(net, { ...options, device });
      expect(destroyed).toBe(true);
      expect(result.backend).toBe('webgpu');
      expect(result.fallback?.kind).toBe('device-lost');
      expect(result.fallback?.message).toMatch(/^WebGPU failed at the final rescaling: .+; rescaled on the CPU$/);
      expect(result.network).toEqual(rescale(net, result.logFactors));
      expect(functionDistance(net, result.network)).toBeLessThan(1e-5);
      expect(net).toEqual(copy);
      expect(
        made.filter((b) => !freed.has(b)).map((b) => b.label),
        'buffers left',
      ).toEqual([]);
    } finally {
      restore();
      device.destroy();
    }
  });
});
