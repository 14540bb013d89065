/**
 * The importer's working state while it walks an ONNX graph: what each tensor is (state.ts),
 * the layers and blocks built so far, and the operations every op handler shares: turning a
 * pending sum into a layer, applying an activation or a pool to a layer, fixing units, and the
 * opaque barrier for ops the network model cannot express. The op handlers (layerOps.ts,
 * unitOps.ts, shapeOps.ts) read and extend it; importGraph.ts drives it node by node.
 */
import { describeValue } from '../../errors.js';
import type { Activation, Block, Layer, Pool, WeightArray } from '../../network/types.js';
import { pooledSize } from '../../network/validate.js';
import type { BlockBinding } from './bindings.js';
import type { GraphProto, NodeProto, TensorProto, ValueInfoProto } from './schema.js';
import type { ConstState, LayerState, PreState, State } from './state.js';
import { fail, sameShape } from './state.js';
import type { blockWeights, WeightLayout } from './tensor.js';
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
   * as such a barrier; `gate`: the gate of a squeeze-and-excitation `Mul(x, s)` (`Layer.gate`),
   * modelled exactly.
   */
  modelled: 'activation' | 'opaque' | 'unfoldable' | 'gate';
}

/** What the importer needs from the file besides the graph. */
export interface GraphSource {
  graph: GraphProto;
  /** Float values of initializer `index` as float64 (biases, parameters); `writable` ones must be rewritable in place. */
  floatValues(index: number, writable: boolean): Float64Array;
  /** A block's weights from initializer `index` (rewritable in place), as one new array of the block's own: see {@link blockWeights}. */
  weightValues(index: number, layout: WeightLayout): WeightArray;
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

export class GraphBuilder {
  readonly layers: Layer[] = [];
  readonly blocks: Block[] = [];
  readonly bindings: BlockBinding[] = [];
  readonly fixedUnits: OnnxFixedUnits[] = [];
  readonly foldedBatchNorms: string[] = [];
  inputTranspose: number[] | null = null;
  readonly states = new Map<string, State>();
  /** For each layer, the tensor names that show its output (an index into `states`). */
  readonly layerNames = new Map<number, string[]>();
  readonly blockNames = new Set<string>();
  /** Outputs of zero Pads over the spatial axes, `[ph, pw]`, folded into the Conv that reads them. */
  readonly zeroPads = new Map<string, [number, number]>();
  readonly uses = new Map<string, number>();
  readonly initializerIndex = new Map<string, number>();
  readonly valueInfo = new Map<string, ValueInfoProto>();
  /** Layers already read by a block or a skip: their activation and pooling are final. */
  readonly referenced = new Set<number>();
  readonly graphOutput: string;
  batch: number | null = null;

  constructor(readonly source: GraphSource) {
    const graph = source.graph;
    (graph.initializer ?? []).forEach((t, k) => this.initializerIndex.set(t.name ?? '', k));
    for (const v of [...(graph.valueInfo ?? []), ...(graph.output ?? []), ...(graph.input ?? [])]) this.valueInfo.set(v.name ?? '', v);
    const outputs = graph.output ?? [];
    if (outputs.length !== 1) fail(`the graph has ${outputs.length} outputs (${outputs.map((o) => `'${o.name}'`).join(', ')}); exactly one is supported`);
    this.graphOutput = outputs[0].name ?? '';
  }

  label(node: NodeProto, index: number): string {
    return node.name ? node.name : `#${index}`;
  }

