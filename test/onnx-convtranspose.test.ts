/**
 * ConvTranspose (issue 13.1: decoders, U-Nets): weight `[in, out / groups, kh, kw]` joins the
 * same channel pairs as a Conv with in and out swapped; the network keeps it in the conv block
 * layout (`Conv2dBlock.transposed`), the writer maps it back. Groups, strides, pads,
 * output_padding, dilations and a folded BatchNormalization, balanced, written back and run in
 * onnxruntime (outputs within 1e-5, the imported network computing what onnxruntime computes).
 */
import { describe, expect, it } from 'vitest';
import { forward, readOnnx, readSafetensors, writeSafetensors } from '../src/index.js';
import { blockShape, fromStoredLayout, storedIndex, storedShape, toStoredLayout } from '../src/network/convTranspose.js';
import { Random } from '../src/network/random.js';
import { blockOutputShape, validateNetwork } from '../src/network/validate.js';
import { model, node, randn, tensor, valueInfo } from './onnx/build.js';
import { upsampler } from './onnx/opModels.js';
import { roundTrip } from './onnx/roundTrip.js';
import { refusal } from './support/refusal.js';

describe('ONNX ConvTranspose', () => {
  it('grouped, strided, padded, output-padded, dilated, with a folded BatchNormalization: balanced, it keeps its function in onnxruntime', async () => {
    const bytes = upsampler(1);
    const onnx = readOnnx(bytes);
    const [up1, up2] = onnx.network.blocks.filter((b) => b.kind === 'conv2d' && b.transposed);
    expect(up1).toMatchObject({ name: 'up1', shape: [4, 3, 3, 3], groups: 2, stride: [2, 2], padding: [1, 1], transposed: { outputPadding: [1, 1] } });
    expect(up2).toMatchObject({ name: 'up2', shape: [3, 4, 2, 2], groups: 1, dilation: [2, 1], transposed: { outputPadding: [0, 0] } });
    expect(blockOutputShape(onnx.network, up1)).toEqual([4, 10, 10]);
    expect(blockOutputShape(onnx.network, up2)).toEqual([3, 12, 11]);
    expect(onnx.foldedBatchNorms).toEqual(['bn']);
    const r = await roundTrip(bytes, [4, 5, 5], { seed: 2 });
    expect(r.fixedOps).toEqual([]);
  });

  it('ConvTranspose1d after a Conv1d (rank-3 tensors, output_padding [1]) is a 2-D one of height 1', async () => {
    const rng = new Random(7);
    const bytes = model({
      input: [valueInfo('x', ['N', 2, 9])],
      output: [valueInfo('y', ['N', 3, 19])],
      initializer: [
        tensor('enc.weight', [4, 2, 3], randn(rng, [4, 2, 3], 0.5, 1.5)),
        tensor('up.weight', [4, 3, 4], randn(rng, [4, 3, 4], 0.5, 1.5)),
        tensor('up.bias', [3], randn(rng, [3], 0.2)),
      ],
      node: [
        node('Conv', ['x', 'enc.weight'], ['e'], { kernel_shape: [3], pads: [1, 1] }, 'enc'),
        node('Relu', ['e'], ['er']),
        node('ConvTranspose', ['er', 'up.weight', 'up.bias'], ['y'], { kernel_shape: [4], strides: [2], pads: [1, 1], output_padding: [1] }, 'up'), // (9 - 1) 2 - 2 + 4 + 1 = 19
      ],
    });
    const net = readOnnx(bytes).network;
    expect(net.blocks[1]).toMatchObject({ shape: [3, 4, 1, 4], stride: [1, 2], padding: [0, 1], transposed: { outputPadding: [0, 1] } });
    await roundTrip(bytes, [2, 9], { seed: 8 });
  });

  it('the two weight layouts: the index map is a bijection, and the block layout joins output channel o to input channel i as the file does', () => {
    const shape = [6, 2, 2, 3]; // out 6, in/groups 2, 3 groups: in 6, out/groups 2
    const groups = 3;
    expect(storedShape(shape, groups)).toEqual([6, 2, 2, 3]);
    expect(blockShape(storedShape([4, 3, 2, 2], 2), 2)).toEqual([4, 3, 2, 2]);
    const at = storedIndex(shape, groups);
    const n = 6 * 2 * 6;
    expect(new Set(Array.from({ length: n }, (_, k) => at(k))).size).toBe(n);
    // Block entry (o = 4, c = 1, tap 4): group 2, input channel 2 * 2 + 1 = 5, output 4 - 2 * 2 = 0 in its group.
    expect(at((4 * 2 + 1) * 6 + 4)).toBe((5 * 2 + 0) * 6 + 4);
    const stored = Float32Array.from({ length: n }, (_, k) => k);
    const block = fromStoredLayout(stored, shape, groups);
    expect(Array.from(toStoredLayout(block, shape, groups))).toEqual(Array.from(stored));
    expect(block[(4 * 2 + 1) * 6 + 4]).toBe((5 * 2 + 0) * 6 + 4);
  });

  it('a safetensors file stores it in PyTorch layout [in, out / groups, kh, kw] and reads it back to the same network', () => {
    const net = readOnnx(upsampler(3)).network;
    const bytes = writeSafetensors(net);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true)))));
    expect(header['up1.weight'].shape).toEqual([6, 2, 3, 3]);
    const again = readSafetensors(bytes);
    expect(again.blocks.map((b) => (b.kind === 'conv2d' ? b.transposed : null))).toEqual(net.blocks.map((b) => (b.kind === 'conv2d' ? b.transposed : null)));
    const x = Float64Array.from({ length: 100 }, (_, i) => Math.cos(i));
    expect(Array.from(forward(again, x))).toEqual(Array.from(forward(net, x)));
  });

  it('output_shape, auto_pad, uneven pads and an output_padding not below the stride are refused, naming the node; validateNetwork checks outputPadding', () => {
    expect(refusal(() => readOnnx(upsampler(4, { output_shape: [10, 10] })))).toMatch(
      /node 'up1' \(ConvTranspose\): ConvTranspose with an explicit output_shape/,
    );
    expect(refusal(() => readOnnx(upsampler(4, { pads: [1, 1, 0, 0] })))).toMatch(/node 'up1' \(ConvTranspose\): pads \[1,1,0,0\] are not symmetric/);
    expect(refusal(() => readOnnx(upsampler(4, { output_padding: [2, 0] })))).toMatch(
      /node 'up1' \(ConvTranspose\): output_padding \[2,0\] must be two integers >= 0, each smaller than its stride or dilation/,
    );
    const rng = new Random(5);
    const autoPad = model({
      input: [valueInfo('x', ['N', 2, 4, 4])],
      output: [valueInfo('y', ['N', 3, 8, 8])],
      initializer: [tensor('up.weight', [2, 3, 2, 2], randn(rng, [2, 3, 2, 2]))],
      node: [
        {
          ...(node('ConvTranspose', ['x', 'up.weight'], ['y'], { strides: [2, 2] }, 'up') as object),
          attribute: [{ name: 'auto_pad', type: 3, s: new TextEncoder().encode('SAME_UPPER') }],
        },
      ],
    });
    expect(refusal(() => readOnnx(autoPad))).toMatch(/node 'up' \(ConvTranspose\): ConvTranspose with auto_pad is not supported/);
    const net = readOnnx(upsampler(6)).network;
    const k = net.blocks.findIndex((b) => b.name === 'up1');
    const broken = structuredClone(net);
    (broken.blocks[k] as { transposed: { outputPadding: number[] } }).transposed.outputPadding = [2, 0];
    expect(refusal(() => validateNetwork(broken))).toMatch(
      /block \d+ \('up1'\): transposed.outputPadding must be two integers >= 0, each smaller than its stride or dilation/,
    );
  });
});
