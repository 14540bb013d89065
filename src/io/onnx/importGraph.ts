/**
 * ONNX graph -> {@link Network}. Nodes are interpreted symbolically in their (topological) file
 * order. A tensor is either the output of a layer (possibly a flattened view of it), a pending
 * pre-activation (a sum of weight blocks and residual skips not yet passed through an
 * activation), a constant, or a value that carries no units (shapes). Activations, pooling and
 * unknown ops turn pending sums into layers.
 *
 * Ops: Gemm, MatMul (+ Add of a bias), Conv and Conv1d (groups, depthwise, symmetric pads, strides,
 * dilations), Relu, LeakyRelu, Sigmoid, Tanh, Softmax, MaxPool, AveragePool, GlobalAveragePool,
 * GlobalMaxPool, ReduceMean over the spatial axes (a GlobalAveragePool), Flatten, Reshape and
 * Squeeze (to flatten), a constant-zero Pad (the identity when all pads are 0, else folded into
 * the Conv after it), Add and Sum of branches (residuals), Identity, Dropout, BatchNormalization
 * (folded into the Conv/Gemm/MatMul before it, see fold.ts). Any other op is kept as a fixed
 * barrier: the units it reads and writes get factor 1 and are reported. Shape arithmetic and
 * padding live in shapes.ts, attributes in attributes.ts, the tensor states in state.ts.
 */
import { describeValue } from '../../errors.js';
import type { Activation, Block, Layer, Network, Pool, WeightArray } from '../../network/types.js';
import { layerSize } from '../../network/types.js';
import { slidingOutput, validateNetwork } from '../../network/validate.js';
import { attrFloat, attrInt, attrInts, attribute, attrString } from './attributes.js';
import type { BlockBinding } from './bindings.js';
import { addBias, foldBatchNorm } from './fold.js';
import type { GraphProto, NodeProto, TensorProto, ValueInfoProto } from './schema.js';
import { DataType } from './schema.js';
import { convPadding, intValues, lift1d, poolOf, resolveReshape, shapeArithmetic } from './shapes.js';
import type { ConstState, LayerState, PreState, State } from './state.js';
import { fail, sameShape } from './state.js';
import { capturedNames, subgraphs } from './subgraphs.js';
import { elementCount } from './tensor.js';

/** Units that an op the balancer cannot rescale through forced to factor 1. */
export interface OnnxFixedUnits {
  /** The node's name (or `#index` when it has none). */
  node: string;
  op: string;
  /** The layers (by name) whose units were fixed, and how many units each has. */
  layers: { layer: number; name: string; units: number }[];
  /**
   * `activation`: modelled exactly (e.g. Sigmoid, Tanh, Softmax); `opaque`: an op the network
   * model cannot express, kept as an identity barrier of fixed units (so `forward` of the
   * imported network differs from the ONNX model there, while balancing stays exact);
   * `unfoldable`: a BatchNormalization that cannot be folded into the block before it, kept
   * as such a barrier.
   */
  modelled: 'activation' | 'opaque' | 'unfoldable';
}

/** What the importer needs from the file besides the graph. */
export interface GraphSource {
  graph: GraphProto;
  /** Float values of initializer `index` (weights); `writable` ones must be rewritable in place. */
  floatValues(index: number, writable: boolean): Float64Array;
}

/** The result of importing a graph. */
export interface ImportedGraph {
  network: Network;
  bindings: BlockBinding[];
  fixedUnits: OnnxFixedUnits[];
  foldedBatchNorms: string[];
  /**
   * When the graph starts by transposing its input (e.g. NHWC to NCHW in tf2onnx exports), the
   * `perm` of that Transpose: the network's input layer has the transposed shape, so `forward`
   * of the network expects the transposed layout. Null otherwise.
   */
  inputTranspose: number[] | null;
}

/** Ops that keep the shape of their (unit-carrying) input: an opaque one becomes a fixed barrier. */
const ELEMENTWISE = new Set([
  'Abs',
  'Acos',
  'Asin',
  'Atan',
  'BatchNormalization',
  'Cast',
  'Ceil',
  'Celu',
  'Clip',
  'Cos',
  'Cosh',
  'Div',
  'Elu',
  'Erf',
  'Exp',
  'Floor',
  'Gelu',
  'HardSigmoid',
  'HardSwish',
  'InstanceNormalization',
  'LayerNormalization',
  'LogSoftmax',
  'Log',
  'LpNormalization',
  'LRN',
  'Max',
  'Mean',
  'Min',
  'Mish',
  'Mul',
  'Neg',
  'Pow',
  'PRelu',
  'Reciprocal',
  'Round',
  'Selu',
  'Shrink',
  'Sigmoid',
  'Sign',
  'Sin',
  'Sinh',
  'Softmax',
  'Softplus',
  'Softsign',
  'Sqrt',
  'Sub',
  'Swish',
  'Tan',
  'Tanh',
  'ThresholdedRelu',
  'Add',
  'Sum',
  'Relu',
  'LeakyRelu',
]);

/** Ops whose output depends only on the input's shape, never its values. */
const SHAPE_ONLY = new Set(['Shape', 'Size']);

class Importer {
  readonly layers: Layer[] = [];
  readonly blocks: Block[] = [];
  readonly bindings: BlockBinding[] = [];
  readonly fixedUnits: OnnxFixedUnits[] = [];
  readonly foldedBatchNorms: string[] = [];
  private inputTranspose: number[] | null = null;
  private readonly states = new Map<string, State>();
  /** For each layer, the tensor names that show its output (an index into `states`). */
  private readonly layerNames = new Map<number, string[]>();
  private readonly blockNames = new Set<string>();
  /** Outputs of zero Pads over the spatial axes, `[ph, pw]`, folded into the Conv that reads them. */
  private readonly zeroPads = new Map<string, [number, number]>();
  private readonly uses = new Map<string, number>();
  private readonly initializerIndex = new Map<string, number>();
  private readonly valueInfo = new Map<string, ValueInfoProto>();
  /** Layers already read by a block or a skip: their activation and pooling are final. */
  private readonly referenced = new Set<number>();
  private readonly graphOutput: string;
  private batch: number | null = null;

