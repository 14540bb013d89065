/**
 * Opening and saving network files. Readers are registered by file extension in one table, so
 * another format (e.g. ONNX) is one more entry; anything they refuse is reported next to the
 * file control by the caller.
 */
import { readOnnx, readSafetensors, validateNetwork, WeightBalanceError, writeOnnx, writeSafetensors } from '../../src/index.js';
import type { Network, OnnxFixedUnits, OnnxModel } from '../../src/index.js';
import { download } from './download.js';

/** A network file format the page can open and save. */
export interface NetworkFormat {
  /** Lower-case extension with the dot, e.g. `.safetensors`. */
  extension: string;
  read(bytes: Uint8Array): Network;
  /** `origin`: the network as it was opened, for formats that patch their source file (ONNX). */
  write(net: Network, origin?: Network): Uint8Array;
}

/** ONNX models opened on this page, by the network read from them: saving patches their bytes. */
const onnxModels = new WeakMap<Network, OnnxModel>();

function readOnnxNetwork(bytes: Uint8Array): Network {
  const model = readOnnx(bytes);
  onnxModels.set(model.network, model);
  return model.network;
}

function writeOnnxNetwork(net: Network, origin?: Network): Uint8Array {
  const model = origin && onnxModels.get(origin);
  if (!model) throw new WeightBalanceError('a .onnx file can only be saved for a network opened from a .onnx file');
  return writeOnnx(model, net);
}

/** The units the operators of the ONNX file `net` was read from fixed (empty for other sources). */
export function onnxFixedUnits(net: Network): OnnxFixedUnits[] {
  return onnxModels.get(net)?.fixedUnits ?? [];
}

/** The extension to save a balanced copy of `origin` with: its own format when that is ONNX. */
export function saveExtension(origin: Network): string {
  return onnxModels.has(origin) ? '.onnx' : '.safetensors';
}

/** The formats the page knows, by extension. */
export const FORMATS: NetworkFormat[] = [
  { extension: '.safetensors', read: readSafetensors, write: writeSafetensors },
  { extension: '.onnx', read: readOnnxNetwork, write: writeOnnxNetwork },
];

/** The `accept` attribute of the file input. */
export function acceptedExtensions(): string {
  return FORMATS.map((f) => f.extension).join(',');
}

function formatOf(name: string): NetworkFormat {
  const lower = name.toLowerCase();
  const format = FORMATS.find((f) => lower.endsWith(f.extension));
  if (!format) throw new WeightBalanceError(`'${name}' is not a ${FORMATS.map((f) => f.extension).join(' or ')} file`);
  return format;
}

/** Read a network from a file (throws a readable error for anything malformed). */
export async function readNetworkFile(file: File): Promise<Network> {
  const format = formatOf(file.name);
  const net = format.read(new Uint8Array(await file.arrayBuffer()));
  validateNetwork(net);
  return net;
}

/**
 * Offer `net` as a download named `filename` (its extension picks the format); `origin` is the
 * network as opened, which an `.onnx` download needs (it rewrites that file's weights).
 */
export function saveNetworkFile(net: Network, filename: string, origin?: Network): void {
  const bytes = formatOf(filename).write(net, origin);
  download(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }), filename);
}
