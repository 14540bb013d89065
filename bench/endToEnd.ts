/**
 * `npm run bench:e2e`: the 134M-weight run end to end (issue 11 point 4), as `weight-balance
 * balance` does it: read a float32 safetensors file of 8 x 4096² (generated once into /tmp),
 * `balance` with p = q = 2 and default options on the CPU, write the balanced file. Each run is a
 * child process (so that its peak RSS is its own); per phase it reports processor time (steady on
 * a shared machine; wall time is printed beside it) in ms and in passes over `P` (one pass: the
 * processor time of the run's sweeps over the passes they read), and the peak RSS as a multiple
 * of the float32 weights. The disk's speed is timed in the same runs (a plain `readFile` of the
 * file; `writeFile` of as many bytes to a new file and `dd` of as many in 4 MiB writes, both with
 * no file deleted just before, as the write phase meets it; `writeFile` right after deleting a
 * file of that size: see {@link diskSpeed}), and so is paging in as many bytes of new memory
 * ("fill new"): the table also gives the setup's minor page faults and the setup less their cost
 * at fill new's cost per fault (what setting up costs beyond mapping `P`'s new memory, which on
 * this VM varies by 2x from run to run).
 * `--baseline DIR` runs another build of the library
 * (a `dist/` with `index.js`, e.g. main's) in the same runs, interleaved, for a before/after table.
 *
 *   node dist/endToEnd.js [--file /tmp/weight-balance-134m.safetensors] [--layers 8] [--width 4096]
 *                         [--runs 3] [--baseline DIR] [--threads N] [--settle 10] [--json out.json]
 *
 * `--threads N` runs both builds with `threads: N` (default: the library's, one per core).
 * `--settle S`: seconds of quiet after a file is deleted, before the disk's new-file writes and
 * before each child (default 10; see {@link diskSpeed}).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { BalanceOptions, BalanceResult, SweepProgress } from '../src/balance.js';
import { readWholeFile, safetensorsInWeightBuffer, writeFilesAtomic } from '../src/cli/modelFile.js';
import type { ReadSafetensorsOptions, SafetensorsPartsOptions } from '../src/io/safetensors.js';
import type { Network } from '../src/network/types.js';
import { cpuMs, median } from './floor.js';

/** What a child needs of a library build: the public API `weight-balance balance` uses. */
interface Library {
  balance(net: Network, options: BalanceOptions): Promise<BalanceResult>;
  readSafetensors(bytes: Uint8Array, options?: ReadSafetensorsOptions): Network;
  safetensorsParts(net: Network, options?: SafetensorsPartsOptions): Uint8Array[];
  mlp(sizes: number[], options?: { seed?: number }): Network;
  /** This build's (absent from builds before it). */
  weightBuffer?: (length: number, alignAt?: number) => Promise<Uint8Array | null>;
}

/** One phase: processor and wall milliseconds, and the minor page faults (pages mapped as first touched). */
interface Phase {
  cpu: number;
  wall: number;
  faults: number;
}

const PHASES = ['read', 'setup', 'sweeps', 'rescale', 'write'] as const;
type PhaseName = (typeof PHASES)[number];

/** What one child run reports. */
interface RunReport {
  phases: Record<PhaseName, Phase>;
  /** Processor ms of one pass over `P`: the sweeps after the first over the passes they read. */
  passMs: number;
  sweeps: number;
  passes: number;
  precision: string;
  maxRssBytes: number;
  weightBytes: number;
  /** The disk's speed, timed in the parent: see {@link diskSpeed}. */
  disk?: DiskSpeed;
  /** Filling as many bytes of new memory (paged in as it is written), then filling them again, timed in the parent. */
  memory?: { fresh: Phase; again: Phase };
}

const here = dirname(fileURLToPath(import.meta.url));

async function loadLibrary(dir: string): Promise<Library> {
  return (await import(pathToFileURL(resolve(dir, 'index.js')).href)) as Library;
}