  constructor(private readonly source: GraphSource) {
    const graph = source.graph;
    (graph.initializer ?? []).forEach((t, k) => this.initializerIndex.set(t.name ?? '', k));
    for (const v of [...(graph.valueInfo ?? []), ...(graph.output ?? []), ...(graph.input ?? [])]) this.valueInfo.set(v.name ?? '', v);
    const outputs = graph.output ?? [];
    if (outputs.length !== 1) fail(`the graph has ${outputs.length} outputs (${outputs.map((o) => `'${o.name}'`).join(', ')}); exactly one is supported`);
    this.graphOutput = outputs[0].name ?? '';
  }

  run(): ImportedGraph {
    const graph = this.source.graph;
    this.addInput();
    const nodes = graph.node ?? [];
    const reachable = this.reachableNodes(nodes);
    for (const k of reachable) for (const name of nodes[k].input ?? []) if (name) this.uses.set(name, (this.uses.get(name) ?? 0) + 1);
    for (const k of reachable) this.visit(nodes[k], k);
    this.finishOutput();
    const network: Network = { layers: this.layers, blocks: this.blocks };
    try {
      validateNetwork(network);
    } catch (error) {
      fail(`the imported network is not valid (${error instanceof Error ? error.message : String(error)})`);
    }
    this.checkInitializerUse(nodes);
    return { network, bindings: this.bindings, fixedUnits: this.fixedUnits, foldedBatchNorms: this.foldedBatchNorms, inputTranspose: this.inputTranspose };
  }

  // ---------------------------------------------------------------- graph structure

  private addInput(): void {
    const graph = this.source.graph;
    const inputs = (graph.input ?? []).filter((v) => !this.initializerIndex.has(v.name ?? ''));
    if (inputs.length !== 1) fail(`the graph has ${inputs.length} inputs (${inputs.map((v) => `'${v.name}'`).join(', ')}); exactly one is supported`);
    const input = inputs[0];
    const name = input.name ?? '';
    const dims = input.type?.tensorType?.shape?.dim;
    if (!dims) fail(`input '${name}' has no shape: cannot resolve the layer sizes`);
    if (dims.length < 2 || dims.length > 4)
      fail(`input '${name}' has rank ${dims.length}; supported are [batch, features], [batch, channels, length] (Conv1d) and [batch, channels, height, width]`);
    const given = dims.slice(1).map((d, k) => {
      const v = d.dimValue;
      if (typeof v !== 'number' || !(v > 0)) {
        fail(
          `input '${name}': dimension ${k + 1} is dynamic${d.dimParam ? ` ('${d.dimParam}')` : ''}; cannot resolve the shape (export with a fixed input size)`,
        );
      }
      return v;
    });
    // A 1-D feature map [C, L] is held as [C, 1, L]: Conv1d and 1-D pools act on it as 2-D ones of height 1.
    const shape = given.length === 2 ? [given[0], 1, given[1]] : given;
    const b = dims[0].dimValue;
    this.batch = typeof b === 'number' && b > 0 ? b : null;
    this.layers.push({ name, shape, activation: 'identity' });
    this.setState(name, { kind: 'layer', layer: 0, shape });
  }

  /** Indices of the nodes the graph output depends on, in file order. */
  private reachableNodes(nodes: NodeProto[]): number[] {
    const producer = new Map<string, number>();
    nodes.forEach((n, k) => {
      for (const o of n.output ?? []) if (o) producer.set(o, k);
    });
    const keep = new Set<number>();
    const stack = [this.graphOutput];
    while (stack.length > 0) {
      const k = producer.get(stack.pop()!);
      if (k === undefined || keep.has(k)) continue;
      keep.add(k);
      for (const i of [...(nodes[k].input ?? []), ...capturedNames(nodes[k])]) if (i) stack.push(i);
    }
    return [...keep].sort((a, b) => a - b);
  }

  private finishOutput(): void {
    const state = this.states.get(this.graphOutput);
    if (!state) fail(`the graph output '${this.graphOutput}' is not produced by any node`);
    if (state.kind === 'const' || state.kind === 'meta') fail(`the graph output '${this.graphOutput}' does not depend on the input`);
    const layer = state.kind === 'pre' ? this.materialize(state, 'identity', this.graphOutput) : state;
    if (layer.layer === 0) fail(`the graph output '${this.graphOutput}' is the input itself: nothing to balance`);
    if (layer.layer !== this.layers.length - 1) fail(`the graph output '${this.graphOutput}' is not the last layer of the imported network`);
  }

  /** Initializers that the writer rewrites must feed exactly one node input, in any (sub)graph. */
  private checkInitializerUse(nodes: NodeProto[]): void {
    const count = new Map<string, number>();
    const walk = (list: NodeProto[]): void => {
      for (const n of list) {
        for (const i of n.input ?? []) if (i) count.set(i, (count.get(i) ?? 0) + 1);
        for (const g of subgraphs(n)) walk(g.node ?? []);
      }
    };
    walk(nodes);
    const outputs = new Set((this.source.graph.output ?? []).map((o) => o.name));
    const initializers = this.source.graph.initializer ?? [];
    const owner = new Map<number, string>();
    for (const b of this.bindings) {
      for (const index of [b.weight.initializer, b.bias?.initializer]) {
        if (index === undefined) continue;
        const name = initializers[index].name ?? '';
        if (owner.has(index))
          fail(`initializer '${name}' is rewritten by both node '${owner.get(index)}' and node '${b.node}': shared weights are not supported`);
        owner.set(index, b.node);
        if ((count.get(name) ?? 0) !== 1 || outputs.has(name)) {
          fail(
            `initializer '${name}' of node '${b.node}' is also used elsewhere in the graph (${count.get(name) ?? 0} uses): shared weights are not supported`,
          );
        }
      }
    }
  }

