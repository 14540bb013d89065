import { BuildPowerParams, buildPowerKernel } from '../../../shaders/buildPower.wgsl.js';
import { SegmentParams } from '../../../shaders/blockTile.js';
import { columnSumsKernel } from '../../../shaders/columnSums.wgsl.js';
import { State, WORKGROUP } from '../../../shaders/common.js';
import { finishSweepKernel } from '../../../shaders/finishSweep.wgsl.js';
import { fusedSumsKernel } from '../../../shaders/fusedSums.wgsl.js';
import { NormParams, normKernel } from '../../../shaders/norm.wgsl.js';
import { RowFinishParams, rowFinishKernel } from '../../../shaders/rowFinish.wgsl.js';
import { rowSumsKernel } from '../../../shaders/rowSums.wgsl.js';
import { UpdateParams, updateKernel } from '../../../shaders/update.wgsl.js';
import { RescaleParams, rescaleKernel, unitScales } from '../../../shaders/rescale.wgsl.js';
import { largestWeight, powerOfTwoScale } from '../../math/passes.js';
import type { Problem } from '../../problem/problem.js';
import { DeviceLostError } from '../engine.js';
import type { Engine, EngineOptions, Evaluation, RescaledBlock, SweepRecord } from '../engine.js';
import { passCost, sweepPlan } from '../plan.js';
import type { Pass, PassKind, Step, SweepPlan } from '../plan.js';
import { acquireDevice } from './device.js';
import type { AcquiredDevice, GpuTarget } from './device.js';
import { BufferUsage, MapMode } from './flags.js';
import { buildTopology, foldGrid, logBiasMass, partialCounts, segmentBlocks } from './layout.js';
import type { Segment } from './layout.js';
import { compileKernel } from './pipelines.js';
import type { CompiledKernel } from './pipelines.js';
import type { StructFields, StructValues, WgslStruct } from '../../../shaders/struct.js';

/** Overrides of the device limits the engine plans with (tests force small ones to exercise splitting and folding). */
export interface WebGpuTuning {
  /** Largest buffer, in bytes, for the float32 weights of one block segment (default: the device's limits). */
  maxBufferBytes?: number;
  /** Most workgroups per grid dimension before a grid is folded into two (default: the device's limit). */
  maxWorkgroupsPerDimension?: number;
}

/** Sweeps encoded per submission at most (slots of the step and norm histories; one more slot serves `evaluate`). */
const CAPACITY = 64;
const FLOAT32_MAX = 3.4028234663852886e38;
const FLOAT32_MIN_NORMAL = 1.1754943508222875e-38;

/** Slots of the history: the largest step of sweep `s` at `s`, its imbalance at `IMBALANCE_SLOT0 + s` (`CAPACITY`: `evaluate`). */
const IMBALANCE_SLOT0 = CAPACITY + 1;

/** The largest float32 `t` with `x <= t` equivalent to `x <= tol` for every non-negative float32 `x` (`tol >= 0`). */
export function float32Threshold(tol: number): number {
  const f = Math.fround(tol);
  if (f <= tol) return f;
  const bits = new Float32Array([f]);
  const words = new Uint32Array(bits.buffer);
  words[0] -= 1;
  return bits[0];
}

/** `F = sum_k exp(m_k) s_k` in float64 from the per-workgroup log-sum-exp pairs of one sweep. */
function objectiveFromPairs(pairs: Float32Array, start: number, count: number): number {
  let top = -Infinity;
  for (let k = 0; k < count; k++) if (pairs[2 * (start + k) + 1] > 0) top = Math.max(top, pairs[2 * (start + k)]);
  if (top === -Infinity) return 0;
  let sum = 0;
  for (let k = 0; k < count; k++) {
    const s = pairs[2 * (start + k) + 1];
    if (s > 0) sum += s * Math.exp(pairs[2 * (start + k)] - top);
  }
  return Math.exp(top + Math.log(sum));
}

/**
 * Weights of one segment times `scale` (a power of two: exact) as float32, refusing values
 * float32 cannot hold, subnormals included (the driver then falls back to the CPU).
 */
