/**
 * How a network crosses to the balance worker without stalling the page: its structure (layers,
 * shapes, ties: small) is posted at once with each weight and bias array replaced by a
 * placeholder (its type and length), then the arrays follow in parts of at most
 * {@link PART_ELEMENTS} entries, each part a fresh copy whose buffer is transferred. A structured
 * clone or a `slice` of tens of megabytes in one go holds the page's main thread for hundreds of
 * milliseconds on a loaded machine; a part takes a few. The caller's arrays are only read.
 */

import type { Network, WeightArray } from '../../network/types.js';

/** Entries per part: 1 MiB of float32. */
export const PART_ELEMENTS = 1 << 18;

/** A weight or bias array left out of the structure; its entries come in parts. */
export interface ArrayPlaceholder {
  placeholder: 'float32' | 'float64';
  length: number;
}

/** A network's structure, with its arrays as placeholders, and those arrays in order. */
export interface SplitNetwork {
  structure: Network;
  arrays: WeightArray[];
}

function isWeightArray(value: unknown): value is WeightArray {
  return value instanceof Float32Array || value instanceof Float64Array;
}

function isPlaceholder(value: unknown): value is ArrayPlaceholder {
  return typeof value === 'object' && value !== null && 'placeholder' in value;
}

/**
 * The network with each block's `weight` and `bias` replaced by `f` of it (new blocks and a new
 * network; the other fields shared). What is not a network of blocks is returned as it is.
 */
function mapBlockArrays(network: Network, f: (value: unknown) => unknown): Network {
  if (typeof network !== 'object' || network === null || !Array.isArray(network.blocks)) return network;
  const blocks = network.blocks.map((block) => {
    if (typeof block !== 'object' || block === null) return block;
    const mapped: Record<string, unknown> = { ...block };
    if ('weight' in block) mapped.weight = f(block.weight);
    if ('bias' in block) mapped.bias = f(block.bias);
    return mapped;
  });
  return { ...network, blocks } as unknown as Network;
}

/**
 * Split a network into its structure and its weight and bias arrays. What is not a block with
 * float32 or float64 arrays is left in the structure as it is (the worker's validation refuses it
 * by name).
 */
export function splitNetwork(network: Network): SplitNetwork {
  const arrays: WeightArray[] = [];
  const structure = mapBlockArrays(network, (value) => {
    if (!isWeightArray(value)) return value;
    arrays.push(value);
    return { placeholder: value instanceof Float32Array ? 'float32' : 'float64', length: value.length } satisfies ArrayPlaceholder;
  });
  return { structure, arrays };
}

/** One part of one array: entries `offset ..` of array `index` (in the order of {@link SplitNetwork.arrays}). */
export interface ArrayPart {
  index: number;
  offset: number;
  values: WeightArray;
}

/** The parts of a split network's arrays, each a fresh copy (its buffer may be transferred). */
export function* arrayParts(arrays: readonly WeightArray[]): Generator<ArrayPart> {
  for (let index = 0; index < arrays.length; index++) {
    const array = arrays[index];
    for (let offset = 0; offset < array.length; offset += PART_ELEMENTS) yield { index, offset, values: array.slice(offset, offset + PART_ELEMENTS) };
  }
}

/** The worker's side: the network rebuilt from its structure and its parts. */
export class NetworkAssembly {
  readonly network: Network;
  private readonly arrays: WeightArray[] = [];

  constructor(structure: Network) {
    this.network = mapBlockArrays(structure, (value) => {
      if (!isPlaceholder(value)) return value;
      const array = value.placeholder === 'float32' ? new Float32Array(value.length) : new Float64Array(value.length);
      this.arrays.push(array);
      return array;
    });
  }

  /** Copy one part into its array. */
  add(part: ArrayPart): void {
    this.arrays[part.index].set(part.values, part.offset);
  }
}
