/**
 * ONNX graph -> {@link Network}. Nodes are interpreted symbolically in their (topological) file
 * order. A tensor is either the output of a layer (possibly a flattened or reshaped view of it), a
 * pending pre-activation (a sum of weight blocks and residual skips not yet passed through an
 * activation), a constant, a value that carries no units (shapes), or the middle of a channel
 * shuffle. Activations, pooling and unknown ops turn pending sums into layers.
 *
 * Ops: Gemm, MatMul (+ Add of a bias), Conv and Conv1d (groups, depthwise, symmetric pads, strides,
 * dilations), ConvTranspose (the same, and output_padding), Relu, LeakyRelu, Sigmoid, Tanh, Softmax,
 * MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool, ReduceMean over the spatial axes (a
 * GlobalAveragePool), Flatten, Reshape, Squeeze and Unsqueeze (to flatten, or [C] to [C, 1, 1]),
 * Concat and Split along the channels (layers of their inputs' units), a channel shuffle (Reshape, Transpose,
 * Reshape: a permutation of units, shuffle.ts), a squeeze-and-excitation Mul by a per-channel gate
 * (`Layer.gate`), a constant-zero Pad (the identity when all pads are 0, else folded into the Conv
 * or AveragePool after it), Add and Sum of branches (residuals), Identity, Dropout,
 * BatchNormalization (folded into the Conv/ConvTranspose/Gemm/MatMul before it, see fold.ts). Any
 * other op is kept as a fixed barrier: the units it reads and writes get factor 1 and are
 * reported. The op handlers live in layerOps.ts, unitOps.ts, shapeOps.ts and shuffle.ts, the
 * shared state and the barrier in builder.ts, shape arithmetic in shapes.ts.
 */

import type { Network } from '../../network/types.js';
import { validateNetwork, validateStructure } from '../../network/validate.js';
import { attrInt, attribute } from './attributes.js';
import type { BlockBinding } from './bindings.js';
import type { GraphSource, OnnxFixedUnits } from './builder.js';
import { GraphBuilder } from './builder.js';
import { foldBatchNorm } from './fold.js';
import { conv, convTranspose, dense } from './layerOps.js';
import type { NodeProto } from './schema.js';
import { pad, reduceMean, transposeInput } from './shapeOps.js';
import { shapeArithmetic } from './shapes.js';
import { split, transposeGroups } from './shuffle.js';
import type { State } from './state.js';
import { fail } from './state.js';
import { capturedNames, subgraphs } from './subgraphs.js';
import { activation, add, concat, flatten, gate, pool } from './unitOps.js';

export type { GraphSource, OnnxFixedUnits } from './builder.js';

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

/** Ops whose output depends only on the input's shape, never its values. */
const SHAPE_ONLY = new Set(['Shape', 'Size']);

