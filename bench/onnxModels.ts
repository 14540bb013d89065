/**
 * `npm run zoo:models -- DIR [--kind mlp|matmul|vgg] [--width N] [--depth N] [--external]`:
 * write a big random ONNX model into DIR, for the memory and time figures of the ONNX path
 * (bench/README.md) and for `npm run zoo -- DIR`. Nothing is downloaded or exported: the
 * protobuf is encoded here, the tensors as `raw_data` (or external data with `--external`).
 *
 * - `mlp`: `depth` x `width`² Linear layers as torch.onnx writes them (Gemm, transB = 1), ReLU.
 * - `matmul`: the same as MatMul ([in, out] weights) + Add, as TensorFlow exporters write them.
 * - `vgg`: vgg11_bn on 3 x 224 x 224 (Conv + BatchNormalization + ReLU, MaxPool, Gemm classifier).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

type Parts = Uint8Array[];

function varint(value: number): Uint8Array {
  const out: number[] = [];
  let v = value;
  while (v >= 128) {
    out.push((v % 128) | 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Uint8Array.from(out);
}

const size = (parts: Parts): number => parts.reduce((n, p) => n + p.length, 0);
const key = (field: number, wire: number): Uint8Array => varint(field * 8 + wire);
const intField = (field: number, value: number): Parts => [key(field, 0), varint(value)];
const bytesField = (field: number, parts: Parts): Parts => [key(field, 2), varint(size(parts)), ...parts];
const stringField = (field: number, text: string): Parts => bytesField(field, [new TextEncoder().encode(text)]);

/** Seeded uniform numbers in [-1, 1) (an LCG: fast, and the same model on every run). */
function uniforms(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32) * 2 - 1;
  };
}

interface Tensor {
  name: string;
  dims: number[];
  data: Float32Array;
}

/** Weights of fan-in `fanIn`, each output row scaled by a random factor in [1/8, 8] (unbalanced). */
function weights(name: string, dims: number[], rows: number, fanIn: number, seed: number): Tensor {
  const next = uniforms(seed);
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  const factors = Float64Array.from({ length: rows }, () => 8 ** next());
  const std = Math.sqrt(6 / fanIn);
  const rowLength = n / rows;
  for (let k = 0; k < n; k++) data[k] = next() * std * factors[Math.floor(k / rowLength)];
  return { name, dims, data };
}

function vector(name: string, n: number, seed: number, low: number, high: number): Tensor {
  const next = uniforms(seed);
  return { name, dims: [n], data: Float32Array.from({ length: n }, () => low + ((next() + 1) / 2) * (high - low)) };
}

interface Graph {
  nodes: Parts[];
  tensors: Tensor[];
  input: number[];
  output: number[];
}

function attrInts(name: string, values: number[]): Parts {
  return bytesField(5, [...stringField(1, name), ...values.flatMap((v) => intField(8, v)), ...intField(20, 7)]);
}

function attrInt(name: string, value: number): Parts {
  return bytesField(5, [...stringField(1, name), ...intField(3, value), ...intField(20, 2)]);
}

function node(op: string, inputs: string[], output: string, attrs: Parts[] = []): Parts {
  return bytesField(1, [
    ...inputs.flatMap((i) => stringField(1, i)),
    ...stringField(2, output),
    ...stringField(3, output),
    ...stringField(4, op),
    ...attrs.flat(),
  ]);
}

function mlp(width: number, depth: number, matmul: boolean): Graph {
  const g: Graph = { nodes: [], tensors: [], input: [1, width], output: [1, width] };
  let x = 'x';
  for (let l = 0; l < depth; l++) {
    const w = weights(`fc${l}.weight`, [width, width], width, width, 17 + l);
    const b = vector(`fc${l}.bias`, width, 1000 + l, -0.1, 0.1);
    g.tensors.push(w, b);
    const out = l === depth - 1 ? 'y' : `relu${l}`;
    if (matmul) {
      g.nodes.push(node('MatMul', [x, w.name], `mm${l}`), node('Add', [`mm${l}`, b.name], l === depth - 1 ? 'y' : `add${l}`));
      if (l < depth - 1) g.nodes.push(node('Relu', [`add${l}`], out));
    } else {
      g.nodes.push(node('Gemm', [x, w.name, b.name], l === depth - 1 ? 'y' : `gemm${l}`, [attrInt('transB', 1)]));
      if (l < depth - 1) g.nodes.push(node('Relu', [`gemm${l}`], out));
    }
    x = out;
  }
  return g;
}

