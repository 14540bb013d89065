import { coarseRowFloats } from '../../../shaders/accelerated.js';
import type { ControlModeName } from '../../../shaders/acceleratedControl.wgsl.js';
import { acceleratedControlKernel, ControlMode, ControlParams } from '../../../shaders/acceleratedControl.wgsl.js';
import type { StepModeName } from '../../../shaders/acceleratedStep.wgsl.js';
import { AcceleratedStepParams, acceleratedStepKernel, StepMode } from '../../../shaders/acceleratedStep.wgsl.js';
import { CoarseRowsParams, coarseRowsKernel } from '../../../shaders/coarseRows.wgsl.js';
import { CoarseSolveParams, coarseSolveKernel } from '../../../shaders/coarseSolve.wgsl.js';
import { ColumnFactorsParams, columnFactorsKernel } from '../../../shaders/columnFactors.wgsl.js';
import { WORKGROUP } from '../../../shaders/common.js';
import { PairFractionsParams, pairFractionsKernel } from '../../../shaders/pairFractions.wgsl.js';
import { ShiftParams, shiftPartialsKernel } from '../../../shaders/shiftPartials.wgsl.js';
import type { Problem } from '../../problem/problem.js';
import { NEWTON_CG_ITERATIONS } from '../../schedule/coarse.js';
import { CG_ITERATIONS, CG_TOLERANCE } from '../../schedule/coarseCg.js';
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
import { variableBuffers } from './upload.js';

/** The accelerated update of a plan. */
export type AcceleratedUpdate = Extract<Update, { kind: 'accelerated' }>;

/** Copies of `u` the accelerated schedule keeps in the factor buffer: `u`, at the sweep's start, at the base point, base `log In`, base `log Out`. */
export const ACCELERATED_U_COPIES = 5;

/** The kernels of the accelerated schedule (specialised to the problem's exponents). */
interface AcceleratedKernels {
  fractions: CompiledKernel<ReturnType<typeof pairFractionsKernel>['bindings']>;
  rows: CompiledKernel<ReturnType<typeof coarseRowsKernel>['bindings']>;
  solve: CompiledKernel<ReturnType<typeof coarseSolveKernel>['bindings']>;
  factors: CompiledKernel<ReturnType<typeof columnFactorsKernel>['bindings']>;
  shift: CompiledKernel<ReturnType<typeof shiftPartialsKernel>['bindings']>;
  step: CompiledKernel<ReturnType<typeof acceleratedStepKernel>['bindings']>;
  control: CompiledKernel<ReturnType<typeof acceleratedControlKernel>['bindings']>;
}

