/**
 * How each weight block of an imported network maps back to ONNX initializers. The writer uses
 * only these to compute the new initializer values from a balanced network.
 */

/**
 * The weight initializer of a block. Block row `i` (output unit) equals `rowScale[i]` times the
 * stored row (Gemm `alpha`, a folded BatchNormalization's `scale / sqrt(var + eps)`), where the
 * stored tensor is `[out, in...]`, or `[in, out]` when `transposed` (MatMul, Gemm with transB = 0).
 */
export interface WeightBinding {
  /** Index into the graph's initializers. */
  initializer: number;
  transposed: boolean;
  /** Per-row factor between the block and the stored tensor; `null`: all ones. */
  rowScale: Float64Array | null;
  /**
   * A ConvTranspose: the stored tensor is `[in, out / groups, kh, kw]` (see
   * network/convTranspose.ts), the block `[out, in / groups, kh, kw]`.
   */
  convTranspose?: { groups: number };
  /**
   * The stored values of the rows whose factor is 0 (a BatchNormalization scale of 0 ignores the
   * row, which the writer keeps as stored), in block order; set by the reader after the import.
   */
  storedRows?: ReadonlyMap<number, Float64Array>;
}

/**
 * The bias initializer of a block: `block.bias[i] = scale * stored[i] + offset[i]` (Gemm `beta`;
 * the offset holds contributions that stay fixed in the file, e.g. a Conv bias and the running
 * mean before a folded BatchNormalization, whose own bias `B` is the one rewritten).
 */
export interface BiasBinding {
  initializer: number;
  scale: number;
  offset: Float64Array | null;
}

/** One block's source in the ONNX graph. */
export interface BlockBinding {
  /** The node that applies the weight (Conv, Gemm or MatMul). */
  node: string;
  weight: WeightBinding;
  /** `null` when the block has no bias, or its bias is not stored in a rewritable initializer. */
  bias: BiasBinding | null;
}