function float32Weights(weight: Float32Array | Float64Array, start: number, end: number, scale: number, label: string): Float32Array {
  const out = new Float32Array(end - start);
  for (let k = 0; k < out.length; k++) {
    const w = weight[start + k] * scale;
    const a = Math.abs(w);
    if (a > FLOAT32_MAX || (a !== 0 && a < FLOAT32_MIN_NORMAL)) {
      throw new Error(`${label}: weight ${weight[start + k]} spans more than float32 can hold on the GPU`);
    }
    out[k] = w;
  }
  return out;
}

/**
 * Rescaled values of one segment into `target` from `start`, refusing a non-zero value that
 * came back zero (a result below float32's normal range, which a GPU may flush to zero; the
 * driver then rescales on the CPU).
 */
function copyRescaled(rescaled: Float32Array, source: ArrayLike<number>, start: number, target: Float32Array, label: string): void {
  for (let k = 0; k < rescaled.length; k++) {
    if (rescaled[k] === 0 && source[start + k] !== 0) {
      throw new Error(`${label}: the rescaled entry ${start + k} underflowed float32 on the GPU`);
    }
  }
  target.set(rescaled, start);
}

/** What the device's callbacks saw go wrong: the first failure, or `null`. */
interface DeviceHealth {
  failure: string | null;
}

/**
 * Record the device's loss in a small {@link DeviceHealth}. The callback closes over that object
 * only, never over the engine: a caller's long-lived device keeps its `lost` reaction until the
 * device dies, and it must not keep every disposed engine (with its problem and weights) alive.
 *
 * No `uncapturederror` listener: every GPU call of the engine is made inside its own error
 * scopes (see `scoped`), so an uncaptured error on a shared device is other code's, which must
 * neither make the run fall back nor be taken from that code.
 */
function watchDevice(device: GPUDevice): DeviceHealth {
  const health: DeviceHealth = { failure: null };
  device.lost.then((info) => {
    health.failure ??= `the WebGPU device was lost (${info.reason}): ${info.message}`;
  }, () => undefined);
  return health;
}

interface Kernels {
  /** Only the tile passes the schedule uses are compiled (SwiftShader compiles slowly). */
  tiles: Partial<Record<PassKind, CompiledKernel>>;
  rowFinish: CompiledKernel;
  update: CompiledKernel;
  evaluate: CompiledKernel;
  norm: CompiledKernel;
  finish: CompiledKernel;
}

