import { COARSE_ROW_FLOATS } from '../../../shaders/accelerated.js';
import type { ControlModeName } from '../../../shaders/acceleratedControl.wgsl.js';
import { acceleratedControlKernel, ControlMode, ControlParams } from '../../../shaders/acceleratedControl.wgsl.js';
import type { StepModeName } from '../../../shaders/acceleratedStep.wgsl.js';
import { AcceleratedStepParams, acceleratedStepKernel, StepMode } from '../../../shaders/acceleratedStep.wgsl.js';
import { CoarseRowsParams, coarseRowsKernel } from '../../../shaders/coarseRows.wgsl.js';
import { CoarseSolveParams, coarseSolveKernel } from '../../../shaders/coarseSolve.wgsl.js';
import { ColumnFactorsParams, columnFactorsKernel } from '../../../shaders/columnFactors.wgsl.js';
import { WORKGROUP } from '../../../shaders/common.js';
import { ShiftParams, shiftPartialsKernel } from '../../../shaders/shiftPartials.wgsl.js';
import type { Problem } from '../../problem/problem.js';
import type { Update } from '../plan.js';
import type { AcceleratedTables } from './acceleratedTables.js';
import { bind } from './bind.js';
import type { Dispatch, ScheduleEncoder, SweepEncoder } from './encode.js';
import { BufferUsage } from './flags.js';
import type { Segment, Topology } from './layout.js';
import { foldGrid } from './layout.js';
import type { CompiledKernel } from './pipelines.js';
import { compileKernel } from './pipelines.js';
import { IMBALANCE_SLOT0, PATH_SLOT0 } from './readback.js';
import type { GpuResources } from './resources.js';
import type { SweepBuffers } from './upload.js';

/** The accelerated update of a plan. */
export type AcceleratedUpdate = Extract<Update, { kind: 'accelerated' }>;

/** Copies of `u` the accelerated schedule keeps in the factor buffer: `u`, at the sweep's start, at the base point, base `log In`, base `log Out`. */
export const ACCELERATED_U_COPIES = 5;

/** The kernels of the accelerated schedule (specialised to the problem's exponents). */
interface AcceleratedKernels {
  rows: CompiledKernel<ReturnType<typeof coarseRowsKernel>['bindings']>;
  solve: CompiledKernel<ReturnType<typeof coarseSolveKernel>['bindings']>;
  factors: CompiledKernel<ReturnType<typeof columnFactorsKernel>['bindings']>;
  shift: CompiledKernel<ReturnType<typeof shiftPartialsKernel>['bindings']>;
  step: CompiledKernel<ReturnType<typeof acceleratedStepKernel>['bindings']>;
  control: CompiledKernel<ReturnType<typeof acceleratedControlKernel>['bindings']>;
}

/** Compile (or take from the per-device cache) the accelerated schedule's kernels. */
export async function compileAcceleratedKernels(device: GPUDevice, problem: Problem, update: AcceleratedUpdate): Promise<AcceleratedKernels> {
  const { p, r } = problem;
  const [rows, solve, factors, shift, step, control] = await Promise.all([
    compileKernel(device, coarseRowsKernel(), { R: r }),
    compileKernel(device, coarseSolveKernel(), { P: p, R: r }),
    compileKernel(device, columnFactorsKernel(), { R: r }),
    compileKernel(device, shiftPartialsKernel(), { P: p }),
    compileKernel(device, acceleratedStepKernel(), { P: p, R: r, LONG_ETA: update.longEta, SHORT_ETA: update.shortLongEta, SAFE_ETA: update.safeEta }),
    compileKernel(device, acceleratedControlKernel(), {}),
  ]);
  return { rows, solve, factors, shift, step, control };
}

/** What the accelerated encoder is made from. */
export interface AcceleratedContext {
  device: GPUDevice;
  resources: GpuResources;
  problem: Problem;
  segments: readonly Segment[];
  buffers: SweepBuffers;
  topology: Topology;
  tables: AcceleratedTables;
  kernels: AcceleratedKernels;
  normGroups: number;
  maxPerDimension: number;
}

/** A stand-in pass encoder that records nothing but the grids (the layout of the indirect arguments). */
function recorder(grids: number[]): { encoder: GPUComputePassEncoder; dispatch: Dispatch } {
  const encoder = { setPipeline() {}, setBindGroup() {} } as unknown as GPUComputePassEncoder;
  return { encoder, dispatch: (_, [x, y]) => grids.push(x, y, 1) };
}

/**
 * The accelerated sweep on the GPU (`AcceleratedSchedule.sweep`, kernel by kernel), with no
 * read-back: the coarse rows and the one-workgroup coarse solve, the shift of the factors and of
 * the partial sums, then two *regions* — the long step with its evaluation, the norm and
 * Armijo's test, and the safe step with its evaluation — dispatched indirectly through
 * arguments the control kernel writes (all zero when a region is not needed: the safe region
 * costs nothing when the long point is accepted, and neither runs when the coarse shift alone
 * meets `tol`). Each sweep's path (0, 1, 2 evaluations) goes to the step history, whence the
 * engine counts its passes.
 */
