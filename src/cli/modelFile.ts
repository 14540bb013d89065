/**
 * Model files by extension: the one place the CLI reads and writes networks. A format is a
 * reader and (optionally) a writer; add one by appending to {@link MODEL_FORMATS}.
 * Writes are atomic: temporary files in the target directory, then renames, so a failed or
 * interrupted run never leaves a partial output file. Everything a write could refuse is
 * checked by {@link checkOutputPath} before any long work.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, isAbsolute, join, normalize, resolve } from 'node:path';
import { WeightBalanceError } from '../errors.js';
import { readSafetensors, safetensorsParts } from '../io/safetensors.js';
import { onnxFormat } from './onnxFormat.js';
import type { Network } from '../network/types.js';

/**
 * Units that a model file's reader fixed (factor 1): one entry per layer and per node that
 * fixed it. All of the layer's units are fixed.
 */
export interface FixedUnitsNote {
  /** The layer's index in the network and its name. */
  layer: number;
  name: string;
  /** How many units the layer has (all of them are fixed). */
  units: number;
  /** The op and the node (its name, or `#index`) that fixed them. */
  op: string;
  node: string;
  /**
   * `activation`: the op is not positively homogeneous (Sigmoid, Tanh, Softmax...) and is
   * modelled exactly; `unsupported`: an op the network model cannot express, kept as a barrier
   * of fixed units (balancing stays exact, the file keeps the op).
   */
  reason: 'activation' | 'unsupported';
}

/** What a {@link ModelFormat} reader returns. */
export interface ModelRead {
  network: Network;
  /** Units the reader fixed because of the ops around them (absent: none). */
  fixedUnits?: FixedUnitsNote[];
  /** Other remarks for the report, one sentence each (absent: none). */
  notes?: string[];
  /**
   * Why `network` alone does not compute the file's function (absent or empty: it does).
   * Writing the network in another format would then change the model, so that is refused.
   */
  inexact?: string[];
  /** The reader's own state, given back to the same format's writer (e.g. the file to patch). */
  state?: unknown;
}

/** A model file as read: where it came from and what its reader reported. */
export interface ModelSource {
  path: string;
  /** The {@link ModelFormat.name} it was read with. */
  format: string;
  bytes: Uint8Array;
  fixedUnits: FixedUnitsNote[];
  notes: string[];
  inexact: string[];
  state: unknown;
}

/** What a {@link ModelFormat} writer returns. */
export interface ModelOutput {
  /** The model file, whole or as parts written one after the other (no copy of large tensors). */
  bytes: Uint8Array | Uint8Array[];
  /**
   * Files the model refers to, by path relative to its directory (e.g. ONNX external data):
   * written next to the model file, atomically with it. Absent: none.
   */
  companions?: Record<string, Uint8Array>;
}

/** A file format for networks. */
export interface ModelFormat {
  name: string;
  /** Lower-case extensions with the dot, e.g. `.safetensors`. */
  extensions: readonly string[];
  read(bytes: Uint8Array, path: string): ModelRead | Promise<ModelRead>;
  /**
   * Encode a network. `source` is the file the network was read from when it has this same
   * format (a writer may patch it, e.g. replace an ONNX graph's initialisers), else `null`.
   * Absent: the format is read-only.
   */
  write?(net: Network, source: ModelSource | null): ModelOutput | Promise<ModelOutput>;
  /**
   * Throw the {@link WeightBalanceError} that {@link write} would throw for this `source`
   * (same convention), so that it comes before any long work. Absent: every network is written.
   */
  checkWrite?(source: ModelSource | null): void;
  /** The companion files {@link write} produces for this `source` (relative paths). Absent: none. */
  companions?(source: ModelSource | null): string[];
}

/** The formats the CLI knows, by extension. */
export const MODEL_FORMATS: ModelFormat[] = [
  {
    name: 'safetensors',
    extensions: ['.safetensors'],
    // The CLI owns the bytes it read: the weights may be views of them (one copy in memory).
    read: (bytes) => ({ network: readSafetensors(bytes, { share: true }) }),
    write: (net) => ({ bytes: safetensorsParts(net) }),
  },
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
    const file = await readFile(path);
    bytes = new Uint8Array(file.buffer, file.byteOffset, file.byteLength); // a view: no second copy of the file
  } catch (error) {
    throw new WeightBalanceError(`cannot read '${path}': ${describeError(error)}`);
  }
  try {
    const read = await format.read(bytes, path);
    const source: ModelSource = {
      path,
      format: format.name,
      bytes,
      fixedUnits: read.fixedUnits ?? [],
      notes: read.notes ?? [],
      inexact: read.inexact ?? [],
      state: read.state,
    };
    return { network: read.network, source };
  } catch (error) {
    if (error instanceof WeightBalanceError) throw new WeightBalanceError(`'${path}': ${error.message}`);
    throw error;
  }
}

/**
 * Let go of the bytes of a file read, when the file written from it does not need them (only a
 * writer of the same format patches its source: ONNX). A large network then is not held twice.
 */
export function releaseSourceBytes(source: ModelSource, outputPath: string | null): void {
  if (outputPath === null || modelFormatFor(outputPath, 'write').name !== source.format) source.bytes = new Uint8Array(0);
}

