/**
 * Node-only loader of the shipped 8x8 digits (`data/digits.csv.gz`). Not imported by
 * `src/index.ts`, so the library stays browser-safe; the browser demo fetches the same file and
 * parses it with {@link parseDigitsCsv}.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { WeightBalanceError } from '../errors.js';
import type { Dataset } from '../flow/data.js';
import { parseDigitsCsv } from '../flow/data.js';

/**
 * Where `data/digits.csv.gz` lies: the first `data/` folder found walking up from this module
 * (the source tree, `dist/` after a build, or an installed package).
 */
export function digitsPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let k = 0; k < 5; k++) {
    const candidate = join(dir, 'data', 'digits.csv.gz');
    if (existsSync(candidate)) return candidate;
    dir = resolve(dir, '..');
  }
  throw new WeightBalanceError('cannot find data/digits.csv.gz next to the weight-balance package');
}

/**
 * Load the 8x8 digits (1797 examples, 64 pixels scaled to [0, 1], labels 0..9) from a gzipped
 * CSV file (default: the copy shipped in `data/`).
 */
export function loadDigits(path: string = digitsPath()): Dataset {
  let text: string;
  try {
    text = gunzipSync(readFileSync(path)).toString('utf8');
  } catch (error) {
    throw new WeightBalanceError(`cannot read the digits from ${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
  return parseDigitsCsv(text);
}
