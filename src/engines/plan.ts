import type { Schedule } from '../options.js';
import { updateExponent } from '../options.js';
import type { Problem } from '../problem/problem.js';
import { acceleratedExponents } from '../schedule/accelerated.js';
import { coarseSpace } from '../schedule/coarseSpace.js';

/**
 * The schedule of the fix (MATH.md §4) written once, as data both engines execute.
 *
 * Vocabulary of the engine layer:
 * - a **block** is one weight block of the problem (`problem.blocks[k]`, a `ProblemBlock`), named by its index;
 * - a **pass** is one read of `P` over a list of blocks: `rows` (row sums, hence `rho` and `In`),
 *   `columns` (column sums, hence `Out`) or `fused` (both, valid when `p = q`, where the column
 *   weights `y = alpha` do not depend on the row sums);
 * - a **step** updates one set of variables (all of them, or one colour class) from `log(Out / In)`;
 * - a **sweep** is the plan's steps in order: every variable is updated once;
 * - a **segment** is the WebGPU engine's piece of a block that fits one buffer (`webgpu/layout.ts`);
 *   the plan never sees segments.
 *
 * Invariant the plan keeps, and both engines rely on: after `start`, and after every step, the
 * row sums (`rho`, `In`, the objective `F`) are current. Each `rows` or `fused` pass is followed
 * by the engine's per-unit row finish (`rho`, `y = rho^(r-1) alpha`). The column sums are current
 * only where a step's `prepare` (or a fused `refresh`) made them so.
 */

/** The three reads of `P`. */
export type PassKind = 'rows' | 'columns' | 'fused';

/** One read of `P` over some blocks (indices into `problem.blocks`, ascending). */
export interface Pass {
  readonly kind: PassKind;
  readonly blocks: readonly number[];
}

/** The variables a step updates: every variable (`'all'`), or the variables of one colour class. */
export type VariableSet = 'all' | { readonly class: number };

/**
 * How a step moves the log factors of its variables:
 * - `multiplicative`: `u += eta * log(Out / In)` at the current factors (the paper's update);
 * - `accelerated`: the sweep of `src/schedule/accelerated.ts` — a coarse shift of whole layer
 *   groups (no pass), the long step `u += longEta * log(Out / In)` (`shortLongEta` after the first
 *   fallback), and Armijo's test, which may replace it by the paper's step (`safeEta`) from the
 *   base point: the base is the point after the shift when the coarse model is `exact`, before
 *   it otherwise, and when `exact` the sweep ends after the shift if it already meets `tol`. Its
 *   `refresh` passes evaluate the long point, and again the safe point when the test fails.
 *
 * Both engines `switch` on `kind` (the compiler lists every place a new kind must be handled).
 */
export type Update =
  | { readonly kind: 'multiplicative'; readonly eta: number }
  | { readonly kind: 'accelerated'; readonly longEta: number; readonly shortLongEta: number; readonly safeEta: number; readonly exact: boolean };

/** One step of a sweep: the passes that make `Out` current, the update, the passes that refresh `rho`. */
export interface Step {
  readonly variables: VariableSet;
  /** Passes before the update (column sums of the blocks whose columns hold the variables; none when current). */
  readonly prepare: readonly Pass[];
  readonly update: Update;
  /** Passes after the update: every block whose rows changed with the updated variables' columns. */
  readonly refresh: readonly Pass[];
}

/** What one sweep of a schedule does on a problem, computed once per engine. */
export interface SweepPlan {
  readonly schedule: Schedule;
  /** Passes that establish the invariant from nothing (the engine's set-up, and after the factors are set from outside). */
  readonly start: readonly Pass[];
  /** Passes that make `In` and `Out` current for every variable (for `evaluate`). */
  readonly evaluate: readonly Pass[];
  /** The steps of one sweep, in order. */
  readonly steps: readonly Step[];
  /**
   * Passes after the steps that leave `In` and `Out` current for every variable, so that the
   * stopping rule reads the imbalance `max |log(Out/In)|` at the factors the sweep returns
   * (MATH.md §4). They also serve the next sweep: its first step prepares nothing.
   */
  readonly finish: readonly Pass[];
  /** Every pass kind the plan uses (the WebGPU engine compiles only those kernels). */
  readonly kinds: ReadonlySet<PassKind>;
}