/** vgg11_bn: torchvision's configuration 'A' with BatchNorm, 224 x 224 input, 1000 classes. */
function vgg(): Graph {
  const g: Graph = { nodes: [], tensors: [], input: [1, 3, 224, 224], output: [1, 1000] };
  let x = 'x';
  let channels = 3;
  let k = 0;
  for (const c of [64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'] as const) {
    if (c === 'M') {
      g.nodes.push(node('MaxPool', [x], `pool${k}`, [attrInts('kernel_shape', [2, 2]), attrInts('strides', [2, 2])]));
      x = `pool${k++}`;
      continue;
    }
    const w = weights(`features.${k}.weight`, [c, channels, 3, 3], c, channels * 9, 31 + k);
    const bn = ['weight', 'bias', 'running_mean', 'running_var'].map((p, j) =>
      vector(`features.${k}.bn.${p}`, c, 500 + 4 * k + j, ...((j === 3 ? [0.5, 2] : j === 0 ? [0.5, 1.5] : [-0.2, 0.2]) as [number, number])),
    );
    const b = vector(`features.${k}.bias`, c, 400 + k, -0.1, 0.1);
    g.tensors.push(w, b, ...bn);
    g.nodes.push(
      node('Conv', [x, w.name, b.name], `conv${k}`, [attrInts('kernel_shape', [3, 3]), attrInts('pads', [1, 1, 1, 1])]),
      node('BatchNormalization', [`conv${k}`, ...bn.map((t) => t.name)], `bn${k}`),
      node('Relu', [`bn${k}`], `relu${k}`),
    );
    x = `relu${k++}`;
    channels = c;
  }
  g.nodes.push(node('Flatten', [x], 'flat'));
  x = 'flat';
  const sizes = [512 * 7 * 7, 4096, 4096, 1000];
  for (let l = 0; l < 3; l++) {
    const w = weights(`classifier.${l}.weight`, [sizes[l + 1], sizes[l]], sizes[l + 1], sizes[l], 900 + l);
    const b = vector(`classifier.${l}.bias`, sizes[l + 1], 950 + l, -0.1, 0.1);
    g.tensors.push(w, b);
    const out = l === 2 ? 'y' : `fc${l}`;
    g.nodes.push(node('Gemm', [x, w.name, b.name], out, [attrInt('transB', 1)]));
    if (l < 2) g.nodes.push(node('Relu', [out], `fcrelu${l}`));
    x = `fcrelu${l}`;
  }
  return g;
}

/** A float tensor's ValueInfoProto as graph field `field` (11: input, 12: output). */
function valueInfo(field: number, name: string, dims: number[]): Parts {
  const shape = bytesField(
    2,
    dims.flatMap((d) => bytesField(1, intField(1, d))),
  );
  return bytesField(field, [...stringField(1, name), ...bytesField(2, bytesField(1, [...intField(1, 1), ...shape]))]);
}

/** The model file's parts, and the external data file's when `external` names it. */
function encode(g: Graph, external: string | null): { model: Parts; data: Parts } {
  const data: Parts = [];
  let offset = 0;
  const initializers = g.tensors.flatMap((t) => {
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    const head = [...t.dims.flatMap((d) => intField(1, d)), ...intField(2, 1), ...stringField(8, t.name)];
    if (!external || t.data.length < 1024) return bytesField(5, [...head, ...bytesField(9, [bytes])]);
    const entry = (k: string, v: string): Parts => bytesField(13, [...stringField(1, k), ...stringField(2, v)]);
    const fields = [...entry('location', external), ...entry('offset', String(offset)), ...entry('length', String(bytes.length))];
    data.push(bytes);
    offset += bytes.length;
    return bytesField(5, [...head, ...fields, ...intField(14, 1)]);
  });
  const graph = [...g.nodes.flat(), ...stringField(2, 'bench'), ...initializers, ...valueInfo(11, 'x', g.input), ...valueInfo(12, 'y', g.output)];
  const model = [...intField(1, 8), ...stringField(2, 'weight-balance-bench'), ...bytesField(7, graph), ...bytesField(8, intField(2, 13))];
  return { model, data };
}

const argv = process.argv.slice(2);
const dir = argv.find((a) => !a.startsWith('--') && !/^\d+$/.test(a));
const option = (flag: string, fallback: string): string => {
  const k = argv.indexOf(flag);
  return k >= 0 ? argv[k + 1] : fallback;
};
if (!dir) {
  process.stderr.write('usage: npm run zoo:models -- DIR [--kind mlp|matmul|vgg] [--width 4096] [--depth 8] [--external]\n');
  process.exit(2);
}
const kind = option('--kind', 'mlp');
const width = Number(option('--width', '4096'));
const depth = Number(option('--depth', '8'));
const name = kind === 'vgg' ? 'vgg11_bn' : `${kind}-${depth}x${width}`;
const external = argv.includes('--external') ? `${name}.onnx.data` : null;
const graph = kind === 'vgg' ? vgg() : mlp(width, depth, kind === 'matmul');
const { model, data } = encode(graph, external);
if (external) await writeFile(join(dir, external), data);
await writeFile(join(dir, `${name}.onnx`), model);
const weightCount = graph.tensors.reduce((n, t) => n + t.data.length, 0);
process.stdout.write(`${join(dir, `${name}.onnx`)}: ${weightCount} float32 parameters (${((weightCount * 4) / 2 ** 20).toFixed(0)} MiB)\n`);
