/**
 * The cost model of a CPU sweep (issue 2, "Performance"; issue 11: one read per sweep): `P` is
 * built once per run, and a sweep reads each block's `P` once in the parallel schedule for every
 * (p, q) where the block alone writes its rows' units (p = q: the fused pass; p != q: the
 * row-then-column pass), twice otherwise; the alternating schedule re-reads only the blocks whose
 * columns hold the class just updated, and its incrementally maintained row sums equal ones
 * recomputed from scratch. A sweep's `passes` is what it read.
 */
import { describe, expect, it, vi } from 'vitest';
import type { ProblemBlock } from '../src/problem/problem.js';

const reads = vi.hoisted(() => ({ pass: new Map<number, number>(), power: new Map<number, number>() }));

vi.mock('../src/engines/cpu/passes.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../src/engines/cpu/passes.js')>();
  /** `fn`, counting each call in `map` under its block (the first argument). */
  const counted =
    <A extends [ProblemBlock, ...unknown[]], R>(map: Map<number, number>, fn: (...args: A) => R) =>
    (...args: A): R => {
      map.set(args[0].index, (map.get(args[0].index) ?? 0) + 1);
      return fn(...args);
    };
  return {
    ...original,
    powerMatrix: counted(reads.power, original.powerMatrix),
    rowPass: counted(reads.pass, original.rowPass),
    columnPass: counted(reads.pass, original.columnPass),
    fusedPass: counted(reads.pass, original.fusedPass),
    rowColumnPass: counted(reads.pass, original.rowColumnPass),
  };
});

const { CpuEngine } = await import('../src/engines/cpu/cpuEngine.js');
const { compileProblem } = await import('../src/problem/compile.js');
const { mlp } = await import('../src/network/builders.js');
const { NETS } = await import('./support/fixNets.js');

/**
 * Reads of each block's P over `sweeps` sweeps, after one warm-up sweep; checks that each sweep's
 * `passes` is what was read (entries of P read over the entries of P).
 */
async function readsPerSweep(engine: InstanceType<typeof CpuEngine>, nBlocks: number, sweeps: number): Promise<number[]> {
  await engine.sweeps(1, 0);
  reads.pass.clear();
  const records = await engine.sweeps(sweeps, 0);
  const perBlock = Array.from({ length: nBlocks }, (_, k) => (reads.pass.get(k) ?? 0) / sweeps);
  const problem = (engine as unknown as { problem: import('../src/problem/problem.js').Problem }).problem;
  const size = problem.blocks.map((b) => b.rows * b.cols);
  const total = size.reduce((a, b) => a + b, 0);
  const read = perBlock.reduce((sum, n, k) => sum + n * size[k], 0) / total;
  for (const record of records) expect(record.passes).toBeCloseTo(read, 12);
  return perBlock;
}

/** Per block: whether no other block writes the same layer (counted here from the blocks' row units). */
function writesAlone(problem: import('../src/problem/problem.js').Problem): boolean[] {
  return problem.blocks.map((b) => problem.blocks.filter((o) => o.rowUnit0 === b.rowUnit0).length === 1);
}