/** Compile (or take from the per-device cache) the accelerated schedule's kernels (specialised to the problem's exponents and to its tables' slots and groups). */
export async function compileAcceleratedKernels(
  device: GPUDevice,
  problem: Problem,
  update: AcceleratedUpdate,
  tables: AcceleratedTables,
): Promise<AcceleratedKernels> {
  const { p, r } = problem;
  const [fractions, rows, solve, factors, shift, step, control] = await Promise.all([
    compileKernel(device, pairFractionsKernel(), {}),
    compileKernel(device, coarseRowsKernel(tables.slots), { R: r }),
    compileKernel(
      device,
      coarseSolveKernel(
        tables.slots,
        tables.space.nGroups,
        tables.newtonCg ? { iterations: NEWTON_CG_ITERATIONS, tolerance: CG_TOLERANCE, products: CG_ITERATIONS } : undefined,
      ),
      {
        P: p,
        R: r,
      },
    ),
    compileKernel(device, columnFactorsKernel(), { R: r }),
    compileKernel(device, shiftPartialsKernel(), {}),
    compileKernel(device, acceleratedStepKernel(), { P: p, R: r, LONG_ETA: update.longEta, SHORT_ETA: update.shortLongEta, SAFE_ETA: update.safeEta }),
    compileKernel(device, acceleratedControlKernel(), {}),
  ]);
  return { fractions, rows, solve, factors, shift, step, control };
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
 * read-back: the fractions of the pairs whose columns lie in several groups (only when some do),
 * the coarse rows and the one-workgroup coarse solve (with each pair's row factor), the pairs'
 * column factors, the shift of the factors and of the partial sums, then two *regions* — the long step with its evaluation, the norm and
 * Armijo's test, and the safe step with its evaluation — dispatched indirectly through
 * arguments the control kernel writes (all zero when a region is not needed: the safe region
 * costs nothing when the long point is accepted, and neither runs when the coarse shift alone
 * meets `tol`). Each sweep's path (0, 1, 2 evaluations) goes to the step history, whence the
 * engine counts its passes.
 */
export class AcceleratedEncoder implements ScheduleEncoder {
  private readonly args: RegionArguments;
  private readonly groups: ReturnType<typeof coarseGroups> & {
    step: Record<StepModeName, GPUBindGroup>;
    control: Record<ControlModeName, GPUBindGroup>;
  };

  constructor(
    private readonly ctx: AcceleratedContext,
    private readonly update: AcceleratedUpdate,
    sweep: SweepEncoder,
  ) {
    const buffers = coarseBuffers(ctx);
    const step = stepGroups(ctx, buffers.accel);
    // The arguments' layout is recorded by the very code that replays them (the long region, with
    // its decision); the recorder ignores pipelines and bind groups.
    const grids: number[] = [];
    const record = recorder(grids);
    this.region(record.encoder, sweep, step.long, step.long, record.dispatch);
    const template = Uint32Array.from(grids);
    const args = (region: string, data?: Uint32Array): GPUBuffer =>
      ctx.resources.buffer(`accelerated indirect arguments (${region} region)`, template.byteLength, STORAGE | INDIRECT | COPY_DST, data);
    // The long region runs every sweep unless the gate stops it (exact coarse spaces only); the safe one when the decision says so.
    this.args = { long: args('long', template), safe: args('safe') };
    const argsTemplate = ctx.resources.buffer('accelerated indirect arguments template', template.byteLength, STORAGE | COPY_DST, template);
    this.groups = { ...coarseGroups(ctx, buffers), step, control: controlGroups(ctx, buffers.accel, this.args, argsTemplate, template.length) };
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
    if (this.ctx.tables.nSplit > 0) this.perPair(encoder, this.ctx.kernels.fractions, this.groups.fractions, this.ctx.tables.nSplit);
    sweep.perUnit(encoder, this.ctx.kernels.rows, this.groups.rows, this.ctx.problem.nUnits);
    this.single(encoder, this.ctx.kernels.solve, this.groups.solve);
    if (!exact) this.perVariable(encoder, sweep, 'base');
    if (this.ctx.tables.nPairs > 0) this.perPair(encoder, this.ctx.kernels.factors, this.groups.factors, this.ctx.tables.nPairs);
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
    this.region(encoder, sweep, this.groups.step.long, this.groups.control.decide, this.indirect(this.args.long));
    this.region(encoder, sweep, this.groups.step.safe, null, this.indirect(this.args.safe));
    this.perVariable(encoder, sweep, 'measure');
  }

  /** After the sweep's norm: `log F` of the point the sweep returns. */
  afterNorm(encoder: GPUComputePassEncoder): void {
    this.control(encoder, 'objective');
  }

  /** A step from the base point (`step`: the long or the safe one) and its evaluation, then (`decide`) Armijo's decision, dispatched by `dispatch`. */
  private region(encoder: GPUComputePassEncoder, sweep: SweepEncoder, step: GPUBindGroup, decide: GPUBindGroup | null, dispatch: Dispatch): void {
    sweep.perUnit(encoder, this.ctx.kernels.step, step, this.ctx.problem.nVars, dispatch);
    sweep.evaluation(encoder, dispatch);
    sweep.norm(encoder, dispatch);
    if (decide) {
      encoder.setPipeline(this.ctx.kernels.control.pipeline);
      encoder.setBindGroup(0, decide);
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

  /** A kernel with one workgroup per pair (`count` of them). */
  private perPair(encoder: GPUComputePassEncoder, kernel: CompiledKernel, group: GPUBindGroup, count: number): void {
    encoder.setPipeline(kernel.pipeline);
    encoder.setBindGroup(0, group);
    const [x, y] = foldGrid(count, this.ctx.maxPerDimension);
    encoder.dispatchWorkgroups(x, y);
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

const { STORAGE, INDIRECT, COPY_DST } = BufferUsage;

/** The indirect arguments of the two regions (one buffer each: a region's arguments are never bound to the dispatch that reads them). */
interface RegionArguments {
  long: GPUBuffer;
  safe: GPUBuffer;
}

/** The accelerated schedule's own buffers: its scalars, the coarse rows and the static tables. */
function coarseBuffers(ctx: AcceleratedContext) {
  const { resources: res, tables } = ctx;
  const table = (label: string, data: Uint32Array): GPUBuffer => res.buffer(label, Math.max(data.byteLength, 4), STORAGE | COPY_DST, data);
  // The fractions start at 1 (a pair with one part keeps it; the split pairs' are written every sweep).
  const accel = new Float32Array(tables.accel.length);
  accel.fill(1, tables.accel.fraction0);
  const groups = Math.max(tables.space.nGroups, 1);
  return {
    accel: res.buffer(
      'accelerated scalars, coarse shift, predicted decrease, column and row factors, pair fractions',
      accel.byteLength,
      STORAGE | COPY_DST,
      accel,
    ),
    coarseRows: res.buffer('coarse rows', ctx.problem.nUnits * coarseRowFloats(tables.slots) * 4, STORAGE),
    hessian: tables.newtonCg
      ? res.buffer('coarse conjugate-gradient vectors and pair accumulators', (10 * groups + 2 * tables.nPairs) * 4, STORAGE)
      : res.buffer('coarse Hessian', groups * groups * 4, STORAGE),
    pairTable: table('coarse pair rows', tables.pairTable),
    partTable: table('coarse pair parts and their columns', tables.partTable),
    coarseTopology: table('coarse row topology', tables.coarseTopology),
    solveTable: table('coarse runs and pair parts', tables.solveTable),
  };
}

/** The bind groups of the coarse rows, the coarse solve, the column factors and the shift of each segment's partials. */
function coarseGroups(ctx: AcceleratedContext, own: ReturnType<typeof coarseBuffers>) {
  const { device, resources: res, buffers: b, tables, kernels } = ctx;
  const { accel, coarseRows } = own;
  return {
    fractions: bind(device, 'pair fractions', kernels.fractions, {
      params: res.uniform('pair fractions parameters', PairFractionsParams, {
        nSplit: tables.nSplit,
        partOffset: tables.partOffset,
        colStartOffset: tables.colStartOffset,
        entryOffset: tables.partEntryOffset,
        fraction0: tables.accel.fraction0,
      }),
      state: b.state,
      accel,
      colPart: b.colPart,
      logAlpha: b.logAlpha,
      partTable: own.partTable,
    }),
    rows: bind(device, 'coarse rows', kernels.rows, {
      params: res.uniform('coarse rows parameters', CoarseRowsParams, {
        nUnits: ctx.problem.nUnits,
        entryOffset: tables.entryOffset,
        fraction0: tables.accel.fraction0,
      }),
      state: b.state,
      accel,
      logRho: b.logRho,
      rowPart: b.rowPart,
      logBias: b.logBias,
      coarseTopology: own.coarseTopology,
      coarseRows,
    }),
    solve: bind(device, 'coarse solve', kernels.solve, {
      params: res.uniform('coarse solve parameters', CoarseSolveParams, {
        nRuns: tables.nRuns,
        nGroups: tables.space.nGroups,
        nPairs: tables.nPairs,
        partStartOffset: tables.partStartOffset,
        partGroupOffset: tables.partGroupOffset,
        groupPartsOffset: tables.groupPartsOffset,
        partPairOffset: tables.partPairOffset,
        fraction0: tables.accel.fraction0,
        rowScale0: tables.accel.rowScale0,
      }),
      state: b.state,
      accel,
      coarseRows,
      solveTable: own.solveTable,
      hess: own.hessian,
    }),
    factors: bind(device, 'column factors', kernels.factors, {
      params: res.uniform('column factors parameters', ColumnFactorsParams, {
        nPairs: tables.nPairs,
        rowOffset: tables.nPairs + 1,
        factor0: tables.accel.factor0,
        rowFloats: coarseRowFloats(tables.slots),
      }),
      state: b.state,
      accel,
      logRho: b.logRho,
      logAlpha: b.logAlpha,
      rowPart: b.rowPart,
      coarseRows,
      pairTable: own.pairTable,
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
  };
}

/** One bind group of the per-variable kernel per mode. */
function stepGroups(ctx: AcceleratedContext, accel: GPUBuffer): Record<StepModeName, GPUBindGroup> {
  const { device, resources: res, buffers: b, kernels, topology } = ctx;
  const group = (mode: StepModeName): GPUBindGroup =>
    bind(device, `accelerated ${mode}`, kernels.step, {
      params: res.uniform(`accelerated ${mode} parameters`, AcceleratedStepParams, {
        mode: StepMode[mode],
        nVars: ctx.problem.nVars,
        ...topology,
        predicted0: ctx.tables.accel.predicted0,
      }),
      accel,
      ...variableBuffers(b),
    });
  const modes = Object.keys(StepMode) as StepModeName[];
  return Object.fromEntries(modes.map((mode) => [mode, group(mode)])) as Record<StepModeName, GPUBindGroup>;
}

/** One bind group of the control kernel per mode (`gate` writes the long region's arguments; `decide` and `disarm` the safe one's). */
function controlGroups(
  ctx: AcceleratedContext,
  accel: GPUBuffer,
  args: RegionArguments,
  argsTemplate: GPUBuffer,
  regionWords: number,
): Record<ControlModeName, GPUBindGroup> {
  const { device, resources: res, buffers: b, kernels } = ctx;
  const group = (mode: ControlModeName, region: GPUBuffer): GPUBindGroup =>
    bind(device, `accelerated ${mode}`, kernels.control, {
      params: res.uniform(`accelerated ${mode} parameters`, ControlParams, {
        mode: ControlMode[mode],
        normGroups: ctx.normGroups,
        predictedGroups: Math.ceil(ctx.problem.nVars / WORKGROUP),
        predicted0: ctx.tables.accel.predicted0,
        regionWords,
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
  return { objective: group('objective', args.safe), gate: group('gate', args.long), decide: group('decide', args.safe), disarm: group('disarm', args.safe) };
}
