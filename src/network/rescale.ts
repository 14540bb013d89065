import { NetworkValueError, WeightBalanceError } from '../errors.js';
import { firstNonFinite } from './finite.js';
import type { Block, Network, WeightArray } from './types.js';
import { positionsPerUnit, unitCount } from './types.js';
import { validateNetwork } from './validate.js';

function scaled<T extends WeightArray>(source: T): T {
  return (source instanceof Float64Array ? new Float64Array(source.length) : new Float32Array(source.length)) as T;
}

/**
 * Memory handed over for the rescaled arrays: buffers that nothing else uses any more (the CPU
 * engine's `P` once a run is over), filled first fit at 8-byte alignment from `start`; new arrays
 * where none has room. Writing there instead of into new memory saves paging in as many bytes
 * again. It also makes the row-scaled copy of a float32 block ({@link Arena.scaleRows32}): here
 * in JS; the CPU engine's arena does it with its WebAssembly SIMD kernel where the copy lies in
 * its memory.
 */
export class Arena {
  private readonly slots: { buffer: ArrayBuffer; at: number }[];

  /** `buffers`: the memory handed over (the arrays are placed from byte `start` of each). */
  constructor(
    readonly buffers: readonly ArrayBuffer[] = [],
    start = 0,
  ) {
    this.slots = buffers.map((buffer) => ({ buffer, at: start }));
  }

  /** An array of the type and length of `source` (its entries are not cleared: every one is to be written). */
  like<T extends WeightArray>(source: T): T {
    const wide = source instanceof Float64Array;
    const out = this.take(source.length, wide);
    return (out ?? scaled(source)) as T;
  }

  /** `length` entries (float64 if `wide`, else float32) in a handed-over buffer, or `null` where none has room. */
  protected take(length: number, wide: boolean): Float32Array | Float64Array | null {
    const bytes = length * (wide ? 8 : 4);
    const slot = this.slots.find((s) => s.buffer.byteLength - s.at >= bytes);
    if (!slot) return null;
    const out = wide ? new Float64Array(slot.buffer, slot.at, length) : new Float32Array(slot.buffer, slot.at, length);
    slot.at += Math.ceil(bytes / 8) * 8;
    return out;
  }

  /**
   * `out[t] = w[t] * (fi * cf[c0 + j])` over the rows of a float32 block (see `scaleRows32`):
   * the first entry that left the float32 range, or -1. `w` is never written.
   */
  scaleRows32(w: Float32Array, out: Float32Array, shape: BlockShape, rowFactor: Float64Array, colFactor: Float64Array): number {
    return scaleRows32(w, out, shape, rowFactor, colFactor);
  }
}

/** `exp(sign * U)` per unit, or `null` when some `|U|` is beyond 350 (a product of two could then overflow). */
function unitExp(logFactors: ArrayLike<number>, sign: 1 | -1): Float64Array | null {
  const out = new Float64Array(logFactors.length);
  for (let k = 0; k < out.length; k++) {
    if (Math.abs(logFactors[k]) > 350) return null;
    out[k] = Math.exp(sign * logFactors[k]);
  }
  return out;
}

/**
 * `out[t] = w[t] * (fi * cf[c0 + j])` over the rows of one block, `t` running over the taps of
 * edge `(i, j)`: the row-scaled copy, one product per weight and one exponential per unit. Each
 * value is checked as it is stored (`v - v` is 0 but for an infinity or NaN): returns the first
 * entry that left the precision, or -1, so that no one need read the copy again to check it.
 * One loop per element type, so that each stays monomorphic.
 */
function scaleRows32(w: Float32Array, out: Float32Array, shape: BlockShape, rowFactor: Float64Array, colFactor: Float64Array): number {
  const { rows, cols, taps, rowsPerGroup } = shape;
  let bad = 0;
  for (let i = 0, t = 0; i < rows; i++) {
    const c0 = Math.floor(i / rowsPerGroup) * cols;
    const fi = rowFactor[i];
    for (let j = 0; j < cols; j++) {
      const f = fi * colFactor[c0 + j];
      for (const end = t + taps; t < end; t++) {
        const v = Math.fround(w[t] * f);
        out[t] = v;
        bad += v - v;
      }
    }
  }
  return bad === 0 ? -1 : firstNonFinite(out);
}

