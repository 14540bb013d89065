/**
 * `npm run bench`: the speed of the fix (issues 2 and 10). For the three MLPs of the paper's
 * Fig. 2 (MATH.md §6), every backend and schedule: milliseconds per sweep and per pass over `P`
 * (median of several runs) as a multiple of the memory-bound floor (a plain summation loop over a
 * Float64Array the size of `P`, timed in the same runs, interleaved), the sweeps and passes
 * needed to reach `max |log(Out/In)| <= tol`, the time that takes, and that time against the
 * paper's parallel update measured in the same run.
 *
 *   node dist/bench.js [--nets 1,2,3] [--pq 2,2 --pq 1,2] [--schedules accelerated,parallel,alternating]
 *                      [--backends js-f64,wasm-f32,wasm-f32b,wasm-f64,wasm-f32-threads] [--runs 7] [--sweeps 10] [--tol 1e-6] [--max-sweeps 20000]
 *                      [--no-converge] [--no-numpy] [--no-relaxed-simd] [--json out.json]
 *
 * Node 20 validates WebAssembly relaxed SIMD (the kernels' fused multiply-adds, default in Chrome
 * and Node 22+) only behind `--experimental-wasm-relaxed-simd`: the bench sets it unless
 * `--no-relaxed-simd`; `wasm-f32-plain` and `wasm-f32-relaxed` force each build of the kernels.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { mlp } from '../src/network/builders.js';
import type { Schedule } from '../src/options.js';
import { SCHEDULES } from '../src/options.js';
import { compileProblem } from '../src/problem/compile.js';
import type { Problem } from '../src/problem/problem.js';
import type { BenchBackend } from './backends.js';
import { BACKENDS } from './backends.js';
import { floorArray, median, sumOnce, time } from './floor.js';
import { numpyTiming, numpyUnavailable } from './numpy.js';
import { threadPairs } from './threads.js';

/** The three nets of the paper's Fig. 2. */
export const FIG2_NETS: number[][] = [
  [200, 2500, 1250, 10],
  [200, 2000, 1000, 500, 250, 10],
  [200, 1000, 750, 750, 500, 500, 250, 10],
  // 4: the GPU target of issue 3, 8 layers of 4096 x 4096 (134M weights): `--nets 4 --backends webgpu`.
  Array.from({ length: 9 }, () => 4096),
];

/** One row of the result table. Times are medians over the runs, in milliseconds. */
export interface BenchRow {
  net: string;
  /** Entries of `P` (weights; taps aggregated). */
  entries: number;
  backend: string;
  schedule: Schedule;
  p: number;
  q: number;
  /** The summation floor over `entries` float64 values, processor time. */
  floorMs: number;
  /** One sweep, processor time of this process. */
  msPerSweep: number;
  /** Median over the runs of (sweep / floor), both timed in the same run. */
  xFloor: number;
  /** One sweep, wall time (includes waiting for a core on a busy machine). */
  wallMsPerSweep: number;
  /** Wall time to build the engine (`P` and buffers; compile excluded). */
  setupMs: number;
  /** Effective bandwidth: bytes of `P` read per sweep / time per sweep, in GB/s (backends that report it). */
  bandwidthGBs: number | null;
  /** Sweeps until `max |log(Out/In)| <= tol` (null: not measured or not reached). */
  sweepsToTol: number | null;
  /** Passes over `P` (reads of all of `P`) by those sweeps. */
  passesToTol: number | null;
  /** One pass over `P`, processor time (wall for webgpu): the timed sweeps over the passes they read. */
  msPerPass: number;
  /** Time of the run to `tol` (the sweeps of one engine call; processor time, wall for webgpu). */
  msToTol: number | null;
  /** The paper's parallel update's `msToTol` over this row's, same net, (p, q) and backend, same run. */
  speedupVsPaper: number | null;
  /** `||W~|| / ||W0||` when the stopping rule was met. */
  finalRatio: number | null;
}

