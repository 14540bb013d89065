/**
 * The ONNX zoo run: every `.onnx` file of a folder is balanced through the CLI (a child process
 * per model, so that time and peak memory are its own), and the original and the balanced model
 * are run in onnxruntime on the same random input. One row per model: accepted (or the refusal),
 * fixed units, norm before -> after, output difference, time, peak memory (also as a multiple of
 * the network's weights in float32, the memory target's unit). Nothing is exported
 * here; the models come from elsewhere (torch.onnx exports, or the tests' builders).
 *
 * `npm run zoo -- DIR [--p 2 --q 2]` prints the table.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { onnxExternalDataFiles, readOnnx } from '../src/index.js';

/** One model's outcome. */
export interface ZooRow {
  model: string;
  accepted: boolean;
  /** The refusal's message (first line), when not accepted. */
  refusal?: string;
  fixedUnits: number;
  initialNorm: number;
  finalNorm: number;
  /** `max |y - y'| / max |y|` between the original and the balanced model in onnxruntime. */
  outputDifference: number;
  /** Wall time of the CLI run, ms. */
  ms: number;
  /** Peak resident memory of the CLI process, bytes. */
  peakBytes: number;
  /** Bytes of the network's weights and biases as float32 (what the peak is compared with); NaN for a refused model. */
  weightBytes: number;
}

/** Options of {@link runZoo}. */
export interface ZooOptions {
  /** The `weight-balance.js` bin script to run. */
  cli: string;
  p?: number;
  q?: number;
  /** Extra CLI arguments (e.g. `--backend cpu`). */
  args?: string[];
}

/** Prints the process's peak RSS (kB) on stderr at exit: the child's own peak memory. */
const PEAK_HOOK = 'data:text/javascript,process.on("exit",()=>process.stderr.write("\\nzoo-peak-rss-kb "+process.resourceUsage().maxRSS+"\\n"))';

function run(file: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const start = performance.now();
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', PEAK_HOOK, file, ...args], { maxBuffer: 1 << 28 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr, ms: performance.now() - start });
    });
  });
}

/** Run a model in onnxruntime on one random input (batch 1, or the model's fixed batch); its first output. */
async function infer(path: string, seed: number): Promise<Float32Array> {
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(path);
  try {
    const name = session.inputNames[0];
    const meta = (session as unknown as { inputMetadata?: Array<{ shape?: (number | string)[] }> }).inputMetadata?.[0];
    const dims = (meta?.shape ?? []).map((d) => (typeof d === 'number' && d > 0 ? d : 1));
    let s = seed >>> 0;
    const size = dims.reduce((a, b) => a * b, 1);
    const data = Float32Array.from({ length: size }, () => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return (s / 2 ** 32) * 2 - 1;
    });
    const out = await session.run({ [name]: new ort.Tensor('float32', data, dims) });
    return Float32Array.from(out[session.outputNames[0]].data as Float32Array);
  } finally {
    await session.release();
  }
}

function difference(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let k = 0; k < a.length; k++) {
    diff = Math.max(diff, Math.abs(a[k] - b[k]));
    scale = Math.max(scale, Math.abs(a[k]));
  }
  return a.length === b.length ? diff / (scale || 1) : Number.POSITIVE_INFINITY;
}

/** The network's weights and biases as float32 bytes (4 per parameter, whatever the file stores). */
async function weightBytes(path: string): Promise<number> {
  const bytes = new Uint8Array(await readFile(path));
  const externalData: Record<string, Uint8Array> = {};
  for (const file of onnxExternalDataFiles(bytes)) externalData[file] = new Uint8Array(await readFile(join(dirname(path), file)));
  const { network } = readOnnx(bytes, { externalData });
  return 4 * network.blocks.reduce((n, b) => n + b.weight.length + (b.bias?.length ?? 0), 0);
}

/** Balance one model through the CLI and compare it with the original in onnxruntime. */
async function zooRow(dir: string, name: string, out: string, options: ZooOptions): Promise<ZooRow> {
  const input = join(dir, name);
  const output = join(out, name);
  const r = await run(options.cli, [
    'balance',
    input,
    '-p',
    String(options.p ?? 2),
    '-q',
    String(options.q ?? 2),
    '-o',
    output,
    '--json',
    ...(options.args ?? []),
  ]);
  const peak = /zoo-peak-rss-kb (\d+)/.exec(r.stderr);
  const base = { model: name, ms: r.ms, peakBytes: peak ? Number(peak[1]) * 1024 : Number.NaN, weightBytes: Number.NaN };
  if (r.code !== 0) {
    const refusal = r.stderr.split('\n').find((l) => l.trim() !== '' && !l.startsWith('zoo-peak')) ?? `exit code ${r.code}`;
    return { ...base, accepted: false, refusal, fixedUnits: 0, initialNorm: Number.NaN, finalNorm: Number.NaN, outputDifference: Number.NaN };
  }
  const report = JSON.parse(r.stdout) as { initialNorm: number; finalNorm: number; fixedUnits: Array<{ units: number }> };
  const outputDifference = difference(await infer(input, 1), await infer(output, 1));
  const fixedUnits = report.fixedUnits.reduce((n, f) => n + f.units, 0);
  return {
    ...base,
    weightBytes: await weightBytes(input),
    accepted: true,
    fixedUnits,
    initialNorm: report.initialNorm,
    finalNorm: report.finalNorm,
    outputDifference,
  };
}

/** Balance every `.onnx` file of `dir` (sorted by name); the balanced copies go to a temporary folder, removed after. */
export async function runZoo(dir: string, options: ZooOptions): Promise<ZooRow[]> {
  const names = (await readdir(dir)).filter((n) => n.toLowerCase().endsWith('.onnx')).sort();
  const out = await mkdtemp(join(tmpdir(), 'wb-zoo-'));
  try {
    const rows: ZooRow[] = [];
    for (const name of names) rows.push(await zooRow(dir, name, out, options));
    return rows;
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

/** The table: one line per model, fixed-width columns. */
export function formatZoo(rows: readonly ZooRow[]): string {
  const header = ['model', 'accepted', 'fixed units', 'norm before -> after', 'output diff', 'time', 'peak memory', 'x weights', 'refusal'];
  const mb = (b: number): string => (Number.isFinite(b) ? `${(b / 2 ** 20).toFixed(0)} MB` : '?');
  const lines = rows.map((r) => [
    r.model,
    r.accepted ? 'yes' : 'no',
    r.accepted ? String(r.fixedUnits) : '',
    r.accepted ? `${r.initialNorm.toPrecision(6)} -> ${r.finalNorm.toPrecision(6)}` : '',
    r.accepted ? r.outputDifference.toExponential(1) : '',
    `${(r.ms / 1000).toFixed(1)} s`,
    mb(r.peakBytes),
    Number.isFinite(r.peakBytes / r.weightBytes) ? `${(r.peakBytes / r.weightBytes).toFixed(2)}x` : '',
    r.refusal ?? '',
  ]);
  const widths = header.map((h, k) => Math.min(120, Math.max(h.length, ...lines.map((l) => l[k].length))));
  const format = (cells: string[]): string =>
    cells
      .map((c, k) => (c.length > widths[k] ? `${c.slice(0, widths[k] - 1)}…` : c.padEnd(widths[k])))
      .join('  ')
      .trimEnd();
  return [format(header), ...lines.map(format)].join('\n');
}