function scaleRows64(w: Float64Array, out: Float64Array, shape: BlockShape, rowFactor: Float64Array, colFactor: Float64Array): number {
  const { rows, cols, taps, rowsPerGroup } = shape;
  let bad = 0;
  for (let i = 0, t = 0; i < rows; i++) {
    const c0 = Math.floor(i / rowsPerGroup) * cols;
    const fi = rowFactor[i];
    for (let j = 0; j < cols; j++) {
      const f = fi * colFactor[c0 + j];
      for (const end = t + taps; t < end; t++) {
        const v = w[t] * f;
        out[t] = v;
        bad += v - v;
      }
    }
  }
  return bad === 0 ? -1 : firstNonFinite(out);
}

/** The row-scaled copy (or in place, `out` being `w`) in the weights' precision: float32 through the arena (SIMD where it can), float64 in JS. Returns as {@link scaleRows32}. */
function scaleRows(arena: Arena, w: WeightArray, out: WeightArray, shape: BlockShape, rowFactor: Float64Array, colFactor: Float64Array): number {
  if (w instanceof Float32Array) return arena.scaleRows32(w, out as Float32Array, shape, rowFactor, colFactor);
  return scaleRows64(w as Float64Array, out as Float64Array, shape, rowFactor, colFactor);
}

/** `out[t] = w[t] * exp(U_i - U_j)`: one exponential per edge, where a factor alone would leave the float64 range. Returns as {@link scaleRows32}. */
function scaleEdges(w: WeightArray, out: WeightArray, shape: BlockShape, rowLog: ArrayLike<number>, colLog: ArrayLike<number>): number {
  const { rows, cols, taps, rowsPerGroup } = shape;
  for (let i = 0, t = 0; i < rows; i++) {
    const c0 = Math.floor(i / rowsPerGroup) * cols;
    for (let j = 0; j < cols; j++) {
      const f = Math.exp(rowLog[i] - colLog[c0 + j]);
      for (const end = t + taps; t < end; t++) out[t] = w[t] === 0 ? w[t] : w[t] * f; // 0, not NaN, where f overflows
    }
  }
  return firstNonFinite(out);
}

/** A block's weights as rows of edges: `weight[(i * cols + j) * taps + t]`, column `c0 + j` with `c0 = floor(i / rowsPerGroup) * cols`. */
export interface BlockShape {
  rows: number;
  cols: number;
  taps: number;
  rowsPerGroup: number;
}

function blockShape(net: Network, b: Block): BlockShape {
  const rows = b.shape[0];
  // Taps per input unit along a row: kernel entries for a convolution, positions for a flatten.
  const taps = b.kind === 'conv2d' ? b.shape[2] * b.shape[3] : positionsPerUnit(net.layers[b.from]);
  return { rows, cols: b.weight.length / rows / taps, taps, rowsPerGroup: rows / (b.kind === 'conv2d' ? b.groups : 1) };
}

/** One block rescaled: new arrays in the block's precision, every value finite (else a {@link WeightBalanceError}). */
function rescaleBlock(net: Network, k: number, logFactors: ArrayLike<number>[], arena: Arena): { weight: WeightArray; bias: WeightArray | null } {
  const b = net.blocks[k];
  const out = logFactors[b.to];
  const inp = logFactors[b.from];
  const weight = arena.like(b.weight);
  const shape = blockShape(net, b);
  // One exponential per unit: a[i] / a[j] as exp(U_i) * exp(-U_j), unless a factor alone
  // would leave the float64 range (then one per edge, as exp(U_i - U_j)).
  const rowFactor = unitExp(out, 1);
  const colFactor = unitExp(inp, -1);
  const bad = rowFactor && colFactor ? scaleRows(arena, b.weight, weight, shape, rowFactor, colFactor) : scaleEdges(b.weight, weight, shape, out, inp);
  if (bad >= 0) throw overflowError(net, k, 'weight', bad, b.weight[bad], out[Math.floor(bad / (shape.cols * shape.taps))] - inp[edgeColumn(shape, bad)]);
  let bias: WeightArray | null = null;
  if (b.bias) {
    bias = arena.like(b.bias);
    let badBias = -1;
    for (let i = 0; i < shape.rows; i++) {
      bias[i] = b.bias[i] * Math.exp(out[i]);
      if (badBias < 0 && !Number.isFinite(bias[i])) badBias = i;
    }
    if (badBias >= 0) throw overflowError(net, k, 'bias', badBias, b.bias[badBias], out[badBias]);
  }
  return { weight, bias };
}

/** The input unit (index into the block's `from` layer factors) of weight entry `t`. */
function edgeColumn(shape: BlockShape, t: number): number {
  const i = Math.floor(t / (shape.cols * shape.taps));
  return Math.floor(i / shape.rowsPerGroup) * shape.cols + Math.floor((t % (shape.cols * shape.taps)) / shape.taps);
}

