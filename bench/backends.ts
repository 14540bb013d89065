/**
 * The engines the benchmark can time. Each backend turns a compiled problem into an
 * {@link Engine}; a backend that cannot run here says why (and is skipped with that reason).
 * To add one (e.g. WebGPU), add an entry to {@link BACKENDS}.
 */

import { defaultThreads } from '../src/driver/threads.js';
import type { CpuEngineOptions } from '../src/engines/cpu/cpuEngine.js';
import { CpuEngine } from '../src/engines/cpu/cpuEngine.js';
import type { PowerPrecision } from '../src/engines/cpu/kernels.js';
import { ThreadPool } from '../src/engines/cpu/threads/pool.js';
import type { WasmSimd } from '../src/engines/cpu/wasm/wasmKernels.js';
import { chooseWasmSimd, prepareSharedKernels, prepareWasmKernels, wasmKernelsAvailable, wasmSimd } from '../src/engines/cpu/wasm/wasmKernels.js';
import type { Engine } from '../src/engines/engine.js';
import { BufferUsage } from '../src/engines/webgpu/flags.js';
import type { Schedule } from '../src/options.js';
import type { Problem } from '../src/problem/problem.js';

/** A way to run the fix that the benchmark can time. */
export interface BenchBackend {
  /** Short name used on the command line and in the table (`cpu`, `webgpu`). */
  name: string;
  /** `null` when it can run here, else why not. Called once before any timing. */
  unavailable(): Promise<string | null>;
  /** A fresh engine at zero log factors. */
  create(problem: Problem, schedule: Schedule): Promise<Engine>;
  /** A description of the hardware (CPU model, adapter). */
  describe(): Promise<string>;
  /** Release what `unavailable`/`create` acquired (devices). */
  close?(): Promise<void>;
  /** The clock of `ms/sweep` (default `cpu`: processor time; a GPU backend uses wall time). */
  clock?: 'cpu' | 'wall';
  /** The backend's own floor, in ms, for reading `entries` values of `P` once (default: the CPU summation loop). */
  floor?(entries: number): Promise<number>;
  /** The worker threads of a threaded CPU backend (once `unavailable` said it can run). */
  readonly pool?: ThreadPool | null;
  /** Bytes of `P` one sweep reads (for the effective bandwidth column). */
  bytesPerSweep?(problem: Problem, schedule: Schedule): number;
}

async function describeCpu(): Promise<string> {
  const os = await import('node:os');
  const cpus = os.cpus();
  return `${cpus[0]?.model ?? 'unknown CPU'} x${cpus.length}, Node ${process.version}`;
}

/** Which build of the WebAssembly kernels runs: `simd` forced, else the library's choice (relaxed SIMD where validated). */
function simdBuild(simd: WasmSimd | 'auto'): string {
  chooseWasmSimd(simd);
  return wasmSimd() === 'relaxed' ? 'relaxed SIMD (fused multiply-add)' : 'plain SIMD';
}

/**
 * The CPU engine with the given options (`cpu`: its defaults, float64 P on the best kernels
 * here); `simd` forces a build of the WebAssembly kernels (default: the library's choice).
 */
function cpuVariant(name: string, options: Omit<CpuEngineOptions, 'schedule'>, what: string, simd: WasmSimd | 'auto' = 'auto'): BenchBackend {
  return {
    name,
    unavailable: async () => {
      chooseWasmSimd(simd);
      return options.kernels === 'wasm' && !wasmKernelsAvailable() ? `WebAssembly ${simd === 'auto' ? '' : `${simd} `}SIMD is not available` : null;
    },
    create: async (problem, schedule) => {
      chooseWasmSimd(simd);
      return new CpuEngine(problem, { schedule, ...options });
    },
    describe: async () => `${what}${options.kernels === 'wasm' ? `, ${simdBuild(simd)}` : ''}; ${await describeCpu()}`,
  };
}

/**
 * The WebAssembly SIMD kernels with every pass split over worker threads (one pool, as many
 * threads as `balance` uses by default: the cores, at most 8), opened once for the benchmark.
 * Wall time: processor time adds up the threads.
 */
function threadedVariant(name: string, precision: PowerPrecision): BenchBackend {
  let pool: ThreadPool | null = null;
  return {
    name,
    clock: 'wall',
    get pool() {
      return pool;
    },
    async unavailable() {
      chooseWasmSimd('auto');
      if (!(await prepareWasmKernels()) || !(await prepareSharedKernels())) return 'WebAssembly SIMD on shared memory is not available';
      if (defaultThreads() < 2) return 'one core here';
      pool = await ThreadPool.open(defaultThreads());
      return pool ? null : 'worker threads cannot run here';
    },
    create: async (problem, schedule) => {
      chooseWasmSimd('auto');
      await prepareSharedKernels();
      return new CpuEngine(problem, { schedule, kernels: 'wasm', precision, pool });
    },
    describe: async () =>
      `WebAssembly SIMD kernels (${simdBuild('auto')}), ${precision} P, passes split over ${pool?.size} threads, wall time; ${await describeCpu()}`,
    async close() {
      await pool?.close();
      pool = null;
    },
  };
}

/** The CPU engine as it runs by default. */
export const cpuBackend: BenchBackend = cpuVariant('cpu', {}, 'CPU engine defaults');

/** Sweeps the WebGPU engine encodes per submission at most: runs use this many sweeps. */
export const GPU_SWEEPS_PER_SUBMIT = 64;

/**
 * The WebGPU engine on Dawn (npm `webgpu`) in Node, one device for the whole benchmark (so
 * pipelines are compiled once; setup times exclude compilation after the first engine). Wall
 * time, since the work runs on the GPU. Floor: half the time of a GPU buffer-to-buffer copy of
 * as many bytes as `P` in float32 (a copy reads and writes each byte: reading `P` once at the
 * card's measured copy bandwidth). On SwiftShader (no GPU) the figures are plumbing only.
 */
