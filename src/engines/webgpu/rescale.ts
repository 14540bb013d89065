import { WORKGROUP } from '../../../shaders/common.js';
import type { RescaleBindings } from '../../../shaders/rescale.wgsl.js';
import { RescaleParams, rescaleKernel, unitScales } from '../../../shaders/rescale.wgsl.js';
import type { Problem } from '../../problem/problem.js';
import type { RescaledBlock } from '../engine.js';
import { bind } from './bind.js';
import { BufferUsage, MapMode } from './flags.js';
import type { Segment } from './layout.js';
import { foldGrid } from './layout.js';
import type { CompiledKernel } from './pipelines.js';
import { compileKernel } from './pipelines.js';
import { float32Values, GpuResources } from './resources.js';
import type { DeviceScope } from './scope.js';

/** What the final rescaling needs of the engine. */
export interface RescaleContext {
  scope: DeviceScope;
  problem: Problem;
  segments: Segment[];
  /** The power of two the weights were uploaded divided by (given back exactly by the kernel). */
  normScale: number;
  maxPerDimension: number;
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

/**
 * The final rescaling on the GPU (MATH.md §1): every block's weights times `a[row] / a[col]`
 * and its biases times `a[row]`, with `log a` given per global unit (in float64: the driver's
 * verified factors). Segment by segment, the float32 weights are uploaded again (the engine
 * freed them after building `log P`), rescaled in place, copied to a staging buffer and read
 * back; each segment's buffers are freed before the next one is made, so the GPU holds one
 * segment (twice: storage and staging) beyond the engine's own buffers, never a second copy
 * of the network. Every buffer made here is freed at the end and on error.
 */
export async function rescaleOnGpu(ctx: RescaleContext, logFactorsPerUnit: Float64Array): Promise<RescaledBlock[]> {
  const { problem, scope } = ctx;
  if (logFactorsPerUnit.length !== problem.nUnits) {
    throw new Error(`rescaleWeights needs ${problem.nUnits} log factors (one per unit), got ${logFactorsPerUnit.length}`);
  }
  const table = unitScales(logFactorsPerUnit);
  const kernel = await scope.scoped(() => compileKernel(scope.device, rescaleKernel(), {}));
  const out: RescaledBlock[] = problem.blocks.map((b) => ({
    weight: new Float32Array(b.weight.length),
    bias: b.bias ? new Float32Array(b.bias.length) : null,
  }));
  const shared = new GpuResources(scope.device);
  try {
    const scales = await scope.scoped(async () =>
      shared.buffer('rescaling factors per unit', table.byteLength, BufferUsage.STORAGE | BufferUsage.COPY_DST, new Uint8Array(table)),
    );
    for (let k = 0; k < ctx.segments.length; k++) await rescaleSegment(ctx, kernel, scales, k, out);
  } finally {
    shared.destroy();
  }
  return out;
}

/** Rescale segment `k` on the GPU and copy it into `out`; its buffers are freed before returning. */
async function rescaleSegment(
  ctx: RescaleContext,
  kernel: CompiledKernel<typeof RescaleBindings>,
  scales: GPUBuffer,
  k: number,
  out: RescaledBlock[],
): Promise<void> {
  const { scope, problem } = ctx;
  const { device } = scope;
  const s = ctx.segments[k];
  const block = problem.blocks[s.block];
  const label = `segment ${k} of ${block.label}`;
  const entries = s.rows * s.cols * s.taps;
  const start = s.rowStart * s.cols * s.taps;
  const weightBytes = entries * 4;
  const biasBytes = block.bias ? s.rows * 4 : 0;
  // normScale is a power of two: the kernel multiplies the uploaded weights back by it exactly.
  const weightShift = Math.round(Math.log2(ctx.normScale));
  const { COPY_DST, COPY_SRC, STORAGE } = BufferUsage;
  const made = new GpuResources(device);
  try {
    const staging = await scope.scoped(() => {
      const weights = made.buffer(
        `weights to rescale of ${label}`,
        weightBytes,
        STORAGE | COPY_DST | COPY_SRC,
        float32Values(block.weight, start, start + entries, 1 / ctx.normScale, block.label),
      );
      const bias = block.bias
        ? made.buffer(
            `biases to rescale of ${label}`,
            biasBytes,
            STORAGE | COPY_DST | COPY_SRC,
            float32Values(block.bias, s.rowStart, s.rowStart + s.rows, 1, `${block.label} bias`),
          )
        : made.buffer(`no biases of ${label}`, 4, STORAGE);
      const readback = made.buffer(`rescaled readback of ${label}`, weightBytes + biasBytes, BufferUsage.MAP_READ | COPY_DST);
      const params = made.uniform(`rescale parameters of ${label}`, RescaleParams, {
        rows: s.rows,
        cols: s.cols,
        rowsPerGroup: s.rowsPerGroup,
        taps: s.taps,
        entries,
        rowUnit0: s.rowUnit0,
        colUnit0: s.colUnit0,
        hasBias: block.bias ? 1 : 0,
        weightShift,
      });
      const encoder = device.createCommandEncoder({ label: `weight-balance rescale ${label}` });
      const pass = encoder.beginComputePass({ label: `weight-balance rescale ${label} pass` });
      pass.setPipeline(kernel.pipeline);
      pass.setBindGroup(0, bind(device, `rescale ${label}`, kernel, { params, scales, weights, bias }));
      const [x, y] = foldGrid(Math.ceil(entries / WORKGROUP), ctx.maxPerDimension);
      pass.dispatchWorkgroups(x, y);
      pass.end();
      encoder.copyBufferToBuffer(weights, 0, readback, 0, weightBytes);
      if (block.bias) encoder.copyBufferToBuffer(bias, 0, readback, weightBytes, biasBytes);
      device.queue.submit([encoder.finish({ label: `weight-balance rescale ${label} commands` })]);
      return readback.mapAsync(MapMode.READ).then(() => readback);
    });
    const range = staging.getMappedRange();
    copyRescaled(new Float32Array(range, 0, entries), block.weight, start, out[s.block].weight, label);
    if (block.bias) copyRescaled(new Float32Array(range, weightBytes, s.rows), block.bias, s.rowStart, out[s.block].bias as Float32Array, `${label} bias`);
    staging.unmap();
  } finally {
    made.destroy();
  }
}