/** The refusal of a rescaled value that leaves its array's precision (the float32 range, say); `logFactor`: what it was multiplied by, in logarithm, when known. */
function overflowError(net: Network, k: number, what: 'weight' | 'bias', entry: number, value: number, logFactor?: number): NetworkValueError {
  const b = net.blocks[k];
  const type = (what === 'weight' ? b.weight : b.bias) instanceof Float32Array ? 'float32' : 'float64';
  const factor = logFactor === undefined ? 'rescaled' : `times exp(${logFactor.toPrecision(6)})`;
  return new NetworkValueError(
    `the rescaled network does not fit ${type}: block ${k} ('${b.name}'): ${what} entry ${entry} (${value}) ${factor} ` +
      `is beyond the largest ${type} number${type === 'float32' ? '; store the network in float64' : ''}`,
  );
}

/**
 * Refuse rescaled arrays made elsewhere (the GPU's) where a value is not finite, as
 * {@link rescaledCopy} refuses its own: one read of each array. Returns them.
 */
export function refuseOverflow<T extends { weight: WeightArray; bias: WeightArray | null }>(net: Network, rescaled: readonly T[]): readonly T[] {
  rescaled.forEach(({ weight, bias }, k) => {
    const bad = firstNonFinite(weight);
    if (bad >= 0) throw overflowError(net, k, 'weight', bad, net.blocks[k].weight[bad]);
    const badBias = bias ? firstNonFinite(bias) : -1;
    if (badBias >= 0) throw overflowError(net, k, 'bias', badBias, net.blocks[k].bias?.[badBias] ?? Number.NaN);
  });
  return rescaled;
}

/**
 * Apply a rescaling: `W[i,j] -> (a[i] / a[j]) W[i,j]`, `b[i] -> a[i] b[i]`, with `log a` given
 * per layer and unit (`logFactors[layer][unit]`). Returns a new network with new arrays in the
 * same precision that shares no object with the input; the input is not touched. The network
 * computes the same function when only rescalable units (homogeneous hidden units, ties
 * respected) have non-zero log factors. An invalid network, log factors that do not match
 * its layers or are not finite, or a rescaled weight or bias beyond the largest number of its
 * array's precision (checked as it is written), is a {@link WeightBalanceError}.
 */
export function rescale(net: Network, logFactors: ArrayLike<number>[]): Network {
  validateNetwork(net);
  return rescaledCopy(net, logFactors);
}

/**
 * {@link rescale} of a network already validated in this run (by `compileProblem`): the log
 * factors are checked, the weights are read once, into the row-scaled copy, whose arrays are
 * taken from `arena` where it has room (they may then share an `ArrayBuffer`).
 */
export function rescaledCopy(net: Network, logFactors: ArrayLike<number>[], arena = new Arena()): Network {
  checkLogFactors(net, logFactors);
  return withWeights(
    net,
    net.blocks.map((_, k) => rescaleBlock(net, k, logFactors, arena)),
  );
}

/** The largest finite number of each precision, less the relative rounding of a factor's products (a few units in the last place of float64). */
const LARGEST = { float32: 3.4028234663852886e38 * (1 - 1e-12), float64: Number.MAX_VALUE * (1 - 1e-12) };

/**
 * {@link rescaledCopy} written over the network's own arrays, for a caller that gave them up
 * (`balance`'s `inPlace`): the result's arrays are the input's. Nothing is written unless every
 * value is sure to fit its precision: per block, `largest` (at least every `|w|`) times the
 * largest row factor times the largest column factor below the largest number, and the biases
 * computed and checked first. Returns `null`, every array untouched, where that is not sure (a
 * copy, which refuses what does not fit, is then the way).
 */
export function rescaledInPlace(net: Network, logFactors: ArrayLike<number>[], largest: number, arena = new Arena()): Network | null {
  checkLogFactors(net, logFactors);
  const plans = net.blocks.map((b) => {
    const rowFactor = unitExp(logFactors[b.to], 1);
    const colFactor = unitExp(logFactors[b.from], -1);
    if (!rowFactor || !colFactor) return null;
    const limit = LARGEST[b.weight instanceof Float32Array ? 'float32' : 'float64'];
    if (!(largest * greatest(rowFactor) * greatest(colFactor) <= limit)) return null;
    const bias = b.bias ? b.bias.slice() : null;
    for (let i = 0; bias && i < bias.length; i++) {
      bias[i] *= rowFactor[i];
      if (!Number.isFinite(bias[i])) return null;
    }
    return { rowFactor, colFactor, bias };
  });
  if (plans.some((plan) => plan === null)) return null;
  net.blocks.forEach((b, k) => {
    const { rowFactor, colFactor, bias } = plans[k]!;
    scaleRows(arena, b.weight, b.weight, blockShape(net, b), rowFactor, colFactor);
    if (bias) b.bias?.set(bias);
  });
  return withWeights(
    net,
    net.blocks.map((b) => ({ weight: b.weight, bias: b.bias ?? null })),
  );
}

