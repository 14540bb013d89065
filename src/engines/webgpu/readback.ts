import { State } from '../../../shaders/common.js';
import type { StructValues } from '../../../shaders/struct.js';

/** Sweeps encoded per submission at most (slots of the step and norm histories; one more slot serves `evaluate`). */
export const CAPACITY = 64;

/** The step history holds the largest step of sweep `s` at `s` and its imbalance after it at `IMBALANCE_SLOT0 + s` (`CAPACITY`: `evaluate`). */
export const IMBALANCE_SLOT0 = CAPACITY + 1;

/** The accelerated schedule's path of sweep `s` (0, 1 or 2 evaluations, as a float) is at `PATH_SLOT0 + s`. */
export const PATH_SLOT0 = 2 * (CAPACITY + 1);

/** Slots of the step history: the steps, then the imbalances, then the accelerated schedule's paths. */
export const STEP_SLOTS = 3 * (CAPACITY + 1);

/** What one submission reads back: the run state, the step and norm histories, and the log factors. */
export interface BatchRead {
  state: StructValues<typeof State.fields>;
  /** Largest `|step|` per sweep slot, then (from {@link IMBALANCE_SLOT0}) the imbalance after it (slot `IMBALANCE_SLOT0 + CAPACITY`: that of `evaluate`), then (from {@link PATH_SLOT0}) the accelerated path. */
  steps: Float32Array;
  /** Log-sum-exp pairs of the objective, `normGroups` per slot. */
  norms: Float32Array;
  u: Float32Array;
}

/** The buffers a batch's results are copied from. */
export interface HistoryBuffers {
  state: GPUBuffer;
  stepBits: GPUBuffer;
  normHistory: GPUBuffer;
  u: GPUBuffer;
}

/**
 * The layout of the one staging buffer a batch is read back through: state, step history, norm
 * history and log factors, one after the other.
 */
export class HistoryLayout {
  readonly stepBytes: number;
  readonly normBytes: number;
  readonly uBytes: number;

  constructor(
    readonly normGroups: number,
    readonly nVars: number,
  ) {
    this.stepBytes = STEP_SLOTS * 4;
    this.normBytes = (CAPACITY + 1) * normGroups * 8;
    this.uBytes = nVars * 4;
  }

  /** Bytes of the staging buffer. */
  get byteSize(): number {
    return State.byteSize + this.stepBytes + this.normBytes + this.uBytes;
  }

  /** Record the copies of the results into `staging`. */
  copy(encoder: GPUCommandEncoder, from: HistoryBuffers, staging: GPUBuffer): void {
    encoder.copyBufferToBuffer(from.state, 0, staging, 0, State.byteSize);
    encoder.copyBufferToBuffer(from.stepBits, 0, staging, State.byteSize, this.stepBytes);
    encoder.copyBufferToBuffer(from.normHistory, 0, staging, State.byteSize + this.stepBytes, this.normBytes);
    if (this.nVars > 0) encoder.copyBufferToBuffer(from.u, 0, staging, State.byteSize + this.stepBytes + this.normBytes, this.uBytes);
  }

  /** The results in a copy of the mapped staging range. */
  parse(bytes: ArrayBuffer): BatchRead {
    return {
      state: State.unpack(bytes),
      steps: new Float32Array(bytes, State.byteSize, STEP_SLOTS),
      norms: new Float32Array(bytes, State.byteSize + this.stepBytes, this.normBytes / 4),
      u: new Float32Array(bytes, State.byteSize + this.stepBytes + this.normBytes, this.nVars),
    };
  }

  /** `F` of sweep slot `slot`, finished in float64 from its per-workgroup pairs. */
  objective(read: BatchRead, slot: number): number {
    return objectiveFromPairs(read.norms, slot * this.normGroups, this.normGroups);
  }
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

/** The largest float32 `t` with `x <= t` equivalent to `x <= tol` for every non-negative float32 `x` (`tol >= 0`). */
export function float32Threshold(tol: number): number {
  const f = Math.fround(tol);
  if (f <= tol) return f;
  const bits = new Float32Array([f]);
  const words = new Uint32Array(bits.buffer);
  words[0] -= 1;
  return bits[0];
}