class Importer extends GraphBuilder {
  /** `checkValues`: validate the values too (else the structure only: the caller's `balance()` reads them). */
  run(checkValues: boolean): ImportedGraph {
    const graph = this.source.graph;
    this.addInput();
    const nodes = graph.node ?? [];
    const reachable = this.reachableNodes(nodes);
    for (const k of reachable) for (const name of nodes[k].input ?? []) if (name) this.uses.set(name, (this.uses.get(name) ?? 0) + 1);
    for (const k of reachable) this.visit(nodes[k], k);
    this.finishOutput();
    const network: Network = { layers: this.layers, blocks: this.blocks };
    try {
      if (checkValues) validateNetwork(network);
      else validateStructure(network);
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
    if (state.kind === 'shuffled')
      fail(`the graph output '${this.graphOutput}' is the middle of a channel shuffle (Reshape, Transpose) without the Reshape back`);
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
    this.checkReads(node, op, where);
    const shuffled = (node.input ?? []).find((_, k) => inputs[k]?.kind === 'shuffled');
    if (shuffled !== undefined && op !== 'Reshape' && !SHAPE_ONLY.has(op))
      fail(`node ${where} reads '${shuffled}', the transposed groups of a channel shuffle; only a Reshape back to [N, C, H, W] may read them`);
    const carriesUnits = inputs.some((s) => s && (s.kind === 'layer' || s.kind === 'pre' || s.kind === 'shuffled'));
    if (op === 'Constant') {
      const t = attribute(node, 'value')?.t;
      this.states.set(out, t ? { kind: 'const', tensor: t, initializer: null } : { kind: 'meta' });
    } else if (op === 'Identity' && inputs[0]?.kind === 'const') {
      // Exporters sometimes pass an initializer through Identity: the weight stays that initializer.
      this.states.set(out, inputs[0]);
    } else if (op === 'Split' && carriesUnits) {
      split(this, node, inputs, where).forEach((state, k) => {
        if (state) this.setState(outputs[k], state);
      });
    } else if (SHAPE_ONLY.has(op) || !carriesUnits) {
      const values = shapeArithmetic(node, op, inputs, this.batch);
      for (const o of outputs) if (o) this.states.set(o, values ? { kind: 'meta', values } : { kind: 'meta' });
    } else {
      let state = this.unitOp(node, op, inputs, name, where, out);
      // A pending sum read twice is one layer both readers share.
      if (state.kind === 'pre' && (this.uses.get(out) ?? 0) > 1) state = this.materialize(state, 'identity', out);
      this.setState(out, state);
    }
  }

  /** Refuse a subgraph reading the network's activations, and a zero Pad read by anything but a Conv or a pool. */
  private checkReads(node: NodeProto, op: string, where: string): void {
    for (const captured of capturedNames(node)) {
      const s = this.states.get(captured);
      // The input's values never change (its units are fixed); any other activation may.
      if (s && (s.kind === 'pre' || (s.kind === 'layer' && s.layer !== 0))) {
        fail(
          `node ${where}: its subgraph reads '${captured}', a tensor computed from the input; ops whose subgraphs read the network's activations are not supported`,
        );
      }
    }
    // A Conv or a pool reading a zero Pad as its input X takes the padding (or refuses it, naming the pool).
    const padded = (node.input ?? []).find((i, k) => this.zeroPads.has(i) && (!['Conv', 'MaxPool', 'AveragePool'].includes(op) || k !== 0));
    if (padded !== undefined) {
      fail(
        `node ${where} reads '${padded}', the output of a zero Pad; a Pad is only supported before a Conv or an AveragePool (folded into its padding) or when all its pads are 0`,
      );
    }
  }

  /** The state of the output of an op that reads units. */
  private unitOp(node: NodeProto, op: string, inputs: (State | null)[], name: string, where: string, out: string): State {
    const extraOutputs = (node.output ?? []).slice(1).filter((o) => o && (this.uses.get(o) ?? 0) > 0);
    switch (op) {
      case 'Gemm':
      case 'MatMul':
        return dense(this, node, op, inputs, name, where, out);
      case 'Conv':
        return conv(this, node, inputs, name, where, out);
      case 'ConvTranspose':
        return convTranspose(this, node, inputs, name, where, out);
      case 'Add':
      case 'Sum':
        return add(this, node, op, inputs, name, where, out);
      case 'Concat':
        return concat(this, node, inputs, name, where, out);
      case 'Mul':
        return gate(this, inputs, name, where, out) ?? this.opaque(node, op, inputs, name, where, out);
      case 'BatchNormalization':
        if (extraOutputs.length > 0 || attrInt(node, 'training_mode', 0) !== 0) fail(`node ${where}: training-mode BatchNormalization is not supported`);
        return this.batchNorm(node, inputs, name, where, out);
      case 'Relu':
      case 'LeakyRelu':
      case 'Sigmoid':
      case 'Tanh':
      case 'Softmax':
        return activation(this, node, op, inputs[0]!, name, where, out);
      case 'MaxPool':
      case 'AveragePool':
      case 'GlobalAveragePool':
      case 'GlobalMaxPool':
        if (extraOutputs.length > 0) fail(`node ${where}: the Indices output of MaxPool is not supported`);
        return pool(this, node, op, inputs[0]!, where, out);
      case 'Flatten':
      case 'Reshape':
      case 'Squeeze':
      case 'Unsqueeze':
        return flatten(this, node, op, inputs, where, out);
      case 'Pad':
        return pad(this, node, inputs, where, out);
      case 'ReduceMean':
        return reduceMean(this, node, inputs, name, where, out);
      case 'Transpose':
        return (
          transposeGroups(this, node, inputs[0]!, where) ??
          transposeInput(this, node, inputs[0]!, where, out) ??
          this.opaque(node, op, inputs, name, where, out)
        );
      case 'Identity':
      case 'Dropout':
        if (extraOutputs.length > 0) fail(`node ${where}: the mask output of Dropout is not supported`);
        return inputs[0]!;
      default:
        return this.opaque(node, op, inputs, name, where, out);
    }
  }

  /** A BatchNormalization folded into the block before it, or else a barrier of fixed units. */
  private batchNorm(node: NodeProto, inputs: (State | null)[], name: string, where: string, out: string): State {
    const folded = foldBatchNorm(node, inputs, where, (i, w) => this.source.floatValues(i, w));
    if (folded) {
      this.foldedBatchNorms.push(name);
      return folded;
    }
    const barrier = this.opaque(node, 'BatchNormalization', inputs, name, where, out);
    this.fixedUnits[this.fixedUnits.length - 1].modelled = 'unfoldable';
    return barrier;
  }
}

/** Convert a decoded ONNX graph into a network with block -> initializer bindings (its values checked finite unless `checkValues` is `false`). */
export function importGraph(source: GraphSource, checkValues = true): ImportedGraph {
  return new Importer(source).run(checkValues);
}
