import type { Problem } from '../../problem/problem.js';
import { soleWriters } from '../../problem/problem.js';
import type { Pass, Step, SweepPlan } from '../plan.js';
import { passCost } from '../plan.js';

/**
 * How the CPU engine executes a {@link SweepPlan}: its passes and updates in order, where a `rows`
 * pass followed at once by a `columns` pass (no update between) reads the blocks in both once —
 * the row-then-column pass (`BlockSums.rowsColumns`): a row's column weight
 * `y = rho^(r-1) alpha` needs only that row's own sum when its unit is written by this block
 * alone (MATH.md §2–3), so each row's sum, its weight, and the same row into the column sums
 * follow one another while the row is in cache. The plan stays the schedule as data, shared with
 * the WebGPU engine; this is the CPU engine's reading of it.
 */
export type CpuAction =
  | { readonly kind: 'pass'; readonly pass: Pass }
  | { readonly kind: 'update'; readonly step: Step }
  | {
      readonly kind: 'rowsColumns';
      readonly rows: Pass;
      readonly columns: Pass;
      /** Blocks of both passes read once (ascending); the others are read by their own pass. */
      readonly chained: readonly number[];
    };

/** The actions of a list of passes (and updates), each `rows` pass followed by a `columns` pass chained where a block is in both and writes its rows alone. */
export function chainActions(problem: Problem, actions: readonly CpuAction[]): CpuAction[] {
  const sole = soleWriters(problem);
  const out: CpuAction[] = [];
  for (let a = 0; a < actions.length; a++) {
    const first = actions[a];
    const next = actions[a + 1];
    if (first.kind === 'pass' && first.pass.kind === 'rows' && next?.kind === 'pass' && next.pass.kind === 'columns') {
      const columns = new Set(next.pass.blocks);
      const chained = first.pass.blocks.filter((k) => columns.has(k) && sole[k]);
      if (chained.length > 0) {
        out.push({ kind: 'rowsColumns', rows: first.pass, columns: next.pass, chained });
        a++;
        continue;
      }
    }
    out.push(first);
  }
  return out;
}

/** The actions of a list of passes (the plan's `start`, `evaluate`), chained unless `chain` is false. */
export function passActions(problem: Problem, passes: readonly Pass[], chain = true): CpuAction[] {
  const actions: CpuAction[] = passes.map((pass) => ({ kind: 'pass', pass }));
  return chain ? chainActions(problem, actions) : actions;
}

/** The actions of one sweep of a plan: each step's prepare passes, its update and its refresh passes, then the finishing passes (chained unless `chain` is false). */
export function sweepActions(problem: Problem, plan: SweepPlan, chain = true): CpuAction[] {
  const flat: CpuAction[] = [];
  for (const step of plan.steps) {
    for (const pass of step.prepare) flat.push({ kind: 'pass', pass });
    flat.push({ kind: 'update', step });
    for (const pass of step.refresh) flat.push({ kind: 'pass', pass });
  }
  for (const pass of plan.finish) flat.push({ kind: 'pass', pass });
  return chain ? chainActions(problem, flat) : flat;
}

/** What a list of actions reads, in units of all of `P` (a chained block once). */
export function actionCost(problem: Problem, actions: readonly CpuAction[]): number {
  const passes: Pass[] = [];
  for (const action of actions) {
    if (action.kind === 'pass') passes.push(action.pass);
    else if (action.kind === 'rowsColumns') {
      const chained = new Set(action.chained);
      passes.push(action.rows, { kind: 'columns', blocks: action.columns.blocks.filter((k) => !chained.has(k)) });
    }
  }
  return passCost(problem, passes);
}
