import { WORKGROUP } from '../../../shaders/common.js';
import type { Problem } from '../../problem/problem.js';
import type { Pass, Step, SweepPlan } from '../plan.js';
import type { SweepKernels } from './kernels.js';
import type { Segment } from './layout.js';
import { foldGrid } from './layout.js';
import type { CompiledKernel } from './pipelines.js';
import type { SweepGroups } from './upload.js';

/**
 * Records the plan's passes and steps into a compute pass: the tile kernels over the segments of
 * a pass's blocks (a rows or fused pass followed by the row finish), the update of a step's
 * variables, the norm and the stopping rule. Holds no GPU resource of its own.
 */
export class SweepEncoder {
  /** The segments of each pass of the plan (the segments of its blocks, in order). */
  private readonly passSegments = new Map<Pass, number[]>();

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
  }

  /**
   * One sweep of the plan (MATH.md §4), its finishing passes and the imbalance after it (the
   * evaluate kernel), then the norm and the stopping rule on that imbalance.
   */
  sweep(encoder: GPUComputePassEncoder): void {
    for (const step of this.plan.steps) this.step(encoder, step);
    for (const pass of this.plan.finish) this.pass(encoder, pass);
    this.perUnit(encoder, this.kernels.evaluate, this.groups.evaluate, this.problem.nVars);
    this.norm(encoder);
    encoder.setPipeline(this.kernels.finish.pipeline);
    encoder.setBindGroup(0, this.groups.finish);
    encoder.dispatchWorkgroups(1);
  }

  /** `In` and `Out` for every variable, their largest imbalance and the norm, without an update. */
  evaluate(encoder: GPUComputePassEncoder): void {
    for (const pass of this.plan.evaluate) this.pass(encoder, pass);
    this.perUnit(encoder, this.kernels.evaluate, this.groups.evaluate, this.problem.nVars);
    this.norm(encoder);
  }

  /** One step of the plan: prepare, update the step's variables, refresh. */
  private step(encoder: GPUComputePassEncoder, step: Step): void {
    for (const pass of step.prepare) this.pass(encoder, pass);
    switch (step.update.kind) {
      case 'multiplicative': {
        const group = this.groups.update[step.variables === 'all' ? 0 : step.variables.class + 1];
        this.perUnit(encoder, this.kernels.update, group, this.problem.nVars);
        break;
      }
    }
    for (const pass of step.refresh) this.pass(encoder, pass);
  }

  /** One pass of the plan over its blocks' segments; a rows or fused pass ends with the row finish. */
  private pass(encoder: GPUComputePassEncoder, pass: Pass): void {
    const kernel = this.kernels.tiles[pass.kind];
    const groups = this.groups.tiles[pass.kind];
    const segments = this.passSegments.get(pass);
    if (!kernel || !groups || !segments) throw new Error(`internal: the ${pass.kind} pass was not prepared`);
    encoder.setPipeline(kernel.pipeline);
    for (const k of segments) {
      encoder.setBindGroup(0, groups[k]);
      const [x, y] = foldGrid(this.segments[k].tiles, this.maxPerDimension);
      encoder.dispatchWorkgroups(x, y);
    }
    if (pass.kind !== 'columns') this.perUnit(encoder, this.kernels.rowFinish, this.groups.rowFinish, this.problem.nUnits);
  }

  private perUnit(encoder: GPUComputePassEncoder, kernel: CompiledKernel, group: GPUBindGroup, count: number): void {
    if (count === 0) return;
    encoder.setPipeline(kernel.pipeline);
    encoder.setBindGroup(0, group);
    const [x, y] = foldGrid(Math.ceil(count / WORKGROUP), this.maxPerDimension);
    encoder.dispatchWorkgroups(x, y);
  }

  private norm(encoder: GPUComputePassEncoder): void {
    encoder.setPipeline(this.kernels.norm.pipeline);
    encoder.setBindGroup(0, this.groups.norm);
    const [x, y] = foldGrid(this.normGroups, this.maxPerDimension);
    encoder.dispatchWorkgroups(x, y);
  }
}
