/**
 * The driver's hand-over from a GPU engine to the CPU engine, with a stand-in for the float32
 * WebGPU engine (the float64 CPU engine whose objectives read slightly low, like float32 ones
 * may, and that can fail or stall on demand), so it runs on any machine and is deterministic:
 * the monotone check never compares float32 objectives with float64 ones, and a run that
 * ends at `maxSweeps` on the GPU is not reported as finished by the CPU.
 */
import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { BalanceOptions } from '../src/balance.js';
import { balance } from '../src/balance.js';
import { chooseBackend } from '../src/driver/backend.js';
import { EngineHandover } from '../src/driver/handover.js';
import { CpuEngine } from '../src/engines/cpu/cpuEngine.js';
import type { Engine, EngineOptions, Evaluation, SweepRecord } from '../src/engines/engine.js';
import { DeviceLostError } from '../src/engines/engine.js';
import { compileProblem } from '../src/problem/compile.js';
import type { Problem } from '../src/problem/problem.js';
import { mlpNet } from './support/fixNets.js';

/** How the stand-in GPU engine misbehaves. */
interface Behaviour {
  /** Relative amount by which every reported `F` reads low (float32 rounding). */
  low: number;
  /** `sweeps` calls that succeed before one throws (a lost device). */
  failAfterBatches: number;
  /** Replace the reported imbalance after sweep k (1-based) by this, where it returns a number (the stall watch reads it). */
  step?: (sweep: number, imbalance: number) => number;
  /** Return no sweep at all from `sweeps` (a broken engine). */
  empty?: boolean;
  /** The failure after `failAfterBatches` is a lost device. */
  lost?: boolean;
}

let behaviour: Behaviour = { low: 0, failAfterBatches: Infinity };

class Float32LikeEngine implements Engine {
  readonly backend = 'webgpu' as const;
  readonly adapter = 'float32-like stand-in';
  readonly normScale: number;
  private readonly inner: CpuEngine;
  private batches = 0;
  private done = 0;

  constructor(problem: Problem, options: EngineOptions) {
    this.inner = new CpuEngine(problem, options);
    this.normScale = this.inner.normScale;
  }

  async evaluate(): Promise<Evaluation> {
    const e = await this.inner.evaluate();
    return { ...e, F: e.F * (1 - behaviour.low) };
  }

  async sweeps(count: number, tol: number): Promise<SweepRecord[]> {
    if (++this.batches > behaviour.failAfterBatches)
      throw behaviour.lost ? new DeviceLostError('the stand-in device was lost') : new Error('the stand-in device was lost');
    if (behaviour.empty) return [];
    const records: SweepRecord[] = [];
    for (let s = 0; s < count; s++) {
      const [record] = await this.inner.sweeps(1, 0);
      const maxLogImbalance = behaviour.step ? behaviour.step(++this.done, record.maxLogImbalance) : record.maxLogImbalance;
      records.push({ ...record, F: record.F * (1 - behaviour.low), maxLogImbalance });
      if (maxLogImbalance <= tol) break;
    }
    return records;
  }

  logFactors(): Promise<Float64Array> {
    return this.inner.logFactors();
  }

  dispose(): void {
    this.inner.dispose();
  }
}

vi.mock('../src/engines/webgpu/engine.js', () => ({
  createWebGpuEngine: async (problem: Problem, options: EngineOptions): Promise<Engine> => new Float32LikeEngine(problem, options),
}));

/** A `GPU` whose one adapter is a hardware one: the backend choice picks WebGPU, and the mocked engine runs. */
const standIn: BalanceOptions = {
  p: 0,
  q: 0,
  gpu: { requestAdapter: async () => ({ info: { vendor: 'stand-in', architecture: 'float32-like' }, limits: {} }) },
};
const { gpu } = standIn;

beforeEach(() => {
  behaviour = { low: 0, failAfterBatches: Infinity };
});