/** Per colour class, the blocks whose columns hold a variable of that class (ascending). */
export function classBlocks(problem: Problem): number[][] {
  const result = Array.from({ length: problem.nClasses }, () => [] as number[]);
  problem.blocks.forEach((b, k) => {
    const classes = new Set<number>();
    for (let unit = b.colUnit0; unit < b.colUnit0 + b.cols * b.groups; unit++) {
      const v = problem.unitVar[unit];
      if (v >= 0) classes.add(problem.varClass[v]);
    }
    for (const c of classes) result[c].push(k);
  });
  return result;
}

/** What a list of passes reads, in units of all of `P` (the entries of `P` read over the entries of `P`). */
export function passCost(problem: Problem, passes: readonly Pass[]): number {
  const size = (k: number): number => problem.blocks[k].rows * problem.blocks[k].cols;
  const total = problem.blocks.reduce((sum, _, k) => sum + size(k), 0);
  if (total === 0) return 0;
  let read = 0;
  for (const pass of passes) for (const k of pass.blocks) read += size(k);
  return read / total;
}

/** Whether a step's variables include the variables of colour class `cls`. */
export function includesClass(variables: VariableSet, cls: number): boolean {
  return variables === 'all' || variables.class === cls;
}

/**
 * The plan of a schedule on a problem. Parallel: one step over all variables (when `p = q`, the
 * fused pass after the update leaves both sums current, so a sweep reads each block once).
 * Alternating: one step per colour class, re-reading only the blocks whose columns hold it.
 * Accelerated: one `accelerated` step over all variables whose refresh is the evaluation.
 * A new schedule is a new branch here (and, for a new kind of update, of {@link Update}).
 */
export function sweepPlan(problem: Problem, schedule: Schedule): SweepPlan {
  const all = problem.blocks.map((_, k) => k);
  const perClass = classBlocks(problem);
  // Blocks whose columns hold a variable: the only column sums ever used (never the input block).
  const withVariables = [...new Set(perClass.flat())].sort((a, b) => a - b);
  const fusable = problem.r === 1;
  const update: Update = { kind: 'multiplicative', eta: updateExponent(problem.p, problem.q, schedule) };
  const rows = (blocks: readonly number[]): Pass => ({ kind: 'rows', blocks });
  const columns = (blocks: readonly number[]): Pass => ({ kind: 'columns', blocks });
  const fused: Pass = { kind: 'fused', blocks: all };
  const evaluate = fusable ? [fused] : [rows(all), columns(withVariables)];
  // Every sweep ends with In and Out current (the stopping rule), and so does the start.
  const start = evaluate;
  let steps: Step[];
  let finish: Pass[];
  if (schedule === 'parallel') {
    steps = fusable ? [{ variables: 'all', prepare: [], update, refresh: [fused] }] : [{ variables: 'all', prepare: [], update, refresh: [rows(all)] }];
    finish = fusable ? [] : [columns(withVariables)];
  } else if (schedule === 'alternating') {
    steps = perClass.map((blocks, c) => ({ variables: { class: c }, prepare: c === 0 ? [] : [columns(blocks)], update, refresh: [rows(blocks)] }));
    finish = steps.length > 0 ? [columns(withVariables)] : [];
  } else {
    // The accelerated sweep evaluates its new point (twice when the safeguard falls back).
    const space = coarseSpace(problem);
    const accelerated: Update = { kind: 'accelerated', ...acceleratedExponents(problem), exact: space.exact };
    steps = [{ variables: 'all', prepare: [], update: accelerated, refresh: evaluate }];
    finish = [];
  }
  const kinds = new Set<PassKind>();
  for (const pass of [...start, ...evaluate, ...finish, ...steps.flatMap((s) => [...s.prepare, ...s.refresh])]) kinds.add(pass.kind);
  return { schedule, start, evaluate, steps, finish, kinds };
}
