/**
 * The `.onnx` model format for the CLI: read (with external data files from the model's
 * directory) and write back by patching the source file's weight initializers; a model with
 * external data is written with its data files, under the names the model gives them, next to
 * the output model.
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize } from 'node:path';
import { WeightBalanceError } from '../errors.js';
import { onnxExternalDataFiles, readOnnx, writeOnnxFiles } from '../io/onnx/index.js';
import type { OnnxModel } from '../io/onnx/index.js';
import { listNames } from './listNames.js';
import type { FixedUnitsNote, ModelFormat, ModelRead, ModelSource } from './modelFile.js';

/** What the reader keeps for the writer: the parsed model and its external data as read. */
interface OnnxState {
  model: OnnxModel;
  externalData: Record<string, Uint8Array>;
}

async function loadExternalData(bytes: Uint8Array, path: string): Promise<Record<string, Uint8Array>> {
  const files: Array<[string, Uint8Array]> = [];
  for (const location of onnxExternalDataFiles(bytes)) {
    if (isAbsolute(location) || normalize(location).split(/[\\/]/).includes('..')) {
      throw new WeightBalanceError(`external data location '${location}' must be a path inside the model's directory`);
    }
    const file = join(dirname(path), location);
    try {
      files.push([location, new Uint8Array(await readFile(file))]);
    } catch {
      throw new WeightBalanceError(`cannot read the external data file '${file}' that the model refers to`);
    }
  }
  return Object.fromEntries(files); // own properties, even for a location named '__proto__'
}

/** The reader's report: fixed units per layer, remarks, and what the network alone does not compute. */
function report(model: OnnxModel): Omit<ModelRead, 'network' | 'state'> {
  // Each layer once, with the first node that fixed it (a layer can be both the output of one
  // fixing op and the input of the next, e.g. HardSwish after HardSwish).
  const seen = new Set<number>();
  const fixedUnits: FixedUnitsNote[] = model.fixedUnits.flatMap((f) => f.layers.filter((l) => !seen.has(l.layer) && seen.add(l.layer)).map((l) => ({
    layer: l.layer,
    name: l.name,
    units: l.units,
    op: f.op,
    node: f.node,
    reason: f.modelled === 'opaque' ? 'unsupported' as const : f.modelled === 'unfoldable' ? 'unfoldable-batchnorm' as const : 'activation' as const,
  })));
  const bns = model.foldedBatchNorms;
  const notes = bns.length === 0 ? [] : [`${bns.length} BatchNormalization node${bns.length > 1 ? 's are' : ' is'} folded into the weights before ${bns.length > 1 ? 'them' : 'it'} (the file keeps the nodes; their bias B is rewritten): ${listNames(bns)}`];
  const inexact = model.fixedUnits
    .filter((f) => f.modelled !== 'activation')
    .map((f) => f.modelled === 'unfoldable'
      ? `BatchNormalization '${f.node}' cannot be folded into a Conv/Gemm/MatMul and is kept as an identity barrier of fixed units`
      : `op '${f.op}' (node '${f.node}') is kept as an identity barrier of fixed units`);
  if (model.inputTranspose) {
    const transpose = `the graph transposes its input first (perm [${model.inputTranspose.join(', ')}]): the network's input layer has the transposed shape`;
    notes.push(transpose);
    inexact.push(transpose);
  }
  return { fixedUnits, notes, inexact };
}

function stateOf(source: ModelSource): OnnxState {
  return source.state as OnnxState;
}

const NEEDS_ONNX_SOURCE = "writing '.onnx' needs a network read from an '.onnx' file (the writer rewrites that file's weight initializers and keeps everything else)";

/**
 * ONNX models (`.onnx`). Writing needs the network to come from an `.onnx` file; its external
 * data files (all of them, changed or not) are written next to the output model.
 */
export const onnxFormat: ModelFormat = {
  name: 'onnx',
  extensions: ['.onnx'],
  async read(bytes, path, options) {
    const externalData = await loadExternalData(bytes, path);
    const model = readOnnx(bytes, { externalData });
    const state: OnnxState = { model, externalData };
    const read = report(model);
    if (options.activation) read.notes!.push('the activation option is ignored: an ONNX graph gives its own activations');
    return { network: model.network, ...read, state };
  },
  checkWrite(source) {
    if (!source) throw new WeightBalanceError(NEEDS_ONNX_SOURCE);
  },
  companions(source) {
    return source ? Object.keys(stateOf(source).externalData) : [];
  },
  write(net, source) {
    if (!source) throw new WeightBalanceError(NEEDS_ONNX_SOURCE);
    const { model, externalData } = stateOf(source);
    const files = writeOnnxFiles(model, net);
    // Unchanged data files too: the output model must load from its own directory.
    return { bytes: files.model, companions: { ...externalData, ...files.externalData } };
  },
};