describe('balance(): hand-over from the GPU to the CPU', () => {
  it("checks the CPU's sweeps against the CPU's own F, not the GPU's float32 one", async () => {
    // An already balanced net: a sweep changes F by far less than float32's 1e-7.
    const net = (await balance(mlpNet(1), { p: 2, q: 3, backend: 'cpu', tol: 1e-13, maxSweeps: 100000 })).network;
    behaviour = { low: 1e-7, failAfterBatches: 1 };
    const options: BalanceOptions = { p: 2, q: 3, tol: 0, maxSweeps: 40, sweepsPerBatch: 16 };
    const result = await balance(net, { ...options, backend: 'webgpu', gpu });
    expect(result.backend).toBe('cpu');
    expect(result.fallback?.kind).toBe('gpu-error');
    expect(result.fallback?.message).toMatch(/WebGPU failed after 1 verified sweeps: the stand-in device was lost/);
    expect(result.sweeps).toBe(40);
    const reference = await balance(net, { ...options, backend: 'cpu' });
    expect(Math.abs(result.finalNorm / reference.finalNorm - 1)).toBeLessThan(1e-12);
  });

  it('still refuses a GPU sweep that increases F beyond float32 tolerance', async () => {
    const net = mlpNet(2);
    let calls = 0;
    const original = Float32LikeEngine.prototype.sweeps;
    Float32LikeEngine.prototype.sweeps = async function increasing(this: Float32LikeEngine, count: number, tol: number) {
      const records = await original.call(this, count, tol);
      // The third batch (after 1 + 16 sweeps, where a sweep changes F by far less than 1%).
      return ++calls === 3 ? records.map((r) => ({ ...r, F: r.F * 1.01 })) : records;
    };
    try {
      const result = await balance(net, { p: 2, q: 2, backend: 'webgpu', gpu, tol: 1e-8, maxSweeps: 5000 });
      expect(result.backend).toBe('cpu');
      expect(result.fallback?.kind).toBe('not-monotone');
      expect(result.fallback?.message).toMatch(/WebGPU failed after 17 verified sweeps: the norm increased/);
      expect(result.converged).toBe(true);
    } finally {
      Float32LikeEngine.prototype.sweeps = original;
    }
  });

  it('the first GPU batch is one sweep, so the first progress comes right after the first sweep; then batches of sweepsPerBatch', async () => {
    behaviour = { low: 0, failAfterBatches: Infinity };
    const batches: number[] = [];
    const original = Float32LikeEngine.prototype.sweeps;
    Float32LikeEngine.prototype.sweeps = async function counted(this: Float32LikeEngine, count: number, tol: number) {
      batches.push(count);
      return original.call(this, count, tol);
    };
    try {
      const progress: number[] = [];
      await balance(mlpNet(3), { p: 2, q: 2, backend: 'webgpu', gpu, tol: 0, maxSweeps: 40, sweepsPerBatch: 16, onSweep: (s) => progress.push(s.sweep) });
      expect(batches).toEqual([1, 16, 16, 7]);
      expect(progress.slice(0, 2)).toEqual([1, 2]);
    } finally {
      Float32LikeEngine.prototype.sweeps = original;
    }
  });

  it('a run that reaches maxSweeps on the GPU while its steps stall finishes there', async () => {
    // A constant imbalance: no new smallest imbalance after the first batch (of one sweep; then
    // batches of 16: the stall count reaches 32 at sweep 1 + 16 + 16 = 33).
    behaviour = { low: 0, failAfterBatches: Infinity, step: () => 1e-3 };
    const result = await balance(mlpNet(3), { p: 2, q: 2, backend: 'webgpu', gpu, tol: 1e-6, maxSweeps: 33, sweepsPerBatch: 16 });
    expect(result.sweeps).toBe(33);
    expect(result.converged).toBe(false);
    expect(result.backend).toBe('webgpu');
    expect(result.fallback).toBeNull();
    // One sweep more, and the stall hands over.
    const longer = await balance(mlpNet(3), { p: 2, q: 2, backend: 'webgpu', gpu, tol: 1e-6, maxSweeps: 34, sweepsPerBatch: 16 });
    expect(longer.backend).toBe('cpu');
    expect(longer.fallback?.kind).toBe('stalled');
    expect(longer.fallback?.message).toMatch(/stalled at its float32 precision floor after 33 sweeps/);
  });

  it('an imbalance that rises for a few sweeps is not a stall, whatever the batch size', async () => {
    // Sweeps 2-4 report the imbalance of sweep 1: three sweeps without a new smallest one.
    let first = 0;
    behaviour = { low: 0, failAfterBatches: Infinity, step: (sweep, step) => (sweep === 1 ? (first = step) : sweep <= 4 ? first : step) };
    for (const sweepsPerBatch of [1, 2, 16]) {
      const result = await balance(mlpNet(4), { p: 2, q: 2, backend: 'webgpu', gpu, tol: 1e-6, maxSweeps: 5000, sweepsPerBatch });
      expect(result.fallback, `sweepsPerBatch ${sweepsPerBatch}`).toBeNull();
      expect(result.backend).toBe('webgpu');
      expect(result.converged).toBe(true);
    }
  });

  it('treats a GPU engine that runs no sweep as failed: the CPU finishes instead of looping forever', async () => {
    behaviour = { low: 0, failAfterBatches: Infinity, empty: true };
    const result = await balance(mlpNet(2), { p: 2, q: 2, schedule: 'parallel', gpu, tol: 1e-9, maxSweeps: 500 });
    expect(result.backend).toBe('cpu');
    expect(result.fallback?.kind).toBe('gpu-error');
    expect(result.fallback?.message).toMatch(/ran no sweep/);
    expect(result.converged).toBe(true);
  });

  it('has a state you can read: engine, verified sweeps and factors, and a typed reason once it hands over', async () => {
    behaviour = { low: 0, failAfterBatches: 2, lost: true };
    const problem = compileProblem(mlpNet(5), { p: 2, q: 2 });
    const run = { schedule: 'parallel' as const, tol: 0, maxSweeps: 100, sweepsPerBatch: 8 };
    const handover = await EngineHandover.open(problem, run, await chooseBackend('webgpu', { gpu }));
    try {
      expect(handover.state).toMatchObject({ backend: 'webgpu', fallback: null, sweeps: 0, adapter: 'float32-like stand-in' });
      await handover.evaluate('before the first sweep');
      expect((await handover.next()).length).toBe(1); // the first GPU batch is one sweep
      expect((await handover.next()).length).toBe(8);
      const before = handover.state;
      expect(before.sweeps).toBe(9);
      expect(await handover.next()).toEqual([]); // the third batch: the device is lost, the batch discarded
      const after = handover.state;
      expect(after.backend).toBe('cpu');
      expect(after.fallback).toEqual({ kind: 'device-lost', message: 'WebGPU failed after 9 verified sweeps: the stand-in device was lost' });
      expect(after.sweeps).toBe(9);
      expect(after.verified).toEqual(before.verified);
      const [next] = await handover.next();
      expect(next.backend).toBe('cpu');
      expect(handover.state.sweeps).toBe(10);
    } finally {
      handover.dispose();
    }
  });
});
