import { State, WORKGROUP } from '../../../shaders/common.js';
import { largestWeight, powerOfTwoScale } from '../../math/powers.js';
import type { Problem } from '../../problem/problem.js';
import type { Engine, EngineOptions, Evaluation, RescaledBlock, SweepRecord } from '../engine.js';
import type { SweepPlan } from '../plan.js';
import { passCost, sweepPlan } from '../plan.js';
import type { AcceleratedUpdate } from './accelerated.js';
import { ACCELERATED_U_COPIES, AcceleratedEncoder, compileAcceleratedKernels } from './accelerated.js';
import { acceleratedTables } from './acceleratedTables.js';
import type { AcquiredDevice, GpuTarget } from './device.js';
import { acquireDevice } from './device.js';
import { SweepEncoder } from './encode.js';
import { MapMode } from './flags.js';
import { compileSweepKernels } from './kernels.js';
import type { Segment } from './layout.js';
import { buildTopology, segmentBlocks } from './layout.js';
import type { BatchRead } from './readback.js';
import { CAPACITY, float32Threshold, HistoryLayout, IMBALANCE_SLOT0, PATH_SLOT0 } from './readback.js';
import { rescaleOnGpu } from './rescale.js';
import { GpuResources } from './resources.js';
import { DeviceScope } from './scope.js';
import type { SweepBuffers, UploadContext } from './upload.js';
import { createSweepBuffers, createSweepGroups, encodeBuildLogP } from './upload.js';

/** Overrides of the device limits the engine plans with (tests force small ones to exercise splitting and folding). */
export interface WebGpuTuning {
  /** Largest buffer, in bytes, for the float32 weights of one block segment (default: the device's limits). */
  maxBufferBytes?: number;
  /** Most workgroups per grid dimension before a grid is folded into two (default: the device's limit). */
  maxWorkgroupsPerDimension?: number;
  /** The accelerated schedule's long-step exponent instead of its own (tests only: a step far too long must fall back, as with `CpuEngineOptions.longEta`). */
  longEta?: number;
}

/**
 * The fix on a WebGPU device, in float32 with every power carried as a logarithm. `log P` is
 * built once on the GPU; a sweep is the schedule's plan (`engines/plan.ts`) encoded as passes
 * over `log P` plus per-unit and per-variable kernels; many sweeps are encoded per submission,
 * with the stopping rule applied on the GPU (later sweeps of a batch become no-ops), and the norm
 * and step histories are read back once per batch together with the log factors.
 *
 * The parts: {@link DeviceScope} (device, error scopes, loss), {@link GpuResources} (the one
 * owner of the buffers), `upload.ts` (buffers, `log P`, bind groups), {@link SweepEncoder}
 * (the plan as GPU commands), {@link HistoryLayout} (read-back), `rescale.ts` (final rescaling).
 */
export class WebGpuEngine implements Engine {
  readonly backend = 'webgpu' as const;
  readonly adapter: string;
  /**
   * The weights are uploaded divided by this power of two near the largest weight (exact, as on
   * the CPU), so the dominant logarithms are near zero, where float32 is most precise; every
   * `F` is `||W~ / normScale||_{p,q}^q`.
   */
  readonly normScale: number;
  private readonly scope: DeviceScope;
  private readonly resources: GpuResources;
  private readonly maxPerDimension: number;
  private readonly segments: Segment[];
  private readonly history: HistoryLayout;
  private cachedFactors: Float64Array | null = null;
  /** What one sweep reads, in units of all of `P` (the accelerated schedule: one evaluation). */
  private sweepCost = 0;
  /** Whether the plan is the accelerated schedule (its sweeps report their own passes). */
  private accelerated = false;
  private buffers!: SweepBuffers;
  private encoder!: SweepEncoder;

  private constructor(
    private readonly problem: Problem,
    private readonly options: EngineOptions,
    acquired: AcquiredDevice,
    private readonly tuning: WebGpuTuning,
  ) {
    this.scope = new DeviceScope(acquired);
    this.adapter = acquired.adapter;
    this.resources = new GpuResources(acquired.device);
    const limits = acquired.device.limits;
    this.maxPerDimension = tuning.maxWorkgroupsPerDimension ?? limits.maxComputeWorkgroupsPerDimension;
    const maxBytes = tuning.maxBufferBytes ?? Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
    this.segments = segmentBlocks(problem, maxBytes);
    this.history = new HistoryLayout(Math.max(1, Math.ceil(problem.nUnits / WORKGROUP)), problem.nVars);
    this.normScale = 1 / powerOfTwoScale(largestWeight(problem.blocks, problem.includeBiases));
  }