  // ---------------------------------------------------------------- helpers

  private label(node: NodeProto, index: number): string {
    return node.name ? node.name : `#${index}`;
  }

  private state(name: string, where: string): State {
    const known = this.states.get(name);
    if (known) return known;
    const index = this.initializerIndex.get(name);
    if (index !== undefined) {
      const state: ConstState = { kind: 'const', tensor: this.source.graph.initializer![index], initializer: index };
      this.states.set(name, state);
      return state;
    }
    if ((this.source.graph.sparseInitializer ?? []).some((s) => s.values?.name === name)) {
      fail(`node ${where} reads the sparse initializer '${name}'; sparse initializers are not supported`);
    }
    return fail(`node ${where} reads '${name}', which no earlier node, input or initializer provides (is the graph topologically sorted?)`);
  }

  /** The initializer behind a weight input, refused when it is computed or a Constant node. */
  private weightInput(state: State | null, what: string, where: string): ConstState & { initializer: number } {
    if (!state || state.kind !== 'const' || state.initializer === null) {
      fail(
        `node ${where}: its ${what} must be a graph initializer (found ${state ? (state.kind === 'const' ? 'a Constant node' : 'a computed tensor') : 'nothing'}); the writer can only rewrite initializers`,
      );
    }
    return state as ConstState & { initializer: number };
  }

  /**
   * A block's name: its weight initializer's name without `.weight` (the PyTorch state-dict
   * prefix torch.onnx keeps, e.g. `features.0`), so that a safetensors file written from it has
   * PyTorch's names; the node's name when that is empty or already taken.
   */
  private blockName(weight: TensorProto, node: string): string {
    const full = weight.name ?? '';
    const base = full.endsWith('.weight') ? full.slice(0, -'.weight'.length) : full;
    const name = base === '' || this.blockNames.has(base) ? node : base;
    this.blockNames.add(name);
    return name;
  }

  private floatValues(c: ConstState & { initializer: number }): Float64Array {
    return this.source.floatValues(c.initializer, true);
  }

  /** Record a tensor's state, indexing the names that show each layer's output. */
  private setState(name: string, state: State): void {
    this.states.set(name, state);
    if (state.kind !== 'layer') return;
    const names = this.layerNames.get(state.layer);
    if (names) names.push(name);
    else this.layerNames.set(state.layer, [name]);
  }

  /** Whether a name that shows a layer's output is still to be read (or is the graph output). */
  private layerStillRead(layer: number): boolean {
    for (const name of this.layerNames.get(layer) ?? []) {
      const s = this.states.get(name);
      if (s?.kind === 'layer' && s.layer === layer && ((this.uses.get(name) ?? 0) > 0 || name === this.graphOutput)) return true;
    }
    return false;
  }

  /** Whether a layer may still change its activation or pooling: nothing else reads its output. */
  private canMutate(layer: number): boolean {
    return layer !== 0 && !this.referenced.has(layer) && !this.layerStillRead(layer);
  }

  /** Turn a pending sum into a layer. */
  private materialize(pre: PreState, activation: Activation, name: string, extra: { pool?: Pool; negativeSlope?: number } = {}): LayerState {
    const k = this.layers.length;
    let shape = pre.shape;
    if (extra.pool) shape = this.pooledShape(shape, extra.pool, name);
    const layer: Layer = { name, shape, activation };
    if (extra.negativeSlope !== undefined) layer.negativeSlope = extra.negativeSlope;
    if (pre.skips.length > 0) layer.skips = [...pre.skips];
    if (extra.pool) layer.pool = extra.pool;
    this.layers.push(layer);
    for (const b of pre.blocks) {
      const alloc = (v: Float64Array): WeightArray => (b.double ? Float64Array.from(v) : Float32Array.from(v));
      const common = { name: b.name, from: b.from, to: k, weight: alloc(b.weight), bias: b.bias ? alloc(b.bias) : null };
      this.blocks.push(
        b.kind === 'dense'
          ? { kind: 'dense', ...common, shape: [b.shape[0], b.shape[1]] }
          : {
              kind: 'conv2d',
              ...common,
              shape: [b.shape[0], b.shape[1], b.shape[2], b.shape[3]],
              stride: b.stride,
              padding: b.padding,
              groups: b.groups,
              ...(b.dilation ? { dilation: b.dilation } : {}),
            },
      );
      this.bindings.push(b.binding);
    }
    return { kind: 'layer', layer: k, shape };
  }

  private toLayer(state: State, name: string, where: string): LayerState {
    if (state.kind === 'layer') return state;
    if (state.kind === 'pre') return this.materialize(state, 'identity', name);
    return fail(`node ${where}: expected a tensor computed from the input, found a constant`);
  }

  private pooledShape(shape: number[], pool: Pool, where: string): number[] {
    if (shape.length !== 3) fail(`node ${where}: pooling needs a [batch, channels, height, width] tensor`);
    const h = slidingOutput(shape[1], pool.size[0], pool.stride[0], pool.padding?.[0] ?? 0);
    const w = slidingOutput(shape[2], pool.size[1], pool.stride[1], pool.padding?.[1] ?? 0);
    if (!(h > 0 && w > 0)) fail(`node ${where}: the pooling window ${describeValue(pool.size)} is larger than the input ${describeValue(shape.slice(1))}`);
    return [shape[0], h, w];
  }

