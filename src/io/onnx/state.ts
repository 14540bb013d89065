/**
 * What the ONNX importer knows about each tensor while it walks the graph, and small helpers
 * every part of the importer shares.
 */
import { WeightBalanceError } from '../../errors.js';
import type { WeightArray } from '../../network/types.js';
import type { BlockBinding } from './bindings.js';
import type { TensorProto } from './schema.js';

export interface LayerState {
  kind: 'layer';
  layer: number;
  shape: number[];
}
export interface PendingBlock {
  kind: 'dense' | 'conv2d';
  name: string;
  from: number;
  shape: number[];
  stride: [number, number];
  padding: [number, number];
  groups: number;
  dilation?: [number, number];
  /** A ConvTranspose (its weight already in the block layout). */
  transposed?: { outputPadding: [number, number] };
  /** The block's own weights (a fresh array, never a view of the file), float64 when `double`. */
  weight: WeightArray;
  bias: Float64Array | null;
  double: boolean;
  binding: BlockBinding;
}
export interface PreState {
  kind: 'pre';
  shape: number[];
  blocks: PendingBlock[];
  skips: number[];
}
export interface ConstState {
  kind: 'const';
  tensor: TensorProto;
  initializer: number | null;
}
/**
 * A value that carries no units: shape arithmetic (Shape -> Gather -> Unsqueeze -> Concat), with
 * its integer values when they are known (`BATCH` stands for the symbolic batch size).
 */
export interface MetaState {
  kind: 'meta';
  values?: number[];
}

/**
 * The middle of a channel shuffle (shuffle.ts): the `[C/g, g, H, W]` transpose of a grouped view
 * of layer `layer`; only a Reshape back to the layer's shape may read it.
 */
export interface ShuffledState {
  kind: 'shuffled';
  layer: number;
  groups: number;
  shape: number[];
}

/** The symbolic batch size inside shape arithmetic. */
export const BATCH = -2;
export type State = LayerState | PreState | ConstState | MetaState | ShuffledState;

export function fail(message: string): never {
  throw new WeightBalanceError(message);
}

export function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
