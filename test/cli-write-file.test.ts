/**
 * `writeFilesAtomic` / `writeFileAtomic` (the CLI's writer of model files): the file's bytes are
 * exactly the parts asked for, written in bounded writes, and a failure leaves the targets as they
 * were and no temporary file behind.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileAtomic, writeFilesAtomic } from '../src/cli/modelFile.js';
import { WeightBalanceError } from '../src/errors.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wb-write-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const pattern = (size: number, seed: number): Uint8Array => Uint8Array.from({ length: size }, (_, i) => ((i + seed) * 2654435761) >>> 24);

function concat(parts: Uint8Array[]): Buffer {
  return Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)));
}

describe('writeFilesAtomic', () => {
  it('writes parts of every size (empty, below, at and across its 512 KiB writes, views into larger buffers) in order', async () => {
    const big = pattern(3 * 512 * 1024 + 77, 5);
    const floats = Float32Array.from({ length: 300_001 }, (_, i) => Math.sin(i));
    const parts = [
      pattern(13, 1),
      new Uint8Array(0),
      pattern(512 * 1024, 2),
      big.subarray(1001, big.length - 3), // a view not at its buffer's start
      new Uint8Array(floats.buffer, 4, floats.byteLength - 8),
      pattern(512 * 1024 + 1, 3),
    ];
    const path = join(dir, 'parts.bin');
    await writeFilesAtomic([[path, parts]]);
    expect((await readFile(path)).equals(concat(parts))).toBe(true);
  });

  it('takes a generator of parts, one Uint8Array, a string, and an empty file', async () => {
    function* generated(): Generator<Uint8Array> {
      for (let k = 0; k < 4; k++) yield pattern(200_000 + k, k);
    }
    const files: Array<[string, Uint8Array | Iterable<Uint8Array> | string]> = [
      [join(dir, 'gen.bin'), generated()],
      [join(dir, 'one.bin'), pattern(1_234_567, 9)],
      [join(dir, 'text.json'), '{"π": "ünïcode"}\n'],
      [join(dir, 'empty.bin'), []],
    ];
    await writeFilesAtomic(files);
    expect((await readFile(files[0][0])).equals(concat([...generated()]))).toBe(true);
    expect((await readFile(files[1][0])).equals(Buffer.from(pattern(1_234_567, 9)))).toBe(true);
    expect(await readFile(files[2][0], 'utf8')).toBe('{"π": "ünïcode"}\n');
    expect((await readFile(files[3][0])).length).toBe(0);
  });

  it('replaces an existing file with the whole new one (a shorter file leaves no old tail)', async () => {
    const path = join(dir, 'replace.bin');
    await writeFile(path, pattern(2_000_000, 1));
    await writeFileAtomic(path, pattern(700_000, 2));
    expect((await readFile(path)).equals(Buffer.from(pattern(700_000, 2)))).toBe(true);
  });

  it('a failure while writing leaves every target as it was and no temporary file', async () => {
    const sub = await mkdtemp(join(dir, 'fail-'));
    const first = join(sub, 'first.bin');
    const second = join(sub, 'second.bin');
    await writeFile(second, 'old');
    function* failing(): Generator<Uint8Array> {
      yield pattern(600_000, 1);
      throw new Error('the encoder failed');
    }
    const error = await writeFilesAtomic([
      [first, pattern(100, 1)],
      [second, failing()],
    ]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WeightBalanceError);
    expect((error as Error).message).toContain(`cannot write '${second}'`);
    expect((error as Error).message).toContain('the encoder failed');
    expect(await readdir(sub)).toEqual(['second.bin']);
    expect(await readFile(second, 'utf8')).toBe('old');
  });

  it('a part that is not bytes fails the same way', async () => {
    const sub = await mkdtemp(join(dir, 'bad-'));
    const path = join(sub, 'bad.bin');
    await expect(writeFilesAtomic([[path, [pattern(10, 1), 42 as unknown as Uint8Array]]])).rejects.toBeInstanceOf(WeightBalanceError);
    expect(await readdir(sub)).toEqual([]);
  });

  it('a directory that does not exist is refused with the path', async () => {
    const path = join(dir, 'missing-dir', 'x.bin');
    await expect(writeFileAtomic(path, pattern(10, 1))).rejects.toThrow(`cannot write '${path}': no such file or directory`);
  });
});