  /** Apply an activation and/or a pool to a layer's output: in place when nothing else reads it, else as a new tied layer. */
  private applyToLayer(
    state: LayerState,
    activation: Activation,
    name: string,
    where: string,
    extra: { pool?: Pool; negativeSlope?: number } = {},
  ): LayerState {
    const layer = this.layers[state.layer];
    const isView = !sameShape(state.shape, layer.shape);
    if (extra.pool && isView) fail(`node ${where}: pooling a flattened tensor is not supported`);
    if (!extra.pool && activation === 'relu' && layer.activation === 'relu') return state; // relu is idempotent
    if (this.canMutate(state.layer)) {
      if (extra.pool && !layer.pool && activation === 'identity') {
        layer.pool = extra.pool;
        layer.shape = this.pooledShape(layer.shape, extra.pool, where);
        return { kind: 'layer', layer: state.layer, shape: layer.shape };
      }
      // Non-decreasing activations commute with max-pooling (a leaky ReLU only for a slope >= 0).
      const monotone =
        activation === 'relu' || activation === 'sigmoid' || activation === 'tanh' || (activation === 'leaky_relu' && (extra.negativeSlope ?? 0.01) >= 0);
      if (!extra.pool && layer.activation === 'identity' && (!layer.pool || (layer.pool.kind === 'max' && monotone))) {
        layer.activation = activation;
        if (extra.negativeSlope !== undefined) layer.negativeSlope = extra.negativeSlope;
        return state;
      }
    }
    this.referenced.add(state.layer);
    const pre: PreState = { kind: 'pre', shape: layer.shape, blocks: [], skips: [state.layer] };
    const out = this.materialize(pre, activation, name, extra);
    return extra.pool ? out : { kind: 'layer', layer: out.layer, shape: state.shape };
  }

  private fixLayer(layer: number): void {
    const l = this.layers[layer];
    l.fixed = Array.from({ length: l.shape[0] }, (_, c) => c);
  }

  private report(node: string, op: string, layers: number[], modelled: OnnxFixedUnits['modelled']): void {
    const unique = [...new Set(layers)].filter((k) => k > 0);
    this.fixedUnits.push({ node, op, modelled, layers: unique.map((k) => ({ layer: k, name: this.layers[k].name, units: this.layers[k].shape[0] })) });
  }

  // ---------------------------------------------------------------- nodes

  private visit(node: NodeProto, index: number): void {
    const where = `'${this.label(node, index)}' (${node.opType})`;
    const name = this.label(node, index);
    const inputs = (node.input ?? []).map((i) => (i ? this.state(i, where) : null));
    for (const i of node.input ?? []) if (i) this.uses.set(i, (this.uses.get(i) ?? 0) - 1);
    const outputs = node.output ?? [];
    const out = outputs[0] ?? '';
    const domain = node.domain ?? '';
    const op = domain === '' || domain === 'ai.onnx' ? (node.opType ?? '') : `${domain}.${node.opType ?? ''}`;
    const set = (state: State): void => {
      if (state.kind === 'pre' && (this.uses.get(out) ?? 0) > 1) state = this.materialize(state, 'identity', out);
      this.setState(out, state);
    };
    for (const captured of capturedNames(node)) {
      const s = this.states.get(captured);
      // The input's values never change (its units are fixed); any other activation may.
      if (s && (s.kind === 'pre' || (s.kind === 'layer' && s.layer !== 0))) {
        fail(
          `node ${where}: its subgraph reads '${captured}', a tensor computed from the input; ops whose subgraphs read the network's activations are not supported`,
        );
      }
    }
    const padded = (node.input ?? []).find((i, k) => this.zeroPads.has(i) && (op !== 'Conv' || k !== 0));
    if (padded !== undefined) {
      fail(
        `node ${where} reads '${padded}', the output of a zero Pad; a Pad is only supported before a Conv (folded into its padding) or when all its pads are 0`,
      );
    }
    const carriesUnits = inputs.some((s) => s && (s.kind === 'layer' || s.kind === 'pre'));
    if (op === 'Constant') {
      const t = attribute(node, 'value')?.t;
      this.states.set(out, t ? { kind: 'const', tensor: t, initializer: null } : { kind: 'meta' });
      return;
    }
    if (op === 'Identity' && inputs[0]?.kind === 'const') {
      // Exporters sometimes pass an initializer through Identity: the weight stays that initializer.
      this.states.set(out, inputs[0]);
      return;
    }
    if (SHAPE_ONLY.has(op) || !carriesUnits) {
      const values = shapeArithmetic(node, op, inputs, this.batch);
      for (const o of outputs) if (o) this.states.set(o, values ? { kind: 'meta', values } : { kind: 'meta' });
      return;
    }
    const extraOutputs = outputs.slice(1).filter((o) => o && (this.uses.get(o) ?? 0) > 0);
    switch (op) {
      case 'Gemm':
      case 'MatMul':
        return set(this.dense(node, op, inputs, name, where, out));
      case 'Conv':
        return set(this.conv(node, inputs, name, where, out));
      case 'Add':
      case 'Sum':
        return set(this.add(node, op, inputs, name, where, out));
      case 'BatchNormalization': {
        if (extraOutputs.length > 0 || attrInt(node, 'training_mode', 0) !== 0) fail(`node ${where}: training-mode BatchNormalization is not supported`);
        const folded = foldBatchNorm(node, inputs, where, (i, w) => this.source.floatValues(i, w));
        if (folded) {
          this.foldedBatchNorms.push(name);
          return set(folded);
        }
        const barrier = this.opaque(node, op, inputs, name, where, out);
        this.fixedUnits[this.fixedUnits.length - 1].modelled = 'unfoldable';
        return set(barrier);
      }
      case 'Relu':
      case 'LeakyRelu':
      case 'Sigmoid':
      case 'Tanh':
      case 'Softmax':
        return set(this.activation(node, op, inputs[0]!, name, where, out));
      case 'MaxPool':
      case 'AveragePool':
      case 'GlobalAveragePool':
      case 'GlobalMaxPool':
        if (extraOutputs.length > 0) fail(`node ${where}: the Indices output of MaxPool is not supported`);
        return set(this.pool(node, op, inputs[0]!, where, out));
      case 'Flatten':
      case 'Reshape':
      case 'Squeeze':
        return set(this.flatten(node, op, inputs, where, out));
      case 'Pad':
        return set(this.pad(node, inputs, where, out));
      case 'ReduceMean':
        return set(this.reduceMean(node, inputs, name, where, out));
      case 'Transpose':
        return set(this.transposeInput(node, inputs[0]!, where, out) ?? this.opaque(node, op, inputs, name, where, out));
      case 'Identity':
      case 'Dropout':
        if (extraOutputs.length > 0) fail(`node ${where}: the mask output of Dropout is not supported`);
        return set(inputs[0]!);
      default:
        return set(this.opaque(node, op, inputs, name, where, out));
    }
  }