function webgpuBackend(): BenchBackend {
  let device: GPUDevice | null = null;
  let adapter = '';
  return {
    name: 'webgpu',
    clock: 'wall',
    async unavailable() {
      const { nodeGpu } = await import('../src/node/webgpu.js');
      const { acquireDevice } = await import('../src/engines/webgpu/device.js');
      const gpu = await nodeGpu();
      if (!gpu) return 'the npm package webgpu (Dawn) could not be loaded';
      try {
        const acquired = await acquireDevice({ gpu });
        device = acquired.device;
        adapter = acquired.adapter;
        return null;
      } catch (error) {
        return error instanceof Error ? error.message : String(error);
      }
    },
    async create(problem, schedule) {
      if (!device) throw new Error('no WebGPU device');
      const { WebGpuEngine } = await import('../src/engines/webgpu/engine.js');
      return WebGpuEngine.create(problem, { schedule }, { device });
    },
    describe: async () => `${adapter}${/swiftshader/i.test(adapter) ? ' (CPU emulation: correctness and plumbing only, not speed)' : ''}`,
    async close() {
      device?.destroy();
      device = null;
    },
    async floor(entries) {
      if (!device) throw new Error('no WebGPU device');
      const limit = Math.min(device.limits.maxBufferSize, 1 << 30);
      const bytes = Math.min(entries * 4, Math.floor(limit / 4) * 4);
      const usage = BufferUsage.COPY_SRC | BufferUsage.COPY_DST;
      const source = device.createBuffer({ label: 'bench floor source', size: bytes, usage });
      const target = device.createBuffer({ label: 'bench floor target', size: bytes, usage });
      const copies = 8;
      const run = async (): Promise<number> => {
        const encoder = device!.createCommandEncoder({ label: 'bench floor copies' });
        for (let k = 0; k < copies; k++) encoder.copyBufferToBuffer(source, 0, target, 0, bytes);
        const start = performance.now();
        device!.queue.submit([encoder.finish()]);
        await device!.queue.onSubmittedWorkDone();
        return (performance.now() - start) / copies;
      };
      await run();
      const ms = await run();
      source.destroy();
      target.destroy();
      return (ms / 2) * ((entries * 4) / bytes);
    },
    bytesPerSweep(problem, schedule) {
      const entries = (b: { rows: number; cols: number }): number => b.rows * b.cols;
      const holds = (b: Problem['blocks'][number], c: number | null): boolean => {
        for (let unit = b.colUnit0; unit < b.colUnit0 + b.cols * b.groups; unit++) {
          const v = problem.unitVar[unit];
          if (v >= 0 && (c === null || problem.varClass[v] === c)) return true;
        }
        return false;
      };
      let reads = 0;
      if (schedule === 'parallel') {
        // p = q: one fused pass over every block; otherwise a column pass over the blocks whose
        // columns hold a variable (not the input block) and a row pass over every block.
        for (const b of problem.blocks) reads += entries(b) * (problem.r === 1 ? 1 : holds(b, null) ? 2 : 1);
      } else {
        // Alternating: per class, a column and a row pass over the blocks whose columns hold it.
        for (let c = 0; c < problem.nClasses; c++) for (const b of problem.blocks) if (holds(b, c)) reads += 2 * entries(b);
      }
      return reads * 4;
    },
  };
}

/** Every backend the harness knows, by name. */
export const BACKENDS: Record<string, BenchBackend> = {
  cpu: cpuBackend,
  'js-f64': cpuVariant('js-f64', { kernels: 'js', precision: 'float64' }, 'JS kernels, float64 P'),
  'wasm-f32': cpuVariant('wasm-f32', { kernels: 'wasm', precision: 'float32' }, 'WebAssembly SIMD kernels, float32 P, float64 sums'),
  // wasm-f32 on each build of the kernels (the bench lets Node 20 validate relaxed SIMD, see main.ts).
  'wasm-f32-plain': cpuVariant('wasm-f32-plain', { kernels: 'wasm', precision: 'float32' }, 'wasm-f32', 'plain'),
  'wasm-f32-relaxed': cpuVariant('wasm-f32-relaxed', { kernels: 'wasm', precision: 'float32' }, 'wasm-f32', 'relaxed'),
  'wasm-f32b': cpuVariant(
    'wasm-f32b',
    { kernels: 'wasm', precision: 'float32', sums: 'blocked32' },
    'WebAssembly SIMD kernels, float32 P, float32 products summed by blocks in float64',
  ),
  'wasm-f64': cpuVariant('wasm-f64', { kernels: 'wasm', precision: 'float64' }, 'WebAssembly SIMD kernels, float64 P'),
  // The same kernels without the row-then-column passes (p != q: a row pass and a column pass, two reads of P).
  'wasm-f32-2r': cpuVariant('wasm-f32-2r', { kernels: 'wasm', precision: 'float32', chainPasses: false }, 'wasm-f32, two reads of P for p != q'),
  'wasm-f32b-2r': cpuVariant(
    'wasm-f32b-2r',
    { kernels: 'wasm', precision: 'float32', sums: 'blocked32', chainPasses: false },
    'wasm-f32b, two reads of P for p != q',
  ),
  'wasm-f64-2r': cpuVariant('wasm-f64-2r', { kernels: 'wasm', precision: 'float64', chainPasses: false }, 'wasm-f64, two reads of P for p != q'),
  'wasm-f32-threads': threadedVariant('wasm-f32-threads', 'float32'),
  'wasm-f64-threads': threadedVariant('wasm-f64-threads', 'float64'),
  webgpu: webgpuBackend(),
};
