/**
 * `weight-balance balance` on a float32 safetensors file reads it into a weight buffer and
 * balances in place (issue 11 point 4): the CPU engine finds every block's weights where the
 * kernels read them (p = 2 and p = 1; not p = 3), and the file written holds the values of the
 * library's ordinary run on a copy (to float32 rounding: the in-place run's `P` is not scaled).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { balance } from '../src/balance.js';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors.js';
import { mlp } from '../src/network/builders.js';
import { runCli } from './support/runCli.js';

/** Which blocks each CPU engine made found in a weight memory (`[]`: none). */
const seen = vi.hoisted(() => ({ inPlace: [] as boolean[][] }));

vi.mock('../src/engines/cpu/wasm/wasmKernels.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../src/engines/cpu/wasm/wasmKernels.js')>();
  return {
    ...actual,
    weightsInPlace: (...args: Parameters<typeof actual.weightsInPlace>) => {
      const found = actual.weightsInPlace(...args);
      seen.inPlace.push(found?.blocks ?? []);
      return found;
    },
  };
});

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wb-cli-in-place-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the CLI balances a float32 safetensors file where its weights lie', () => {
  for (const [p, q] of [
    [2, 2],
    [1, 2],
    [3, 1.5],
  ])
    it(`(${p}, ${q}): ${p <= 2 ? 'every block read in place' : 'P stored (p = 3)'}; the output is the library's run on a copy`, async () => {
      const net = mlp([20, 33, 17, 5], { seed: 9, dtype: 'float32', biasScale: 0.1 });
      const input = join(dir, `in-${p}.safetensors`);
      const output = join(dir, `out-${p}.safetensors`);
      await writeFile(input, writeSafetensors(net));
      seen.inPlace.length = 0;
      const run = await runCli(['balance', input, '-o', output, '-p', String(p), '-q', String(q), '--backend', 'cpu', '--tol', '1e-4']);
      expect(run.code, run.stderr).toBe(0);
      expect(seen.inPlace.at(-1)).toEqual(p <= 2 ? [true, true, true] : []);
      const written = readSafetensors(new Uint8Array(await readFile(output)));
      const reference = await balance(net, { p, q, backend: 'cpu', tol: 1e-4 });
      written.blocks.forEach((b, k) => {
        const other = reference.network.blocks[k];
        b.weight.forEach((w, e) => expect(Math.abs(w - other.weight[e])).toBeLessThanOrEqual(2 ** -20 * Math.abs(other.weight[e])));
        b.bias?.forEach((v, i) => expect(Math.abs(v - (other.bias?.[i] ?? Number.NaN))).toBeLessThanOrEqual(2 ** -20 * Math.abs(other.bias?.[i] ?? 0)));
      });
    });
});
