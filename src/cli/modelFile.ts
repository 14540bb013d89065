/**
 * Model files on disk for the CLI: the formats are the library's one registry
 * (`src/io/formats.ts`); this module adds the file system. A model's companion files (ONNX
 * external data) are read from its directory. Writes are atomic: temporary files in the target
 * directory, then renames, so a failed or interrupted run never leaves a partial output file.
 * Everything a write could refuse is checked by {@link checkOutputPath} before any long work.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, realpath, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, normalize, resolve } from 'node:path';
import { weightBuffer } from '../engines/cpu/wasm/weightBuffer.js';
import { WeightBalanceError } from '../errors.js';
import type { ModelFormat, ReadModelOptions, ReadSource, WriteModelOptions } from '../io/formats.js';
import { checkWritable, modelFormatFor, sourceFor } from '../io/formats.js';
import type { Network } from '../network/types.js';

export type { FixedUnitsNote } from '../io/formats.js';

/**
 * A model file as read: where it came from, what its reader reported, and the reader's state for
 * the same format's writer. Not the network (so that dropping it frees the weights) nor the
 * file's bytes (a reader keeps what its writer needs).
 */
export interface ModelSource extends ReadSource {
  path: string;
}

function describeError(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'it is a directory';
  return error instanceof Error ? error.message : String(error);
}

/** A companion's path relative to its model file: inside the model's directory. */
function checkCompanionName(name: string, what = 'the companion file'): void {
  if (!name || isAbsolute(name) || normalize(name).split(/[\\/]/).includes('..')) {
    throw new WeightBalanceError(`${what} '${name}' must be a path inside the model's directory`);
  }
}

/** Bytes per read of {@link readWholeFile}: a buffer small enough to stay mapped and cached. */
const READ_CHUNK = 4 * 1024 * 1024;

/**
 * Where {@link readWholeFile} puts a file of `size` bytes, from its first bytes (`head`, up to
 * 4 MiB); `null`: a new array.
 */
export type Placement = (size: number, head: Uint8Array) => Promise<Uint8Array | null>;

/**
 * A whole file in one buffer of its size (from `place`, else new), read through a small buffer
 * and copied from there. Memory the kernel wrote by `read` costs again when this process first
 * reads it (measured here: ~1.1 s for 537 MB on top of the read, paid by whatever reads the
 * weights first); memory this process wrote does not, and the copy from a buffer in cache is
 * cheap. A file that grows while it is read is read again with `readFile`.
 */
export async function readWholeFile(path: string, place?: Placement): Promise<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    const size = (await handle.stat()).size;
    const chunk = new Uint8Array(Math.min(READ_CHUNK, Math.max(1, size)));
    let out: Uint8Array | null = null;
    let at = 0;
    while (at < size) {
      const { bytesRead } = await handle.read(chunk, 0, Math.min(chunk.length, size - at), at);
      if (bytesRead === 0) break;
      out ??= (await place?.(size, chunk.subarray(0, bytesRead))) ?? new Uint8Array(size);
      out.set(bytesRead === chunk.length ? chunk : chunk.subarray(0, bytesRead), at);
      at += bytesRead;
    }
    out ??= new Uint8Array(size);
    if (at === size && (await handle.read(chunk, 0, 1, size)).bytesRead > 0) {
      const whole = await readFile(path);
      return new Uint8Array(whole.buffer, whole.byteOffset, whole.byteLength);
    }
    return at === size ? out : out.subarray(0, at);
  } finally {
    await handle.close();
  }
}

/** The companion files a model names, read from its directory. */
async function readCompanions(format: ModelFormat, bytes: Uint8Array, path: string): Promise<Record<string, Uint8Array>> {
  const files: Array<[string, Uint8Array]> = [];
  for (const location of format.needs?.(bytes) ?? []) {
    checkCompanionName(location, 'external data location');
    const file = join(dirname(path), location);
    try {
      files.push([location, await readWholeFile(file)]);
    } catch {
      throw new WeightBalanceError(`cannot read the external data file '${file}' that the model refers to`);
    }
  }
  return Object.fromEntries(files); // own properties, even for a location named '__proto__'
}

/**
 * A safetensors file's bytes in a weight buffer (`allocate`, default the library's
 * {@link weightBuffer}), its tensor data from a 16-byte boundary (8 bytes of header length, then
 * the header): the CPU engine reads the float32 weights that the reader keeps as views where
 * they lie, and `inPlace` rescales them there.
 */
export function safetensorsInWeightBuffer(allocate: typeof weightBuffer = weightBuffer): Placement {
  return async (size, head) => {
    const headerBytes = head.length >= 8 ? new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true) : 0n;
    return allocate(size, headerBytes < BigInt(size) ? 8 + Number(headerBytes) : 0);
  };
}

/**
 * Read a network from a model file (format by extension). With `share` (the caller gives the
 * bytes up) a safetensors file is read into a {@link weightBuffer}.
 */
