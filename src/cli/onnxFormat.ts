/**
 * The `.onnx` model format for the CLI: read (with external data files from the model's
 * directory) and write back by patching the source file's weight initializers.
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize } from 'node:path';
import { WeightBalanceError } from '../errors.js';
import { onnxExternalDataFiles, readOnnx, writeOnnx } from '../io/onnx/index.js';
import type { ModelFormat } from './modelFile.js';

async function loadExternalData(bytes: Uint8Array, path: string): Promise<Record<string, Uint8Array>> {
  const files: Record<string, Uint8Array> = {};
  for (const location of onnxExternalDataFiles(bytes)) {
    if (isAbsolute(location) || normalize(location).split(/[\\/]/).includes('..')) {
      throw new WeightBalanceError(`external data location '${location}' must be a path inside the model's directory`);
    }
    const file = join(dirname(path), location);
    try {
      files[location] = new Uint8Array(await readFile(file));
    } catch {
      throw new WeightBalanceError(`cannot read the external data file '${file}' that the model refers to`);
    }
  }
  return files;
}

/** ONNX models (`.onnx`). Writing needs the network to come from an `.onnx` file. */
export const onnxFormat: ModelFormat = {
  name: 'onnx',
  extensions: ['.onnx'],
  async read(bytes, path) {
    return readOnnx(bytes, { externalData: await loadExternalData(bytes, path) }).network;
  },
  write(net, source) {
    if (!source) {
      throw new WeightBalanceError("writing '.onnx' needs a network read from an '.onnx' file: the writer rewrites that file's weight initializers and keeps everything else");
    }
    if (onnxExternalDataFiles(source.bytes).length > 0) {
      throw new WeightBalanceError(`'${source.path}' keeps its weights in external data files; the CLI cannot write those yet (use writeOnnxFiles from the library)`);
    }
    return writeOnnx(readOnnx(source.bytes), net);
  },
};