  /** Set up the engine on a device: compile the kernels, upload the problem, build `log P`. */
  static async create(problem: Problem, options: EngineOptions, source: GpuTarget, tuning: WebGpuTuning = {}): Promise<WebGpuEngine> {
    const acquired = await acquireDevice(source);
    let engine: WebGpuEngine | null = null;
    try {
      const created = new WebGpuEngine(problem, options, acquired, tuning);
      engine = created;
      await created.setUp();
      return created;
    } catch (error) {
      if (engine) engine.dispose();
      else if (acquired.owned) acquired.device.destroy();
      throw error;
    }
  }

  /** Compile, then upload and build `log P` and the plan's start passes in one submission (synchronous GPU calls only). */
  private async setUp(): Promise<void> {
    const { device } = this.scope;
    const plan = sweepPlan(this.problem, this.options.schedule);
    this.sweepCost = passCost(this.problem, [...plan.steps.flatMap((step) => [...step.prepare, ...step.refresh]), ...plan.finish]);
    const accelerated = acceleratedUpdate(plan);
    // The accelerated schedule's tables first: a problem its coarse solve cannot take fails here, before any upload.
    const tables = accelerated ? acceleratedTables(this.problem, this.segments, device.limits.maxComputeWorkgroupStorageSize) : null;
    const [kernels, acceleratedKernels] = await this.scope.scoped(() =>
      Promise.all([
        compileSweepKernels(device, this.problem, plan, this.segments),
        accelerated && tables ? compileAcceleratedKernels(device, this.problem, withLongEta(accelerated, this.tuning.longEta), tables) : null,
      ]),
    );
    this.accelerated = accelerated !== null;
    const ctx: UploadContext = {
      device,
      resources: this.resources,
      problem: this.problem,
      segments: this.segments,
      kernels,
      normScale: this.normScale,
      normGroups: this.history.normGroups,
      maxPerDimension: this.maxPerDimension,
      stagingBytes: this.history.byteSize,
      initial: this.options.initial,
      uCopies: accelerated ? ACCELERATED_U_COPIES : 1,
    };
    await this.scope.scoped(async () => {
      const topology = buildTopology(this.problem, this.segments, tables?.varGroup);
      this.buffers = createSweepBuffers(ctx, topology, CAPACITY + 1);
      const encoder = device.createCommandEncoder({ label: 'weight-balance build log P' });
      const build = encoder.beginComputePass({ label: 'weight-balance build log P pass' });
      const { logP, uploads } = encodeBuildLogP(ctx, build);
      build.end();
      const groups = createSweepGroups(ctx, this.buffers, logP, topology);
      this.encoder = new SweepEncoder(this.problem, plan, this.segments, kernels, groups, this.maxPerDimension, this.history.normGroups);
      if (accelerated && tables && acceleratedKernels) {
        const { resources, problem, segments, maxPerDimension } = this;
        const context = {
          device,
          resources,
          problem,
          segments,
          buffers: this.buffers,
          topology,
          tables,
          kernels: acceleratedKernels,
          normGroups: this.history.normGroups,
          maxPerDimension,
        };
        this.encoder.schedule = new AcceleratedEncoder(context, accelerated, this.encoder);
      }
      // The statistics the first sweep needs (the plan's start passes).
      const start = encoder.beginComputePass({ label: 'weight-balance initial sums' });
      this.encoder.start(start);
      start.end();
      device.queue.submit([encoder.finish({ label: 'weight-balance build log P commands' })]);
      for (const buffer of uploads) this.resources.release(buffer);
    });
  }

  /**
   * Submit the work `encode` records, with a copy of the histories and factors, inside error
   * scopes, and read them back once.
   */
  private async run(encode: () => GPUCommandEncoder): Promise<BatchRead> {
    const { staging } = this.buffers;
    try {
      await this.scope.scoped(() => {
        const encoder = encode();
        this.history.copy(encoder, this.buffers, staging);
        this.scope.device.queue.submit([encoder.finish({ label: `${encoder.label} commands` })]);
        return staging.mapAsync(MapMode.READ);
      });
    } catch (error) {
      if (!this.scope.isClosed && staging.mapState === 'mapped') staging.unmap();
      throw error;
    }
    const bytes = staging.getMappedRange().slice(0);
    staging.unmap();
    return this.history.parse(bytes);
  }

