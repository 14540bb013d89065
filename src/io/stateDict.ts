/**
 * A PyTorch `nn.Sequential` state dict read from its tensor names alone: `{index}.weight` /
 * `{index}.bias` per Linear or Conv2d in index order, and BatchNorm entries (`{index}.weight`,
 * `.bias`, `.running_mean`, `.running_var`, `.num_batches_tracked`) folded into the block before
 * them. A state dict cannot say its activations: the caller gives one (or the graph metadata
 * does), else ReLU is assumed and the assumption is reported, never made silently.
 */
import { WeightBalanceError } from '../errors.js';
import type { Activation, Block, Layer, Network } from '../network/types.js';
import { slidingOutput, validateStructure } from '../network/validate.js';
import { checkCount, MAX_LAYERS } from './limits.js';
import type { TensorEntry } from './safetensorsFile.js';
import { blockTensors, decodeTensor, fail, makeBlock } from './safetensorsFile.js';

/** An activation as given by a user: the function and, for `leaky_relu`, its negative slope. */
export interface ActivationSpec {
  activation: Activation;
  /** Slope for negative inputs of `leaky_relu` (default 0.01). */
  negativeSlope?: number;
}

const NAMED: ReadonlySet<string> = new Set(['relu', 'leaky_relu', 'identity', 'sigmoid', 'tanh', 'gelu']);

/**
 * Parse `relu`, `leaky_relu`, `leaky_relu:0.1`, `identity`, `sigmoid`, `tanh` or `gelu` (the
 * CLI's `--activation`). Throws a {@link WeightBalanceError} listing the accepted forms.
 */
export function parseActivation(text: string): ActivationSpec {
  const [name, slope, ...rest] = String(text).split(':');
  const known = NAMED.has(name) && rest.length === 0 && (slope === undefined || name === 'leaky_relu');
  const negativeSlope = slope === undefined ? undefined : Number(slope);
  if (!known || (negativeSlope !== undefined && (slope.trim() === '' || !Number.isFinite(negativeSlope)))) {
    throw new WeightBalanceError(
      `unknown activation '${String(text).slice(0, 40)}': use relu, leaky_relu, leaky_relu:SLOPE (e.g. leaky_relu:0.1), identity, sigmoid, tanh or gelu`,
    );
  }
  return negativeSlope === undefined ? { activation: name as Activation } : { activation: 'leaky_relu', negativeSlope };
}

/** What the names leave open, from the caller or the short graph metadata. */
export interface StateDictHints {
  /** Input shape (needed when the first block is a convolution). */
  input?: number[];
  /** The activation between blocks, from the caller (first) or the metadata. */
  activation?: ActivationSpec;
  /** Where `activation` came from, for the report. */
  activationSource?: string;
  /** BatchNorm epsilon (PyTorch's default 1e-5). */
  batchNormEpsilon?: number;
}

/** A state dict read by {@link networkFromStateDict}. */
export interface StateDictRead {
  network: Network;
  /** What the file could not say and was assumed, one sentence each. */
  assumptions: string[];
  /** Index prefixes of the BatchNorms folded into the block before them. */
  foldedBatchNorms: string[];
}

const PARAMETER = /^(0|[1-9][0-9]*)\.(weight|bias|running_mean|running_var|num_batches_tracked)$/;

type Part = { kind: 'block'; name: string; bn: string | null } | { kind: 'bn'; name: string };

