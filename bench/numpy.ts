/**
 * The NumPy baseline (issue 11): bench/numpy_baseline.py run with `python3` on one OpenBLAS
 * thread (`OPENBLAS_NUM_THREADS=1`, without the machine's `OPENBLAS_CORETYPE` and
 * `OPENBLAS_L2_SIZE` overrides), the parallel update as a NumPy user writes it, float32 or
 * float64, processor time. Where python3 or NumPy is missing the bench prints why and goes on.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** One NumPy timing: medians over the runs, in milliseconds. */
export interface NumpyTiming {
  msPerSweep: number;
  wallMsPerSweep: number;
  numpy: string;
}

function script(): string | null {
  // From dist/bench.js or from bench/ (the script is not bundled).
  for (const candidate of ['../bench/numpy_baseline.py', './numpy_baseline.py']) {
    const path = fileURLToPath(new URL(candidate, import.meta.url));
    if (existsSync(path)) return path;
  }
  return null;
}

function environment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  return env;
}

/** `null` when the baseline can run here, else why not. */
export function numpyUnavailable(): string | null {
  if (!script()) return 'bench/numpy_baseline.py not found';
  const probe = spawnSync('python3', ['-c', 'import numpy; print(numpy.__version__)'], { env: environment(), encoding: 'utf8' });
  if (probe.error) return `python3 not found (${probe.error.message})`;
  if (probe.status !== 0) return `NumPy not importable: ${probe.stderr.trim().split('\n').pop()}`;
  return null;
}

/** Time the NumPy baseline on an MLP of `sizes`. */
export function numpyTiming(sizes: number[], p: number, q: number, dtype: 'float32' | 'float64', runs: number, sweeps: number): NumpyTiming {
  const path = script();
  if (!path) throw new Error('bench/numpy_baseline.py not found');
  const result = spawnSync('python3', [path, JSON.stringify({ sizes, p, q, dtype, runs, sweeps })], {
    env: environment(),
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  if (result.status !== 0) throw new Error(`the NumPy baseline failed: ${result.stderr.trim().split('\n').pop()}`);
  return JSON.parse(result.stdout.trim().split('\n').pop() as string) as NumpyTiming;
}