function greatest(values: Float64Array): number {
  let most = 0;
  for (let k = 0; k < values.length; k++) most = Math.max(most, values[k]);
  return most;
}

/**
 * Two of the network's weight and bias arrays that share memory (the same array in two blocks,
 * or views that overlap), named as `block k ('name') weight|bias`, or `null`: arrays rescaled in
 * place must each be their own. `memoryOf` gives the memory an array lies in (its buffer, or
 * the one memory several buffers are).
 */
export function sharedArrays(net: Network, memoryOf: (a: WeightArray) => unknown = (a) => a.buffer): [string, string] | null {
  const spans = net.blocks.flatMap((b, k) =>
    (b.bias ? [b.weight, b.bias] : [b.weight]).map((a, j) => ({
      memory: memoryOf(a),
      start: a.byteOffset,
      end: a.byteOffset + a.byteLength,
      name: `block ${k} ('${b.name}') ${j === 0 ? 'weight' : 'bias'}`,
    })),
  );
  const byMemory = new Map<unknown, typeof spans>();
  for (const s of spans) {
    const list = byMemory.get(s.memory);
    if (list) list.push(s);
    else byMemory.set(s.memory, [s]);
  }
  for (const list of byMemory.values()) {
    list.sort((a, b) => a.start - b.start);
    for (let k = 1; k < list.length; k++) if (list[k].start < list[k - 1].end) return [list[k - 1].name, list[k].name];
  }
  return null;
}

/** Refuse log factors that do not match the network's layers or are not finite. */
function checkLogFactors(net: Network, logFactors: ArrayLike<number>[]): void {
  if (!Array.isArray(logFactors) || logFactors.length !== net.layers.length) {
    throw new WeightBalanceError(
      `rescale needs log factors for ${net.layers.length} layers, got ${Array.isArray(logFactors) ? logFactors.length : String(logFactors)}`,
    );
  }
  net.layers.forEach((layer, k) => {
    if (logFactors[k]?.length !== unitCount(layer)) {
      throw new WeightBalanceError(`rescale: layer ${k} ('${layer.name}') has ${unitCount(layer)} units, got ${logFactors[k]?.length ?? 'no'} log factors`);
    }
    for (let c = 0; c < logFactors[k].length; c++) {
      if (!Number.isFinite(logFactors[k][c])) throw new WeightBalanceError(`rescale: log factor of layer ${k} unit ${c} is not finite`);
    }
  });
}

/**
 * A copy of `net` with new weight and bias arrays, one entry per block in block order: the one
 * place that builds a rescaled network (from the host arithmetic of {@link rescale} or from an
 * engine's). Layers, ties, shapes, strides, paddings and storage are copied too, so the result
 * shares no object with `net` (the given arrays are taken as they are); `net` is not touched.
 * Arrays whose lengths or precision do not match the blocks' are a {@link WeightBalanceError}.
 */
export function withWeights(net: Network, rescaled: readonly { weight: WeightArray; bias: WeightArray | null }[]): Network {
  if (rescaled.length !== net.blocks.length) {
    throw new WeightBalanceError(`withWeights needs arrays for ${net.blocks.length} blocks, got ${rescaled.length}`);
  }
  const sameKind = (a: WeightArray, b: WeightArray): boolean => a.length === b.length && a instanceof Float64Array === b instanceof Float64Array;
  const blocks = net.blocks.map((b, k): Block => {
    const { weight, bias } = rescaled[k];
    if (!sameKind(weight, b.weight) || (b.bias ? !bias || !sameKind(bias, b.bias) : bias !== null)) {
      throw new WeightBalanceError(`withWeights: the arrays of block ${k} ('${b.name}') do not match its weights and biases in length and precision`);
    }
    return { ...structuredClone({ ...b, weight: null, bias: null }), weight, bias } as Block;
  });
  const result: Network = { ...net, layers: structuredClone(net.layers), blocks };
  if (net.ties !== undefined) result.ties = structuredClone(net.ties);
  return result;
}