function list(value: string | undefined, fallback: string): string[] {
  return (value ?? fallback)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function positive(value: string | undefined, fallback: number, name: string): number {
  const x = value === undefined ? fallback : Number(value);
  if (!(x > 0) || !Number.isFinite(x)) throw new Error(`--${name} must be a positive number, got ${value}`);
  return x;
}

const USAGE =
  'usage: node dist/bench.js [--nets 1,2,3] [--pq 2,2 --pq 1,2] [--schedules accelerated,parallel,alternating] [--backends js-f64,wasm-f32,wasm-f32b,wasm-f64,wasm-f32-threads] [--runs 7] [--sweeps 10] [--tol 1e-6] [--max-sweeps 20000] [--no-converge] [--no-numpy] [--no-relaxed-simd] [--json out.json]';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      nets: { type: 'string' },
      pq: { type: 'string', multiple: true },
      schedules: { type: 'string' },
      backends: { type: 'string' },
      runs: { type: 'string' },
      sweeps: { type: 'string' },
      tol: { type: 'string' },
      'max-sweeps': { type: 'string' },
      'no-converge': { type: 'boolean' },
      'no-numpy': { type: 'boolean' },
      'no-relaxed-simd': { type: 'boolean' },
      json: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const nets = list(values.nets, '1,2,3').map((k) => FIG2_NETS[Number(k) - 1]);
  if (nets.some((n) => !n)) throw new Error('--nets takes indices 1, 2, 3 of the Fig. 2 nets, or 4 (8 x 4096 x 4096)');
  const pairs = (values.pq ?? ['2,2', '1,2', '3,1.5']).map((s) => {
    const [p, q] = s.split(',').map(Number);
    if (!(p > 0) || !(q > 0)) throw new Error(`--pq takes 'p,q' with p, q > 0, got '${s}'`);
    return [p, q] as const;
  });
  const schedules = list(values.schedules, SCHEDULES.join(',')) as Schedule[];
  for (const s of schedules) if (!SCHEDULES.includes(s)) throw new Error(`unknown schedule '${s}' (known: ${SCHEDULES.join(', ')})`);
  const runs = Math.round(positive(values.runs, 7, 'runs'));
  const sweepsPerRun = Math.round(positive(values.sweeps, 10, 'sweeps'));
  const tol = positive(values.tol, 1e-6, 'tol');
  const maxSweeps = Math.round(positive(values['max-sweeps'], 20000, 'max-sweeps'));
  const converge = !values['no-converge'];

  // Relaxed SIMD (the kernels' fused multiply-adds) is on by default in Chrome and Node 22+; Node 20
  // validates it only behind this flag, set here before any kernels compile (the library never sets it).
  if (!values['no-relaxed-simd']) setFlagsFromString('--experimental-wasm-relaxed-simd');
  const backends: BenchBackend[] = [];
  for (const name of list(values.backends, 'js-f64,wasm-f32,wasm-f32b,wasm-f64,wasm-f32-threads')) {
    const backend = BACKENDS[name];
    if (!backend) throw new Error(`unknown backend '${name}' (known: ${Object.keys(BACKENDS).join(', ')})`);
    const why = await backend.unavailable();
    if (why) console.log(`# backend ${name} skipped: ${why}`);
    else {
      backends.push(backend);
      console.log(`# backend ${name}: ${await backend.describe()}`);
    }
  }

  const numpyWhy = values['no-numpy'] ? 'skipped by --no-numpy' : numpyUnavailable();
  console.log(
    numpyWhy
      ? `# NOTE: NumPy baseline not run: ${numpyWhy}`
      : '# baseline numpy-f32, numpy-f64: the parallel update in NumPy on one OpenBLAS thread (bench/numpy_baseline.py), processor time',
  );
  const header = [
    'net',
    'P entries',
    'backend',
    'schedule',
    'p,q',
    'floor ms',
    'ms/sweep',
    'x floor',
    'wall ms',
    'setup ms',
    'GB/s',
    'sweeps to tol',
    'ratio',
    'ms/pass',
    'passes to tol',
    'ms to tol',
  ];
  const widths = [36, 10, 9, 12, 8, 9, 9, 8, 8, 9, 8, 14, 9, 8, 14, 10];
  const line = (cells: string[]): string => cells.map((c, k) => (k === 0 ? c.padEnd(widths[k]) : c.padStart(widths[k]))).join(' ');
  console.log(
    `# medians of ${runs} runs of ${sweepsPerRun} sweeps; times are processor time of this process (wall: elapsed), float64 P, except webgpu: wall time, float32 log P, floor = reading P once at the GPU's copy bandwidth; tol ${tol}`,
  );
  console.log(line(header));
  const rows: BenchRow[] = [];
  for (const sizes of nets) {
    const net = mlp(sizes, { seed: 0 });
    const name = sizes.join('-');
    for (const [p, q] of pairs) {
      const problem = compileProblem(net, { p, q });
      const entries = problem.blocks.reduce((n, b) => n + b.rows * b.cols, 0);
      let floorValues: Float64Array | null = null; // only for backends without their own floor
      for (const backend of backends) {
        const group: BenchRow[] = [];
        for (const schedule of schedules) {
          const setup = await time(() => backend.create(problem, schedule).then((e) => e.dispose()));
          const engine = await backend.create(problem, schedule);
          await engine.sweeps(2, 0); // warm-up
          const floors: number[] = [];
          const sweeps: number[] = [];
          const walls: number[] = [];
          const ratios: number[] = [];
          const perPass: number[] = [];
          for (let r = 0; r < runs; r++) {
            let floor: number;
            if (backend.floor) floor = await backend.floor(entries);
            else {
              const values = (floorValues ??= floorArray(entries));
              floor = (await time(() => sumOnce(values), 3)).cpu;
            }
            let passes = 0;
            const sweep = await time(async () => {
              passes = (await engine.sweeps(sweepsPerRun, 0)).reduce((n, record) => n + record.passes, 0);
            });
            const perSweep = (backend.clock === 'wall' ? sweep.wall : sweep.cpu) / sweepsPerRun;
            perPass.push((backend.clock === 'wall' ? sweep.wall : sweep.cpu) / Math.max(passes, 1e-9));
            floors.push(floor);
            sweeps.push(perSweep);
            walls.push(sweep.wall / sweepsPerRun);
            ratios.push(perSweep / floor);
          }
          engine.dispose();
          let sweepsToTol: number | null = null;
          let finalRatio: number | null = null;
          let passesToTol: number | null = null;
          let msToTol: number | null = null;
          if (converge) {
            // Median over the runs of one engine call to tol (the engine stops after the first
            // sweep with max |log(Out/In)| <= tol; the GPU batches them); P is built beforehand.
            const times: number[] = [];
            for (let r = 0; r < runs; r++) {
              const fresh = await backend.create(problem, schedule);
              const F0 = (await fresh.evaluate()).F;
              let records: Awaited<ReturnType<typeof fresh.sweeps>> = [];
              const run = await time(async () => {
                records = await fresh.sweeps(maxSweeps, tol);
              });
              fresh.dispose();
              const last = records[records.length - 1];
              if (!last || !(last.maxLogImbalance <= tol)) break;
              sweepsToTol = records.length;
              passesToTol = records.reduce((n, record) => n + record.passes, 0);
              finalRatio = Math.pow(last.F / F0, 1 / q);
              times.push(backend.clock === 'wall' ? run.wall : run.cpu);
            }
            msToTol = times.length === runs ? median(times) : null;
          }
          const row: BenchRow = {
            net: name,
            entries,
            backend: backend.name,
            schedule,
            p,
            q,
            floorMs: median(floors),
            msPerSweep: median(sweeps),
            xFloor: median(ratios),
            wallMsPerSweep: median(walls),
            setupMs: setup.wall,
            sweepsToTol,
            finalRatio,
            passesToTol,
            msPerPass: median(perPass),
            msToTol,
            speedupVsPaper: null,
            bandwidthGBs: null,
          };
          group.push(row);
          const bytes = backend.bytesPerSweep?.(problem, schedule);
          if (bytes !== undefined) row.bandwidthGBs = bytes / (row.msPerSweep * 1e6);
          rows.push(row);
          printRow(row);
        }
        // Time to balance against the paper's parallel update, measured in this run.
        const paper = group.find((r) => r.schedule === 'parallel');
        for (const r of group) {
          if (paper?.msToTol && r.msToTol) r.speedupVsPaper = paper.msToTol / r.msToTol;
          if (r.speedupVsPaper !== null) {
            const passRatio =
              paper?.passesToTol && r.passesToTol
                ? `, passes ${r.passesToTol.toFixed(1)} / ${paper.passesToTol.toFixed(1)} = ${(r.passesToTol / paper.passesToTol).toFixed(3)} of the paper's`
                : '';
            console.log(
              `#   ${r.net} ${r.backend} ${r.schedule} p,q=${r.p},${r.q}: time to tol ${r.msToTol?.toFixed(1)} ms, ${r.speedupVsPaper.toFixed(2)}x faster than the paper's parallel update${passRatio}`,
            );
          }
        }
      }
      await reportThreadPairs(backends, problem, name, runs, sweepsPerRun);
      if (!numpyWhy) {
        for (const dtype of ['float32', 'float64'] as const) {
          const t = numpyTiming(sizes, p, q, dtype, runs, sweepsPerRun);
          const row: BenchRow = {
            net: name,
            entries,
            backend: `numpy-${dtype === 'float32' ? 'f32' : 'f64'}`,
            schedule: 'parallel',
            p,
            q,
            floorMs: NaN,
            msPerSweep: t.msPerSweep,
            xFloor: NaN,
            wallMsPerSweep: t.wallMsPerSweep,
            setupMs: NaN,
            sweepsToTol: null,
            finalRatio: null,
            bandwidthGBs: null,
            passesToTol: null,
            msPerPass: NaN,
            msToTol: null,
            speedupVsPaper: null,
          };
          rows.push(row);
          printRow(row);
        }
      }
    }
  }
  function printRow(row: BenchRow): void {
    const { sweepsToTol, finalRatio } = row;
    const fixed = (x: number, digits: number): string => (Number.isNaN(x) ? '-' : x.toFixed(digits));
    console.log(
      line([
        row.net,
        String(row.entries),
        row.backend,
        row.schedule,
        `${row.p},${row.q}`,
        fixed(row.floorMs, 2),
        row.msPerSweep.toFixed(2),
        fixed(row.xFloor, 2),
        row.wallMsPerSweep.toFixed(2),
        fixed(row.setupMs, 0),
        row.bandwidthGBs === null ? '-' : row.bandwidthGBs.toFixed(1),
        sweepsToTol === null ? (converge && !row.backend.startsWith('numpy') ? `>${maxSweeps}` : '-') : String(sweepsToTol),
        finalRatio === null ? '-' : finalRatio.toFixed(5),
        fixed(row.msPerPass, 2),
        row.passesToTol === null ? '-' : row.passesToTol.toFixed(1),
        row.msToTol === null ? '-' : row.msToTol.toFixed(1),
      ]),
    );
  }
  summariseAgainstNumpy(rows);
  summariseThreads(rows);
  for (const backend of backends) await backend.close?.();
  for (const backend of backends) {
    const worst = Math.max(...rows.filter((r) => r.backend === backend.name).map((r) => r.xFloor));
    // Targets: CPU within 3x of its summation floor; GPU within 2x of reading P once at copy bandwidth.
    console.log(`# ${backend.name}: worst sweep / floor ${worst.toFixed(2)}x (target <= ${backend.name === 'webgpu' ? 2 : 3}x)`);
  }
  if (values.json) {
    writeFileSync(values.json, `${JSON.stringify({ date: new Date().toISOString(), node: process.version, runs, sweepsPerRun, tol, rows }, null, 2)}\n`);
    console.log(`# wrote ${values.json}`);
  }
}

