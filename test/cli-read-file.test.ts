/** `readWholeFile` (the CLI's reader of model files): the file's bytes exactly, through its small buffer. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readWholeFile } from '../src/cli/modelFile.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wb-read-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('readWholeFile', () => {
  it('returns the bytes of files shorter and longer than its 4 MiB buffer, and of an empty file', async () => {
    for (const size of [0, 1, 4099, 4 * 1024 * 1024, 9 * 1024 * 1024 + 13]) {
      const bytes = Uint8Array.from({ length: size }, (_, i) => (i * 2654435761) >>> 24);
      const path = join(dir, `f${size}`);
      await writeFile(path, bytes);
      const read = await readWholeFile(path);
      expect(read.length).toBe(size);
      expect(Buffer.from(read.buffer, read.byteOffset, read.byteLength).equals(await readFile(path))).toBe(true);
    }
  });

  it('a missing file is an error with its code', async () => {
    await expect(readWholeFile(join(dir, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
