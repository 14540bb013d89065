/**
 * The library in Node with Dawn's `GPU` object alone (`create([...])` of the npm package
 * `webgpu`), as the README shows: no WebGPU globals (`GPUBufferUsage`, `GPUShaderStage`,
 * `GPUMapMode`) are needed, the flag values being constants of the library.
 */
import { describe, expect, it } from 'vitest';
import { balance } from '../src/balance.js';
import { mlpNet } from './support/fixNets.js';

describe('balance() with Dawn in Node, no WebGPU globals', () => {
  it('runs on the GPU from `gpu: create([])` alone', async (t) => {
    for (const name of ['GPUBufferUsage', 'GPUShaderStage', 'GPUMapMode']) expect(name in globalThis, name).toBe(false);
    const { create } = (await import('webgpu')) as unknown as { create: (flags: string[]) => GPU };
    // disable_workgroup_init: SwiftShader compiles Dawn's workgroup zero-fill slowly (see node.ts).
    const gpu = create(['enable-dawn-features=disable_workgroup_init']);
    const adapter = await gpu.requestAdapter();
    if (!adapter) {
      if (process.env.REQUIRE_WEBGPU === '1') throw new Error('REQUIRE_WEBGPU=1 but Dawn offers no adapter (set VK_ICD_FILENAMES)');
      t.skip('no WebGPU adapter');
      return;
    }
    const net = mlpNet(3);
    const result = await balance(net, { p: 2, q: 2, backend: 'webgpu', gpu, tol: 1e-6 });
    expect(result.fallback).toBeNull();
    expect(result.backend).toBe('webgpu');
    const reference = await balance(net, { p: 2, q: 2, backend: 'cpu', tol: 1e-6 });
    expect(Math.abs(result.finalNorm / reference.finalNorm - 1)).toBeLessThan(1e-5);
    for (const name of ['GPUBufferUsage', 'GPUShaderStage', 'GPUMapMode']) expect(name in globalThis, name).toBe(false);
  });
});
