/**
 * The engines the benchmark can time. Each backend turns a compiled problem into an
 * {@link Engine}; a backend that cannot run here says why (and is skipped with that reason).
 * To add one (e.g. WebGPU), add an entry to {@link BACKENDS}.
 */
import { CpuEngine } from '../src/engines/cpu/cpuEngine.js';
import type { Engine } from '../src/engines/engine.js';
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
}

/** The float64 reference engine. */
export const cpuBackend: BenchBackend = {
  name: 'cpu',
  unavailable: async () => null,
  create: async (problem, schedule) => new CpuEngine(problem, { schedule }),
  describe: async () => {
    const os = await import('node:os');
    const cpus = os.cpus();
    return `${cpus[0]?.model ?? 'unknown CPU'} x${cpus.length}, Node ${process.version}`;
  },
};

/** Every backend the harness knows, by name. */
export const BACKENDS: Record<string, BenchBackend> = {
  cpu: cpuBackend,
};
