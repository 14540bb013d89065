/**
 * The WebGPU engine in Chromium's WebGPU (SwiftShader here: correctness only): the built library
 * (`/lib/index.js`) balances a few nets on the GPU and on the CPU in the page, and the two agree
 * within float32 tolerance (the final rescaling, done on the GPU for these float32 nets, within
 * float32 rounding of the host's); the accelerated schedule on a CNN with grouped and depthwise
 * convolutions (its coarse space split by convolution group) runs on the GPU with Chromium's
 * zero-filled workgroup memory; a device destroyed mid-run finishes on the CPU with the same result.
 */
import { expect, requireWebGpu, test } from './fixtures.js';

type Library = typeof import('../src/index.js');

interface Outcome {
  name: string;
  backend: string;
  fallback: string | null;
  adapter: string | null;
  converged: boolean;
  normRatio: number;
  weightDistance: number;
  monotone: boolean;
  untouched: boolean;
  cpuBackend: string;
  /** Largest relative difference, entry by entry, of the result's weights and biases from the host `rescale()` of its factors. */
  rescaleAgreement: number;
}

test('GPU and CPU engines agree in Chromium', async ({ page }) => {
  test.setTimeout(300_000);
  await page.goto('/bare.html');
  await requireWebGpu(page);
  const outcomes: Outcome[] = await page.evaluate(async () => {
    const url = '/lib/index.js';
    const lib = (await import(url)) as Library;
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) throw new Error('no adapter');
    const device = await adapter.requestDevice({ label: 'e2e shared device' });
    const distance = (a: Library['mlp'] extends (...args: never[]) => infer N ? N : never, b: typeof a): number => {
      let worst = 0;
      a.blocks.forEach((block, k) => {
        let scale = 0;
        for (const x of block.weight) scale = Math.max(scale, Math.abs(x));
        for (let i = 0; i < block.weight.length; i++) worst = Math.max(worst, Math.abs(block.weight[i] - b.blocks[k].weight[i]) / scale);
      });
      return worst;
    };
    // Float32 nets that finish on the GPU are rescaled there: the host rescale() of the same factors within float32 rounding.
    const agreement = (result: Awaited<ReturnType<Library['balance']>>, net: Parameters<Library['balance']>[0]): number => {
      const host = lib.rescale(net, result.logFactors);
      let worst = 0;
      host.blocks.forEach((block, k) => {
        const got = result.network.blocks[k];
        for (const [a, b] of [
          [got.weight, block.weight],
          [got.bias, block.bias],
        ] as const) {
          if (!a || !b) continue;
          for (let i = 0; i < b.length; i++) worst = Math.max(worst, b[i] === 0 ? (a[i] === 0 ? 0 : Infinity) : Math.abs(a[i] / b[i] - 1));
        }
      });
      return worst;
    };
    type Result = Awaited<ReturnType<Library['balance']>>;
    /** What the test checks of one GPU run against the CPU run of the same net. */
    const outcome = (name: string, gpu: Result, cpu: Result, net: Parameters<Library['balance']>[0], before: number[][]): Outcome => ({
      name,
      backend: gpu.backend,
      fallback: gpu.fallback?.message ?? null,
      adapter: gpu.adapter,
      converged: gpu.converged,
      normRatio: gpu.finalNorm / cpu.finalNorm,
      weightDistance: distance(gpu.network, cpu.network),
      monotone: gpu.history.every((h, s) => s === 0 || h <= gpu.history[s - 1] * (1 + 1e-5)),
      untouched: net.blocks.every((b, k) => b.weight.every((w, i) => w === before[k][i])),
      cpuBackend: cpu.backend,
      rescaleAgreement: agreement(gpu, net),
    });
    const nets = [
      { name: 'mlp p=q=2 parallel', net: lib.mlp([12, 20, 16, 4], { seed: 1 }), p: 2, q: 2, schedule: 'parallel' as const },
      { name: 'cnn p=1.5 q=3 alternating', net: lib.cnn({ seed: 2 }), p: 1.5, q: 3, schedule: 'alternating' as const },
      {
        name: 'residual (ties) p=3 q=1.2 accelerated',
        net: lib.sequential(
          [6],
          [
            { type: 'dense', units: 10 },
            { type: 'dense', units: 10, skip: 1 },
            { type: 'dense', units: 10, skip: 2 },
            { type: 'dense', units: 3 },
          ],
          { seed: 3 },
        ),
        p: 3,
        q: 1.2,
        schedule: 'accelerated' as const,
      },
      // tol 1e-5: above this CNN's float32 floor on the GPU (1e-6 would hand it to the CPU as 'stalled').
      { name: 'cnn p=1 q=2 accelerated', net: lib.cnn({ seed: 5 }), p: 1, q: 2, schedule: 'accelerated' as const, tol: 1e-5 },
    ];
    const results: Outcome[] = [];
    for (const { name, net, p, q, schedule, ...rest } of nets) {
      const before = net.blocks.map((b) => Array.from(b.weight));
      const options = { p, q, schedule, tol: 'tol' in rest ? rest.tol : 1e-6, maxSweeps: 4000 };
      const gpu = await lib.balance(net, { ...options, backend: 'webgpu', device });
      const cpu = await lib.balance(net, { ...options, backend: 'cpu' });
      results.push(outcome(name, gpu, cpu, net, before));
    }
    // A device destroyed in mid-run: the CPU continues from the last verified factors.
    const doomed = await adapter.requestDevice({ label: 'e2e destroyed device' }).catch(async () => (await navigator.gpu.requestAdapter())!.requestDevice());
    const net = lib.mlp([12, 20, 16, 4], { seed: 4 });
    const before = net.blocks.map((b) => Array.from(b.weight));
    const options = { p: 2, q: 2, schedule: 'parallel' as const, tol: 1e-9, maxSweeps: 5000 };
    const lost = await lib.balance(net, {
      ...options,
      backend: 'webgpu',
      device: doomed,
      onSweep: ({ sweep }) => {
        if (sweep === 20) doomed.destroy();
      },
    });
    const cpu = await lib.balance(net, { ...options, backend: 'cpu' });
    results.push(outcome('device destroyed mid-run', lost, cpu, net, before));
    device.destroy();
    return results;
  });
  expect(outcomes).toHaveLength(5);
  for (const o of outcomes.slice(0, 4)) {
    expect(o.backend, o.name).toBe('webgpu');
    expect(o.fallback, o.name).toBeNull();
    expect(o.adapter, o.name).toMatch(/\S/);
    expect(o.converged, o.name).toBe(true);
    expect(Math.abs(o.normRatio - 1), o.name).toBeLessThan(1e-5);
    expect(o.weightDistance, o.name).toBeLessThan(1e-3);
    expect(o.monotone, o.name).toBe(true);
    expect(o.untouched, o.name).toBe(true);
    expect(o.cpuBackend, o.name).toBe('cpu');
    expect(o.rescaleAgreement, o.name).toBeLessThan(1e-6);
  }
  const lost = outcomes[4];
  expect(lost.backend).toBe('cpu');
  expect(lost.fallback).toMatch(/WebGPU failed/);
  expect(lost.converged).toBe(true);
  expect(Math.abs(lost.normRatio - 1)).toBeLessThan(1e-9);
  expect(lost.weightDistance).toBeLessThan(1e-6);
  expect(lost.untouched).toBe(true);
});
