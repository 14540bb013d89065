/**
 * Model files by extension: the one place the CLI reads and writes networks. A format is a
 * reader and (optionally) a writer; add one by appending to {@link MODEL_FORMATS}.
 * Writes are atomic: a temporary file in the target directory, then a rename, so a failed or
 * interrupted run never leaves a partial output file.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { WeightBalanceError } from '../errors.js';
import { readSafetensors, writeSafetensors } from '../io/safetensors.js';
import { onnxFormat } from './onnxFormat.js';
import type { Network } from '../network/types.js';

/** A model file as read: its network and the bytes it came from. */
export interface ModelSource {
  path: string;
  /** The {@link ModelFormat.name} it was read with. */
  format: string;
  bytes: Uint8Array;
}

/** A file format for networks. */
export interface ModelFormat {
  name: string;
  /** Lower-case extensions with the dot, e.g. `.safetensors`. */
  extensions: readonly string[];
  read(bytes: Uint8Array, path: string): Network | Promise<Network>;
  /**
   * Encode a network. `source` is the file the network was read from when it has this same
   * format (a writer may patch it, e.g. replace an ONNX graph's initialisers), else `null`.
   * Absent: the format is read-only.
   */
  write?(net: Network, source: ModelSource | null): Uint8Array | Promise<Uint8Array>;
}

/** The formats the CLI knows, by extension. */
export const MODEL_FORMATS: ModelFormat[] = [
  { name: 'safetensors', extensions: ['.safetensors'], read: readSafetensors, write: writeSafetensors },
  onnxFormat,
];

function describeError(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'it is a directory';
  return error instanceof Error ? error.message : String(error);
}

/** The format of a path, from its extension; a {@link WeightBalanceError} lists the known ones. */
export function modelFormatFor(path: string, purpose: 'read' | 'write' = 'read'): ModelFormat {
  const ext = extname(path).toLowerCase();
  const known = MODEL_FORMATS.filter((f) => purpose === 'read' || f.write);
  const format = known.find((f) => f.extensions.includes(ext));
  if (!format) {
    const list = known.flatMap((f) => f.extensions).join(', ');
    throw new WeightBalanceError(`'${path}': cannot ${purpose} ${ext ? `'${ext}'` : 'files without an extension'}; supported: ${list}`);
  }
  return format;
}

/** Read a network from a model file (format by extension). */
export async function readModelFile(path: string): Promise<{ network: Network; source: ModelSource }> {
  const format = modelFormatFor(path, 'read');
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (error) {
    throw new WeightBalanceError(`cannot read '${path}': ${describeError(error)}`);
  }
  try {
    const network = await format.read(bytes, path);
    return { network, source: { path, format: format.name, bytes } };
  } catch (error) {
    if (error instanceof WeightBalanceError) throw new WeightBalanceError(`'${path}': ${error.message}`);
    throw error;
  }
}

/**
 * Check, before any long work, that a network can be written to `path`: a known writable
 * format and an existing directory.
 */
export async function checkOutputPath(path: string): Promise<void> {
  modelFormatFor(path, 'write');
  const dir = dirname(resolve(path));
  let isDir = false;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch (error) {
    throw new WeightBalanceError(`cannot write '${path}': directory '${dir}': ${describeError(error)}`);
  }
  if (!isDir) throw new WeightBalanceError(`cannot write '${path}': '${dir}' is not a directory`);
}

/** Write a network to a model file (format by extension), atomically. */
export async function writeModelFile(path: string, net: Network, source: ModelSource | null = null): Promise<void> {
  const format = modelFormatFor(path, 'write');
  const bytes = await format.write!(net, source && source.format === format.name ? source : null);
  await writeFileAtomic(path, bytes);
}

/**
 * Write bytes to `path` through a temporary file in the same directory and a rename: readers
 * see the old file or the whole new one, and a failure leaves no partial file behind.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const target = resolve(path);
  const temporary = join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(temporary, data, { flag: 'wx' });
    await rename(temporary, target);
  } catch (error) {
    await rm(temporary, { force: true }).catch(() => undefined);
    throw new WeightBalanceError(`cannot write '${path}': ${describeError(error)}`);
  }
}
