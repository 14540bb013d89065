#!/usr/bin/env python3
"""The NumPy baseline of `npm run bench` (issue 11): the parallel multiplicative update of
MATH.md §4 on an MLP, written as a NumPy user would (two matrix-vector products per sweep: the
row sums P @ (1/alpha) and the column sums P.T @ y), in float32 or float64, timed in processor
time. Run by bench/numpy.ts with OPENBLAS_NUM_THREADS=1 (one thread).

    python3 bench/numpy_baseline.py '{"sizes": [200, 2500, 1250, 10], "p": 2, "q": 2,
                                     "dtype": "float32", "runs": 7, "sweeps": 10}'

prints one JSON line: {"msPerSweep": median over runs, "wallMsPerSweep": ..., "numpy": version}.
"""
import json
import sys
import time

import numpy as np


def main() -> None:
    args = json.loads(sys.argv[1])
    sizes, p, q = args["sizes"], float(args["p"]), float(args["q"])
    dtype = np.dtype(args["dtype"])
    runs, sweeps = int(args["runs"]), int(args["sweeps"])
    rng = np.random.default_rng(0)
    # He-normal weights as the library's builder (the values do not matter for the timing).
    P = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        W = (rng.standard_normal((fan_out, fan_in), dtype=np.float32) * np.sqrt(2.0 / fan_in)).astype(dtype)
        P.append(np.abs(W) ** dtype.type(p))
        del W
    r = q / p
    eta = 1 / (4 * q) if q >= p else 1 / (2 * (p + q))
    # Log factors of the hidden layers; the input and output layers are fixed (alpha = 1).
    u = [np.zeros(n, dtype=dtype) for n in sizes[1:-1]]

    def sweep() -> None:
        alpha = [np.ones(sizes[0], dtype=dtype)] + [np.exp(dtype.type(p) * v) for v in u] + [np.ones(sizes[-1], dtype=dtype)]
        rho = [alpha[k + 1] * (P[k] @ (1 / alpha[k])) for k in range(len(P))]
        y = [a * np.power(s, dtype.type(r - 1)) for a, s in zip(alpha[1:], rho)]
        for h in range(len(u)):
            In = np.power(rho[h], dtype.type(r))
            Out = (P[h + 1].T @ y[h + 1]) / alpha[h + 1]
            u[h] += dtype.type(eta) * np.log(Out / In)

    sweep()  # warm-up
    cpu, wall = [], []
    for _ in range(runs):
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(sweeps):
            sweep()
        cpu.append((time.process_time() - c0) * 1000 / sweeps)
        wall.append((time.perf_counter() - w0) * 1000 / sweeps)
    print(json.dumps({"msPerSweep": float(np.median(cpu)), "wallMsPerSweep": float(np.median(wall)), "numpy": np.__version__}))


if __name__ == "__main__":
    main()
