/**
 * The cost model of a CPU sweep (issue 2, "Performance"): `P` is built once per run, and a sweep
 * reads each block's `P` at most twice (once for p = q in the parallel schedule); the
 * alternating schedule re-reads only the blocks whose columns hold the class just updated, and
 * its incrementally maintained row sums equal ones recomputed from scratch.
 */
import { describe, expect, it, vi } from 'vitest';
import type { ProblemBlock } from '../src/problem/problem.js';

const reads = vi.hoisted(() => ({ pass: new Map<number, number>(), power: new Map<number, number>() }));

vi.mock('../src/engines/cpu/passes.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../src/engines/cpu/passes.js')>();
  const count = (map: Map<number, number>, block: ProblemBlock): void => {
    map.set(block.index, (map.get(block.index) ?? 0) + 1);
  };
  return {
    ...original,
    powerMatrix: (...args: Parameters<typeof original.powerMatrix>) => (count(reads.power, args[0]), original.powerMatrix(...args)),
    rowPass: (...args: Parameters<typeof original.rowPass>) => (count(reads.pass, args[0]), original.rowPass(...args)),
    columnPass: (...args: Parameters<typeof original.columnPass>) => (count(reads.pass, args[0]), original.columnPass(...args)),
    fusedPass: (...args: Parameters<typeof original.fusedPass>) => (count(reads.pass, args[0]), original.fusedPass(...args)),
  };
});

const { CpuEngine } = await import('../src/engines/cpu/cpuEngine.js');
const { compileProblem } = await import('../src/problem/compile.js');
const { mlp } = await import('../src/network/builders.js');
const { NETS } = await import('./support/fixNets.js');

/** Reads of each block's P over `sweeps` sweeps, after one warm-up sweep. */
async function readsPerSweep(engine: InstanceType<typeof CpuEngine>, nBlocks: number, sweeps: number): Promise<number[]> {
  await engine.sweeps(1, 0);
  reads.pass.clear();
  await engine.sweeps(sweeps, 0);
  return Array.from({ length: nBlocks }, (_, k) => (reads.pass.get(k) ?? 0) / sweeps);
}

describe('reads of P per sweep (CPU engine)', () => {
  const net = mlp([12, 20, 16, 14, 10, 4], { seed: 1, dtype: 'float64' });

  it('P is built once per block', () => {
    reads.power.clear();
    const problem = compileProblem(net, { p: 1.5, q: 3 });
    new CpuEngine(problem, { schedule: 'alternating', kernels: 'js' }).dispose();
    expect([...reads.power.values()]).toEqual([1, 1, 1, 1, 1]);
  });

  it('parallel, p != q: each block twice (a row pass and a column pass), the input block once (no column of it is rescalable)', async () => {
    const problem = compileProblem(net, { p: 1.5, q: 3 });
    expect(await readsPerSweep(new CpuEngine(problem, { schedule: 'parallel', kernels: 'js' }), 5, 4)).toEqual([1, 2, 2, 2, 2]);
  });

  it('parallel, p = q: each block once (the fused pass)', async () => {
    const problem = compileProblem(net, { p: 2.5, q: 2.5 });
    expect(await readsPerSweep(new CpuEngine(problem, { schedule: 'parallel', kernels: 'js' }), 5, 4)).toEqual([1, 1, 1, 1, 1]);
  });

  it('alternating on an MLP: never the input block; twice for the blocks reading class 0, three times for the others (the finishing column pass that leaves In and Out current serves class 0 next)', async () => {
    for (const [p, q] of [
      [2, 2],
      [1, 3],
    ]) {
      const problem = compileProblem(net, { p, q });
      expect(await readsPerSweep(new CpuEngine(problem, { schedule: 'alternating', kernels: 'js' }), 5, 4)).toEqual([0, 2, 3, 2, 3]);
    }
  });

  it("alternating on the CNN and the residual net: a row and a column pass per class present in a block's columns, less the column pass of class 0, plus the finishing column pass", async () => {
    for (const name of ['cnn', 'residual', 'conv-residual', 'dag']) {
      const netK = NETS[name](2);
      const problem = compileProblem(netK, { p: 2, q: 3 });
      const perBlock = await readsPerSweep(new CpuEngine(problem, { schedule: 'alternating', kernels: 'js' }), problem.blocks.length, 3);
      problem.blocks.forEach((b, k) => {
        const classes = new Set<number>();
        for (let c = b.colUnit0; c < b.colUnit0 + b.cols * b.groups; c++) if (problem.unitVar[c] >= 0) classes.add(problem.varClass[problem.unitVar[c]]);
        expect(perBlock[k], `${name} block ${k}`).toBe(classes.size === 0 ? 0 : 2 * classes.size - (classes.has(0) ? 1 : 0) + 1);
      });
    }
  });

  it("alternating: the incrementally updated row sums equal a fresh engine's at the same factors", async () => {
    for (const name of ['residual', 'cnn', 'conv-residual']) {
      const problem = compileProblem(NETS[name](3), { p: 1.7, q: 2.6, includeBiases: true });
      const engine = new CpuEngine(problem, { schedule: 'alternating', kernels: 'js' });
      const records = await engine.sweeps(9, 0);
      const fresh = new CpuEngine(problem, { schedule: 'parallel', initial: await engine.logFactors() });
      const evaluation = await fresh.evaluate();
      const last = records[records.length - 1].F;
      expect(Math.abs(evaluation.F - last) / last, name).toBeLessThan(1e-14);
      expect(Math.abs((await engine.evaluate()).maxLogImbalance - evaluation.maxLogImbalance)).toBeLessThan(1e-12);
    }
  });
});