export class AcceleratedEncoder implements ScheduleEncoder {
  private readonly args: { long: GPUBuffer; safe: GPUBuffer };
  private readonly regionWords: number;
  private readonly groups: {
    rows: GPUBindGroup;
    solve: GPUBindGroup;
    factors: GPUBindGroup;
    shifts: GPUBindGroup[];
    step: Record<StepModeName, GPUBindGroup>;
    control: Record<ControlModeName, GPUBindGroup>;
  };

  constructor(
    private readonly ctx: AcceleratedContext,
    private readonly update: AcceleratedUpdate,
    sweep: SweepEncoder,
  ) {
    const { device, resources: res, problem, buffers: b, tables, kernels, topology } = ctx;
    const { nUnits, nVars } = problem;
    const S = BufferUsage.STORAGE;
    const predictedGroups = Math.ceil(nVars / WORKGROUP);
    const accel = res.buffer(
      'accelerated scalars, coarse shift, predicted decrease, column factors',
      (tables.factor0 + tables.nPairs) * 4,
      S | BufferUsage.COPY_DST,
    );
    const pairTable = res.buffer('coarse pair rows', tables.pairTable.byteLength, S | BufferUsage.COPY_DST, tables.pairTable);
    const coarseRows = res.buffer('coarse rows', nUnits * COARSE_ROW_FLOATS * 4, S);
    const coarseTopology = res.buffer('coarse row topology', tables.coarseTopology.byteLength, S | BufferUsage.COPY_DST, tables.coarseTopology);
    const coarseLayers = res.buffer('coarse layers', tables.layers.byteLength, S | BufferUsage.COPY_DST, tables.layers);
    const grids: number[] = [];
    const record = recorder(grids);
    this.groups = { rows: null as never, solve: null as never, factors: null as never, shifts: [], step: {} as never, control: {} as never };
    // The template is recorded by the very code that replays it (the long region, with its decision).
    this.region(record.encoder, sweep, 'long', record.dispatch, true);
    const template = Uint32Array.from(grids);
    this.regionWords = template.length;
    const args = (region: string, data?: Uint32Array): GPUBuffer =>
      res.buffer(`accelerated indirect arguments (${region} region)`, template.byteLength, S | BufferUsage.INDIRECT | BufferUsage.COPY_DST, data);
    // The long region runs every sweep unless the gate stops it (exact coarse spaces only); the safe one when the decision says so.
    this.args = { long: args('long', template), safe: args('safe') };
    const argsTemplate = res.buffer('accelerated indirect arguments template', template.byteLength, S | BufferUsage.COPY_DST, template);
    const stepGroup = (mode: StepModeName): GPUBindGroup =>
      bind(device, `accelerated ${mode}`, kernels.step, {
        params: res.uniform(`accelerated ${mode} parameters`, AcceleratedStepParams, { mode: StepMode[mode], nVars, ...topology }),
        state: b.state,
        accel,
        u: b.u,
        logAlpha: b.logAlpha,
        logRho: b.logRho,
        colPart: b.colPart,
        topology: b.topology,
        stepBits: b.stepBits,
      });
    const controlGroup = (mode: ControlModeName, region: GPUBuffer): GPUBindGroup =>
      bind(device, `accelerated ${mode}`, kernels.control, {
        params: res.uniform(`accelerated ${mode} parameters`, ControlParams, {
          mode: ControlMode[mode],
          normGroups: ctx.normGroups,
          predictedGroups,
          regionWords: this.regionWords,
          imbalanceSlot0: IMBALANCE_SLOT0,
          pathSlot0: PATH_SLOT0,
        }),
        state: b.state,
        accel,
        normHistory: b.normHistory,
        stepBits: b.stepBits,
        args: region,
        argsTemplate,
      });
    this.groups = {
      rows: bind(device, 'coarse rows', kernels.rows, {
        params: res.uniform('coarse rows parameters', CoarseRowsParams, { nUnits, entryOffset: tables.entryOffset }),
        state: b.state,
        accel,
        logRho: b.logRho,
        rowPart: b.rowPart,
        logBias: b.logBias,
        coarseTopology,
        coarseRows,
      }),
      solve: bind(device, 'coarse solve', kernels.solve, {
        params: res.uniform('coarse solve parameters', CoarseSolveParams, { nLayers: tables.nLayers, nGroups: tables.space.nGroups }),
        state: b.state,
        accel,
        coarseRows,
        coarseLayers,
      }),
      factors: bind(device, 'column factors', kernels.factors, {
        params: res.uniform('column factors parameters', ColumnFactorsParams, { nPairs: tables.nPairs, rowOffset: tables.nPairs + 1, factor0: tables.factor0 }),
        state: b.state,
        accel,
        logRho: b.logRho,
        logAlpha: b.logAlpha,
        rowPart: b.rowPart,
        coarseRows,
        pairTable,
      }),
      shifts: tables.shifts.map((shift, k) =>
        bind(device, `shift partials of segment ${k}`, kernels.shift, {
          params: res.uniform(`shift parameters of segment ${k}`, ShiftParams, shift),
          state: b.state,
          accel,
          rowPart: b.rowPart,
          colPart: b.colPart,
        }),
      ),
      step: {
        start: stepGroup('start'),
        base: stepGroup('base'),
        shift: stepGroup('shift'),
        long: stepGroup('long'),
        safe: stepGroup('safe'),
        measure: stepGroup('measure'),
      },
      control: {
        objective: controlGroup('objective', this.args.safe),
        gate: controlGroup('gate', this.args.long),
        decide: controlGroup('decide', this.args.safe),
        disarm: controlGroup('disarm', this.args.safe),
      },
    };
  }

