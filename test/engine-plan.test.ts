/**
 * The schedule plan both engines execute (src/engines/plan.ts): which passes a sweep makes over
 * which blocks, and which variables each step updates.
 */
import { describe, expect, it } from 'vitest';
import type { Pass, Update } from '../src/engines/plan.js';
import { classBlocks, sweepPlan } from '../src/engines/plan.js';
import { mlp } from '../src/network/builders.js';
import { compileProblem } from '../src/problem/compile.js';
import type { Problem } from '../src/problem/problem.js';
import { coarseSpace } from '../src/schedule/coarseSpace.js';
import { NETS } from './support/fixNets.js';

/** Blocks with a column unit of a variable satisfying `keep`, by brute force over the units. */
function blocksWithColumns(problem: Problem, keep: (v: number) => boolean): number[] {
  return problem.blocks.flatMap((b, k) => {
    for (let unit = b.colUnit0; unit < b.colUnit0 + b.cols * b.groups; unit++) {
      const v = problem.unitVar[unit];
      if (v >= 0 && keep(v)) return [k];
    }
    return [];
  });
}

/** The exponent of a multiplicative update. */
function eta(update: Update): number {
  if (update.kind !== 'multiplicative') throw new Error(`not multiplicative: ${update.kind}`);
  return update.eta;
}

const all = (problem: Problem): number[] => problem.blocks.map((_, k) => k);
const passes = (list: readonly Pass[]): [string, number[]][] => list.map((p) => [p.kind, [...p.blocks]]);

describe('sweepPlan', () => {
  const net = mlp([6, 9, 8, 7, 3], { seed: 2, dtype: 'float64' });

  it('parallel, p = q: one step over all variables, one fused pass over every block, no pass before the update', () => {
    const problem = compileProblem(net, { p: 2, q: 2 });
    const plan = sweepPlan(problem, 'parallel');
    expect(plan.steps).toHaveLength(1);
    const [step] = plan.steps;
    expect(step.variables).toBe('all');
    expect(step.prepare).toEqual([]);
    expect(passes(step.refresh)).toEqual([['fused', all(problem)]]);
    expect(passes(plan.start)).toEqual([['fused', all(problem)]]);
    expect(passes(plan.evaluate)).toEqual([['fused', all(problem)]]);
    // The fused refresh leaves In and Out current: nothing more for the stopping rule.
    expect(plan.finish).toEqual([]);
    expect([...plan.kinds]).toEqual(['fused']);
    expect(step.update).toEqual({ kind: 'multiplicative', eta: 1 / 8 });
  });

  it('parallel, p != q: rows of every block after the update, then the columns of the blocks with rescalable columns (not the input block) to finish', () => {
    const problem = compileProblem(net, { p: 1, q: 3 });
    const plan = sweepPlan(problem, 'parallel');
    const withVariables = blocksWithColumns(problem, () => true);
    expect(withVariables).not.toContain(0);
    expect(plan.steps).toHaveLength(1);
    // The finishing column pass (In and Out current for the stopping rule) also prepares the next sweep.
    expect(passes(plan.steps[0].prepare)).toEqual([]);
    expect(passes(plan.steps[0].refresh)).toEqual([['rows', all(problem)]]);
    expect(passes(plan.finish)).toEqual([['columns', withVariables]]);
    expect(passes(plan.start)).toEqual([
      ['rows', all(problem)],
      ['columns', withVariables],
    ]);
    expect(passes(plan.evaluate)).toEqual([
      ['rows', all(problem)],
      ['columns', withVariables],
    ]);
    expect(new Set(plan.kinds)).toEqual(new Set(['rows', 'columns']));
  });

  it('alternating: one step per colour class, each updating its class from the blocks whose columns hold it', () => {
    for (const [name, make] of Object.entries(NETS)) {
      for (const [p, q] of [
        [2, 2],
        [1.5, 3],
      ]) {
        const problem = compileProblem(make(3), { p, q });
        const plan = sweepPlan(problem, 'alternating');
        expect(plan.steps, name).toHaveLength(problem.nClasses);
        plan.steps.forEach((step, c) => {
          expect(step.variables).toEqual({ class: c });
          const blocks = blocksWithColumns(problem, (v) => problem.varClass[v] === c);
          expect(blocks.length, `${name} class ${c}`).toBeGreaterThan(0);
          // Class 0 reads the column sums the previous sweep's finish (or the start) left current.
          expect(passes(step.prepare)).toEqual(c === 0 ? [] : [['columns', blocks]]);
          expect(passes(step.refresh)).toEqual([['rows', blocks]]);
          expect(eta(step.update)).toBeCloseTo(2 * eta(sweepPlan(problem, 'parallel').steps[0].update), 15);
        });
        expect(classBlocks(problem)).toEqual(plan.steps.map((s) => [...s.refresh[0].blocks]));
        expect(passes(plan.finish)).toEqual([['columns', blocksWithColumns(problem, () => true)]]);
        // p = q may start and evaluate with the fused pass; the steps use separate passes.
        expect(plan.kinds.has('fused')).toBe(p === q);
      }
    }
  });

  it("accelerated: one step over every variable whose refresh is the evaluation; its exponents are the CPU schedule's", () => {
    for (const [name, make] of Object.entries(NETS)) {
      for (const [p, q] of [
        [2, 2],
        [1.5, 3],
        [3, 1.5],
      ]) {
        const problem = compileProblem(make(3), { p, q });
        const plan = sweepPlan(problem, 'accelerated');
        expect(plan.steps, name).toHaveLength(1);
        const [step] = plan.steps;
        expect(step.variables).toBe('all');
        expect(step.prepare).toEqual([]);
        expect(step.refresh).toEqual(plan.evaluate);
        expect(plan.finish).toEqual([]);
        const update = step.update;
        if (update.kind !== 'accelerated') throw new Error(`${name}: ${update.kind}`);
        expect(update.safeEta).toBe(eta(sweepPlan(problem, 'parallel').steps[0].update));
        expect(update.shortLongEta).toBe(eta(sweepPlan(problem, 'alternating').steps[0].update));
        expect(update.longEta).toBeGreaterThanOrEqual(update.shortLongEta);
        expect(update.exact).toBe(coarseSpace(problem).exact);
        expect(plan.kinds.has('fused')).toBe(p === q);
      }
    }
  });

  it('a problem without variables: no steps in the alternating schedule', () => {
    const problem = compileProblem(mlp([4, 3], { seed: 1 }), { p: 2, q: 3 });
    expect(problem.nVars).toBe(0);
    expect(sweepPlan(problem, 'alternating').steps).toEqual([]);
    expect(sweepPlan(problem, 'alternating').finish).toEqual([]);
    expect(sweepPlan(problem, 'parallel').finish).toEqual([{ kind: 'columns', blocks: [] }]);
  });
});