export async function readModelFile(path: string, options: ReadModelOptions = {}): Promise<{ network: Network; source: ModelSource }> {
  const format = modelFormatFor(path, 'read');
  let bytes: Uint8Array;
  try {
    bytes = await readWholeFile(path, options.share && format.name === 'safetensors' ? safetensorsInWeightBuffer() : undefined);
  } catch (error) {
    throw new WeightBalanceError(`cannot read '${path}': ${describeError(error)}`);
  }
  try {
    const { network, ...read } = format.read(bytes, await readCompanions(format, bytes, path), options);
    return { network, source: { ...read, path } };
  } catch (error) {
    if (error instanceof WeightBalanceError) throw new WeightBalanceError(`'${path}': ${error.message}`);
    throw error;
  }
}

/**
 * Let go of the reader's state when the file written does not need it (only a writer of the
 * same format gets it: the ONNX writer keeps the bytes around the weight data).
 */
export function releaseSourceState(source: ModelSource, outputPath: string | null): void {
  if (outputPath === null || modelFormatFor(outputPath, 'write').name !== source.format) source.state = null;
}

/** A path with its directory's symbolic links resolved (the directory must exist). */
async function realTarget(path: string): Promise<string> {
  const target = resolve(path);
  return join(await realpath(dirname(target)), basename(target));
}

/** Whether two paths name the same existing file (after symbolic links; `false` when either does not exist). */
export async function sameFile(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([stat(a).catch(() => null), stat(b).catch(() => null)]);
  return x !== null && y !== null && x.dev === y.dev && x.ino === y.ino;
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
  const { format, own } = checkWritable(path, source, source?.path);
  await checkTargetPath(path);
  const companions = format.companions?.(own) ?? [];
  if (companions.length === 0) return;
  const output = await realTarget(path);
  for (const name of companions) {
    checkCompanionName(name);
    if (join(dirname(output), name) === output) throw new WeightBalanceError(`cannot write '${path}': the model refers to a companion file of that same name`);
  }
  const input = source && own ? source.path : null;
  if (input !== null && output !== (await realTarget(input)) && dirname(output) === dirname(await realTarget(input))) {
    throw new WeightBalanceError(
      `cannot write '${path}': the model refers to ${companions.map((c) => `'${c}'`).join(', ')} by name, and writing ${companions.length > 1 ? 'them' : 'it'} ` +
        `next to '${path}' would overwrite the input's own; write the output into another directory (or over '${input}' itself)`,
    );
  }
}

/**
 * Write a network to a model file (format by extension) and its companion files, atomically.
 * Returns the paths written, the model file last. `options` go to the format's writer.
 */
export async function writeModelFile(path: string, net: Network, source: ModelSource | null = null, options: WriteModelOptions = {}): Promise<string[]> {
  const format = modelFormatFor(path, 'write');
  const output = await format.write!(net, sourceFor(format, source), options);
  const files: Array<[string, Uint8Array | Iterable<Uint8Array>]> = Object.entries(output.companions ?? {}).map(([name, bytes]) => {
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
 * Bytes per `write` of {@link writeNewFile}. ext4 caches a file in folios as large as each write
 * (up to 2 MiB), so the write size decides which free memory the page cache takes; where free
 * blocks of 2 MiB and more go back to a host (free page reporting in a VM) each of their pages
 * costs a host fault when next used. Measured on the 134M bench file (537 MB, a Firecracker VM,
 * Linux 6.18, 2 December 2026; bench/README.md, "Write phase"): to a new file in writes of
 * 128–512 KiB 0.2–0.4 s, of 1 MiB 0.5–0.75 s, of 2 MiB or more (one `writev` of every part,
 * `dd bs=4M`) 0.8–1.3 s. 512 KiB is also what Node's `writeFile` uses per write.
 */
const WRITE_CHUNK = 512 * 1024;

/**
 * Write `data` to a new file (`wx`: never over an existing one), part by part in writes of at
 * most {@link WRITE_CHUNK} bytes at explicit positions; a short write continues where it stopped.
 */
async function writeNewFile(path: string, data: Uint8Array | Iterable<Uint8Array> | string): Promise<void> {
  const parts = typeof data === 'string' ? [Buffer.from(data, 'utf8')] : data instanceof Uint8Array ? [data] : data;
  const handle = await open(path, 'wx');
  try {
    let position = 0;
    for (const part of parts) {
      if (!ArrayBuffer.isView(part)) throw new TypeError(`a part of the file is not bytes (${typeof part})`);
      for (let at = 0; at < part.byteLength; ) {
        const { bytesWritten } = await handle.write(part, at, Math.min(WRITE_CHUNK, part.byteLength - at), position);
        if (bytesWritten <= 0) throw new Error('the file system took no bytes');
        at += bytesWritten;
        position += bytesWritten;
      }
    }
  } finally {
    await handle.close();
  }
}

/**
 * Write several files atomically each, and together as far as a file system allows: every
 * temporary file is written first (a failure removes them all and leaves the targets as they
 * were), then they are renamed onto their targets in order (put the file that refers to the
 * others last).
 */
export async function writeFilesAtomic(files: ReadonlyArray<readonly [string, Uint8Array | Iterable<Uint8Array> | string]>): Promise<void> {
  const temporaries: string[] = [];
  let current = files[0]?.[0] ?? '';
  try {
    for (const [path, data] of files) {
      current = path;
      const target = resolve(path);
      const temporary = join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
      temporaries.push(temporary);
      await writeNewFile(temporary, data);
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