  /**
   * A constant-zero Pad: with all pads 0 it is the identity (what torch.onnx emits before an
   * AvgPool2d with count_include_pad); with equal pads on both sides of the spatial axes only, its
   * output is the input, and the padding is added to the Conv that reads it. Anything else is
   * refused, naming the node.
   */
  private pad(node: NodeProto, inputs: (State | null)[], where: string, out: string): State {
    const x = inputs[0]!;
    if (x.kind !== 'layer' && x.kind !== 'pre') fail(`node ${where}: expected a tensor computed from the input`);
    const mode = attrString(node, 'mode', 'constant');
    const pads = inputs[1] ? intValues(inputs[1]) : (attrInts(node, 'pads') ?? null);
    if (!pads) fail(`node ${where}: its pads are computed at run time; cannot resolve them`);
    if ((inputs[3] ?? null) !== null) fail(`node ${where}: Pad with an 'axes' input is not supported`);
    const rank = x.shape.length + 1;
    if (pads.length !== 2 * rank) fail(`node ${where}: pads ${describeValue(pads)} do not fit a rank-${rank} tensor`);
    if (pads.every((p) => p === 0)) return x;
    const zeroValue = inputs[2] ? this.isZeroConstant(inputs[2]) : attrFloat(node, 'value', 0) === 0;
    const [before, after] = [pads.slice(0, rank), pads.slice(rank)];
    const spatialOnly = rank === 4 && before[0] === 0 && before[1] === 0 && after[0] === 0 && after[1] === 0;
    if (mode !== 'constant' || !zeroValue || !spatialOnly || before[2] !== after[2] || before[3] !== after[3] || pads.some((p) => p < 0)) {
      fail(
        `node ${where}: only a constant-zero Pad with equal padding on both sides of the spatial axes (before a Conv) is supported; got mode '${mode}', pads ${describeValue(pads)}`,
      );
    }
    this.zeroPads.set(out, [before[2], before[3]]);
    return x;
  }

  /** Whether a constant input is all zeros (a Pad's constant_value). */
  private isZeroConstant(state: State): boolean {
    if (state.kind !== 'const') return false;
    if (state.initializer !== null) return this.source.floatValues(state.initializer, false).every((v) => v === 0);
    const t = state.tensor;
    return (t.floatData ?? []).every((v) => v === 0) && (t.doubleData ?? []).every((v) => v === 0) && (t.rawData ?? new Uint8Array(0)).every((b) => b === 0);
  }

  /**
   * ReduceMean over the spatial axes of a feature map (`x.mean([2, 3])`): a GlobalAveragePool,
   * flattened to [batch, channels] when keepdims = 0. Other axes are an opaque barrier.
   */
  private reduceMean(node: NodeProto, inputs: (State | null)[], name: string, where: string, out: string): State {
    const x = inputs[0]!;
    const rank = x.kind === 'layer' || x.kind === 'pre' ? x.shape.length + 1 : 0;
    const axes = inputs[1] ? intValues(inputs[1]) : (attrInts(node, 'axes') ?? null);
    const spatial =
      rank === 4 &&
      axes !== null &&
      axes.length === 2 &&
      new Set(axes.map((a) => (a < 0 ? a + rank : a))).size === 2 &&
      axes.every((a) => [2, 3].includes(a < 0 ? a + rank : a));
    if (!spatial) return this.opaque(node, 'ReduceMean', inputs, name, where, out);
    const pooled = this.pool(node, 'GlobalAveragePool', x, where, out) as LayerState;
    return attrInt(node, 'keepdims', 1) === 0 ? { kind: 'layer', layer: pooled.layer, shape: [pooled.shape[0]] } : pooled;
  }

  /**
   * A Transpose of the graph input that nothing else reads (NHWC -> NCHW): the input layer takes
   * the transposed shape (input units are fixed, so balancing is unaffected). Null otherwise.
   */
  private transposeInput(node: NodeProto, input: State, where: string, out: string): LayerState | null {
    if (input.kind !== 'layer' || input.layer !== 0 || this.inputTranspose || this.referenced.has(0) || !this.canMutateInput()) return null;
    const full = [0, ...this.layers[0].shape];
    const perm = attrInts(node, 'perm') ?? full.map((_, k) => full.length - 1 - k);
    if (perm.length !== full.length || perm[0] !== 0 || !full.every((_, k) => perm.includes(k))) return null;
    const shape = perm.slice(1).map((p) => full[p]);
    if (shape.length !== 1 && shape.length !== 3) fail(`node ${where}: the transposed input has rank ${shape.length + 1}`);
    this.layers[0].shape = shape;
    this.inputTranspose = perm;
    const state: LayerState = { kind: 'layer', layer: 0, shape };
    this.setState(out, state);
    return state;
  }

