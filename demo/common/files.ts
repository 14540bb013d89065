/**
 * Opening and saving network files. Readers are registered by file extension in one table, so
 * another format (e.g. ONNX) is one more entry; anything they refuse is reported next to the
 * file control by the caller.
 */
import { readSafetensors, validateNetwork, WeightBalanceError, writeSafetensors } from '../../src/index.js';
import type { Network } from '../../src/index.js';

/** A network file format the page can open and save. */
export interface NetworkFormat {
  /** Lower-case extension with the dot, e.g. `.safetensors`. */
  extension: string;
  read(bytes: Uint8Array): Network;
  write(net: Network): Uint8Array;
}

/** The formats the page knows, by extension. */
export const FORMATS: NetworkFormat[] = [
  { extension: '.safetensors', read: readSafetensors, write: writeSafetensors },
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

/** Offer `net` as a download named `filename` (its extension picks the format). */
export function saveNetworkFile(net: Network, filename: string): void {
  const bytes = formatOf(filename).write(net);
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }));
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
