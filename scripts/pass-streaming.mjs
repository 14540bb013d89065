#!/usr/bin/env node
// The WebAssembly passes over P alone, against a plain streaming read of the same bytes
// (bench/README.md, "The passes at NumPy speed where memory allows"): compiles assembly/passes.ts
// (or the sources given, e.g. a copy of main's) with plain and relaxed SIMD and a four-accumulator
// f32x4 summation loop, fills `blocks` float32 blocks of `rows x cols` (8 x 4096² = 512 MB: P
// streamed from memory; one block of 1250 x 2500 with --repeat 20: P in cache), and prints the
// median processor ms of each pass over every block, its GB/s for one read of P, and ns per entry.
//
//   node scripts/pass-streaming.mjs [rows cols blocks runs] [--repeat N] [--source a.ts ...]
//
// Node 20 validates relaxed SIMD only behind --experimental-wasm-relaxed-simd, set here.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--experimental-wasm-relaxed-simd');
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const asc = join(root, 'node_modules/assemblyscript/bin/asc.js');
const { values, positionals } = parseArgs({ allowPositionals: true, options: { repeat: { type: 'string' }, source: { type: 'string', multiple: true } } });
const [rows, cols, blocks, runs] = [4096, 4096, 8, 5].map((d, k) => Number(positionals[k] ?? d));
const repeat = Number(values.repeat ?? 1);

const STREAM = `export function streamRead(P: usize, n: i32): f32 {
  let a = f32x4.splat(0); let b = f32x4.splat(0); let c = f32x4.splat(0); let d = f32x4.splat(0);
  const end = P + ((<usize>n) << 2);
  for (let p = P; p < end; p += 64) {
    a = f32x4.add(a, v128.load(p)); b = f32x4.add(b, v128.load(p, 16));
    c = f32x4.add(c, v128.load(p, 32)); d = f32x4.add(d, v128.load(p, 48));
  }
  const s = f32x4.add(f32x4.add(a, b), f32x4.add(c, d));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3);
}
`;

const dir = mkdtempSync(join(tmpdir(), 'wb-streaming-'));
/** Compile `source` (its siblings copied along) with `flags`; the module's bytes. */
function compile(source, name, flags) {
  const out = join(dir, `${name}.wasm`);
  execFileSync(process.execPath, [asc, source, '--outFile', out, '-O3', '--runtime', 'stub', '--importMemory', '--noAssert', '--enable', 'simd', ...flags], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return readFileSync(out);
}

const modules = [];
try {
  writeFileSync(join(dir, 'stream.ts'), STREAM);
  const stream = compile(join(dir, 'stream.ts'), 'stream', []);
  const sources = values.source ?? [join(root, 'assembly/passes.ts')];
  for (const [k, source] of sources.entries()) {
    // A source outside assembly/ (a copy of another branch's passes.ts) imports its siblings from assembly/.
    const at = join(dir, `src${k}`);
    execFileSync('mkdir', ['-p', at]);
    for (const f of ['columnWeight.ts', 'blocked32.ts']) copyFileSync(join(root, 'assembly', f), join(at, f));
    copyFileSync(source, join(at, 'passes.ts'));
    const label = sources.length > 1 ? `${basename(source)}#${k}` : 'passes';
    modules.push([`${label} plain`, compile(join(at, 'passes.ts'), `p${k}`, [])]);
    modules.push([`${label} relaxed`, compile(join(at, 'passes.ts'), `r${k}`, ['--enable', 'relaxed-simd'])]);
  }
  run(stream);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

function run(streamBytes) {
  const PAGE = 65536;
  const n = Math.max(rows, cols);
  const [xAt, yAt] = [PAGE, PAGE + 8 * n];
  const [wAt, cAt] = [yAt + 8 * n, yAt + 24 * n];
  const sAt = cAt + 8 * n;
  const pAt = Math.ceil((sAt + 8 * n) / 64) * 64;
  const entries = rows * cols;
  const pages = Math.ceil((pAt + blocks * entries * 4 + 64) / PAGE);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  const P = new Float32Array(memory.buffer, pAt, blocks * entries);
  for (let k = 0; k < P.length; k++) P[k] = ((k * 2654435761) % 1000) / 1000;
  const x = new Float64Array(memory.buffer, xAt, n);
  const y = new Float64Array(memory.buffer, yAt, n);
  const w = new Float64Array(memory.buffer, wAt, 2 * n);
  for (let j = 0; j < n; j++) [x[j], y[j], w[2 * j], w[2 * j + 1]] = [1 / (1 + (j % 7)), 1 / (1 + (j % 5)), 0.5, 0.25];
  const instance = (bytes) => new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports;
  const streamer = instance(streamBytes);
  const kernels = modules.map(([label, bytes]) => [label, instance(bytes)]);
  const at = (b) => pAt + b * entries * 4;
  const passes = {
    fused: (e, b) => e.fusedPass32(at(b), rows, cols, 1, 0, rows, xAt, yAt, sAt, cAt),
    'rowColumn (r-1 = 1)': (e, b) => e.rowColumnPass32(at(b), rows, cols, 1, 0, rows, xAt, wAt, 1, sAt, cAt),
    rows: (e, b) => e.rowPass32(at(b), rows, cols, 1, 0, rows, xAt, sAt),
    columns: (e, b) => e.columnPass32(at(b), rows, cols, 1, 0, rows, yAt, cAt),
  };
  const cpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const time = (f) => {
    const t = cpu();
    for (let r = 0; r < repeat; r++) for (let b = 0; b < blocks; b++) f(b);
    return (cpu() - t) / repeat;
  };
  const times = new Map();
  const add = (key, ms) => times.set(key, [...(times.get(key) ?? []), ms]);
  // Interleaved: every pass of every build once per run (the first run warms V8's optimised code).
  for (let r = 0; r <= runs; r++) {
    const ms = time((b) => streamer.streamRead(at(b), entries));
    if (r > 0) add('stream read (f32x4)', ms);
    for (const [pass, call] of Object.entries(passes)) {
      for (const [label, e] of kernels) {
        const t = time((b) => call(e, b));
        if (r > 0) add(`${pass}: ${label}`, t);
      }
    }
  }
  const mb = (blocks * entries * 4) / 1e6;
  console.log(
    `# ${blocks} x ${rows} x ${cols} float32 P (${mb.toFixed(0)} MB), medians of ${runs} runs${repeat > 1 ? ` of ${repeat} repeats` : ''}, processor time`,
  );
  for (const [key, list] of times) {
    const ms = list.sort((a, b) => a - b)[list.length >> 1];
    console.log(
      `${key.padEnd(46)} ${ms.toFixed(2).padStart(8)} ms ${(mb / ms).toFixed(1).padStart(6)} GB/s ${((ms * 1e6) / (blocks * entries)).toFixed(3)} ns/entry`,
    );
  }
}