/** Group the tensors by index; an index with running statistics is a BatchNorm. */
function partsOf(tensors: Map<string, TensorEntry>): Part[] {
  const byIndex = new Map<number, Set<string>>();
  for (const name of tensors.keys()) {
    const match = PARAMETER.exec(name);
    if (!match) {
      fail(
        `tensor '${name}' is not named like an nn.Sequential state dict ('{index}.weight', '{index}.bias', or a BatchNorm's '{index}.running_mean' ...), and there is no __metadata__.weight_balance describing the network`,
      );
    }
    const index = Number(match[1]);
    const suffixes = byIndex.get(index) ?? new Set<string>();
    suffixes.add(match[2]);
    byIndex.set(index, suffixes);
  }
  if (byIndex.size === 0) fail('the file holds no tensors: the network is empty');
  checkCount(byIndex.size, MAX_LAYERS, `safetensors: the file holds ${byIndex.size} layers`);
  return [...byIndex.keys()]
    .sort((a, b) => a - b)
    .map((index): Part => {
      const s = byIndex.get(index)!;
      const isBn = s.has('running_mean') || s.has('running_var') || s.has('num_batches_tracked');
      return isBn ? { kind: 'bn', name: String(index) } : { kind: 'block', name: String(index), bn: null };
    });
}

/** Pair each BatchNorm with the block right before it. */
function attachBatchNorms(parts: Part[]): (Part & { kind: 'block' })[] {
  const blocks: (Part & { kind: 'block' })[] = [];
  for (const p of parts) {
    if (p.kind === 'block') blocks.push(p);
    else {
      const last = blocks[blocks.length - 1];
      if (!last || last.bn !== null)
        fail(
          `BatchNorm '${p.name}' cannot be folded: it does not follow a Linear or Conv2d (the tensor before it is ${last ? `BatchNorm '${last.bn}'` : 'none'})`,
        );
      last.bn = p.name;
    }
  }
  return blocks;
}

/** Fold BatchNorm `bn` (`y = s (x - mean) + beta`, `s = gamma / sqrt(var + eps)`) into a block. */
function foldBatchNorm(bytes: Uint8Array, tensors: Map<string, TensorEntry>, block: Block, bn: string, eps: number, used: Set<string>): Block {
  const units = block.shape[0];
  const vector = (suffix: string, required: boolean): Float64Array | null => {
    const t = tensors.get(`${bn}.${suffix}`);
    if (!t) return required ? fail(`BatchNorm '${bn}' cannot be folded: tensor '${bn}.${suffix}' is missing`) : null;
    if (t.shape.length !== 1 || t.shape[0] !== units) {
      fail(`BatchNorm '${bn}' cannot be folded into block '${block.name}' (${units} units): tensor '${t.name}' has shape [${t.shape.join(', ')}]`);
    }
    used.add(t.name);
    return Float64Array.from(decodeTensor(bytes, t));
  };
  const mean = vector('running_mean', true)!;
  const variance = vector('running_var', true)!;
  const gamma = vector('weight', false);
  const beta = vector('bias', false);
  const counter = tensors.get(`${bn}.num_batches_tracked`);
  if (counter) used.add(counter.name);
  const s = Float64Array.from(variance, (v, i) => (gamma ? gamma[i] : 1) / Math.sqrt(v + eps));
  if (s.some((x) => !Number.isFinite(x))) fail(`BatchNorm '${bn}' cannot be folded: gamma / sqrt(running_var + eps) is not finite`);
  const rowLength = block.weight.length / units;
  const weight = block.weight.map((w, k) => w * s[Math.floor(k / rowLength)]);
  const bias = Float64Array.from(s, (si, i) => si * ((block.bias ? block.bias[i] : 0) - mean[i]) + (beta ? beta[i] : 0));
  const folded = { ...block, weight, bias: block.weight instanceof Float64Array ? bias : Float32Array.from(bias) };
  delete folded.storage; // folded values are stored at the block's full precision
  return folded;
}

const CHAIN_HINT =
  'a state dict without graph metadata is read as a chain with stride 1, no padding and no pooling; if the model strides, pads or pools, ' +
  'give the graph in __metadata__.weight_balance (write the network with this library, or see NetworkGraphMetadata), e.g. ' +
  '{"version":1,"layers":[{"shape":[3,32,32],"activation":"identity"},{"shape":[16,16,16],"activation":"relu"},...],' +
  '"blocks":[{"name":"0","kind":"conv2d","from":0,"to":1,"stride":[2,2],"padding":[1,1],"groups":1},...]}';

