/**
 * Channel split and shuffle (issue 13.1, ShuffleNet). A Split along the channels gives layers of
 * consecutive source units. A channel shuffle: Reshape [N, C, H, W] -> [N, g, C/g, H, W], Transpose
 * perm [0, 2, 1, 3, 4], Reshape back is a permutation of units (`Layer.concat` of one source with
 * `select`): each shuffled unit shares its source unit's factor. Balanced, written back and run in
 * onnxruntime (outputs within 1e-5, see roundTrip); any other Transpose or Reshape of the grouped
 * tensor is refused, naming the node.
 */
import { describe, expect, it } from 'vitest';
import { forward, readOnnx, readSafetensors, writeSafetensors } from '../src/index.js';
import { Random } from '../src/network/random.js';
import { validateNetwork } from '../src/network/validate.js';
import { compileProblem } from '../src/problem/compile.js';
import { int64Tensor, model, node, randn, relativeError, runOrt, tensor, valueInfo } from './onnx/build.js';
import { shuffleNet, shuffleUnit } from './onnx/opModels.js';
import { roundTrip } from './onnx/roundTrip.js';
import { refusal } from './support/refusal.js';

/** Shuffling 8 channels in 2 groups: output channel 2i + j is input channel 4j + i. */
const SHUFFLE_8_2 = [0, 4, 1, 5, 2, 6, 3, 7];

