/**
 * The shared WebGPU fixture of the GPU tests: Dawn (npm `webgpu`) with Chromium's SwiftShader
 * as the Vulkan driver when no other is configured. One adapter and device per test file
 * (`beforeAll`), destroyed in `afterAll`. Every test runs inside validation and out-of-memory
 * error scopes that must come back empty, with no scope of the code under test left on the
 * device after it, and an uncaptured device error fails the test.
 * With no adapter the tests are skipped visibly, except under `REQUIRE_WEBGPU=1` (CI), where
 * `beforeAll` fails and with it every test of the file.
 */

import type { TestContext } from 'vitest';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { nodeGpu } from '../../src/node/webgpu.js';

/** What a GPU test gets. */
export interface GpuContext {
  gpu: GPU;
  adapter: GPUAdapter;
  device: GPUDevice;
}

/** Set up the fixture for the current file; returns a getter (null when no adapter, outside CI). */
export function useGpu(): () => GpuContext | null {
  let context: GpuContext | null = null;
  const errors: string[] = [];
  beforeAll(async () => {
    const gpu = await nodeGpu();
    const adapter = gpu ? await gpu.requestAdapter() : null;
    if (!gpu || !adapter) {
      if (process.env.REQUIRE_WEBGPU === '1')
        throw new Error("REQUIRE_WEBGPU=1 but no WebGPU adapter is available (npm package webgpu + a Vulkan driver, e.g. Chromium's SwiftShader)");
      return;
    }
    const device = await adapter.requestDevice({ label: 'test device' });
    device.addEventListener('uncapturederror', (event) => errors.push((event as GPUUncapturedErrorEvent).error.message));
    context = { gpu, adapter, device };
  });
  beforeEach(() => {
    errors.length = 0;
    context?.device.pushErrorScope('out-of-memory');
    context?.device.pushErrorScope('validation');
  });
  afterEach(async () => {
    if (!context) return;
    const validation = await context.device.popErrorScope();
    const memory = await context.device.popErrorScope();
    expect(validation?.message ?? null, 'validation error scope').toBeNull();
    expect(memory?.message ?? null, 'out-of-memory error scope').toBeNull();
    expect(errors, 'uncaptured WebGPU errors').toEqual([]);
    // The code under test left no error scope of its own on the device (a stray scope would
    // have taken the fixture's place above and swallowed errors): the stack is empty now.
    const stray = await context.device.popErrorScope().then(
      () => 'a stray error scope was left on the device',
      () => null,
    );
    expect(stray).toBeNull();
  });
  afterAll(() => {
    context?.device.destroy();
    context = null;
  });
  return () => context;
}

/** A test that needs the GPU: skipped visibly without an adapter (never under REQUIRE_WEBGPU=1, where setup fails). */
export function gpuIt(get: () => GpuContext | null, name: string, body: (gpu: GpuContext) => Promise<void>, timeout?: number): void {
  it(
    name,
    async (t: TestContext) => {
      const context = get();
      if (!context) {
        t.skip('no WebGPU adapter');
        return;
      }
      await body(context);
    },
    timeout,
  );
}

/** The buffers a device made while watched, and which of them were destroyed. */
export interface BufferWatch {
  made: GPUBuffer[];
  freed: Set<GPUBuffer>;
  /** Put the device's own `createBuffer` back. */
  restore(): void;
}

/** Record every buffer `device.createBuffer` makes, and every `destroy()` of one, until `restore()`. */
export function watchBuffers(device: GPUDevice): BufferWatch {
  const made: GPUBuffer[] = [];
  const freed = new Set<GPUBuffer>();
  const createBuffer = device.createBuffer;
  device.createBuffer = function watched(this: GPUDevice, descriptor: GPUBufferDescriptor): GPUBuffer {
    const buffer = createBuffer.call(this, descriptor);
    made.push(buffer);
    const destroy = buffer.destroy;
    buffer.destroy = function watchedDestroy(this: GPUBuffer): undefined {
      freed.add(this);
      return destroy.call(this);
    };
    return buffer;
  };
  return {
    made,
    freed,
    restore: () => {
      device.createBuffer = createBuffer;
    },
  };
}