  /** Whether the raw graph input has no other reader left. */
  private canMutateInput(): boolean {
    return !this.layerStillRead(0);
  }

  private dense(node: NodeProto, op: string, inputs: (State | null)[], name: string, where: string, out: string): PreState {
    const a = inputs[0];
    if (!a) fail(`node ${where}: missing input A`);
    const source = this.toLayer(a, `${out}:input`, where);
    if (source.shape.length !== 1)
      fail(`node ${where}: its input has shape ${describeValue(source.shape)} (batch excluded); a ${op} needs [batch, features] (flatten first)`);
    const w = this.weightInput(inputs[1], 'weight B', where);
    const dims = w.tensor.dims ?? [];
    if (dims.length !== 2) fail(`node ${where}: weight '${w.tensor.name}' has dims ${describeValue(dims)}; expected a matrix`);
    let transposed = true;
    let alpha = 1;
    let beta = 1;
    if (op === 'Gemm') {
      if (attrInt(node, 'transA', 0) !== 0) fail(`node ${where}: transA = 1 is not supported`);
      transposed = attrInt(node, 'transB', 0) === 0;
      alpha = attrFloat(node, 'alpha', 1);
      beta = attrFloat(node, 'beta', 1);
      if (!(alpha !== 0 && Number.isFinite(alpha))) fail(`node ${where}: alpha = ${alpha} is not supported`);
    }
    const [inDim, outDim] = transposed ? dims : [dims[1], dims[0]];
    if (inDim !== source.shape[0]) fail(`node ${where}: weight '${w.tensor.name}' reads ${inDim} features, its input has ${source.shape[0]}`);
    const stored = this.floatValues(w);
    let weight = stored; // read only: folding and materializing make new arrays
    if (transposed || alpha !== 1) {
      weight = new Float64Array(outDim * inDim);
      for (let i = 0; i < outDim; i++) {
        for (let j = 0; j < inDim; j++) weight[i * inDim + j] = alpha * (transposed ? stored[j * outDim + i] : stored[i * inDim + j]);
      }
    }
    const binding: BlockBinding = {
      node: name,
      weight: { initializer: w.initializer, transposed, rowScale: alpha === 1 ? null : new Float64Array(outDim).fill(alpha) },
      bias: null,
    };
    let bias: Float64Array | null = null;
    let double = w.tensor.dataType === DataType.DOUBLE;
    const c = inputs[2];
    if (op === 'Gemm' && c && beta !== 0) {
      const cb = this.weightInput(c, 'bias C', where);
      const cd = cb.tensor.dims ?? [];
      if (!(sameShape(cd, [outDim]) || sameShape(cd, [1, outDim])))
        fail(`node ${where}: bias '${cb.tensor.name}' has dims ${describeValue(cd)}; expected [${outDim}] or [1, ${outDim}]`);
      bias = this.floatValues(cb).map((v) => beta * v);
      binding.bias = { initializer: cb.initializer, scale: beta, offset: null };
      double ||= cb.tensor.dataType === DataType.DOUBLE;
    }
    this.referenced.add(source.layer);
    return {
      kind: 'pre',
      shape: [outDim],
      skips: [],
      blocks: [
        {
          kind: 'dense',
          name: this.blockName(w.tensor, name),
          from: source.layer,
          shape: [outDim, inDim],
          stride: [1, 1],
          padding: [0, 0],
          groups: 1,
          weight,
          bias,
          double,
          binding,
        },
      ],
    };
  }

