import { SegmentParams } from '../../../shaders/blockTile.js';
import type { BuildPowerBindings } from '../../../shaders/buildPower.wgsl.js';
import { BuildPowerParams } from '../../../shaders/buildPower.wgsl.js';
import { State, WORKGROUP } from '../../../shaders/common.js';
import { NormParams } from '../../../shaders/norm.wgsl.js';
import { RowFinishParams } from '../../../shaders/rowFinish.wgsl.js';
import { UpdateParams } from '../../../shaders/update.wgsl.js';
import type { Problem } from '../../problem/problem.js';
import type { PassKind } from '../plan.js';
import { bind } from './bind.js';
import { BufferUsage } from './flags.js';
import type { SweepKernels } from './kernels.js';
import type { Segment, Topology } from './layout.js';
import { foldGrid, logBiasMass32, partialCounts } from './layout.js';
import type { CompiledKernel } from './pipelines.js';
import { IMBALANCE_SLOT0, STEP_SLOTS } from './readback.js';
import type { GpuResources } from './resources.js';
import { float32Values } from './resources.js';

/** The engine's buffers that live for the whole run. */
export interface SweepBuffers {
  state: GPUBuffer;
  u: GPUBuffer;
  logAlpha: GPUBuffer;
  logRho: GPUBuffer;
  logY: GPUBuffer;
  logBias: GPUBuffer;
  rowPart: GPUBuffer;
  colPart: GPUBuffer;
  topology: GPUBuffer;
  stepBits: GPUBuffer;
  normHistory: GPUBuffer;
  staging: GPUBuffer;
}

/** The run's buffers every per-variable kernel (the update, the evaluation, the accelerated step) binds by these names. */
export function variableBuffers(b: SweepBuffers) {
  return { state: b.state, u: b.u, logAlpha: b.logAlpha, logRho: b.logRho, colPart: b.colPart, topology: b.topology, stepBits: b.stepBits };
}

/** The bind groups a sweep is encoded with. */
export interface SweepGroups {
  /** Per pass kind the plan makes, one bind group per segment. */
  tiles: Partial<Record<PassKind, GPUBindGroup[]>>;
  rowFinish: GPUBindGroup;
  /** The update of all variables (index 0), then of class `c` (index `c + 1`). */
  update: GPUBindGroup[];
  evaluate: GPUBindGroup;
  norm: GPUBindGroup;
  finish: GPUBindGroup;
}

/** What the upload needs to know about the engine. */
export interface UploadContext {
  device: GPUDevice;
  resources: GpuResources;
  problem: Problem;
  segments: Segment[];
  kernels: SweepKernels;
  /** The weights are uploaded divided by this power of two (exact). */
  normScale: number;
  normGroups: number;
  maxPerDimension: number;
  /** Bytes of the read-back staging buffer. */
  stagingBytes: number;
  initial?: Float64Array;
  /** `nVars`-long copies of the factors the `u` buffer holds (the schedule's snapshots after `u` itself; default 1). */
  uCopies?: number;
}

/** Make the run's buffers and upload the factors, the bias masses and the topology. */
export function createSweepBuffers(ctx: UploadContext, topology: Topology, steps: number): SweepBuffers {
  const { resources: res, problem, segments } = ctx;
  const { p, nUnits, nVars } = problem;
  const S = BufferUsage.STORAGE;
  const { COPY_DST, COPY_SRC } = BufferUsage;
  const { rowPairs, colPairs } = partialCounts(segments);
  const u0 = new Float32Array(nVars);
  if (ctx.initial) u0.set(ctx.initial);
  const logAlpha0 = new Float32Array(nUnits);
  const pf = Math.fround(p);
  for (let unit = 0; unit < nUnits; unit++) {
    const v = problem.unitVar[unit];
    if (v >= 0) logAlpha0[unit] = Math.fround(pf * u0[v]);
  }
  return {
    state: res.buffer('state', State.byteSize, S | COPY_DST | COPY_SRC),
    u: res.buffer('log factors u (and snapshots)', nVars * 4 * (ctx.uCopies ?? 1), S | COPY_DST | COPY_SRC, u0),
    logAlpha: res.buffer('log alpha = p u per unit', nUnits * 4, S | COPY_DST, logAlpha0),
    logRho: res.buffer('log rho per unit', nUnits * 4, S),
    logY: res.buffer('log y per unit', nUnits * 4, S),
    logBias: res.buffer('log bias mass per unit', nUnits * 4, S | COPY_DST, logBiasMass32(problem, 1 / ctx.normScale)),
    rowPart: res.buffer('row partials', rowPairs * 8, S),
    colPart: res.buffer('column partials', colPairs * 8, S),
    topology: res.buffer('topology', topology.data.byteLength, S | COPY_DST, topology.data),
    stepBits: res.buffer('step and imbalance history', STEP_SLOTS * 4, S | COPY_DST | COPY_SRC),
    normHistory: res.buffer('norm history', steps * ctx.normGroups * 8, S | COPY_SRC),
    staging: res.buffer('readback', ctx.stagingBytes, BufferUsage.MAP_READ | COPY_DST),
  };
}

