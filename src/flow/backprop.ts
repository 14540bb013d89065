import type { Network } from '../network/types.js';
import type { Dataset } from './data.js';
import type { ParameterArrays } from './metric.js';
import { zerosLike } from './optimizers.js';

/** The data loss `E`. */
export type LossKind = 'cross-entropy' | 'squared-error';

/** The data loss and accuracy of a network on a data set. */
export interface ModelEvaluation {
  /** Mean data loss `E` (cross-entropy or `0.5 · squared error` per example). */
  loss: number;
  /** Fraction of examples classified correctly; `NaN` for regression. */
  accuracy: number;
}

/** Examples per forward pass when evaluating a whole data set. */
const EVAL_CHUNK = 256;

/**
 * The data loss of a ReLU MLP (a chain of dense blocks, checked by the trainer) and its gradient
 * by backpropagation, in float64, with activation and delta buffers reused between calls.
 */
export class MlpBackprop {
  /** The gradient of the last {@link gradient} call. */
  readonly grad: ParameterArrays;
  private readonly sizes: number[];
  private acts: Float64Array[] = [];
  private deltas: Float64Array[] = [];

  constructor(
    net: Network,
    private readonly loss: LossKind,
    batch: number,
  ) {
    this.sizes = net.layers.map((l) => l.shape[0]);
    this.grad = zerosLike(net);
    this.reserve(batch);
  }

  /** `(1/B) sum` gradient of `E` over the examples `batch` (valid indices into `data`) into {@link grad}; returns `E`. */
  gradient(net: Network, data: Dataset, batch: Int32Array): number {
    const B = batch.length;
    if (B * this.sizes[0] > this.deltas[0].length) this.reserve(B);
    for (const g of this.grad.weight) g.fill(0);
    for (const g of this.grad.bias) g?.fill(0);
    const d0 = this.sizes[0];
    const x = this.acts[0];
    for (let n = 0; n < B; n++) x.set(data.inputs.subarray(batch[n] * d0, (batch[n] + 1) * d0), n * d0);
    this.forwardRows(net, B);
    const L = this.sizes.length - 1;
    const loss = this.outputDelta(data, batch, B);
    for (let k = L - 1; k >= 0; k--) this.backward(net, k, B);
    return loss;
  }

  /** Mean data loss and accuracy of a network on a whole data set. */
  evaluate(net: Network, data: Dataset): ModelEvaluation {
    let loss = 0;
    let correct = 0;
    const d0 = this.sizes[0];
    const L = this.sizes.length - 1;
    const C = this.sizes[L];
    for (let start = 0; start < data.count; start += EVAL_CHUNK) {
      const B = Math.min(EVAL_CHUNK, data.count - start);
      this.acts[0].set(data.inputs.subarray(start * d0, (start + B) * d0));
      this.forwardRows(net, B);
      const z = this.acts[L];
      for (let n = 0; n < B; n++) {
        const row = z.subarray(n * C, (n + 1) * C);
        loss += this.exampleLoss(data, start + n, row, null);
        if (data.labels) {
          let best = 0;
          for (let c = 1; c < C; c++) if (row[c] > row[best]) best = c;
          if (best === data.labels[start + n]) correct++;
        }
      }
    }
    return { loss: loss / data.count, accuracy: data.labels ? correct / data.count : NaN };
  }

  /** Buffers for batches of `B` examples (and whole-set evaluation chunks). */
  private reserve(B: number): void {
    this.acts = this.sizes.map((n) => new Float64Array(Math.max(B, EVAL_CHUNK) * n));
    this.deltas = this.sizes.map((n) => new Float64Array(B * n));
  }

  /** Forward pass of the first `B` rows of `acts[0]` through every layer. */
  private forwardRows(net: Network, B: number): void {
    const L = this.sizes.length - 1;
    for (let k = 0; k < L; k++) {
      const block = net.blocks[k];
      const W = block.weight;
      const bias = block.bias;
      const nIn = this.sizes[k];
      const nOut = this.sizes[k + 1];
      const x = this.acts[k];
      const y = this.acts[k + 1];
      const layer = net.layers[k + 1];
      const slope = layer.activation === 'relu' ? 0 : layer.activation === 'leaky_relu' ? (layer.negativeSlope ?? 0.01) : 1;
      for (let n = 0; n < B; n++) {
        const xo = n * nIn;
        for (let i = 0; i < nOut; i++) {
          let s = bias ? bias[i] : 0;
          const wo = i * nIn;
          for (let j = 0; j < nIn; j++) s += W[wo + j] * x[xo + j];
          y[n * nOut + i] = s > 0 ? s : slope * s;
        }
      }
    }
  }

  /** Loss of one example given its output row; writes `dE/dz` (unscaled) into `delta` if given. */
  private exampleLoss(data: Dataset, m: number, z: Float64Array, delta: Float64Array | null): number {
    const C = z.length;
    if (this.loss === 'cross-entropy') {
      const y = data.labels![m];
      let max = -Infinity;
      for (let c = 0; c < C; c++) max = Math.max(max, z[c]);
      let sum = 0;
      for (let c = 0; c < C; c++) sum += Math.exp(z[c] - max);
      if (delta) for (let c = 0; c < C; c++) delta[c] = Math.exp(z[c] - max) / sum - (c === y ? 1 : 0);
      return Math.log(sum) + max - z[y];
    }
    let loss = 0;
    for (let c = 0; c < C; c++) {
      const t = data.labels ? (data.labels[m] === c ? 1 : 0) : data.targets![m * C + c];
      const d = z[c] - t;
      loss += 0.5 * d * d;
      if (delta) delta[c] = d;
    }
    return loss;
  }

  /** `dE/dz` of the output for the batch (mean over the batch); returns the mean loss. */
  private outputDelta(data: Dataset, batch: Int32Array, B: number): number {
    const L = this.sizes.length - 1;
    const C = this.sizes[L];
    const z = this.acts[L];
    const delta = this.deltas[L];
    let loss = 0;
    for (let n = 0; n < B; n++) {
      const d = delta.subarray(n * C, (n + 1) * C);
      loss += this.exampleLoss(data, batch[n], z.subarray(n * C, (n + 1) * C), d);
      for (let c = 0; c < C; c++) d[c] /= B;
    }
    return loss / B;
  }

  /** Backpropagate through block `k`: accumulate its gradients and the delta of layer `k`. */
  private backward(net: Network, k: number, B: number): void {
    const W = net.blocks[k].weight;
    const nIn = this.sizes[k];
    const nOut = this.sizes[k + 1];
    const x = this.acts[k];
    const delta = this.deltas[k + 1];
    const gW = this.grad.weight[k];
    const gB = this.grad.bias[k];
    const below = k > 0 ? this.deltas[k] : null;
    if (below) below.fill(0, 0, B * nIn);
    for (let n = 0; n < B; n++) {
      const xo = n * nIn;
      for (let i = 0; i < nOut; i++) {
        const d = delta[n * nOut + i];
        if (d === 0) continue;
        if (gB) gB[i] += d;
        const wo = i * nIn;
        for (let j = 0; j < nIn; j++) gW[wo + j] += d * x[xo + j];
        if (below) for (let j = 0; j < nIn; j++) below[xo + j] += d * W[wo + j];
      }
    }
    if (below) {
      const layer = net.layers[k];
      if (layer.activation === 'identity') return;
      const slope = layer.activation === 'relu' ? 0 : (layer.negativeSlope ?? 0.01);
      for (let e = 0; e < B * nIn; e++) if (!(x[e] > 0)) below[e] *= slope;
    }
  }
}