  private conv(node: NodeProto, inputs: (State | null)[], name: string, where: string, out: string): PreState {
    const x = inputs[0];
    if (!x) fail(`node ${where}: missing input X`);
    const source = this.toLayer(x, `${out}:input`, where);
    if (source.shape.length !== 3)
      fail(`node ${where}: its input has shape ${describeValue(source.shape)} (batch excluded); a 2-D Conv needs [batch, channels, height, width]`);
    const w = this.weightInput(inputs[1], 'weight W', where);
    let dims = w.tensor.dims ?? [];
    if (dims.length === 3 && source.shape[1] === 1) {
      // Conv1d on a [C, 1, L] map: the kernel [out, in/groups, k] is [out, in/groups, 1, k].
      dims = [dims[0], dims[1], 1, dims[2]];
      node = lift1d(node);
    }
    if (dims.length !== 4)
      fail(`node ${where}: weight '${w.tensor.name}' has dims ${describeValue(dims)}; only 2-D convolutions ([out, in/groups, kh, kw]) are supported`);
    const [outC, inPerGroup, kh, kw] = dims;
    const groups = attrInt(node, 'group', 1);
    const [C, H, W] = source.shape;
    if (inPerGroup * groups !== C || outC % groups !== 0)
      fail(`node ${where}: weight '${w.tensor.name}' ${describeValue(dims)} with group = ${groups} does not fit ${C} input channels`);
    const dilations = attrInts(node, 'dilations') ?? [1, 1];
    if (dilations.length !== 2 || dilations.some((d) => !(Number.isSafeInteger(d) && d > 0)))
      fail(`node ${where}: dilations ${describeValue(dilations)} must be two positive integers`);
    // Dilation spaces the taps: the kernel spans (k - 1) d + 1 positions, the channels it joins are the same.
    const span = [(kh - 1) * dilations[0] + 1, (kw - 1) * dilations[1] + 1];
    const kernel = attrInts(node, 'kernel_shape');
    if (kernel && !sameShape(kernel, [kh, kw])) fail(`node ${where}: kernel_shape ${describeValue(kernel)} does not match weight dims ${describeValue(dims)}`);
    const strides = attrInts(node, 'strides') ?? [1, 1];
    const padding = convPadding(node, [H, W], span, strides, where);
    const folded = this.zeroPads.get(node.input?.[0] ?? '');
    if (folded) {
      padding[0] += folded[0];
      padding[1] += folded[1];
    }
    // Never written to (folding and materializing make new arrays): no defensive copy of the weights.
    const weight = this.floatValues(w);
    const binding: BlockBinding = { node: name, weight: { initializer: w.initializer, transposed: false, rowScale: null }, bias: null };
    let bias: Float64Array | null = null;
    let double = w.tensor.dataType === DataType.DOUBLE;
    if (inputs[2]) {
      const b = this.weightInput(inputs[2], 'bias B', where);
      if (elementCount(b.tensor) !== outC || (b.tensor.dims ?? []).length !== 1)
        fail(`node ${where}: bias '${b.tensor.name}' has dims ${describeValue(b.tensor.dims)}; expected [${outC}]`);
      bias = this.floatValues(b).slice();
      binding.bias = { initializer: b.initializer, scale: 1, offset: null };
      double ||= b.tensor.dataType === DataType.DOUBLE;
    }
    const shape = [outC, slidingOutput(H, span[0], strides[0], padding[0]), slidingOutput(W, span[1], strides[1], padding[1])];
    if (!(shape[1] > 0 && shape[2] > 0)) fail(`node ${where}: the kernel is larger than its padded input`);
    this.referenced.add(source.layer);
    return {
      kind: 'pre',
      shape,
      skips: [],
      blocks: [
        {
          kind: 'conv2d',
          name: this.blockName(w.tensor, name),
          from: source.layer,
          shape: [outC, inPerGroup, kh, kw],
          stride: [strides[0], strides[1]],
          padding,
          groups,
          ...(dilations[0] !== 1 || dilations[1] !== 1 ? { dilation: [dilations[0], dilations[1]] as [number, number] } : {}),
          weight,
          bias,
          double,
          binding,
        },
      ],
    };
  }

  private add(node: NodeProto, op: string, inputs: (State | null)[], name: string, where: string, out: string): State {
    const terms = inputs.filter((s): s is State => s !== null);
    const consts = terms.filter((s) => s.kind === 'const' || s.kind === 'meta');
    if (consts.length > 0) {
      const pre = terms.find((s): s is PreState => s.kind === 'pre');
      if (
        op === 'Add' &&
        terms.length === 2 &&
        consts.length === 1 &&
        pre &&
        pre.blocks.length > 0 &&
        consts[0].kind === 'const' &&
        consts[0].initializer !== null
      ) {
        const biased = addBias(pre, consts[0] as ConstState & { initializer: number }, (i, w) => this.source.floatValues(i, w));
        if (biased) return biased;
      }
      return this.opaque(node, op, inputs, name, where, out);
    }
    const shape = terms[0].kind === 'pre' || terms[0].kind === 'layer' ? terms[0].shape : [];
    const result: PreState = { kind: 'pre', shape, blocks: [], skips: [] };
    for (const t of terms) {
      if (t.kind !== 'pre' && t.kind !== 'layer') continue;
      if (!sameShape(t.shape, shape))
        fail(
          `node ${where}: adds tensors of shapes ${describeValue(shape)} and ${describeValue(t.shape)} (batch excluded); broadcasting between branches is not supported`,
        );
      if (t.kind === 'pre') {
        result.blocks.push(...t.blocks);
        result.skips.push(...t.skips);
      } else {
        if (!sameShape(this.layers[t.layer].shape, t.shape)) fail(`node ${where}: a residual over a flattened or reshaped tensor is not supported`);
        this.referenced.add(t.layer);
        result.skips.push(t.layer);
      }
    }
    return result;
  }

  private activation(node: NodeProto, op: string, input: State, name: string, where: string, out: string): State {
    let activation: Activation;
    let negativeSlope: number | undefined;
    switch (op) {
      case 'Relu':
        activation = 'relu';
        break;
      case 'LeakyRelu':
        activation = 'leaky_relu';
        negativeSlope = attrFloat(node, 'alpha', 0.01);
        break;
      case 'Sigmoid':
        activation = 'sigmoid';
        break;
      case 'Tanh':
        activation = 'tanh';
        break;
      default: {
        // Softmax over the features of a [batch, features] tensor (opset < 13: axis 1; later: axis -1).
        const axis = attrInt(node, 'axis', -1);
        const flat = input.kind !== 'const' && input.kind !== 'meta' && input.shape.length === 1;
        if (!flat || (axis !== -1 && axis !== 1)) return this.opaque(node, op, [input], name, where, out);
        activation = 'softmax';
      }
    }
    const extra = negativeSlope === undefined ? {} : { negativeSlope };
    const result =
      input.kind === 'pre'
        ? this.materialize(input, activation, out, extra)
        : this.applyToLayer(this.toLayer(input, out, where), activation, out, where, extra);
    if (activation !== 'relu' && activation !== 'leaky_relu') this.report(name, op, [result.layer], 'activation');
    return result;
  }