/**
 * Record the build of `log P` for every segment into `pass`, from its float32 weights; returns
 * the `log P` buffers and the weight uploads (to free once the build is submitted).
 */
export function encodeBuildLogP(ctx: UploadContext, pass: GPUComputePassEncoder): { logP: GPUBuffer[]; uploads: GPUBuffer[] } {
  const { device, resources: res, problem, kernels } = ctx;
  const S = BufferUsage.STORAGE;
  const uploads: GPUBuffer[] = [];
  const logP = ctx.segments.map((s, k) => {
    const block = problem.blocks[s.block];
    const label = `segment ${k} of ${block.label}`;
    const elements = s.rows * s.cols;
    const start = s.rowStart * s.cols * s.taps;
    const values = float32Values(block.weight, start, start + elements * s.taps, 1 / ctx.normScale, block.label);
    const weights = res.buffer(`weights of ${label}`, elements * s.taps * 4, S | BufferUsage.COPY_DST, values);
    uploads.push(weights);
    const params = res.uniform(`build parameters of ${label}`, BuildPowerParams, { elements, taps: s.taps });
    const target = res.buffer(`log P of ${label}`, elements * 4, S);
    const kernel = (s.taps === 1 ? kernels.build.single : kernels.build.taps) as CompiledKernel<typeof BuildPowerBindings>;
    pass.setPipeline(kernel.pipeline);
    pass.setBindGroup(0, bind(device, `build ${label}`, kernel, { params, weights, logP: target }));
    const [x, y] = foldGrid(Math.ceil(elements / WORKGROUP), ctx.maxPerDimension);
    pass.dispatchWorkgroups(x, y);
    return target;
  });
  return { logP, uploads };
}

/** The bind groups of the tile passes (per segment), of the per-unit and per-variable kernels, and of the norm. */
export function createSweepGroups(ctx: UploadContext, buffers: SweepBuffers, logP: GPUBuffer[], topology: Topology): SweepGroups {
  const { device, resources: res, problem, kernels } = ctx;
  const { nUnits, nVars } = problem;
  const b = buffers;
  const tiles: SweepGroups['tiles'] = {};
  const segmentUniforms = ctx.segments.map((s, k) => res.uniform(`parameters of segment ${k}`, SegmentParams, s));
  for (const [kind, kernel] of Object.entries(kernels.tiles) as [PassKind, SweepKernels['tiles'][PassKind]][]) {
    if (!kernel) continue;
    tiles[kind] = ctx.segments.map((_, k) =>
      bind(device, `${kind} sums segment ${k}`, kernel, {
        params: segmentUniforms[k],
        state: b.state,
        logP: logP[k],
        logAlpha: b.logAlpha,
        logY: b.logY,
        rowPart: b.rowPart,
        colPart: b.colPart,
      }),
    );
  }
  const rowFinishParams = res.uniform('row finish parameters', RowFinishParams, { nUnits, ...topology });
  const rowFinish = bind(device, 'row finish', kernels.rowFinish, {
    params: rowFinishParams,
    state: b.state,
    rowPart: b.rowPart,
    topology: b.topology,
    logBias: b.logBias,
    logAlpha: b.logAlpha,
    logRho: b.logRho,
    logY: b.logY,
  });
  const updateBuffers = (params: GPUBuffer) => ({ params, ...variableBuffers(b) });
  const classes = [-1, ...Array.from({ length: problem.nClasses }, (_, c) => c)];
  const updateParams = classes.map((cls) => res.uniform(`update parameters (class ${cls})`, UpdateParams, { nVars, cls, slot0: 0, ...topology }));
  // The evaluate kernel writes the imbalance to its own slots (the stopping rule reads them).
  const evaluateParams = res.uniform('evaluate parameters', UpdateParams, { nVars, cls: -1, slot0: IMBALANCE_SLOT0, ...topology });
  const update = updateParams.map((params, k) => bind(device, `update ${k === 0 ? 'all' : `class ${k - 1}`}`, kernels.update, updateBuffers(params)));
  const normParams = res.uniform('norm parameters', NormParams, { nUnits, groups: ctx.normGroups });
  return {
    tiles,
    rowFinish,
    update,
    evaluate: bind(device, 'evaluate', kernels.evaluate, updateBuffers(evaluateParams)),
    norm: bind(device, 'norm', kernels.norm, { params: normParams, state: b.state, logRho: b.logRho, normHistory: b.normHistory }),
    finish: bind(device, 'finish sweep', kernels.finish, { state: b.state, stepBits: b.stepBits }),
  };
}