/**
 * The fix on a WebGPU device, in float32 with every power carried as a logarithm. `log P` is
 * built once on the GPU; a sweep is a few passes over it (one when `p = q` in the parallel
 * schedule) plus per-unit and per-variable kernels; many sweeps are encoded per submission, with
 * the stopping rule applied on the GPU (later sweeps of a batch become no-ops), and the norm
 * and step histories are read back once per batch together with the log factors.
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
  private readonly device: GPUDevice;
  private readonly owned: boolean;
  private readonly buffers: GPUBuffer[] = [];
  private readonly maxPerDimension: number;
  private readonly segments: Segment[];
  private readonly plan: SweepPlan;
  /** The segments of each pass of the plan (the segments of its blocks, in order). */
  private readonly passSegments = new Map<Pass, number[]>();
  private readonly normGroups: number;
  /** What one sweep reads, in units of all of `P`. */
  private sweepCost = 0;
  private readonly unitR: boolean;
  /** Set by the device's loss callback (see {@link watchDevice}). */
  private readonly health: DeviceHealth;
  private disposed = false;
  private cachedFactors: Float64Array | null = null;
  private kernels!: Kernels;
  private state!: GPUBuffer;
  private u!: GPUBuffer;
  private stepBits!: GPUBuffer;
  private normHistory!: GPUBuffer;
  private staging!: GPUBuffer;
  private readonly tileGroups: Partial<Record<PassKind, GPUBindGroup[]>> = {};
  private rowFinishGroup!: GPUBindGroup;
  private updateGroups!: GPUBindGroup[];
  private evaluateGroup!: GPUBindGroup;
  private normGroup!: GPUBindGroup;
  private finishGroup!: GPUBindGroup;

  private constructor(private readonly problem: Problem, private readonly options: EngineOptions, acquired: AcquiredDevice, tuning: WebGpuTuning) {
    this.device = acquired.device;
    this.owned = acquired.owned;
    this.adapter = acquired.adapter;
    const limits = this.device.limits;
    this.maxPerDimension = tuning.maxWorkgroupsPerDimension ?? limits.maxComputeWorkgroupsPerDimension;
    const maxBytes = tuning.maxBufferBytes ?? Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize);
    this.segments = segmentBlocks(problem, maxBytes);
    this.plan = sweepPlan(problem, options.schedule);
    const passes = [...this.plan.start, ...this.plan.evaluate, ...this.plan.finish, ...this.plan.steps.flatMap((step) => [...step.prepare, ...step.refresh])];
    for (const pass of passes) {
      const blocks = new Set(pass.blocks);
      this.passSegments.set(pass, this.segments.flatMap((s, k) => (blocks.has(s.block) ? [k] : [])));
    }
    this.normGroups = Math.max(1, Math.ceil(problem.nUnits / WORKGROUP));
    this.unitR = problem.r === 1;
    this.normScale = 1 / powerOfTwoScale(largestWeight(problem.blocks, problem.includeBiases));
    this.health = watchDevice(this.device);
  }

  /** Set up the engine on a device: compile the kernels, upload the problem, build `log P`. */
  static async create(problem: Problem, options: EngineOptions, source: GpuTarget, tuning: WebGpuTuning = {}): Promise<WebGpuEngine> {
    if (options.schedule === 'accelerated') {
      throw new Error("the accelerated schedule runs on the CPU engine only (its WebGPU kernels are not written yet); schedule 'parallel' or 'alternating' runs on WebGPU");
    }
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

  /** A labelled buffer, freed by `dispose()` (or, given `owner`, by whoever holds that list). */
  private buffer(label: string, size: number, usage: number, data?: ArrayBufferView & ArrayLike<number>, owner: GPUBuffer[] = this.buffers): GPUBuffer {
    const buffer = this.device.createBuffer({ label: `weight-balance ${label}`, size: Math.max(16, Math.ceil(size / 4) * 4), usage });
    owner.push(buffer);
    if (data && data.byteLength > 0) this.device.queue.writeBuffer(buffer, 0, data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
    return buffer;
  }

  /** A uniform buffer holding one struct, packed by name from `values`. */
  private uniform<F extends StructFields>(label: string, struct: WgslStruct<F>, values: StructValues<F>, owner: GPUBuffer[] = this.buffers): GPUBuffer {
    return this.buffer(label, struct.byteSize, BufferUsage.UNIFORM | BufferUsage.COPY_DST, new Uint8Array(struct.pack(values)), owner);
  }

  private bindGroup(label: string, kernel: CompiledKernel, buffers: GPUBuffer[]): GPUBindGroup {
    return this.device.createBindGroup({
      label: `weight-balance ${label} bind group`,
      layout: kernel.layout,
      entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
  }

  private async setUp(): Promise<void> {
    const { device, problem } = this;
    const { p, r } = problem;
    const eta = this.plan.steps[0]?.update.eta ?? 0;
    const plan = this.plan;
    this.sweepCost = passCost(problem, [...plan.steps.flatMap((step) => [...step.prepare, ...step.refresh]), ...plan.finish]);
    const fastP = p === 1 ? 1 : p === 2 ? 2 : 0;
    // Only the passes the plan makes.
    const uses = (kind: PassKind): boolean => this.plan.kinds.has(kind);
    const none = Promise.resolve(undefined);
    const taps = new Set(this.segments.map((s) => s.taps === 1));
    const [rows, columns, fused, rowFinish, update, evaluate, norm, finish, buildSingle, buildTaps] = await this.scoped(() => Promise.all([
      uses('rows') ? compileKernel(device, rowSumsKernel(), {}) : none,
      uses('columns') ? compileKernel(device, columnSumsKernel(), {}) : none,
      uses('fused') ? compileKernel(device, fusedSumsKernel(), {}) : none,
      compileKernel(device, rowFinishKernel({ unitR: this.unitR }), { R: r }),
      compileKernel(device, updateKernel({ evaluate: false }), { P: p, R: r, ETA: eta }),
      compileKernel(device, updateKernel({ evaluate: true }), { P: p, R: r, ETA: eta }),
      compileKernel(device, normKernel(), { R: r }),
      compileKernel(device, finishSweepKernel(IMBALANCE_SLOT0), {}),
      taps.has(true) ? compileKernel(device, buildPowerKernel({ singleTap: true, fastP }), { P: p }) : none,
      taps.has(false) ? compileKernel(device, buildPowerKernel({ singleTap: false, fastP }), { P: p }) : none,
    ]));
    this.kernels = { tiles: { rows, columns, fused }, rowFinish, update, evaluate, norm, finish };
    await this.scoped(async () => this.upload(buildSingle, buildTaps));
  }

  /** Make the buffers and bind groups, upload the problem and build `log P` (synchronous GPU calls only). */
  private upload(buildSingle: CompiledKernel | undefined, buildTaps: CompiledKernel | undefined): void {
    const { device, problem, kernels } = this;
    const { p, nUnits, nVars } = problem;
    const { rowFinish, update, evaluate, norm, finish } = kernels;

    const S = BufferUsage.STORAGE;
    const { COPY_DST, COPY_SRC } = BufferUsage;
    const topology = buildTopology(problem, this.segments);
    const { rowPairs, colPairs } = partialCounts(this.segments);
    const u0 = new Float32Array(nVars);
    if (this.options.initial) u0.set(this.options.initial);
    const logAlpha0 = new Float32Array(nUnits);
    const pf = Math.fround(p);
    for (let unit = 0; unit < nUnits; unit++) {
      const v = problem.unitVar[unit];
      if (v >= 0) logAlpha0[unit] = Math.fround(pf * u0[v]);
    }
    this.state = this.buffer('state', State.byteSize, S | COPY_DST | COPY_SRC);
    this.u = this.buffer('log factors u', nVars * 4, S | COPY_DST | COPY_SRC, u0);
    const logAlpha = this.buffer('log alpha = p u per unit', nUnits * 4, S | COPY_DST, logAlpha0);
    const logRho = this.buffer('log rho per unit', nUnits * 4, S);
    const logY = this.buffer('log y per unit', nUnits * 4, S);
    const logBias = this.buffer('log bias mass per unit', nUnits * 4, S | COPY_DST, logBiasMass(problem, 1 / this.normScale));
    const rowPart = this.buffer('row partials', rowPairs * 8, S);
    const colPart = this.buffer('column partials', colPairs * 8, S);
    const topo = this.buffer('topology', topology.data.byteLength, S | COPY_DST, topology.data);
    this.stepBits = this.buffer('step and imbalance history', 2 * (CAPACITY + 1) * 4, S | COPY_DST | COPY_SRC);
    this.normHistory = this.buffer('norm history', (CAPACITY + 1) * this.normGroups * 8, S | COPY_SRC);
    this.staging = this.buffer('readback', this.stagingBytes(), BufferUsage.MAP_READ | COPY_DST);

    // log P per segment, built on the GPU from the float32 weights (uploaded once, then freed).
    const encoder = device.createCommandEncoder({ label: 'weight-balance build log P' });
    const pass = encoder.beginComputePass({ label: 'weight-balance build log P pass' });
    const uploads: GPUBuffer[] = [];
    const logP = this.segments.map((s, k) => {
      const block = problem.blocks[s.block];
      const label = `segment ${k} of ${block.label}`;
      const elements = s.rows * s.cols;
      const start = s.rowStart * s.cols * s.taps;
      const weights = this.buffer(`weights of ${label}`, elements * s.taps * 4, S | COPY_DST, float32Weights(block.weight, start, start + elements * s.taps, 1 / this.normScale, block.label));
      uploads.push(weights);
      const params = this.uniform(`build parameters of ${label}`, BuildPowerParams, { elements, taps: s.taps });
      const target = this.buffer(`log P of ${label}`, elements * 4, S);
      const kernel = (s.taps === 1 ? buildSingle : buildTaps) as CompiledKernel;
      pass.setPipeline(kernel.pipeline);
      pass.setBindGroup(0, this.bindGroup(`build ${label}`, kernel, [params, weights, target]));
      const [x, y] = foldGrid(Math.ceil(elements / WORKGROUP), this.maxPerDimension);
      pass.dispatchWorkgroups(x, y);
      return target;
    });
    pass.end();

    const segmentUniforms = this.segments.map((s, k) => this.uniform(`parameters of segment ${k}`, SegmentParams, s));
    for (const [pass, kernel] of Object.entries(kernels.tiles) as [PassKind, CompiledKernel | undefined][]) {
      if (!kernel) continue;
      this.tileGroups[pass] = this.segments.map((_, k) =>
        this.bindGroup(`${pass} sums segment ${k}`, kernel, [segmentUniforms[k], this.state, logP[k], logAlpha, logY, rowPart, colPart]));
    }
    const rowFinishParams = this.uniform('row finish parameters', RowFinishParams, { nUnits, ...topology });
    this.rowFinishGroup = this.bindGroup('row finish', rowFinish, [rowFinishParams, this.state, rowPart, topo, logBias, logAlpha, logRho, logY]);
    const updateParams = (cls: number, slot0 = 0): GPUBuffer => this.uniform(`update parameters (class ${cls})`, UpdateParams, { nVars, cls, slot0, ...topology });
    const updateBindings = (params: GPUBuffer): GPUBuffer[] => [params, this.state, this.u, logAlpha, logRho, colPart, topo, this.stepBits];
    const allParams = updateParams(-1);
    this.updateGroups = [allParams, ...Array.from({ length: problem.nClasses }, (_, c) => updateParams(c))]
      .map((params, k) => this.bindGroup(`update ${k === 0 ? 'all' : `class ${k - 1}`}`, update, updateBindings(params)));
    this.evaluateGroup = this.bindGroup('evaluate', evaluate, updateBindings(updateParams(-1, IMBALANCE_SLOT0)));
    const normParams = this.uniform('norm parameters', NormParams, { nUnits, groups: this.normGroups });
    this.normGroup = this.bindGroup('norm', norm, [normParams, this.state, logRho, this.normHistory]);
    this.finishGroup = this.bindGroup('finish sweep', finish, [this.state, this.stepBits]);

    // The statistics the first sweep needs: row sums (and column sums when p = q) at the start.
    const start = encoder.beginComputePass({ label: 'weight-balance initial sums' });
    for (const pass of this.plan.start) this.encodePass(start, pass);
    start.end();
    device.queue.submit([encoder.finish({ label: 'weight-balance build log P commands' })]);
    for (const buffer of uploads) buffer.destroy();
  }

  private stagingBytes(): number {
    return State.byteSize + 2 * (CAPACITY + 1) * 4 + (CAPACITY + 1) * this.normGroups * 8 + this.problem.nVars * 4;
  }

  /**
   * Make GPU calls inside validation, out-of-memory and internal error scopes that are pushed and
   * popped with no await in between: `calls` runs synchronously up to its first await, and only
   * that part is inside the scopes, so other code on the device (a caller awaiting between its
   * own push and pop, another engine) never interleaves with them, and the device is left with no
   * scope of ours. `calls` may start asynchronous work (pipeline compilation, a buffer mapping)
   * and return its promise; then throw a scope's error first (it says why), else the work's
   * error, or a device loss seen meanwhile.
   */
  private async scoped<T>(calls: () => Promise<T>): Promise<T> {
    this.throwIfFailed();
    const { device } = this;
    const kinds = ['validation', 'out-of-memory', 'internal'] as const;
    for (const kind of [...kinds].reverse()) device.pushErrorScope(kind);
    let pending: Promise<T>;
    try {
      pending = calls();
    } catch (error) {
      pending = Promise.reject(error);
    }
    const scopes = kinds.map((kind) => device.popErrorScope().then((error) => (error ? `WebGPU ${kind} error: ${error.message}` : null), () => null));
    let outcome: { value: T } | { error: unknown };
    try {
      outcome = { value: await pending };
    } catch (error) {
      outcome = { error };
    }
    const scopeError = (await Promise.all(scopes)).find((error) => error !== null);
    if (scopeError) throw new Error(scopeError);
    if ('error' in outcome) {
      if (this.health.failure && !this.disposed) throw new DeviceLostError(this.health.failure);
      throw outcome.error;
    }
    this.throwIfFailed();
    return outcome.value;
  }

  private throwIfFailed(): void {
    if (this.disposed) throw new Error('the WebGPU engine was disposed');
    if (this.health.failure) throw new DeviceLostError(this.health.failure);
  }

  /** Encode one pass of the plan over its blocks' segments; a rows or fused pass ends with the row finish. */
  private encodePass(encoder: GPUComputePassEncoder, pass: Pass): void {
    const kernel = this.kernels.tiles[pass.kind];
    const groups = this.tileGroups[pass.kind];
    const segments = this.passSegments.get(pass);
    if (!kernel || !groups || !segments) throw new Error(`internal: the ${pass.kind} pass was not prepared`);
    encoder.setPipeline(kernel.pipeline);
    for (const k of segments) {
      encoder.setBindGroup(0, groups[k]);
      const [x, y] = foldGrid(this.segments[k].tiles, this.maxPerDimension);
      encoder.dispatchWorkgroups(x, y);
    }
    if (pass.kind !== 'columns') this.perUnit(encoder, this.kernels.rowFinish, this.rowFinishGroup, this.problem.nUnits);
  }

  private perUnit(pass: GPUComputePassEncoder, kernel: CompiledKernel, group: GPUBindGroup, count: number): void {
    if (count === 0) return;
    pass.setPipeline(kernel.pipeline);
    pass.setBindGroup(0, group);
    const [x, y] = foldGrid(Math.ceil(count / WORKGROUP), this.maxPerDimension);
    pass.dispatchWorkgroups(x, y);
  }

  private norm(pass: GPUComputePassEncoder): void {
    pass.setPipeline(this.kernels.norm.pipeline);
    pass.setBindGroup(0, this.normGroup);
    const [x, y] = foldGrid(this.normGroups, this.maxPerDimension);
    pass.dispatchWorkgroups(x, y);
  }

  /** Encode one step of the plan: prepare, update the step's variables, refresh. */
  private encodeStep(pass: GPUComputePassEncoder, step: Step): void {
    for (const p of step.prepare) this.encodePass(pass, p);
    switch (step.update.kind) {
      case 'multiplicative': {
        const group = this.updateGroups[step.variables === 'all' ? 0 : step.variables.class + 1];
        this.perUnit(pass, this.kernels.update, group, this.problem.nVars);
        break;
      }
    }
    for (const p of step.refresh) this.encodePass(pass, p);
  }

  /** Encode one sweep of the plan (MATH.md §4), its finishing passes and the imbalance, then the norm and the stopping rule. */
  private encodeSweep(pass: GPUComputePassEncoder): void {
    for (const step of this.plan.steps) this.encodeStep(pass, step);
    for (const p of this.plan.finish) this.encodePass(pass, p);
    this.perUnit(pass, this.kernels.evaluate, this.evaluateGroup, this.problem.nVars);
    this.norm(pass);
    pass.setPipeline(this.kernels.finish.pipeline);
    pass.setBindGroup(0, this.finishGroup);
    pass.dispatchWorkgroups(1);
  }

  /**
   * Submit the work `encode` records, with a copy of the histories and factors, inside error
   * scopes, and read them back once.
   */
  private async run(encode: () => GPUCommandEncoder): Promise<{ state: StructValues<typeof State.fields>; steps: Float32Array; norms: Float32Array; u: Float32Array }> {
    const { nVars } = this.problem;
    const stepBytes = 2 * (CAPACITY + 1) * 4;
    const normBytes = (CAPACITY + 1) * this.normGroups * 8;
    try {
      await this.scoped(() => {
        const encoder = encode();
        encoder.copyBufferToBuffer(this.state, 0, this.staging, 0, State.byteSize);
        encoder.copyBufferToBuffer(this.stepBits, 0, this.staging, State.byteSize, stepBytes);
        encoder.copyBufferToBuffer(this.normHistory, 0, this.staging, State.byteSize + stepBytes, normBytes);
        if (nVars > 0) encoder.copyBufferToBuffer(this.u, 0, this.staging, State.byteSize + stepBytes + normBytes, nVars * 4);
        this.device.queue.submit([encoder.finish({ label: `${encoder.label} commands` })]);
        return this.staging.mapAsync(MapMode.READ);
      });
    } catch (error) {
      if (!this.disposed && this.staging.mapState === 'mapped') this.staging.unmap();
      throw error;
    }
    const bytes = this.staging.getMappedRange().slice(0);
    this.staging.unmap();
    return {
      state: State.unpack(bytes),
      steps: new Float32Array(bytes, State.byteSize, 2 * (CAPACITY + 1)),
      norms: new Float32Array(bytes, State.byteSize + stepBytes, normBytes / 4),
      u: new Float32Array(bytes, State.byteSize + stepBytes + normBytes, nVars),
    };
  }

  private begin(label: string, sweep: number, tol: number): GPUCommandEncoder {
    this.device.queue.writeBuffer(this.state, 0, State.pack({ sweep, converged: 0, tol }));
    const encoder = this.device.createCommandEncoder({ label: `weight-balance ${label}` });
    encoder.clearBuffer(this.stepBits);
    return encoder;
  }

  async evaluate(): Promise<Evaluation> {
    const read = await this.run(() => {
      const K = this.kernels;
      const encoder = this.begin('evaluate', CAPACITY, -1);
      const pass = encoder.beginComputePass({ label: 'weight-balance evaluate pass' });
      for (const p of this.plan.evaluate) this.encodePass(pass, p);
      this.perUnit(pass, K.evaluate, this.evaluateGroup, this.problem.nVars);
      this.norm(pass);
      pass.end();
      return encoder;
    });
    this.cachedFactors = Float64Array.from(read.u);
    return { F: objectiveFromPairs(read.norms, CAPACITY * this.normGroups, this.normGroups), maxLogImbalance: read.steps[IMBALANCE_SLOT0 + CAPACITY] };
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
        for (let s = 0; s < n; s++) this.encodeSweep(pass);
        pass.end();
        return encoder;
      });
      const done = read.state.sweep;
      for (let s = 0; s < done; s++) {
        records.push({
          F: objectiveFromPairs(read.norms, s * this.normGroups, this.normGroups),
          maxLogImbalance: read.steps[IMBALANCE_SLOT0 + s],
          maxStep: read.steps[s],
          passes: this.sweepCost,
        });
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

  /**
   * The final rescaling on the GPU (MATH.md §1): every block's weights times `a[row] / a[col]`
   * and its biases times `a[row]`, with `log a` given per global unit (in float64: the driver's
   * verified factors). Segment by segment, the float32 weights are uploaded again (the engine
   * freed them after building `log P`), rescaled in place, copied to a staging buffer and read
   * back; each segment's buffers are freed before the next one is made, so the GPU holds one
   * segment (twice: storage and staging) beyond the engine's own buffers, never a second copy
   * of the network. Every buffer made here is freed at the end and on error.
   */
  async rescaleWeights(logFactorsPerUnit: Float64Array): Promise<RescaledBlock[]> {
    const { problem, device } = this;
    if (logFactorsPerUnit.length !== problem.nUnits) {
      throw new Error(`rescaleWeights needs ${problem.nUnits} log factors (one per unit), got ${logFactorsPerUnit.length}`);
    }
    const table = unitScales(logFactorsPerUnit);
    const kernel = await this.scoped(() => compileKernel(device, rescaleKernel(), {}));
    const out: RescaledBlock[] = problem.blocks.map((b) => ({ weight: new Float32Array(b.weight.length), bias: b.bias ? new Float32Array(b.bias.length) : null }));
    // normScale is a power of two: the kernel multiplies the uploaded weights back by it exactly.
    const weightShift = Math.round(Math.log2(this.normScale));
    const { COPY_DST, COPY_SRC, STORAGE } = BufferUsage;
    const shared: GPUBuffer[] = [];
    const made: GPUBuffer[] = [];
    const free = (list: GPUBuffer[]): void => {
      for (const buffer of list) buffer.destroy();
      list.length = 0;
    };
    try {
      const scales = await this.scoped(async () => this.buffer('rescaling factors per unit', table.byteLength, STORAGE | COPY_DST, new Uint8Array(table), shared));
      for (const [k, s] of this.segments.entries()) {
        const block = problem.blocks[s.block];
        const label = `segment ${k} of ${block.label}`;
        const entries = s.rows * s.cols * s.taps;
        const start = s.rowStart * s.cols * s.taps;
        const weightBytes = entries * 4;
        const biasBytes = block.bias ? s.rows * 4 : 0;
        const readback = await this.scoped(() => {
          const weights = this.buffer(`weights to rescale of ${label}`, weightBytes, STORAGE | COPY_DST | COPY_SRC,
            float32Weights(block.weight, start, start + entries, 1 / this.normScale, block.label), made);
          const bias = block.bias
            ? this.buffer(`biases to rescale of ${label}`, biasBytes, STORAGE | COPY_DST | COPY_SRC, float32Weights(block.bias, s.rowStart, s.rowStart + s.rows, 1, `${block.label} bias`), made)
            : this.buffer(`no biases of ${label}`, 4, STORAGE, undefined, made);
          const staging = this.buffer(`rescaled readback of ${label}`, weightBytes + biasBytes, BufferUsage.MAP_READ | COPY_DST, undefined, made);
          const params = this.uniform(`rescale parameters of ${label}`, RescaleParams, {
            rows: s.rows, cols: s.cols, rowsPerGroup: s.rowsPerGroup, taps: s.taps, entries,
            rowUnit0: s.rowUnit0, colUnit0: s.colUnit0, hasBias: block.bias ? 1 : 0, weightShift,
          }, made);
          const encoder = device.createCommandEncoder({ label: `weight-balance rescale ${label}` });
          const pass = encoder.beginComputePass({ label: `weight-balance rescale ${label} pass` });
          pass.setPipeline(kernel.pipeline);
          pass.setBindGroup(0, this.bindGroup(`rescale ${label}`, kernel, [params, scales, weights, bias]));
          const [x, y] = foldGrid(Math.ceil(entries / WORKGROUP), this.maxPerDimension);
          pass.dispatchWorkgroups(x, y);
          pass.end();
          encoder.copyBufferToBuffer(weights, 0, staging, 0, weightBytes);
          if (block.bias) encoder.copyBufferToBuffer(bias, 0, staging, weightBytes, biasBytes);
          device.queue.submit([encoder.finish({ label: `weight-balance rescale ${label} commands` })]);
          return staging.mapAsync(MapMode.READ).then(() => staging);
        });
        const range = readback.getMappedRange();
        copyRescaled(new Float32Array(range, 0, entries), block.weight, start, out[s.block].weight, label);
        if (block.bias) copyRescaled(new Float32Array(range, weightBytes, s.rows), block.bias, s.rowStart, out[s.block].bias as Float32Array, `${label} bias`);
        readback.unmap();
        free(made);
      }
    } finally {
      free(made);
      free(shared);
    }
    return out;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const buffer of this.buffers) buffer.destroy();
    this.buffers.length = 0;
    if (this.owned) this.device.destroy();
  }
}