  /** A command encoder whose run starts at sweep slot `sweep` with tolerance `tol`, the step history cleared. */
  private begin(label: string, sweep: number, tol: number): GPUCommandEncoder {
    const { device } = this.scope;
    device.queue.writeBuffer(this.buffers.state, 0, State.pack({ sweep, converged: 0, tol }));
    const encoder = device.createCommandEncoder({ label: `weight-balance ${label}` });
    encoder.clearBuffer(this.buffers.stepBits);
    return encoder;
  }

  async evaluate(): Promise<Evaluation> {
    const read = await this.run(() => {
      const encoder = this.begin('evaluate', CAPACITY, -1);
      const pass = encoder.beginComputePass({ label: 'weight-balance evaluate pass' });
      this.encoder.evaluate(pass);
      pass.end();
      return encoder;
    });
    this.cachedFactors = Float64Array.from(read.u);
    return { F: this.history.objective(read, CAPACITY), maxLogImbalance: read.steps[IMBALANCE_SLOT0 + CAPACITY] };
  }

  async sweeps(count: number, tol: number): Promise<SweepRecord[]> {
    const records: SweepRecord[] = [];
    const threshold = float32Threshold(tol);
    while (records.length < count) {
      const n = Math.min(CAPACITY, count - records.length);
      this.cachedFactors = null;
      const read = await this.run(() => {
        const encoder = this.begin('sweeps', 0, threshold);
        const pass = encoder.beginComputePass({ label: `weight-balance ${n} sweeps` });
        for (let s = 0; s < n; s++) this.encoder.sweep(pass);
        pass.end();
        return encoder;
      });
      const done = read.state.sweep;
      for (let s = 0; s < done; s++) {
        // An accelerated sweep evaluates 0, 1 or 2 points (its path); a planned one reads what its plan says.
        const passes = this.accelerated ? read.steps[PATH_SLOT0 + s] * this.sweepCost : this.sweepCost;
        records.push({ F: this.history.objective(read, s), maxLogImbalance: read.steps[IMBALANCE_SLOT0 + s], maxStep: read.steps[s], passes });
      }
      this.cachedFactors = Float64Array.from(read.u);
      if (read.state.converged !== 0 || done < n) break;
    }
    return records;
  }

  async logFactors(): Promise<Float64Array> {
    this.cachedFactors ??= Float64Array.from((await this.run(() => this.begin('read log factors', CAPACITY, -1))).u);
    return this.cachedFactors.slice();
  }

  /** The final rescaling on the GPU (see {@link rescaleOnGpu}). */
  rescaleWeights(logFactorsPerUnit: Float64Array): Promise<RescaledBlock[]> {
    const { scope, problem, segments, normScale, maxPerDimension } = this;
    return rescaleOnGpu({ scope, problem, segments, normScale, maxPerDimension }, logFactorsPerUnit);
  }

  dispose(): void {
    if (this.scope.isClosed) return;
    this.resources.destroy();
    this.scope.close();
  }
}

/** The accelerated update with the long step's exponent overridden (and the shorter one at most that), as `AcceleratedSchedule` does. */
function withLongEta(update: AcceleratedUpdate, longEta: number | undefined): AcceleratedUpdate {
  return longEta === undefined ? update : { ...update, longEta, shortLongEta: Math.min(longEta, update.shortLongEta) };
}

/** The plan's accelerated update, if its step is one. */
function acceleratedUpdate(plan: SweepPlan): AcceleratedUpdate | null {
  const update = plan.steps[0]?.update;
  return update?.kind === 'accelerated' ? update : null;
}

/**
 * Create the WebGPU engine on the caller's device, or on a device of the chosen adapter,
 * or throw why it cannot run here (the driver then falls back to the CPU engine).
 */
export function createWebGpuEngine(problem: Problem, options: EngineOptions, target: GpuTarget): Promise<Engine> {
  return WebGpuEngine.create(problem, options, { gpu: target.gpu, adapter: target.adapter, device: target.device });
}