  /** `log F` at the starting factors (the base of the first sweep's decisions). */
  start(encoder: GPUComputePassEncoder, sweep: SweepEncoder): void {
    sweep.norm(encoder);
    this.control(encoder, 'objective');
  }

  /** One accelerated sweep up to its last evaluation (the caller adds the imbalance, the norm and the stopping rule). */
  step(encoder: GPUComputePassEncoder, sweep: SweepEncoder): void {
    const { exact } = this.update;
    this.perVariable(encoder, sweep, 'start');
    sweep.perUnit(encoder, this.ctx.kernels.rows, this.groups.rows, this.ctx.problem.nUnits);
    this.single(encoder, this.ctx.kernels.solve, this.groups.solve);
    if (!exact) this.perVariable(encoder, sweep, 'base');
    if (this.ctx.tables.nPairs > 0) {
      encoder.setPipeline(this.ctx.kernels.factors.pipeline);
      encoder.setBindGroup(0, this.groups.factors);
      const [x, y] = foldGrid(this.ctx.tables.nPairs, this.ctx.maxPerDimension);
      encoder.dispatchWorkgroups(x, y);
    }
    this.perVariable(encoder, sweep, 'shift');
    this.shiftPartials(encoder);
    sweep.rowFinish(encoder);
    if (exact) {
      // After an exact shift the base is the shifted point, and the sweep may end there.
      this.perVariable(encoder, sweep, 'base');
      sweep.imbalance(encoder);
      sweep.norm(encoder);
      this.control(encoder, 'objective');
      this.control(encoder, 'disarm');
      this.control(encoder, 'gate');
    }
    this.region(encoder, sweep, 'long', this.indirect(this.args.long), true);
    this.region(encoder, sweep, 'safe', this.indirect(this.args.safe), false);
    this.perVariable(encoder, sweep, 'measure');
  }

  /** After the sweep's norm: `log F` of the point the sweep returns. */
  afterNorm(encoder: GPUComputePassEncoder): void {
    this.control(encoder, 'objective');
  }

  /** A step from the base point and its evaluation (and, for the long step, Armijo's decision), dispatched by `dispatch`. */
  private region(encoder: GPUComputePassEncoder, sweep: SweepEncoder, mode: 'long' | 'safe', dispatch: Dispatch, decide: boolean): void {
    sweep.perUnit(encoder, this.ctx.kernels.step, this.groups.step[mode], this.ctx.problem.nVars, dispatch);
    sweep.evaluation(encoder, dispatch);
    sweep.norm(encoder, dispatch);
    if (decide) {
      encoder.setPipeline(this.ctx.kernels.control.pipeline);
      encoder.setBindGroup(0, this.groups.control.decide);
      dispatch(encoder, [1, 1]);
    }
  }

  /** Dispatches through a region's arguments, in recording order. */
  private indirect(args: GPUBuffer): Dispatch {
    let cursor = 0;
    return (encoder) => {
      encoder.dispatchWorkgroupsIndirect(args, cursor);
      cursor += 12;
    };
  }

  private perVariable(encoder: GPUComputePassEncoder, sweep: SweepEncoder, mode: StepModeName): void {
    sweep.perUnit(encoder, this.ctx.kernels.step, this.groups.step[mode], this.ctx.problem.nVars);
  }

  private control(encoder: GPUComputePassEncoder, mode: ControlModeName): void {
    this.single(encoder, this.ctx.kernels.control, this.groups.control[mode]);
  }

  private single(encoder: GPUComputePassEncoder, kernel: CompiledKernel, group: GPUBindGroup): void {
    encoder.setPipeline(kernel.pipeline);
    encoder.setBindGroup(0, group);
    encoder.dispatchWorkgroups(1);
  }

  private shiftPartials(encoder: GPUComputePassEncoder): void {
    encoder.setPipeline(this.ctx.kernels.shift.pipeline);
    this.ctx.tables.shifts.forEach((shift, k) => {
      encoder.setBindGroup(0, this.groups.shifts[k]);
      const [x, y] = foldGrid(Math.max(1, Math.ceil(Math.max(shift.rowCount, shift.colCount) / WORKGROUP)), this.ctx.maxPerDimension);
      encoder.dispatchWorkgroups(x, y);
    });
  }
}