/**
 * Build the plain chain of a state dict: a block per Linear / Conv2d in index order (stride 1, no
 * padding, the groups the channel counts imply), BatchNorms folded, `hints.activation` (or ReLU,
 * reported as assumed) between blocks, the last block's outputs as the outputs.
 */
export function networkFromStateDict(bytes: Uint8Array, tensors: Map<string, TensorEntry>, hints: StateDictHints, used: Set<string>): StateDictRead {
  const parts = attachBatchNorms(partsOf(tensors));
  const eps = hints.batchNormEpsilon ?? 1e-5;
  const first = blockTensors(tensors, parts[0].name, null, new Set()).weight.shape;
  let shape: number[];
  if (hints.input) shape = hints.input;
  else if (first.length === 2) shape = [first[1]];
  else
    fail(
      `tensor '${parts[0].name}.weight' is a convolution: its input shape cannot be inferred from the names; store it as __metadata__.weight_balance = '{"version":1,"input":[C,H,W]}'`,
    );
  const hidden: ActivationSpec = hints.activation ?? { activation: 'relu' };
  const layers: Layer[] = [{ name: 'input', shape, activation: 'identity' }];
  const foldedBatchNorms: string[] = [];
  const blocks = parts.map(({ name, bn }, k): Block => {
    const last = k === parts.length - 1;
    const prev = layers[k].shape;
    const t = blockTensors(tensors, name, null, used);
    const w = t.weight.shape;
    const base = { name, from: k, to: k + 1 };
    let block: Block;
    let out: number[];
    if (w.length === 2) {
      block = makeBlock(bytes, t, base);
      out = [w[0]];
    } else {
      if (prev.length !== 3) fail(`tensor '${name}.weight' is a convolution but its input (layer ${k}) is flat`);
      if (w[1] === 0 || prev[0] % w[1] !== 0)
        fail(`tensor '${name}.weight' reads ${w[1]} channels per group, which does not divide the ${prev[0]} input channels`);
      block = makeBlock(bytes, t, base, { stride: [1, 1], padding: [0, 0], groups: prev[0] / w[1] });
      out = [w[0], slidingOutput(prev[1], w[2], 1, 0), slidingOutput(prev[2], w[3], 1, 0)];
    }
    if (bn !== null) {
      block = foldBatchNorm(bytes, tensors, block, bn, eps, used);
      foldedBatchNorms.push(bn);
    }
    const layer: Layer = { name: last ? 'output' : `hidden${k + 1}`, shape: out, activation: last ? 'identity' : hidden.activation };
    if (!last && hidden.negativeSlope !== undefined) layer.negativeSlope = hidden.negativeSlope;
    layers.push(layer);
    return block;
  });
  const network: Network = { layers, blocks };
  try {
    validateStructure(network); // the values: once, by the caller (readSafetensorsModel)
  } catch (error) {
    const convolutional = blocks.some((b) => b.kind === 'conv2d');
    if (convolutional && error instanceof WeightBalanceError && /do not chain|larger than its padded input/.test(error.message)) {
      fail(`${error.message}. ${CHAIN_HINT}`);
    }
    throw error;
  }
  const assumptions: string[] = [];
  if (blocks.length > 1 && !hints.activation) {
    assumptions.push(
      'the state dict does not say its activations: ReLU is assumed between layers (give the activation: the CLI\'s --activation tanh, leaky_relu:0.1 ..., the reader\'s \'activation\' option, or __metadata__.weight_balance {"version":1,"activation":"tanh"})',
    );
  } else if (blocks.length > 1) {
    assumptions.push(
      `activation between layers: ${hidden.activation}${hidden.negativeSlope !== undefined ? ` (negative slope ${hidden.negativeSlope})` : ''}, from ${hints.activationSource ?? 'the caller'}`,
    );
  }
  return { network, assumptions, foldedBatchNorms };
}
