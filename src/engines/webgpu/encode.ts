import { WORKGROUP } from '../../../shaders/common.js';
import type { Problem } from '../../problem/problem.js';
import type { Pass, Step, SweepPlan } from '../plan.js';
import type { SweepKernels } from './kernels.js';
import type { Segment } from './layout.js';
import { foldGrid } from './layout.js';
import type { CompiledKernel } from './pipelines.js';
import type { SweepGroups } from './upload.js';

/**
 * How a kernel's grid is dispatched: directly, or (the accelerated schedule's conditional work)
 * through indirect arguments a kernel wrote, whose layout was recorded from the same grids.
 */
export type Dispatch = (encoder: GPUComputePassEncoder, grid: readonly [number, number]) => void;

/** Dispatch the grid as it is. */
export const direct: Dispatch = (encoder, [x, y]) => encoder.dispatchWorkgroups(x, y);

/** The part of a sweep a schedule with its own GPU work (the accelerated one) encodes itself. */
export interface ScheduleEncoder {
  /** After the plan's start passes: what the schedule needs before its first sweep. */
  start(encoder: GPUComputePassEncoder, sweep: SweepEncoder): void;
  /** The schedule's step (an `accelerated` update of the plan). */
  step(encoder: GPUComputePassEncoder, sweep: SweepEncoder): void;
  /** After the sweep's norm, before the stopping rule. */
  afterNorm(encoder: GPUComputePassEncoder): void;
}

/**
 * Records the plan's passes and steps into a compute pass: the tile kernels over the segments of
 * a pass's blocks (a rows or fused pass followed by the row finish), the update of a step's
 * variables, the norm and the stopping rule. Holds no GPU resource of its own.
 */
export class SweepEncoder {
  /** The segments of each pass of the plan (the segments of its blocks, in order). */
  private readonly passSegments = new Map<Pass, number[]>();
  /** The encoder of an `accelerated` step (set by the engine when the plan has one). */
  schedule: ScheduleEncoder | null = null;

  constructor(
    private readonly problem: Problem,
    private readonly plan: SweepPlan,
    private readonly segments: Segment[],
    private readonly kernels: SweepKernels,
    private readonly groups: SweepGroups,
    private readonly maxPerDimension: number,
    private readonly normGroups: number,
  ) {
    const passes = [...plan.start, ...plan.evaluate, ...plan.finish, ...plan.steps.flatMap((step) => [...step.prepare, ...step.refresh])];
    for (const pass of passes) {
      const blocks = new Set(pass.blocks);
      this.passSegments.set(
        pass,
        segments.flatMap((s, k) => (blocks.has(s.block) ? [k] : [])),
      );
    }
  }

  /** The passes that establish the plan's invariant (row sums, and column sums when fused). */
  start(encoder: GPUComputePassEncoder): void {
    for (const pass of this.plan.start) this.pass(encoder, pass);
    this.schedule?.start(encoder, this);
  }

  /**
   * One sweep of the plan (MATH.md §4), its finishing passes and the imbalance after it (the
   * evaluate kernel), then the norm and the stopping rule on that imbalance.
   */
  sweep(encoder: GPUComputePassEncoder): void {
    for (const step of this.plan.steps) this.step(encoder, step);
    for (const pass of this.plan.finish) this.pass(encoder, pass);
    this.imbalance(encoder);
    this.norm(encoder);
    this.schedule?.afterNorm(encoder);
    encoder.setPipeline(this.kernels.finish.pipeline);
    encoder.setBindGroup(0, this.groups.finish);
    encoder.dispatchWorkgroups(1);
  }

  /** `In` and `Out` for every variable, their largest imbalance and the norm, without an update. */
  evaluate(encoder: GPUComputePassEncoder): void {
    this.evaluation(encoder);
    this.imbalance(encoder);
    this.norm(encoder);
  }

  /** The plan's evaluate passes (the row and column sums of every block). */
  evaluation(encoder: GPUComputePassEncoder, dispatch: Dispatch = direct): void {
    for (const pass of this.plan.evaluate) this.pass(encoder, pass, dispatch);
  }

  /** `max |log(Out/In)|` into the sweep's imbalance slot (the evaluate kernel). */
  imbalance(encoder: GPUComputePassEncoder): void {
    this.perUnit(encoder, this.kernels.evaluate, this.groups.evaluate, this.problem.nVars);
  }

  /** The row finish of every unit (`rho`, `y`) from the row partials. */
  rowFinish(encoder: GPUComputePassEncoder, dispatch: Dispatch = direct): void {
    this.perUnit(encoder, this.kernels.rowFinish, this.groups.rowFinish, this.problem.nUnits, dispatch);
  }

  /** One step of the plan: prepare, update the step's variables, refresh. */
  private step(encoder: GPUComputePassEncoder, step: Step): void {
    for (const pass of step.prepare) this.pass(encoder, pass);
    switch (step.update.kind) {
      case 'multiplicative': {
        const group = this.groups.update[step.variables === 'all' ? 0 : step.variables.class + 1];
        this.perUnit(encoder, this.kernels.update, group, this.problem.nVars);
        for (const pass of step.refresh) this.pass(encoder, pass);
        break;
      }
      case 'accelerated':
        // Its refresh (the evaluation of the long point, and of the safe point) is the schedule's own.
        if (!this.schedule) throw new Error('internal: the accelerated step has no encoder');
        this.schedule.step(encoder, this);
        break;
    }
  }

  /** One pass of the plan over its blocks' segments; a rows or fused pass ends with the row finish. */
  private pass(encoder: GPUComputePassEncoder, pass: Pass, dispatch: Dispatch = direct): void {
    const kernel = this.kernels.tiles[pass.kind];
    const groups = this.groups.tiles[pass.kind];
    const segments = this.passSegments.get(pass);
    if (!kernel || !groups || !segments) throw new Error(`internal: the ${pass.kind} pass was not prepared`);
    encoder.setPipeline(kernel.pipeline);
    for (const k of segments) {
      encoder.setBindGroup(0, groups[k]);
      dispatch(encoder, foldGrid(this.segments[k].tiles, this.maxPerDimension));
    }
    if (pass.kind !== 'columns') this.rowFinish(encoder, dispatch);
  }

  /** A per-unit or per-variable kernel over `count` invocations. */
  perUnit(encoder: GPUComputePassEncoder, kernel: CompiledKernel, group: GPUBindGroup, count: number, dispatch: Dispatch = direct): void {
    if (count === 0) return;
    encoder.setPipeline(kernel.pipeline);
    encoder.setBindGroup(0, group);
    dispatch(encoder, foldGrid(Math.ceil(count / WORKGROUP), this.maxPerDimension));
  }

  /** The norm's per-workgroup pairs into the sweep's slot. */
  norm(encoder: GPUComputePassEncoder, dispatch: Dispatch = direct): void {
    encoder.setPipeline(this.kernels.norm.pipeline);
    encoder.setBindGroup(0, this.groups.norm);
    dispatch(encoder, foldGrid(this.normGroups, this.maxPerDimension));
  }
}