  state(name: string, where: string): State {
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
  weightInput(state: State | null, what: string, where: string): ConstState & { initializer: number } {
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
  blockName(weight: TensorProto, node: string): string {
    const full = weight.name ?? '';
    const base = full.endsWith('.weight') ? full.slice(0, -'.weight'.length) : full;
    const name = base === '' || this.blockNames.has(base) ? node : base;
    this.blockNames.add(name);
    return name;
  }

  floatValues(c: ConstState & { initializer: number }): Float64Array {
    return this.source.floatValues(c.initializer, true);
  }

  /** A block's weights from a weight input (see {@link GraphSource.weightValues}). */
  weightValues(c: ConstState & { initializer: number }, layout: WeightLayout): WeightArray {
    return this.source.weightValues(c.initializer, layout);
  }

  /** Record a tensor's state, indexing the names that show each layer's output. */
  setState(name: string, state: State): void {
    this.states.set(name, state);
    if (state.kind !== 'layer') return;
    const names = this.layerNames.get(state.layer);
    if (names) names.push(name);
    else this.layerNames.set(state.layer, [name]);
  }

  /** Whether a name that shows a layer's output is still to be read (or is the graph output). */
  layerStillRead(layer: number): boolean {
    for (const name of this.layerNames.get(layer) ?? []) {
      const s = this.states.get(name);
      if (s?.kind === 'layer' && s.layer === layer && ((this.uses.get(name) ?? 0) > 0 || name === this.graphOutput)) return true;
    }
    return false;
  }

  /** Whether a layer may still change its activation or pooling: nothing else reads its output. */
  canMutate(layer: number): boolean {
    return layer !== 0 && !this.referenced.has(layer) && !this.layerStillRead(layer);
  }

  /** Turn a pending sum into a layer. */
  materialize(pre: PreState, activation: Activation, name: string, extra: { pool?: Pool; negativeSlope?: number } = {}): LayerState {
    const k = this.layers.length;
    let shape = pre.shape;
    if (extra.pool) shape = this.pooledShape(shape, extra.pool, name);
    const layer: Layer = { name, shape, activation };
    if (extra.negativeSlope !== undefined) layer.negativeSlope = extra.negativeSlope;
    if (pre.skips.length > 0) layer.skips = [...pre.skips];
    if (extra.pool) layer.pool = extra.pool;
    this.layers.push(layer);
    for (const b of pre.blocks) {
      // The pending weights are the block's own (never a view of the file): kept, not copied, in its precision.
      const weight = b.weight instanceof Float64Array === b.double ? b.weight : b.double ? Float64Array.from(b.weight) : Float32Array.from(b.weight);
      const bias = b.bias ? (b.double ? Float64Array.from(b.bias) : Float32Array.from(b.bias)) : null;
      const common = { name: b.name, from: b.from, to: k, weight, bias };
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
              ...(b.transposed ? { transposed: b.transposed } : {}),
            },
      );
      this.bindings.push(b.binding);
    }
    return { kind: 'layer', layer: k, shape };
  }

  toLayer(state: State, name: string, where: string): LayerState {
    if (state.kind === 'layer') return state;
    if (state.kind === 'pre') return this.materialize(state, 'identity', name);
    return fail(`node ${where}: expected a tensor computed from the input, found a constant`);
  }

  pooledShape(shape: number[], pool: Pool, where: string): number[] {
    if (shape.length !== 3) fail(`node ${where}: pooling needs a [batch, channels, height, width] tensor`);
    const h = pooledSize(shape[1], pool, 0);
    const w = pooledSize(shape[2], pool, 1);
    if (!(h > 0 && w > 0)) fail(`node ${where}: the pooling window ${describeValue(pool.size)} is larger than the input ${describeValue(shape.slice(1))}`);
    return [shape[0], h, w];
  }

  /** Apply an activation and/or a pool to a layer's output: in place when nothing else reads it, else as a new tied layer. */
  applyToLayer(state: LayerState, activation: Activation, name: string, where: string, extra: { pool?: Pool; negativeSlope?: number } = {}): LayerState {
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

  fixLayer(layer: number): void {
    const l = this.layers[layer];
    l.fixed = Array.from({ length: l.shape[0] }, (_, c) => c);
  }

  report(node: string, op: string, layers: number[], modelled: OnnxFixedUnits['modelled']): void {
    const unique = [...new Set(layers)].filter((k) => k > 0);
    this.fixedUnits.push({ node, op, modelled, layers: unique.map((k) => ({ layer: k, name: this.layers[k].name, units: this.layers[k].shape[0] })) });
  }

  /** Whether the raw graph input has no other reader left. */
  canMutateInput(): boolean {
    return !this.layerStillRead(0);
  }

  /**
   * An op the network model cannot rescale through: the units it reads become fixed layers, and
   * its output a new layer of fixed units tied to them (shape-preserving ops only).
   */
  opaque(node: NodeProto, op: string, inputs: (State | null)[], name: string, where: string, out: string): LayerState {
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
        `node ${where}: op '${op}' broadcasts a tensor of shape ${describeValue(narrow.shape)} computed from the input over one of shape ${describeValue(shape)} (batch excluded); not supported (a Mul by a per-channel gate of shape [C, 1, 1], as in squeeze-and-excitation, is)`,
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