/** The source a format's writer gets: the file read, when it has that format. */
function sourceFor(format: ModelFormat, source: ModelSource | null): ModelSource | null {
  return source && source.format === format.name ? source : null;
}

/** A path with its directory's symbolic links resolved (the directory must exist). */
async function realTarget(path: string): Promise<string> {
  const target = resolve(path);
  return join(await realpath(dirname(target)), basename(target));
}

/** A companion's path relative to its model file: inside the model's directory. */
function checkCompanionName(name: string): void {
  if (!name || isAbsolute(name) || normalize(name).split(/[\\/]/).includes('..')) {
    throw new WeightBalanceError(`the companion file '${name}' must be a path inside the model's directory`);
  }
}

/** Check, before any long work, that a file can be written at `path`: its directory exists and `path` is not a directory. */
export async function checkTargetPath(path: string): Promise<void> {
  const dir = dirname(resolve(path));
  let isDir = false;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch (error) {
    throw new WeightBalanceError(`cannot write '${path}': directory '${dir}': ${describeError(error)}`);
  }
  if (!isDir) throw new WeightBalanceError(`cannot write '${path}': '${dir}' is not a directory`);
  const existing = await stat(path).catch(() => null);
  if (existing?.isDirectory()) throw new WeightBalanceError(`cannot write '${path}': it is a directory`);
}

/**
 * Check, before any long work, that a network read from `source` (null: built in memory) can
 * be written to `path`: a known writable format that accepts this source, a model that keeps
 * its function in that format, an existing directory, and companion files that neither
 * overwrite the output itself nor the input's own companions.
 */
export async function checkOutputPath(path: string, source: ModelSource | null = null): Promise<void> {
  const format = modelFormatFor(path, 'write');
  if (source && source.format !== format.name && source.inexact.length > 0) {
    throw new WeightBalanceError(
      `cannot write '${path}': the network read from '${source.path}' does not compute that model's function by itself (${source.inexact.join('; ')}), ` +
      `so a '${extname(path).toLowerCase()}' file would be a different model; write '${extname(source.path).toLowerCase()}' instead`,
    );
  }
  const own = sourceFor(format, source);
  try {
    format.checkWrite?.(own);
  } catch (error) {
    if (error instanceof WeightBalanceError) throw new WeightBalanceError(`cannot write '${path}': ${error.message}`);
    throw error;
  }
  await checkTargetPath(path);
  const companions = format.companions?.(own) ?? [];
  if (companions.length === 0) return;
  const output = await realTarget(path);
  for (const name of companions) {
    checkCompanionName(name);
    if (join(dirname(output), name) === output) throw new WeightBalanceError(`cannot write '${path}': the model refers to a companion file of that same name`);
  }
  if (own && output !== (await realTarget(own.path)) && dirname(output) === dirname(await realTarget(own.path))) {
    throw new WeightBalanceError(
      `cannot write '${path}': the model refers to ${companions.map((c) => `'${c}'`).join(', ')} by name, and writing ${companions.length > 1 ? 'them' : 'it'} ` +
      `next to '${path}' would overwrite the input's own; write the output into another directory (or over '${own.path}' itself)`,
    );
  }
}

/**
 * Write a network to a model file (format by extension) and its companion files, atomically.
 * Returns the paths written, the model file last.
 */
export async function writeModelFile(path: string, net: Network, source: ModelSource | null = null): Promise<string[]> {
  const format = modelFormatFor(path, 'write');
  const output = await format.write!(net, sourceFor(format, source));
  const files: Array<[string, Uint8Array | Uint8Array[]]> = Object.entries(output.companions ?? {}).map(([name, bytes]) => {
    checkCompanionName(name);
    return [join(dirname(path), name), bytes];
  });
  try {
    // Companions may sit in subdirectories of the model's directory (which exists).
    for (const [file] of files) await mkdir(dirname(resolve(file)), { recursive: true });
  } catch (error) {
    throw new WeightBalanceError(`cannot write '${path}': ${describeError(error)}`);
  }
  files.push([path, output.bytes]);
  await writeFilesAtomic(files);
  return files.map(([p]) => p);
}

/**
 * Write bytes to `path` through a temporary file in the same directory and a rename: readers
 * see the old file or the whole new one, and a failure leaves no partial file behind.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  await writeFilesAtomic([[path, data]]);
}

/**
 * Write several files atomically each, and together as far as a file system allows: every
 * temporary file is written first (a failure removes them all and leaves the targets as they
 * were), then they are renamed onto their targets in order (put the file that refers to the
 * others last).
 */
export async function writeFilesAtomic(files: ReadonlyArray<readonly [string, Uint8Array | Uint8Array[] | string]>): Promise<void> {
  const temporaries: string[] = [];
  let current = files[0]?.[0] ?? '';
  try {
    for (const [path, data] of files) {
      current = path;
      const target = resolve(path);
      const temporary = join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
      temporaries.push(temporary);
      await writeFile(temporary, data, { flag: 'wx' });
    }
    for (let k = 0; k < files.length; k++) {
      current = files[k][0];
      await rename(temporaries[k], resolve(files[k][0]));
    }
  } catch (error) {
    await Promise.all(temporaries.map((t) => rm(t, { force: true }).catch(() => undefined)));
    throw new WeightBalanceError(`cannot write '${current}': ${describeError(error)}`);
  }
}
