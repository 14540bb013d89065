import type { TileBindings } from '../../../shaders/blockTile.js';
import type { BuildPowerBindings } from '../../../shaders/buildPower.wgsl.js';
import { buildPowerKernel } from '../../../shaders/buildPower.wgsl.js';
import { columnSumsKernel } from '../../../shaders/columnSums.wgsl.js';
import type { FinishSweepBindings } from '../../../shaders/finishSweep.wgsl.js';
import { finishSweepKernel } from '../../../shaders/finishSweep.wgsl.js';
import { fusedSumsKernel } from '../../../shaders/fusedSums.wgsl.js';
import type { NormBindings } from '../../../shaders/norm.wgsl.js';
import { normKernel } from '../../../shaders/norm.wgsl.js';
import type { RowFinishBindings } from '../../../shaders/rowFinish.wgsl.js';
import { rowFinishKernel } from '../../../shaders/rowFinish.wgsl.js';
import { rowSumsKernel } from '../../../shaders/rowSums.wgsl.js';
import type { UpdateBindings } from '../../../shaders/update.wgsl.js';
import { updateKernel } from '../../../shaders/update.wgsl.js';
import type { Problem } from '../../problem/problem.js';
import type { PassKind, SweepPlan } from '../plan.js';
import type { Segment } from './layout.js';
import type { CompiledKernel } from './pipelines.js';
import { compileKernel } from './pipelines.js';
import { IMBALANCE_SLOT0 } from './readback.js';

/** The compiled kernels of one engine (each specialised to the problem's exponents). */
export interface SweepKernels {
  /** The passes over `log P`: only those the plan makes are compiled (SwiftShader compiles slowly). */
  tiles: Partial<Record<PassKind, CompiledKernel<typeof TileBindings>>>;
  rowFinish: CompiledKernel<typeof RowFinishBindings>;
  update: CompiledKernel<typeof UpdateBindings>;
  /** The update kernel that only measures `max |log(Out/In)|`. */
  evaluate: CompiledKernel<typeof UpdateBindings>;
  norm: CompiledKernel<typeof NormBindings>;
  finish: CompiledKernel<typeof FinishSweepBindings>;
  /** Building `log P`, for single-tap and multi-tap segments (only those present). */
  build: { single?: CompiledKernel<typeof BuildPowerBindings>; taps?: CompiledKernel<typeof BuildPowerBindings> };
}

/** Compile (or take from the per-device cache) every kernel the plan and the segments need. */
export async function compileSweepKernels(device: GPUDevice, problem: Problem, plan: SweepPlan, segments: Segment[]): Promise<SweepKernels> {
  const { p, r } = problem;
  // One update exponent per plan (the GPU's update kernel takes it as an override).
  const first = plan.steps[0]?.update;
  const eta = first?.kind === 'multiplicative' ? first.eta : 0;
  const fastP = p === 1 ? 1 : p === 2 ? 2 : 0;
  const taps = new Set(segments.map((s) => s.taps === 1));
  const optional = <T>(needed: boolean, compile: () => Promise<T>): Promise<T | undefined> => (needed ? compile() : Promise.resolve(undefined));
  const [rows, columns, fused, rowFinish, update, evaluate, norm, finish, single, multi] = await Promise.all([
    optional(plan.kinds.has('rows'), () => compileKernel(device, rowSumsKernel(), {})),
    optional(plan.kinds.has('columns'), () => compileKernel(device, columnSumsKernel(), {})),
    optional(plan.kinds.has('fused'), () => compileKernel(device, fusedSumsKernel(), {})),
    compileKernel(device, rowFinishKernel({ unitR: r === 1 }), { R: r }),
    compileKernel(device, updateKernel({ evaluate: false }), { P: p, R: r, ETA: eta }),
    compileKernel(device, updateKernel({ evaluate: true }), { P: p, R: r, ETA: eta }),
    compileKernel(device, normKernel(), { R: r }),
    compileKernel(device, finishSweepKernel(IMBALANCE_SLOT0), {}),
    optional(taps.has(true), () => compileKernel(device, buildPowerKernel({ singleTap: true, fastP }), { P: p })),
    optional(taps.has(false), () => compileKernel(device, buildPowerKernel({ singleTap: false, fastP }), { P: p })),
  ]);
  return { tiles: { rows, columns, fused }, rowFinish, update, evaluate, norm, finish, build: { single, taps: multi } };
}