/** Per backend, parallel schedule: ms/sweep over NumPy float32's in the same run (target <= 1). */
function summariseAgainstNumpy(rows: BenchRow[]): void {
  const base = rows.filter((r) => r.backend === 'numpy-f32');
  if (base.length === 0) return;
  for (const name of new Set(rows.map((r) => r.backend))) {
    if (name.startsWith('numpy')) continue;
    const ratios = rows
      .filter((r) => r.backend === name && r.schedule === 'parallel')
      .flatMap((r) => {
        const b = base.find((x) => x.net === r.net && x.p === r.p && x.q === r.q);
        return b ? [`${r.net.split('-').length - 1}L ${r.p},${r.q}: ${(r.msPerSweep / b.msPerSweep).toFixed(2)}`] : [];
      });
    console.log(`# ${name} ms/sweep / numpy-f32 (parallel; target <= 1): ${ratios.join('; ')}`);
  }
}

/** For each threaded backend: its speed-up over one thread, the two run alternately (bench/threads.ts), parallel schedule. */
async function reportThreadPairs(backends: BenchBackend[], problem: Problem, net: string, runs: number, sweeps: number): Promise<void> {
  for (const backend of backends) {
    if (!backend.pool) continue;
    const precision = backend.name.includes('f64') ? 'float64' : 'float32';
    const t = await threadPairs(problem, 'parallel', precision, backend.pool, runs, sweeps);
    console.log(
      `# ${backend.name} ${net} parallel p,q=${problem.p},${problem.q}, interleaved with one thread: wall ms/sweep ${t.oneWall.toFixed(2)} (1 thread) / ${t.threadsWall.toFixed(2)} (${t.threads} threads), median speed-up ${t.speedup.toFixed(2)}x; processor ms/sweep ${t.oneCpu.toFixed(2)} / ${t.threadsCpu.toFixed(2)} (all threads)`,
    );
  }
}

/** Per threaded backend: its wall ms/sweep against the same kernels on one thread, same net, (p, q) and schedule, same run. */
function summariseThreads(rows: BenchRow[]): void {
  for (const row of rows) {
    if (!row.backend.endsWith('-threads')) continue;
    const one = rows.find(
      (r) => r.backend === row.backend.replace(/-threads$/, '') && r.net === row.net && r.p === row.p && r.q === row.q && r.schedule === row.schedule,
    );
    if (!one) continue;
    const speedup = one.wallMsPerSweep / row.wallMsPerSweep;
    console.log(
      `# ${row.backend} ${row.net} ${row.schedule} p,q=${row.p},${row.q}: wall ms/sweep ${row.wallMsPerSweep.toFixed(2)} against ${one.wallMsPerSweep.toFixed(2)} on one thread: ${speedup.toFixed(2)}x`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
});
