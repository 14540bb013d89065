/**
 * Concat along the channels (issue 13.1: googlenet/inception, densenet, squeezenet, U-Nets): a
 * concatenated channel is the same unit as the branch channel it came from (`Layer.concat`, tied
 * in the compiled problem). Models built here are balanced, written back and run in onnxruntime
 * before and after (outputs within 1e-5, the imported network computing what onnxruntime
 * computes, see roundTrip); a wrong unit map changes the balanced model's function there.
 */
import { describe, expect, it } from 'vitest';
import type { Network } from '../src/index.js';
import { balance, forward, readOnnx, readSafetensors, writeSafetensors } from '../src/index.js';
import { Random } from '../src/network/random.js';
import { validateNetwork } from '../src/network/validate.js';
import { compileProblem } from '../src/problem/compile.js';
import { model, node, randn, tensor, valueInfo } from './onnx/build.js';
import { roundTrip } from './onnx/roundTrip.js';
import { refusal } from './support/refusal.js';

/** An inception block (three branches joined) then a dense block (its input joined to new features). */
function inceptionDense(seed: number): Uint8Array {
  const rng = new Random(seed);
  const w = (name: string, dims: number[]): object => tensor(name, dims, randn(rng, dims, 0.5, 1.5));
  const b = (name: string, n: number): object => tensor(name, [n], randn(rng, [n], 0.1));
  return model({
    input: [valueInfo('x', ['N', 3, 8, 8])],
    output: [valueInfo('y', ['N', 2])],
    initializer: [
      w('stem.w', [4, 3, 3, 3]),
      b('stem.b', 4),
      w('b1.w', [3, 4, 1, 1]),
      b('b1.b', 3),
      w('b2.w', [5, 4, 3, 3]),
      b('b2.b', 5),
      w('b3.w', [2, 4, 1, 1]),
      w('d1.w', [6, 10, 3, 3]),
      b('d1.b', 6),
      w('t.w', [4, 16, 1, 1]),
      b('t.b', 4),
      w('fc.w', [2, 4]),
    ],
    node: [
      node('Conv', ['x', 'stem.w', 'stem.b'], ['s'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'stem'),
      node('Relu', ['s'], ['a']),
      node('Conv', ['a', 'b1.w', 'b1.b'], ['z1'], { kernel_shape: [1, 1] }, 'branch1'),
      node('Relu', ['z1'], ['r1']),
      node('Conv', ['a', 'b2.w', 'b2.b'], ['z2'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'branch2'),
      node('Relu', ['z2'], ['r2']),
      node('MaxPool', ['a'], ['m3'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'branch3_pool'),
      node('Conv', ['m3', 'b3.w'], ['z3'], { kernel_shape: [1, 1] }, 'branch3'),
      node('Relu', ['z3'], ['r3']),
      node('Concat', ['r1', 'r2', 'r3'], ['cat'], { axis: 1 }, 'inception_cat'),
      node('MaxPool', ['cat'], ['p'], { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 }, 'pool'), // 8 -> 4 (ceil)
      node('Conv', ['p', 'd1.w', 'd1.b'], ['zd'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'dense1'),
      node('Relu', ['zd'], ['rd']),
      node('Concat', ['p', 'rd'], ['cat2'], { axis: -3 }, 'dense_cat'),
      node('Conv', ['cat2', 't.w', 't.b'], ['zt'], { kernel_shape: [1, 1] }, 'transition'),
      node('Relu', ['zt'], ['rt']),
      node('GlobalAveragePool', ['rt'], ['g']),
      node('Flatten', ['g'], ['f']),
      node('Gemm', ['f', 'fc.w'], ['y'], { transB: 1 }, 'fc'),
    ],
  });
}

describe('ONNX Concat along the channels', () => {
  it("an inception block and a dense block: concatenated channels are their branches' units, balanced in onnxruntime", async () => {
    const bytes = inceptionDense(50);
    const onnx = readOnnx(bytes);
    const layers = onnx.network.layers;
    const cat = layers.findIndex((l) => l.name === 'cat');
    const cat2 = layers.findIndex((l) => l.name === 'cat2');
    expect(layers[cat].concat!.map((s) => layers[s].name)).toEqual(['r1', 'r2', 'r3']);
    expect(layers[cat].shape).toEqual([10, 4, 4]);
    expect(layers[cat].pool).toEqual({ kind: 'max', size: [3, 3], stride: [2, 2], ceil: true });
    expect(layers[cat2].concat!.map((s) => layers[s].name)).toEqual(['cat', 'rd']);
    expect(layers[cat2].shape).toEqual([16, 4, 4]);
    const r = await roundTrip(bytes, [3, 8, 8], { seed: 51 });
    expect(r.fixedOps).toEqual([]);
    // Safetensors keeps the concat layers.
    expect(readSafetensors(writeSafetensors(onnx.network)).layers[cat2].concat).toEqual(layers[cat2].concat);
  });

  it("the compiled problem gives a concatenated unit its source's factor (one variable), and balancing keeps the function", async () => {
    const onnx = readOnnx(inceptionDense(52));
    const net = onnx.network;
    const problem = compileProblem(net, { p: 2, q: 2 });
    const cat2 = net.layers.findIndex((l) => l.name === 'cat2');
    const sources = net.layers[cat2].concat!;
    let offset = 0;
    for (const s of sources) {
      for (let c = 0; c < net.layers[s].shape[0]; c++) {
        const v = problem.unitVar[problem.layerUnit0[cat2] + offset + c];
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBe(problem.unitVar[problem.layerUnit0[s] + c]);
      }
      offset += net.layers[s].shape[0];
    }
    const result = await balance(net, { p: 2, q: 2, backend: 'cpu', tol: 1e-10, maxSweeps: 50000 });
    const rng = new Random(53);
    const x = Float64Array.from({ length: 2 * 3 * 8 * 8 }, () => rng.normal());
    const before = forward(net, x, 2);
    const after = forward(result.network, x, 2);
    for (let i = 0; i < before.length; i++) expect(Math.abs(after[i] - before[i])).toBeLessThan(1e-4 * (1 + Math.abs(before[i])));
  });

  it('the network input in a Concat keeps its channels fixed; the branch is balanced', async () => {
    const rng = new Random(54);
    const bytes = model({
      input: [valueInfo('x', ['N', 2, 6, 6])],
      output: [valueInfo('y', ['N', 3])],
      initializer: [
        tensor('c.w', [4, 2, 3, 3], randn(rng, [4, 2, 3, 3], 0.5, 1.5)),
        tensor('c2.w', [5, 6, 3, 3], randn(rng, [5, 6, 3, 3], 0.5, 1.5)),
        tensor('fc.w', [3, 5 * 16], randn(rng, [3, 80], 0.3, 1.5)),
      ],
      node: [
        node('Conv', ['x', 'c.w'], ['z'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'conv'),
        node('Relu', ['z'], ['r']),
        node('Concat', ['x', 'r'], ['cat'], { axis: 1 }, 'cat'),
        node('Conv', ['cat', 'c2.w'], ['z2'], { kernel_shape: [3, 3] }, 'conv2'),
        node('Relu', ['z2'], ['r2']),
        node('Flatten', ['r2'], ['f']),
        node('Gemm', ['f', 'fc.w'], ['y'], { transB: 1 }, 'fc'),
      ],
    });
    const net = readOnnx(bytes).network;
    const problem = compileProblem(net, { p: 2, q: 2 });
    const cat = net.layers.findIndex((l) => l.name === 'cat');
    expect(Array.from({ length: 6 }, (_, c) => problem.unitVar[problem.layerUnit0[cat] + c] >= 0)).toEqual([false, false, true, true, true, true]);
    await roundTrip(bytes, [2, 6, 6], { seed: 55 });
  });

  it('Concat along another axis, of a flattened tensor, or of maps of different sizes is refused, naming the node', () => {
    const rng = new Random(56);
    const build = (nodes: object[], out: number[]): Uint8Array =>
      model({
        input: [valueInfo('x', ['N', 2, 4, 4])],
        output: [valueInfo('y', ['N', ...out])],
        initializer: [tensor('c.w', [3, 2, 3, 3], randn(rng, [3, 2, 3, 3]))],
        node: [node('Conv', ['x', 'c.w'], ['z'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'conv'), node('Relu', ['z'], ['r']), ...nodes],
      });
    expect(refusal(() => readOnnx(build([node('Concat', ['r', 'r'], ['y'], { axis: 2 }, 'cat_h')], [3, 8, 4])))).toMatch(
      /node 'cat_h' \(Concat\): op 'Concat' is not supported and changes the tensor shape/,
    );
    expect(
      refusal(() =>
        readOnnx(build([node('Flatten', ['r'], ['f']), node('Flatten', ['x'], ['g']), node('Concat', ['f', 'g'], ['y'], { axis: 1 }, 'cat_flat')], [80])),
      ),
    ).toMatch(/node 'cat_flat' \(Concat\): concatenating a flattened or reshaped tensor is not supported/);
    expect(
      refusal(() =>
        readOnnx(
          build(
            [node('MaxPool', ['r'], ['m'], { kernel_shape: [2, 2], strides: [2, 2] }), node('Concat', ['r', 'm'], ['y'], { axis: 1 }, 'cat_sizes')],
            [6, 4, 4],
          ),
        ),
      ),
    ).toMatch(/node 'cat_sizes' \(Concat\): concatenates tensors of shapes \[3,4,4\] and \[3,2,2\]/);
  });

  it('validateNetwork: concat sources must be earlier layers agreeing but for the channels, without skips or incoming blocks', () => {
    const net: Network = readOnnx(inceptionDense(57)).network;
    const cat = net.layers.findIndex((l) => l.name === 'cat');
    const variants: Array<[(n: Network) => void, RegExp]> = [
      [
        (n) => {
          n.layers[cat].concat = [cat];
        },
        /concat source \d+ must be an earlier layer/,
      ],
      [
        (n) => {
          n.layers[cat].concat = [];
        },
        /concat must be a non-empty array/,
      ],
      [
        (n) => {
          n.layers[cat].skips = [1];
        },
        /a concat layer cannot also have skips/,
      ],
      // 3 + 3 channels (the input for branch 2): 6, pooled to 4 x 4, where the layer declares 10
      [
        (n) => {
          n.layers[cat].concat = [n.layers[cat].concat![0], 0];
        },
        /\('cat'\): shapes do not chain: its inputs give \[6,4,4\]/,
      ],
      [
        (n) => {
          n.blocks.push({
            ...structuredClone(n.blocks.find((b) => b.name === 'b1.w')!),
            to: cat,
            shape: [10, 4, 1, 1],
            weight: new Float32Array(40),
            bias: null,
          } as Network['blocks'][number]);
        },
        /layer \d+ \('cat'\): a concat layer cannot have incoming blocks/,
      ],
    ];
    for (const [change, message] of variants) {
      const copy = structuredClone(net);
      change(copy);
      expect(refusal(() => validateNetwork(copy))).toMatch(message);
    }
  });
});
