/**
 * Opening and saving network files in the page, through the library's one registry of formats
 * (`MODEL_FORMATS`, `modelFormatFor`, `checkWritable`): the same readers, writers and refusals as
 * the CLI (e.g. writing `.onnx` needs a network opened from an `.onnx` file). Anything they
 * refuse is reported next to the file control by the caller.
 */

import type { FixedUnitsNote, ModelRead, Network } from '../../src/index.js';
import { checkWritable, MODEL_FORMATS, modelFormatFor, outputBytes, validateNetwork } from '../../src/index.js';
import { download } from './download.js';

/** What each network opened on this page was read as (its format's writer may patch the file). */
const opened = new WeakMap<Network, ModelRead>();

/** The units the operators of the file `net` was read from fixed (e.g. an ONNX Sigmoid's layer); empty for other sources. */
export function fileFixedUnits(net: Network): FixedUnitsNote[] {
  return opened.get(net)?.fixedUnits ?? [];
}

/** The extension to save a balanced copy of `origin` with: the format it was opened from when that format can write it, else `.safetensors`. */
export function saveExtension(origin: Network): string {
  const read = opened.get(origin);
  const own = read && MODEL_FORMATS.find((f) => f.name === read.format)?.extensions[0];
  if (!own) return '.safetensors';
  try {
    checkWritable(`balanced${own}`, read);
    return own;
  } catch {
    return '.safetensors';
  }
}

/** The `accept` attribute of the file input. */
export function acceptedExtensions(): string {
  return MODEL_FORMATS.flatMap((f) => f.extensions).join(',');
}

/** Read a network from a file (throws a readable error for anything malformed). */
export async function readNetworkFile(file: File): Promise<Network> {
  const read = modelFormatFor(file.name).read(new Uint8Array(await file.arrayBuffer()));
  validateNetwork(read.network);
  opened.set(read.network, read);
  return read.network;
}

/**
 * Offer `net` as a download named `filename` (its extension picks the format); `origin` is the
 * network as opened, which an `.onnx` download needs (it rewrites that file's weights).
 */
export function saveNetworkFile(net: Network, filename: string, origin?: Network): void {
  const { format, own } = checkWritable(filename, (origin && opened.get(origin)) ?? null, 'the opened file');
  const bytes = outputBytes(format.write!(net, own));
  download(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }), filename);
}