/** The bytes of a file as main's CLI read them: `readFile`, viewed as a Uint8Array. */
async function readFileBytes(file: string): Promise<Uint8Array> {
  const data = await readFile(file);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** A phase timed from `start` (processor and wall ms). */
function since(start: Phase): Phase {
  return minus(now(), start);
}

function now(): Phase {
  return { cpu: cpuMs(), wall: performance.now(), faults: process.resourceUsage().minorPageFault };
}

/** `a - b` in both clocks. */
function minus(a: Phase, b: Phase): Phase {
  return { cpu: a.cpu - b.cpu, wall: a.wall - b.wall, faults: a.faults - b.faults };
}

/**
 * One run, in this process: the library calls the CLI makes — this build's CLI (`current`):
 * `readWholeFile` into a weight buffer of the library's (`weightBuffer`: the kernels read the
 * float32 weights where they lie), the reader leaving the values to `balance()`, `balance` with
 * `inPlace` (the balanced weights written over them) and the writer reading none to check
 * them; another build's (`--baseline`, main's): `readFile` and the reader and writer
 * checking the values. Setup is `balance()` until the first sweep's progress less one sweep
 * (the mean of the later ones), rescale is from the last sweep's progress to the return (the
 * final evaluation and the rescaled copy), as in `result.phases`.
 */
async function childRun(lib: Library, file: string, out: string, current: boolean, threads?: number): Promise<RunReport> {
  let t = now();
  // As each build's CLI reads: no second copy; this build's into a weight buffer of its library, the weights read and rescaled where they lie.
  const bytes = current ? await readWholeFile(file, lib.weightBuffer && safetensorsInWeightBuffer(lib.weightBuffer)) : await readFileBytes(file);
  const holder: { net: Network | null } = { net: lib.readSafetensors(bytes, { share: true, ...(current ? { checkValues: false } : {}) }) };
  const read = since(t);
  const weightBytes = (holder.net as Network).blocks.reduce((s, b) => s + b.weight.byteLength, 0);
  const stamps: Array<{ at: Phase; passes: number }> = [];
  const started = now();
  const running = lib.balance(holder.net as Network, {
    p: 2,
    q: 2,
    backend: 'cpu',
    ...(threads ? { threads } : {}),
    ...(current ? { inPlace: true } : {}),
    onSweep: (progress: SweepProgress) => stamps.push({ at: now(), passes: progress.passes }),
  });
  holder.net = null; // as the CLI: the input network is not held once handed over
  const result = await running;
  const ended = now();
  if (stamps.length < 2) throw new Error(`the run took ${stamps.length} sweep(s): at least 2 are needed to time one`);
  const first = stamps[0];
  const last = stamps[stamps.length - 1];
  const later = minus(last.at, first.at);
  const oneSweep = { cpu: later.cpu / (stamps.length - 1), wall: later.wall / (stamps.length - 1), faults: later.faults / (stamps.length - 1) };
  t = now();
  if (current)
    await writeFilesAtomic([[out, lib.safetensorsParts(result.network, { checkValues: false })]]); // as this CLI writes
  else await writeFile(out, lib.safetensorsParts(result.network));
  const write = since(t);
  await rm(out, { force: true });
  return {
    phases: {
      read,
      setup: minus(minus(first.at, started), oneSweep),
      sweeps: { cpu: later.cpu + oneSweep.cpu, wall: later.wall + oneSweep.wall, faults: later.faults + oneSweep.faults },
      rescale: minus(ended, last.at),
      write,
    },
    passMs: later.cpu / (last.passes - first.passes),
    sweeps: result.sweeps,
    passes: result.passes,
    precision: result.precision,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
    weightBytes,
  };
}

/** Write the test network once: an MLP of `layers` blocks of `width` x `width`, float32, seed 0. */
async function ensureFile(lib: Library, file: string, layers: number, width: number): Promise<void> {
  if (existsSync(file)) return;
  process.stderr.write(`writing ${file} (${layers} x ${width}², float32)...\n`);
  const net = lib.mlp(
    Array.from({ length: layers + 1 }, () => width),
    { seed: 0 },
  );
  await writeFile(file, lib.safetensorsParts(net));
}

/** The disk's speed on the bench file: see {@link diskSpeed}. */
interface DiskSpeed {
  /** `readFile` of the file. */
  read: Phase;
  /** `writeFile` of its bytes to a new file, no page cache freed in the `settle` seconds before: the write phase's comparator. */
  write: Phase;
  /** `dd if=/dev/zero bs=4M` of as many bytes to another new file right after (processor time: the `dd` process's). */
  dd: Phase;
  /** `writeFile` of the bytes right after deleting the first new file (the page cache just freed: the fast case). */
  writeFreed: Phase;
}

/** Processor ms of this process's waited-for children (Linux `/proc/self/stat`, 100 ticks a second); NaN elsewhere. */
function childrenCpuMs(): number {
  try {
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
    return (Number(fields[13]) + Number(fields[14])) * 10;
  } catch {
    return Number.NaN;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

/**
 * The disk's speed on this file, timed like the read and write phases, in the conditions the write
 * phase meets (measured on this Firecracker VM, 2 December 2026; bench/README.md, "Write phase"):
 * the VM's kernel reports free blocks of 2 MiB and more to the host, which costs a host fault per
 * page when such a block is next used, and ext4 caches a file in folios as large as each write.
 * So a write to a new file costs more with writes of 2 MiB or more (`dd bs=4M`, one `writev`:
 * ~2–4x Node's 512 KiB writes, the CLI's size) and more when no file was deleted in the seconds
 * before (then its blocks are taken again before they are reported: ~5x faster for `dd bs=4M`).
 * So, `settle` ms after the last delete (the previous child's output), as the child's write phase
 * meets it: `writeFile` of the file's bytes to a new file (the comparator the table's write row
 * is read against), then `dd` of as many bytes in 4 MiB writes to another new file (a process
 * other than Node), then, the first file deleted, `writeFile` again (the fast case: what the
 * comparator timed until 2 December 2026). Then everything is deleted and the child starts
 * `settle` ms later, so that its own phases meet no page cache just freed either.
 */
async function diskSpeed(file: string, settle: number): Promise<DiskSpeed> {
  let t = now();
  const bytes = await readFile(file);
  const read = since(t);
  const [fresh, other, freed] = ['a', 'b', 'c'].map((k) => `${file}.disk-check-${k}`);
  await Promise.all([fresh, other, freed].map((f) => rm(f, { force: true })));
  await sleep(settle);
  t = now();
  await writeFile(fresh, bytes);
  const write = since(t);
  t = now();
  const c0 = childrenCpuMs();
  const ran = spawnSync('dd', ['if=/dev/zero', `of=${other}`, 'bs=4M', `count=${bytes.byteLength}`, 'iflag=count_bytes', 'status=none']);
  const dd = { ...since(t), cpu: ran.status === 0 ? childrenCpuMs() - c0 : Number.NaN };
  if (ran.status !== 0) dd.wall = Number.NaN;
  await rm(fresh, { force: true });
  t = now();
  await writeFile(freed, bytes);
  const writeFreed = since(t);
  await Promise.all([other, freed].map((f) => rm(f, { force: true })));
  await sleep(settle);
  return { read, write, dd, writeFreed };
}

/**
 * What paging in costs here: filling `bytes` of new memory (each page is mapped as it is first
 * written, what building `P` pays), then the same memory again (what a copy into memory already
 * paged in pays, e.g. the rescale into `P`'s memory).
 */
function memorySpeed(bytes: number): { fresh: Phase; again: Phase } {
  let t = now();
  const block = new Float32Array(bytes / 4);
  block.fill(1);
  const fresh = since(t);
  t = now();
  block.fill(2);
  return { fresh, again: since(t) };
}

/** Run one child (this file with `--child`) on a library build; its report. */
function spawnChild(lib: string, file: string, threads: string | undefined): RunReport {
  const run = spawnSync(
    process.execPath,
    [fileURLToPath(import.meta.url), '--child', '--lib', lib, '--file', file, ...(threads ? ['--threads', threads] : [])],
    {
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    },
  );
  if (run.status !== 0) throw new Error(`the run on ${lib} failed (status ${run.status}): ${run.stderr}`);
  return JSON.parse(run.stdout.trim().split('\n').pop() as string) as RunReport;
}

function fmt(x: number, digits = 0): string {
  return Number.isFinite(x) ? x.toFixed(digits) : '-';
}

/** The table: per phase, median processor ms and passes (wall ms beside), per build. */
function table(results: Map<string, RunReport[]>): string {
  const names = [...results.keys()];
  const lines = [
    `| phase | ${names.map((n) => `${n}: processor ms (passes) | wall ms`).join(' | ')} |`,
    `| --- |${names.map(() => ' ---: | ---: |').join('')}`,
  ];
  const med = (runs: RunReport[], f: (r: RunReport) => number): number => median(runs.map(f));
  for (const phase of PHASES) {
    const cells = names.map((n) => {
      const runs = results.get(n) as RunReport[];
      const cpu = med(runs, (r) => r.phases[phase].cpu);
      return `${fmt(cpu)} (${fmt(
        med(runs, (r) => r.phases[phase].cpu / r.passMs),
        1,
      )}) | ${fmt(med(runs, (r) => r.phases[phase].wall))}`;
    });
    lines.push(`| ${phase} | ${cells.join(' | ')} |`);
  }
  const row = (label: string, f: (runs: RunReport[]) => string): string => `| ${label} | ${names.map((n) => f(results.get(n) as RunReport[])).join(' | ')} |`;
  // Setup less what its page faults cost here: each at the cost of one in "fill new", timed in the same run.
  lines.push(
    row(
      'setup page faults (MB mapped)',
      (runs) => `${fmt(med(runs, (r) => r.phases.setup.faults))} (${fmt(med(runs, (r) => (r.phases.setup.faults * 4096) / 1e6))}) | `,
    ),
  );
  lines.push(
    row('setup less its page faults (at fill new cost)', (runs) => {
      const perFault = (r: RunReport): number => (r.memory ? r.memory.fresh.cpu / r.memory.fresh.faults : Number.NaN);
      const net = (r: RunReport): number => r.phases.setup.cpu - r.phases.setup.faults * perFault(r);
      return `${fmt(med(runs, net))} (${fmt(
        med(runs, (r) => net(r) / r.passMs),
        1,
      )}) | `;
    }),
  );
  lines.push(
    row(
      'one pass over P',
      (runs) =>
        `${fmt(
          med(runs, (r) => r.passMs),
          1,
        )} | `,
    ),
  );
  lines.push(
    row(
      'sweeps (passes)',
      (runs) =>
        `${fmt(med(runs, (r) => r.sweeps))} (${fmt(
          med(runs, (r) => r.passes),
          1,
        )}) | `,
    ),
  );
  lines.push(
    row(
      'peak RSS',
      (runs) =>
        `${fmt(med(runs, (r) => r.maxRssBytes) / 1e6)} MB (${fmt(
          med(runs, (r) => r.maxRssBytes / r.weightBytes),
          2,
        )}x the weights) | `,
    ),
  );
  const disk = (label: string, f: (d: DiskSpeed) => Phase): void => {
    lines.push(
      row(
        label,
        (runs) => `${fmt(med(runs, (r) => (r.disk ? f(r.disk).cpu : Number.NaN)))} | ${fmt(med(runs, (r) => (r.disk ? f(r.disk).wall : Number.NaN)))}`,
      ),
    );
  };
  disk('disk: readFile of the file', (d) => d.read);
  disk("disk: writeFile to a new file, none freed before (the write's comparator)", (d) => d.write);
  disk('disk: dd bs=4M to a new file, none freed before', (d) => d.dd);
  disk('disk: writeFile right after deleting a file that size (fast case)', (d) => d.writeFreed);
  lines.push(
    row(
      'memory: fill new / fill again',
      (runs) =>
        `${fmt(med(runs, (r) => r.memory?.fresh.cpu ?? Number.NaN))} / ${fmt(med(runs, (r) => r.memory?.again.cpu ?? Number.NaN))} | ${fmt(med(runs, (r) => r.memory?.fresh.wall ?? Number.NaN))} / ${fmt(med(runs, (r) => r.memory?.again.wall ?? Number.NaN))}`,
    ),
  );
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      child: { type: 'boolean' },
      lib: { type: 'string', default: here },
      file: { type: 'string', default: '/tmp/weight-balance-134m.safetensors' },
      layers: { type: 'string', default: '8' },
      width: { type: 'string', default: '4096' },
      runs: { type: 'string', default: '3' },
      baseline: { type: 'string' },
      json: { type: 'string' },
      threads: { type: 'string' },
      settle: { type: 'string', default: '10' },
    },
  });
  const file = values.file as string;
  if (values.child) {
    const lib = values.lib as string;
    const threads = values.threads ? Number(values.threads) : undefined;
    const report = await childRun(await loadLibrary(lib), file, `${file}.balanced-${process.pid}`, resolve(lib) === resolve(here), threads);
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return;
  }
  await ensureFile(await loadLibrary(here), file, Number(values.layers), Number(values.width));
  const builds: Array<[string, string]> = [...(values.baseline ? [['baseline', values.baseline] as [string, string]] : []), ['this build', here]];
  const results = new Map<string, RunReport[]>(builds.map(([name]) => [name, []]));
  for (let r = 0; r < Number(values.runs); r++) {
    for (const [name, dir] of builds) {
      const disk = await diskSpeed(file, Number(values.settle) * 1000);
      const child = spawnChild(dir, file, values.threads);
      const report = { ...child, disk, memory: memorySpeed(child.weightBytes) };
      (results.get(name) as RunReport[]).push(report);
      process.stderr.write(`run ${r + 1} ${name}: ${PHASES.map((p) => `${p} ${fmt(report.phases[p].cpu)}`).join(', ')} ms; pass ${fmt(report.passMs, 1)} ms\n`);
    }
  }
  process.stdout.write(`# ${file}: p = q = 2, default options, CPU; medians of ${values.runs} runs\n${table(results)}\n`);
  if (values.json) writeFileSync(values.json, JSON.stringify(Object.fromEntries(results), null, 2));
}

await main();