describe('reads of P per sweep (CPU engine)', () => {
  const net = mlp([12, 20, 16, 14, 10, 4], { seed: 1, dtype: 'float64' });

  it('P is built once per block', () => {
    reads.power.clear();
    const problem = compileProblem(net, { p: 1.5, q: 3 });
    new CpuEngine(problem, { schedule: 'alternating', kernels: 'js' }).dispose();
    expect([...reads.power.values()]).toEqual([1, 1, 1, 1, 1]);
  });

  it('parallel, p != q, MLP: each block once (the row-then-column pass; the input block a row pass only)', async () => {
    for (const [p, q] of [
      [1.5, 3],
      [3, 1.5],
      [1, 2],
    ]) {
      const problem = compileProblem(net, { p, q });
      expect(await readsPerSweep(new CpuEngine(problem, { schedule: 'parallel', kernels: 'js' }), 5, 4)).toEqual([1, 1, 1, 1, 1]);
    }
  });

  it('parallel, p != q, convolutions, residual nets, a DAG with layers written by two blocks: those blocks twice (a row pass and a column pass), every other block once', async () => {
    for (const name of ['cnn', 'residual', 'conv-residual', 'dag']) {
      const problem = compileProblem(NETS[name](2), { p: 2, q: 3 });
      const alone = writesAlone(problem);
      if (name === 'dag') expect(alone.filter((a) => !a).length, 'the DAG has layers written by two blocks').toBeGreaterThan(0);
      const perBlock = await readsPerSweep(new CpuEngine(problem, { schedule: 'parallel', kernels: 'js' }), problem.blocks.length, 2);
      problem.blocks.forEach((b, k) => {
        let rescalable = false;
        for (let c = b.colUnit0; c < b.colUnit0 + b.cols * b.groups; c++) rescalable ||= problem.unitVar[c] >= 0;
        expect(perBlock[k], `${name} block ${k}`).toBe(rescalable && !alone[k] ? 2 : 1);
      });
    }
  });

  it('parallel, p = q: each block once (the fused pass)', async () => {
    const problem = compileProblem(net, { p: 2.5, q: 2.5 });
    expect(await readsPerSweep(new CpuEngine(problem, { schedule: 'parallel', kernels: 'js' }), 5, 4)).toEqual([1, 1, 1, 1, 1]);
  });

  it('alternating on an MLP: never the input block; twice for every other block (class 1: a column pass, then its row pass chained with the finishing column pass that leaves In and Out current and serves class 0 next)', async () => {
    for (const [p, q] of [
      [2, 2],
      [1, 3],
    ]) {
      const problem = compileProblem(net, { p, q });
      expect(await readsPerSweep(new CpuEngine(problem, { schedule: 'alternating', kernels: 'js' }), 5, 4)).toEqual([0, 2, 2, 2, 2]);
    }
  });

  it("alternating on the CNN and the residual net: a row and a column pass per class present in a block's columns, less the column pass of class 0, plus the finishing column pass, less one where a row pass and the next class's column pass (or the finishing one) read a block that writes its rows alone", async () => {
    for (const name of ['cnn', 'residual', 'conv-residual', 'dag']) {
      const netK = NETS[name](2);
      const problem = compileProblem(netK, { p: 2, q: 3 });
      const alone = writesAlone(problem);
      const perBlock = await readsPerSweep(new CpuEngine(problem, { schedule: 'alternating', kernels: 'js' }), problem.blocks.length, 3);
      const classesOf = problem.blocks.map((b) => {
        const classes = new Set<number>();
        for (let c = b.colUnit0; c < b.colUnit0 + b.cols * b.groups; c++) if (problem.unitVar[c] >= 0) classes.add(problem.varClass[problem.unitVar[c]]);
        return classes;
      });
      problem.blocks.forEach((_, k) => {
        const classes = classesOf[k];
        // The row pass of class c is followed by the column pass of class c + 1, or the finishing one (every block with a class).
        let chained = 0;
        for (let c = 0; c < problem.nClasses; c++) if (alone[k] && classes.has(c) && (c === problem.nClasses - 1 || classes.has(c + 1))) chained++;
        expect(perBlock[k], `${name} block ${k}`).toBe(classes.size === 0 ? 0 : 2 * classes.size - (classes.has(0) ? 1 : 0) + 1 - chained);
      });
    }
  });

  it('evaluate() before the first sweep reads nothing, in every schedule (and equal in the log arithmetic): the set-up read gives In, Out and F, and the first sweep starts from it', async () => {
    const problem = compileProblem(net, { p: 1.5, q: 3 });
    const size = problem.blocks.map((b) => b.rows * b.cols);
    const total = size.reduce((a, b) => a + b, 0);
    const readSince = (): number => [...reads.pass.entries()].reduce((sum, [k, n]) => sum + n * size[k], 0) / total;
    const reference = await new CpuEngine(problem, { schedule: 'parallel', kernels: 'js' }).evaluate();
    for (const schedule of ['accelerated', 'parallel', 'alternating'] as const) {
      for (const arithmetic of ['auto', 'log'] as const) {
        reads.pass.clear();
        const engine = new CpuEngine(problem, { schedule, arithmetic, kernels: 'js' });
        const setUp = readSince();
        // (The log-sum-exp passes are not the counted kernels: there only the results are compared.)
        if (arithmetic === 'auto') expect(setUp, `${schedule}: the set-up reads P`).toBeGreaterThan(0);
        reads.pass.clear();
        const evaluation = await engine.evaluate();
        expect(readSince(), `${schedule} ${arithmetic}`).toBe(0);
        expect(Math.abs(evaluation.F - reference.F) / reference.F).toBeLessThan(1e-13);
        expect(Math.abs(evaluation.maxLogImbalance - reference.maxLogImbalance)).toBeLessThan(1e-12);
        const [first] = await engine.sweeps(1, 0);
        if (arithmetic === 'auto') expect(first.passes, `${schedule}: the first sweep reads what it says`).toBeCloseTo(readSince(), 12);
        expect(first.F).toBeLessThanOrEqual(evaluation.F * (1 + 1e-12));
        // After a sweep too, evaluate() gives the sweep's own F and imbalance without a read.
        reads.pass.clear();
        const after = await engine.evaluate();
        expect(readSince()).toBe(0);
        expect(after.F).toBe(first.F);
        expect(after.maxLogImbalance).toBe(first.maxLogImbalance);
      }
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
