/**
 * Which kernels the WebGPU engine specialises (issue 3, "shaders"): for p = q one fused pass over
 * `P` gives both sums (the parallel schedule needs no separate row and column kernels; the
 * alternating one uses them between classes); for p != q the row and column kernels, no fused pass;
 * building `P` needs no `pow` for p = 1 and p = 2 (exact fast paths), and `pow` otherwise. Each
 * case runs on a fresh device, so that no pipeline comes from another test's cache, and records
 * the WGSL of every shader module the engine compiles (the final rescaling included: one kernel,
 * no transcendental); every GPU object it makes has a label. And the host's batching (issue 3, "host"):
 * many sweeps are encoded per submission, and the norms, steps and factors read back once per batch.
 */
import { describe, expect } from 'vitest';
import { WebGpuEngine } from '../src/engines/webgpu/engine.js';
import { BufferUsage } from '../src/engines/webgpu/flags.js';
import type { Network } from '../src/network/types.js';
import type { Schedule } from '../src/options.js';
import { compileProblem } from '../src/problem/compile.js';
import { gpuIt, useGpu } from './helpers/gpu.js';
import { cnnNet, mlpNet } from './support/fixNets.js';

const gpu = useGpu();

/** The shader modules (label → WGSL) an engine compiles for (p, q), after two sweeps and the final rescaling. */
async function compiledModules(dawn: GPU, net: Network, p: number, q: number, schedule: Schedule): Promise<Map<string, string>> {
  const adapter = await dawn.requestAdapter();
  expect(adapter).not.toBeNull();
  const device = await adapter!.requestDevice({ label: `kernels for p = ${p}, q = ${q}` });
  const modules = new Map<string, string>();
  const create = device.createShaderModule.bind(device);
  device.createShaderModule = (descriptor: GPUShaderModuleDescriptor) => {
    modules.set(descriptor.label ?? '', descriptor.code);
    return create(descriptor);
  };
  // Every GPU object the engine makes is labelled (its own name first).
  const makers = [
    'createBuffer',
    'createBindGroup',
    'createBindGroupLayout',
    'createPipelineLayout',
    'createComputePipelineAsync',
    'createCommandEncoder',
  ] as const;
  const made: string[] = [];
  for (const maker of makers) {
    const original = (device[maker] as (descriptor: GPUObjectDescriptorBase) => unknown).bind(device);
    Object.assign(device, { [maker]: (descriptor: GPUObjectDescriptorBase) => (made.push(`${maker}: ${descriptor?.label ?? ''}`), original(descriptor)) });
  }
  try {
    const problem = compileProblem(net, { p, q });
    const engine = await WebGpuEngine.create(problem, { schedule }, { device });
    try {
      expect(await engine.sweeps(2, 0)).toHaveLength(2);
      expect(await engine.rescaleWeights(new Float64Array(problem.nUnits))).toHaveLength(problem.blocks.length);
    } finally {
      engine.dispose();
    }
  } finally {
    device.destroy();
  }
  expect(made.length).toBeGreaterThan(makers.length);
  for (const maker of makers)
    expect(
      made.some((entry) => entry.startsWith(`${maker}: `)),
      maker,
    ).toBe(true);
  expect(
    made.filter((entry) => !/: weight-balance \S/.test(entry)),
    'unlabelled GPU objects',
  ).toEqual([]);
  expect(
    [...modules.keys()].filter((label) => !label.startsWith('weight-balance ')),
    'unlabelled shader modules',
  ).toEqual([]);
  return modules;
}

/** The WGSL of the modules whose label names `kernel`. */
function codeOf(modules: Map<string, string>, kernel: string): string[] {
  return [...modules].filter(([label]) => label.startsWith(`weight-balance ${kernel} `)).map(([, code]) => code);
}

