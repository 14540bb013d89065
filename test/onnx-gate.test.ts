/**
 * Squeeze-and-excitation (issue 13.1: MobileNetV3, EfficientNet): `Mul(x, s)` with `s` of shape
 * [N, C, 1, 1] is modelled exactly as a gated layer (`Layer.gate`): tied to `x` (scaling channel
 * `c` of `x` scales the product, while the squeeze branch's first weights absorb the inverse), the
 * branch's hidden units rescalable, the gate's units fixed. Balanced, written back and run in
 * onnxruntime (outputs within 1e-5, see roundTrip).
 */
import { describe, expect, it } from 'vitest';
import { balance, forward, readOnnx, readSafetensors, writeSafetensors } from '../src/index.js';
import { Random } from '../src/network/random.js';
import { validateNetwork } from '../src/network/validate.js';
import { compileProblem } from '../src/problem/compile.js';
import { model, node, randn, tensor, valueInfo } from './onnx/build.js';
import { squeezeExcite } from './onnx/opModels.js';
import { roundTrip } from './onnx/roundTrip.js';
import { refusal } from './support/refusal.js';

const index = (net: { layers: { name: string }[] }, name: string): number => net.layers.findIndex((l) => l.name === name);

describe('ONNX squeeze-and-excitation', () => {
  it('FCs as 1x1 Convs and a Sigmoid: a gated layer tied to x; balanced, it keeps its function in onnxruntime', async () => {
    const bytes = squeezeExcite(2, 'conv');
    const onnx = readOnnx(bytes);
    const net = onnx.network;
    const excited = net.layers[index(net, 'excited')];
    expect(excited.skips).toEqual([index(net, 'a1')]);
    expect(excited.gate).toBe(index(net, 's'));
    expect(onnx.fixedUnits.find((f) => f.op === 'Mul')).toEqual({
      node: 'excite',
      op: 'Mul',
      modelled: 'gate',
      layers: [{ layer: index(net, 's'), name: 's', units: 4 }],
    });
    const r = await roundTrip(bytes, [2, 6, 6], { seed: 3 });
    expect(r.fixedOps).toEqual(['Sigmoid', 'Mul']);
  });

  it('FCs as Gemms, a HardSigmoid (a barrier) and an Unsqueeze or a Reshape, Mul(s, x): balanced, it keeps its function in onnxruntime', async () => {
    const bytes = squeezeExcite(4, 'gemm');
    const net = readOnnx(bytes).network;
    expect(net.layers[index(net, 'excited')].skips).toEqual([index(net, 'a1')]);
    expect(net.layers[net.layers[index(net, 'excited')].gate!].shape).toEqual([4]);
    // The HardSigmoid is an identity barrier in the network (so forward differs there), exact in the file.
    const r = await roundTrip(bytes, [2, 6, 6], { seed: 5, exactForward: false });
    expect(r.fixedOps).toEqual(['HardSigmoid', 'Mul']);
    // The same with a Reshape to [-1, C, 1, 1] (s.view(n, c, 1, 1)).
    await roundTrip(squeezeExcite(5, 'gemm-reshape'), [2, 6, 6], { seed: 6, exactForward: false });
  });

  it("x's channels, the gated ones and the branch's hidden units move; the gate does not; better than fixing the Mul's channels", async () => {
    const net = readOnnx(squeezeExcite(6, 'conv')).network;
    const problem = compileProblem(net, { p: 2, q: 2 });
    const unitVar = (name: string, c: number): number => problem.unitVar[problem.layerUnit0[index(net, name)] + c];
    for (let c = 0; c < 4; c++) {
      expect(unitVar('a1', c)).toBeGreaterThanOrEqual(0);
      expect(unitVar('excited', c)).toBe(unitVar('a1', c));
      expect(unitVar('sq', c)).toBe(unitVar('a1', c)); // the squeeze reads x: its first weights absorb 1 / a
      expect(unitVar('s', c)).toBe(-1);
    }
    for (let h = 0; h < 3; h++) expect(unitVar('e1r', h)).toBeGreaterThanOrEqual(0);
    // A gate is fixed by definition, whatever its activation (not merely frozen for feeding no block).
    const reluGate = structuredClone(net);
    reluGate.layers[index(net, 's')].activation = 'relu';
    const gated = compileProblem(reluGate, { p: 2, q: 2 });
    expect(gated.frozen.filter((u) => u.layer === index(net, 's'))).toEqual([]);
    for (let c = 0; c < 4; c++) expect(gated.unitVar[gated.layerUnit0[index(net, 's')] + c]).toBe(-1);
    const options = { p: 2, q: 2, backend: 'cpu' as const, tol: 1e-10, maxSweeps: 50000 };
    const exact = await balance(net, options);
    const rng = new Random(7);
    const x = Float64Array.from({ length: 2 * 72 }, () => rng.normal());
    const before = forward(net, x, 2);
    const after = forward(exact.network, x, 2);
    for (let i = 0; i < before.length; i++) expect(Math.abs(after[i] - before[i])).toBeLessThan(1e-6 * (1 + Math.abs(before[i])));
    // The barrier alternative: the Mul's input channels fixed.
    const barrier = structuredClone(net);
    barrier.layers[index(net, 'a1')].fixed = [0, 1, 2, 3];
    const fixed = await balance(barrier, options);
    expect(exact.finalNorm).toBeLessThan(fixed.finalNorm * 0.99);
  });

  it('another op broadcasting [C, 1, 1] over x (an Add), or a Mul of a flattened gate over a map, is refused, naming the node', () => {
    const rng = new Random(9);
    const build = (op: string, gateShape: 'map' | 'flat'): Uint8Array =>
      model({
        input: [valueInfo('x', ['N', 2, 4, 4])],
        output: [valueInfo('y', ['N', 2, 4, 4])],
        initializer: [tensor('c.weight', [2, 2, 1, 1], randn(rng, [2, 2, 1, 1]))],
        node: [
          node('GlobalAveragePool', ['x'], ['sq'], {}, 'squeeze'),
          node('Conv', ['sq', 'c.weight'], ['e'], { kernel_shape: [1, 1] }, 'fc'),
          node('Sigmoid', ['e'], ['s0'], {}, 'sigmoid'),
          ...(gateShape === 'flat' ? [node('Flatten', ['s0'], ['s'])] : [node('Identity', ['s0'], ['s'])]),
          node(op, ['x', 's'], ['y'], {}, 'combine'),
        ],
      });
    expect(refusal(() => readOnnx(build('Add', 'map')))).toMatch(
      /node 'combine' \(Add\): adds tensors of shapes \[2,4,4\] and \[2,1,1\]|node 'combine' \(Add\): .*broadcasts/,
    );
    expect(refusal(() => readOnnx(build('Mul', 'flat')))).toMatch(
      /node 'combine' \(Mul\): op 'Mul' is not supported and changes the tensor shape|node 'combine' \(Mul\)/,
    );
    // The control: the same graph with a Mul by the [C, 1, 1] gate is read.
    expect(readOnnx(build('Mul', 'map')).network.layers.at(-1)!.gate).toBeGreaterThan(0);
  });

  it('safetensors keeps the gate; validateNetwork refuses a gate that is not one value per unit, or not an earlier layer', () => {
    const net = readOnnx(squeezeExcite(8, 'conv')).network;
    const k = index(net, 'excited');
    const again = readSafetensors(writeSafetensors(net));
    expect(again.layers[k].gate).toBe(net.layers[k].gate);
    const x = Float64Array.from({ length: 72 }, (_, i) => Math.sin(i));
    expect(Array.from(forward(again, x))).toEqual(Array.from(forward(net, x)));
    const wide = structuredClone(net);
    wide.layers[k].gate = index(net, 'a1');
    expect(refusal(() => validateNetwork(wide))).toMatch(
      /layer \d+ \('excited'\): its gate, layer \d+, has shape \[4,6,6\]; a gate needs one value per unit \(4\)/,
    );
    const later = structuredClone(net);
    later.layers[k].gate = k;
    expect(refusal(() => validateNetwork(later))).toMatch(/gate \d+ must be an earlier layer/);
  });
});