  private pool(node: NodeProto, op: string, input: State, where: string, out: string): State {
    const inputShape = input.kind === 'pre' || input.kind === 'layer' ? input.shape : [];
    if (inputShape.length !== 3)
      fail(`node ${where}: pooling needs a [batch, channels, height, width] input, got shape ${describeValue(inputShape)} (batch excluded)`);
    const pool = poolOf(node, op, inputShape, where);
    if (input.kind === 'pre') return this.materialize(input, 'identity', out, { pool });
    return this.applyToLayer(input as LayerState, 'identity', out, where, { pool });
  }

  private flatten(node: NodeProto, op: string, inputs: (State | null)[], where: string, out: string): State {
    const input = inputs[0]!;
    if (input.kind !== 'pre' && input.kind !== 'layer') fail(`node ${where}: expected a tensor computed from the input`);
    const full = input.shape;
    let target: number[] | null; // shape without the batch, or null: not a flatten
    if (op === 'Flatten') {
      let axis = attrInt(node, 'axis', 1);
      if (axis < 0) axis += full.length + 1;
      target = axis === 1 ? [layerSize({ shape: full } as Layer)] : null;
    } else if (op === 'Squeeze') {
      const c = inputs[1];
      const axes = c ? intValues(c) : (attrInts(node, 'axes') ?? full.map((_, k) => k + 1).filter((k) => full[k - 1] === 1));
      if (!axes) fail(`node ${where}: its axes are computed at run time; cannot resolve the output shape`);
      const drop = new Set(axes.map((a) => (a < 0 ? a + full.length + 1 : a)));
      if (drop.has(0)) fail(`node ${where}: squeezing the batch axis is not supported`);
      target = full.filter((_, k) => !drop.has(k + 1));
      if (target.length !== 1 || full.some((d, k) => drop.has(k + 1) && d !== 1)) target = null;
    } else {
      const c = inputs[1];
      const values = intValues(c ?? null);
      if (!values) {
        fail(
          `node ${where}: its target shape is computed at run time (input '${node.input?.[1]}' is not a constant); cannot resolve it. Export with constant folding or use Flatten`,
        );
      }
      target = resolveReshape(values, full, attrInt(node, 'allowzero', 0) !== 0, this.batch, where);
    }
    if (!target) fail(`node ${where}: only flattening to [batch, features] (or keeping the shape) is supported`);
    if (sameShape(target, full)) return input;
    if (target.length !== 1)
      fail(`node ${where}: reshaping ${describeValue(full)} to ${describeValue(target)} (batch excluded) is not supported; only flattening is`);
    const layer = this.toLayer(input, out, where);
    return { kind: 'layer', layer: layer.layer, shape: target };
  }

  /**
   * An op the network model cannot rescale through: the units it reads become fixed layers, and
   * its output a new layer of fixed units tied to them (shape-preserving ops only).
   */
  private opaque(node: NodeProto, op: string, inputs: (State | null)[], name: string, where: string, out: string): LayerState {
    const units = inputs.filter((s): s is LayerState | PreState => s !== null && (s.kind === 'layer' || s.kind === 'pre'));
    // The output has the widest input's shape; the others must broadcast to it (a squeeze-and-
    // excitation Mul(x, s) with s of shape [C, 1, 1] next to x of shape [C, H, W]).
    const sizes = units.map((u) => u.shape.reduce((a, b) => a * b, 1));
    const widest = sizes.indexOf(Math.max(...sizes));
    const shape = units[widest].shape;
    const broadcasts = (u: number[]): boolean => u.length === shape.length && u.every((d, k) => d === shape[k] || d === 1);
    let sameAsInput = ELEMENTWISE.has(op) && units.every((u) => broadcasts(u.shape));
    if (sameAsInput) {
      const size = shape.reduce((a, b) => a * b, 1);
      sameAsInput = inputs.every((s) => !s || s.kind !== 'const' || elementCount(s.tensor) <= size);
    }
    if (!sameAsInput) {
      const dims = this.valueInfo.get(out)?.type?.tensorType?.shape?.dim;
      const declared = dims?.slice(1).map((d) => d.dimValue ?? -1);
      sameAsInput = !!declared && sameShape(declared, shape) && units.every((u) => sameShape(u.shape, shape));
    }
    if (!sameAsInput)
      fail(`node ${where}: op '${op}' is not supported and changes the tensor shape (or its output shape is unknown); it cannot be kept as a fixed barrier`);
    if ((node.output ?? []).slice(1).some((o) => o && (this.uses.get(o) ?? 0) > 0)) fail(`node ${where}: op '${op}' is not supported and has several outputs`);
    const narrow = units.find((u) => !sameShape(u.shape, shape));
    if (narrow) {
      // A layer that feeds only a barrier of another shape would feed nothing in the network model.
      fail(
        `node ${where}: op '${op}' broadcasts a tensor of shape ${describeValue(narrow.shape)} computed from the input over one of shape ${describeValue(shape)} (batch excluded), as squeeze-and-excitation gating does; this is not supported yet (the network model has no gating)`,
      );
    }
    const sources = units.map((u, k) => this.toLayer(u, `${out}:input${k}`, where));
    for (const s of sources) {
      this.fixLayer(s.layer);
      this.referenced.add(s.layer);
    }
    const base = this.layers[sources[widest].layer].shape;
    const skips = sources.filter((s) => sameShape(this.layers[s.layer].shape, base)).map((s) => s.layer);
    const result = this.materialize({ kind: 'pre', shape: base, blocks: [], skips }, 'identity', out);
    this.fixLayer(result.layer);
    this.report(name, op, [...sources.map((s) => s.layer), result.layer], 'opaque');
    return { kind: 'layer', layer: result.layer, shape };
  }
}

/** Convert a decoded ONNX graph into a network with block -> initializer bindings. */
export function importGraph(source: GraphSource): ImportedGraph {
  return new Importer(source).run();
}