describe('ONNX channel shuffle', () => {
  it('is a layer of its source units in shuffled order; balanced, it keeps its function in onnxruntime', async () => {
    const bytes = shuffleNet(1);
    const net = readOnnx(bytes).network;
    const k = net.layers.findIndex((l) => l.name === 'shuffled');
    expect(net.layers[net.layers[k].concat![0]].name).toBe('cat');
    expect(net.layers[k].select).toEqual(SHUFFLE_8_2);
    const r = await roundTrip(bytes, [3, 8, 8], { seed: 2 });
    expect(r.fixedOps).toEqual([]);
  });

  it('with the shapes computed by Shape -> Gather -> Unsqueeze -> Concat of Constant nodes (a dynamic batch), as torch.onnx emits them', async () => {
    const bytes = shuffleNet(3, { dynamicShape: true });
    expect(readOnnx(bytes).network.layers.find((l) => l.name === 'shuffled')!.select).toEqual(SHUFFLE_8_2);
    await roundTrip(bytes, [3, 8, 8], { seed: 4 });
  });

  it('a ShuffleNetV2 unit of stride 1: Split along the channels (sizes, or num_outputs at opset 18), a branch, Concat, shuffle', async () => {
    for (const opset of [13, 18] as const) {
      const bytes = shuffleUnit(20 + opset, opset);
      const net = readOnnx(bytes).network;
      const [x1, x2] = ['x1', 'x2'].map((name) => net.layers.find((l) => l.name === name)!);
      expect([x1.select, x2.select]).toEqual([
        [0, 1, 2, 3],
        [4, 5, 6, 7],
      ]);
      const problem = compileProblem(net, { p: 2, q: 2 });
      const k2 = net.layers.indexOf(x2);
      const source = x2.concat![0];
      for (let c = 0; c < 4; c++) expect(problem.unitVar[problem.layerUnit0[k2] + c]).toBe(problem.unitVar[problem.layerUnit0[source] + 4 + c]);
      await roundTrip(bytes, [3, 6, 6], { seed: opset });
    }
  });

  it('the compiled problem gives a shuffled unit its source unit variable; in the order of the file the function would change', async () => {
    const bytes = shuffleNet(5);
    const net = readOnnx(bytes).network;
    const k = net.layers.findIndex((l) => l.name === 'shuffled');
    const source = net.layers[k].concat![0];
    const problem = compileProblem(net, { p: 2, q: 2 });
    SHUFFLE_8_2.forEach((u, c) => {
      const v = problem.unitVar[problem.layerUnit0[k] + c];
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBe(problem.unitVar[problem.layerUnit0[source] + u]);
    });
    // The permutation matters: without it the network no longer computes what onnxruntime does.
    const rng = new Random(6);
    const x = Float32Array.from({ length: 2 * 3 * 64 }, () => rng.normal());
    const ort = await runOrt(bytes, x, [2, 3, 8, 8]);
    expect(relativeError(ort, forward(net, x, 2))).toBeLessThan(1e-5);
    const unshuffled = structuredClone(net);
    delete unshuffled.layers[k].select;
    expect(relativeError(ort, forward(unshuffled, x, 2))).toBeGreaterThan(1e-3);
    // Safetensors keeps the permutation.
    expect(readSafetensors(writeSafetensors(net)).layers[k].select).toEqual(SHUFFLE_8_2);
  });

  it('another Transpose of the grouped channels, another Reshape of the transposed ones, or another op reading them is refused, naming the node', () => {
    expect(refusal(() => readOnnx(shuffleNet(7, { perm: [0, 1, 2, 4, 3] })))).toMatch(
      /node 'shuffle_transpose' \(Transpose\): transposes a \[N, g, C\/g, H, W\] view of channels with perm \[0,1,2,4,3\]; only the channel shuffle's perm/,
    );
    const rng = new Random(8);
    const build = (tail: object[], out: number[]): Uint8Array =>
      model({
        input: [valueInfo('x', ['N', 4, 3, 3])],
        output: [valueInfo('y', ['N', ...out])],
        initializer: [
          tensor('c.weight', [4, 4, 1, 1], randn(rng, [4, 4, 1, 1])),
          int64Tensor('grouped_shape', [0, 2, 2, 3, 3]),
          int64Tensor('other_shape', [0, 2, 18]),
          int64Tensor('map_shape', [0, 4, 3, 3]),
        ],
        node: [
          node('Conv', ['x', 'c.weight'], ['z'], { kernel_shape: [1, 1] }, 'conv'),
          node('Relu', ['z'], ['r']),
          node('Reshape', ['r', 'grouped_shape'], ['grouped'], {}, 'view'),
          node('Transpose', ['grouped'], ['swapped'], { perm: [0, 2, 1, 3, 4] }, 'swap'),
          ...tail,
        ],
      });
    expect(refusal(() => readOnnx(build([node('Reshape', ['swapped', 'other_shape'], ['y'], {}, 'back_wrong')], [2, 18])))).toMatch(
      /node 'back_wrong' \(Reshape\): reshapes a channel shuffle's transposed tensor \[2,2,3,3\] to \[2,18\] \(batch excluded\); only the reshape back to \[4,3,3\]/,
    );
    expect(refusal(() => readOnnx(build([node('Relu', ['swapped'], ['y'], {}, 'relu_between')], [2, 2, 3, 3])))).toMatch(
      /node 'relu_between' \(Relu\) reads 'swapped', the transposed groups of a channel shuffle; only a Reshape back/,
    );
    expect(refusal(() => readOnnx(build([node('Identity', ['swapped'], ['y'], {}, 'identity_between')], [2, 2, 3, 3])))).toMatch(
      /node 'identity_between' \(Identity\) reads 'swapped'/,
    );
    expect(refusal(() => readOnnx(build([node('Split', ['r'], ['y', 'y2'], { axis: 2 }, 'split_h')], [4, 1, 3])))).toMatch(
      /node 'split_h' \(Split\): Split along axis 2 is not supported; only along the channels/,
    );
    // The whole shuffle is accepted (a control for the refusals above).
    const ok = readOnnx(build([node('Reshape', ['swapped', 'map_shape'], ['y'], {}, 'back')], [4, 3, 3])).network;
    expect(ok.layers.at(-1)!.select).toEqual([0, 2, 1, 3]);
    // A Reshape to any other 4-D shape is still refused.
    const other = model({
      input: [valueInfo('x', ['N', 4, 3, 3])],
      output: [valueInfo('y', ['N', 3])],
      initializer: [
        tensor('c.weight', [4, 4, 1, 1], randn(rng, [4, 4, 1, 1])),
        int64Tensor('s', [0, 4, 9, 1]),
        tensor('fc.weight', [3, 36], randn(rng, [3, 36])),
      ],
      node: [
        node('Conv', ['x', 'c.weight'], ['z'], { kernel_shape: [1, 1] }, 'conv'),
        node('Reshape', ['z', 's'], ['v'], {}, 'odd_view'),
        node('Flatten', ['v'], ['f']),
        node('Gemm', ['f', 'fc.weight'], ['y'], { transB: 1 }, 'fc'),
      ],
    });
    expect(refusal(() => readOnnx(other))).toMatch(/node 'odd_view' \(Reshape\): reshaping \[4,3,3\] to \[4,9,1\] \(batch excluded\) is not supported/);
  });

  it('validateNetwork: select needs concat and names units of the sources', () => {
    const net = readOnnx(shuffleNet(9)).network;
    const k = net.layers.findIndex((l) => l.name === 'shuffled');
    const broken = structuredClone(net);
    broken.layers[k].select = [0, 1, 2, 3, 4, 5, 6, 8];
    expect(refusal(() => validateNetwork(broken))).toMatch(/layer \d+ \('shuffled'\): select names unit 8; its sources have 8/);
    const noConcat = structuredClone(net);
    delete noConcat.layers[k].concat;
    expect(refusal(() => validateNetwork(noConcat))).toMatch(/select needs concat/);
  });
});