describe('WebGPU kernel specialisation (every GPU object the engine makes is labelled)', () => {
  gpuIt(gpu, 'p = q: the fused pass (and, parallel, no separate row and column kernels); p = 2 and p = 1 build P without pow', async ({ gpu: dawn }) => {
    // An MLP (one tap per edge) and a CNN (kernel taps aggregated per channel pair).
    for (const [net, p, schedule] of [
      [mlpNet(1), 2, 'parallel'],
      [cnnNet(1), 2, 'alternating'],
      [mlpNet(2), 1, 'alternating'],
      [cnnNet(2), 1, 'parallel'],
    ] as const) {
      const modules = await compiledModules(dawn, net, p, p, schedule);
      expect(codeOf(modules, 'fusedSums'), `p = q = ${p}`).toHaveLength(1);
      // The alternating schedule updates one class at a time: it needs the separate passes too.
      const separate = schedule === 'parallel' ? 0 : 1;
      expect(codeOf(modules, 'rowSums')).toHaveLength(separate);
      expect(codeOf(modules, 'columnSums')).toHaveLength(separate);
      const build = codeOf(modules, 'buildPower');
      expect(build.length).toBeGreaterThan(0);
      for (const code of build) expect(code).not.toMatch(/\bpow\s*\(/);
      // The final rescaling: one kernel, factors as float32 mantissas and exact powers of two (no transcendental).
      const rescaling = codeOf(modules, 'rescale');
      expect(rescaling).toHaveLength(1);
      expect(rescaling[0]).not.toMatch(/\b(exp|exp2|log|pow)\s*\(/);
      expect(rescaling[0]).toMatch(/\bldexp\s*\(/);
    }
  });

  gpuIt(gpu, 'p != q: row and column kernels, no fused pass; a general p builds P with pow', async ({ gpu: dawn }) => {
    const modules = await compiledModules(dawn, cnnNet(3), 1.5, 3, 'parallel');
    expect(codeOf(modules, 'fusedSums')).toEqual([]);
    expect(codeOf(modules, 'rowSums')).toHaveLength(1);
    expect(codeOf(modules, 'columnSums')).toHaveLength(1);
    const build = codeOf(modules, 'buildPower');
    expect(build.length).toBeGreaterThan(0);
    expect(build.every((code) => /\bpow\s*\(/.test(code))).toBe(true);
  });
});

describe('WebGPU host batching', () => {
  gpuIt(gpu, 'one submission and one read-back per batch of up to 64 sweeps', async ({ device }) => {
    const engine = await WebGpuEngine.create(compileProblem(mlpNet(3), { p: 2, q: 3 }), { schedule: 'parallel' }, { device });
    const { queue } = device;
    const submit = queue.submit.bind(queue);
    let submissions = 0;
    let readBacks = 0;
    queue.submit = (buffers: Iterable<GPUCommandBuffer>) => {
      submissions++;
      submit(buffers);
    };
    const watched = device.createBuffer({ label: 'prototype probe', size: 16, usage: BufferUsage.MAP_READ });
    const prototype = Object.getPrototypeOf(watched) as { mapAsync: GPUBuffer['mapAsync'] };
    watched.destroy();
    const mapAsync = prototype.mapAsync;
    prototype.mapAsync = function counted(this: GPUBuffer, ...args: Parameters<GPUBuffer['mapAsync']>) {
      readBacks++;
      return mapAsync.apply(this, args);
    };
    try {
      for (const [sweeps, batches] of [
        [64, 1],
        [130, 3],
        [10, 1],
      ] as const) {
        submissions = 0;
        readBacks = 0;
        expect(await engine.sweeps(sweeps, 0)).toHaveLength(sweeps);
        expect(submissions, `${sweeps} sweeps: submissions`).toBe(batches);
        expect(readBacks, `${sweeps} sweeps: read-backs`).toBe(batches);
      }
      // The factors of the last batch came with it: no further read-back.
      readBacks = 0;
      expect(await engine.logFactors()).toHaveLength(compileProblem(mlpNet(3), { p: 2, q: 3 }).nVars);
      expect(readBacks).toBe(0);
    } finally {
      prototype.mapAsync = mapAsync;
      queue.submit = submit;
      engine.dispose();
    }
  });
});
