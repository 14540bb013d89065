/**
 * `npm run zoo -- DIR [-p P] [-q Q] [CLI options...]`: balance every `.onnx` file of DIR through
 * the CLI, check it in onnxruntime, and print the table (see onnxZoo.ts).
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatZoo, runZoo } from './onnxZoo.js';

const argv = process.argv.slice(2);
const dir = argv.shift();
if (!dir) {
  process.stderr.write('usage: npm run zoo -- DIR [-p P] [-q Q] [balance options, e.g. --backend cpu]\n');
  process.exit(2);
}
const take = (flag: string): number | undefined => {
  const k = argv.indexOf(flag);
  if (k < 0) return undefined;
  const value = Number(argv[k + 1]);
  argv.splice(k, 2);
  return value;
};
const p = take('-p');
const q = take('-q');
// A path built from this file's own (dist/zoo.js), not `new URL('../bin/…', import.meta.url)`:
// Vite inlines such a URL as a data: URL, which is not a file the child process can run.
const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'weight-balance.js');
const rows = await runZoo(dir, { cli, p, q, args: argv });
process.stdout.write(`${formatZoo(rows)}\n`);
