/**
 * The edges of the fix (MATH.md §1, §2, §4): degenerate units are frozen at factor 1 and listed,
 * fixed units keep factor 1, the max-norm `q = Infinity`, cancellation through an AbortSignal,
 * one onSweep call per sweep, and the colouring behind the alternating schedule.
 */
import { describe, expect, it } from 'vitest';
import type { SweepProgress } from '../src/balance.js';
import { balance } from '../src/balance.js';
import { lpqNorm } from '../src/math/norm.js';
import { sequential } from '../src/network/builders.js';
import { forward } from '../src/network/forward.js';
import type { Network } from '../src/network/types.js';
import { compileProblem } from '../src/problem/compile.js';
import { cnnNet, mlpNet, NETS, residualNet } from './support/fixNets.js';
import { maxLogImbalance, newtonMinimise, outputDistance, referenceProblem, varFactors, weightDistance, weightEntries } from './support/fixReference.js';

/** Zero the incoming weights of `unit` in a dense block (its row). */
function zeroRow(net: Network, block: number, unit: number): void {
  const b = net.blocks[block];
  const cols = b.shape[1];
  b.weight.fill(0, unit * cols, (unit + 1) * cols);
}

/** Zero the outgoing weights of column `unit` of a dense block, except the rows in `keep`. */
function zeroColumn(net: Network, block: number, unit: number, keep: number[] = []): void {
  const b = net.blocks[block];
  const [rows, cols] = b.shape;
  for (let i = 0; i < rows; i++) if (!keep.includes(i)) b.weight[i * cols + unit] = 0;
}

async function expectMinimum(net: Network, p: number, q: number, includeBiases = false): Promise<Awaited<ReturnType<typeof balance>>> {
  const result = await balance(net, { p, q, includeBiases, backend: 'cpu', tol: 1e-11, schedule: 'alternating', maxSweeps: 50000 });
  const ref = referenceProblem(net, p, q, includeBiases);
  const newton = newtonMinimise(ref);
  expect(result.converged).toBe(true);
  expect(Math.abs(result.finalNorm - Math.pow(newton.F, 1 / q)) / result.finalNorm).toBeLessThan(1e-9);
  expect(maxLogImbalance(ref, varFactors(ref, result.logFactors))).toBeLessThan(1e-8);
  expect(outputDistance(forward, net, result.network, 3)).toBeLessThan(1e-10);
  return result;
}

describe('degenerate units are frozen', () => {
  it('a dead unit (all incoming weights zero) and a unit with no outgoing weight: listed, factor 1, the rest converges', async () => {
    const net = structuredClone(mlpNet(6));
    zeroRow(net, 0, 3); // layer 1 unit 3: no incoming weight
    zeroColumn(net, 2, 4); // layer 2 unit 4: no outgoing weight
    for (const [p, q] of [
      [2, 2],
      [1.4, 3.3],
      [2.6, 1.2],
    ]) {
      const result = await expectMinimum(net, p, q);
      expect(result.frozenUnits).toEqual([
        { layer: 1, unit: 3 },
        { layer: 2, unit: 4 },
      ]);
      expect(result.logFactors[1][3]).toBe(0);
      expect(result.logFactors[2][4]).toBe(0);
      expect(result.logFactors[1].filter((x) => x !== 0)).toHaveLength(9);
    }
    // With biases in the norm, the dead unit's bias is an incoming weight: it is no longer frozen.
    const withBias = await expectMinimum(net, 2, 2, true);
    expect(withBias.frozenUnits).toEqual([{ layer: 2, unit: 4 }]);
    expect(withBias.logFactors[1][3]).not.toBe(0);
  });

  it('a tie group whose only outgoing (or incoming) weight joins two of its own members is frozen', async () => {
    // Tie layer 1 unit 0 with layer 2 unit 0. The edge between them does not change under any
    // rescaling of the group, so it cannot balance the group's other weights.
    const outOnlyInside = structuredClone(mlpNet(7));
    outOnlyInside.ties = [
      [
        { layer: 1, unit: 0 },
        { layer: 2, unit: 0 },
      ],
    ];
    zeroColumn(outOnlyInside, 1, 0, [0]); // 1.0 feeds only 2.0
    zeroColumn(outOnlyInside, 2, 0); // 2.0 feeds nothing
    const a = await expectMinimum(outOnlyInside, 2, 2);
    expect(a.frozenUnits).toEqual([
      { layer: 1, unit: 0 },
      { layer: 2, unit: 0 },
    ]);
    expect(a.logFactors[1][0]).toBe(0);

    const inOnlyInside = structuredClone(mlpNet(7));
    inOnlyInside.ties = [
      [
        { layer: 1, unit: 0 },
        { layer: 2, unit: 0 },
      ],
    ];
    zeroRow(inOnlyInside, 0, 0); // 1.0 reads nothing
    const b1 = inOnlyInside.blocks[1];
    const keep = b1.weight[0];
    zeroRow(inOnlyInside, 1, 0);
    b1.weight[0] = keep; // 2.0 reads only 1.0
    const b = await expectMinimum(inOnlyInside, 1.5, 2.5);
    expect(b.frozenUnits).toEqual([
      { layer: 1, unit: 0 },
      { layer: 2, unit: 0 },
    ]);
  });

  it('a dead conv channel (zero kernel) in a grouped convolution is frozen, the rest converges', async () => {
    const net = structuredClone(cnnNet(8));
    const grouped = net.blocks[1];
    const perChannel = grouped.weight.length / grouped.shape[0];
    grouped.weight.fill(0, 9 * perChannel, 10 * perChannel); // layer 2 channel 9
    const result = await expectMinimum(net, 2, 1.5);
    // The depthwise layer 3 channel 9 reads only that dead channel: no weight enters the pair
    // from outside, so it is frozen with it (MATH.md §4, the closure from the inputs).
    expect(result.frozenUnits).toEqual([
      { layer: 2, unit: 9 },
      { layer: 3, unit: 9 },
    ]);
  });
});

describe('fixed units keep factor 1', () => {
  it('a sigmoid layer and explicitly fixed units are not rescaled; the others reach the minimum', async () => {
    const net = sequential(
      [6],
      [
        { type: 'dense', units: 8 },
        { type: 'dense', units: 7, activation: 'sigmoid' },
        { type: 'dense', units: 8 },
        { type: 'dense', units: 3 },
      ],
      { seed: 9, dtype: 'float64', biasScale: 0.2 },
    );
    net.layers[3].fixed = [2, 5];
    for (const [p, q] of [
      [2, 2],
      [1, 3],
    ]) {
      const result = await expectMinimum(net, p, q);
      expect(Array.from(result.logFactors[2])).toEqual(new Array(7).fill(0));
      expect(result.logFactors[3][2]).toBe(0);
      expect(result.logFactors[3][5]).toBe(0);
      expect(result.logFactors[1].every((x) => x !== 0)).toBe(true);
      expect(result.frozenUnits).toEqual([]);
      // The sigmoid layer's incoming and outgoing weights change only through the rescaled neighbours.
      expect(result.network.blocks[1].weight[0] / net.blocks[1].weight[0]).toBeCloseTo(Math.exp(-result.logFactors[1][0]), 12);
    }
  });
});

describe('lpqNorm', () => {
  it('q = Infinity is the largest row norm; (p, q) = (2, 2) is the Frobenius norm', () => {
    const net = cnnNet(10);
    for (const p of [1, 2, 3.7]) {
      // Row masses directly from the weights (all kernel entries of a channel).
      let best = 0;
      for (const b of net.blocks) {
        const rowLength = b.weight.length / b.shape[0];
        for (let i = 0; i < b.shape[0]; i++) {
          let s = 0;
          for (let k = 0; k < rowLength; k++) s += Math.pow(Math.abs(b.weight[i * rowLength + k]), p);
          best = Math.max(best, Math.pow(s, 1 / p));
        }
      }
      expect(Math.abs(lpqNorm(net, p, Infinity) - best) / best).toBeLessThan(1e-14);
      // The max-norm is the limit q -> Infinity: (rows)^(1/q) away at most.
      const rows = net.layers.slice(1).reduce((n, l) => n + l.shape[0], 0);
      const large = lpqNorm(net, p, 2000);
      expect(large).toBeGreaterThanOrEqual(best * (1 - 1e-12));
      expect(large).toBeLessThanOrEqual(best * Math.pow(rows, 1 / 2000) * (1 + 1e-12));
    }
    let sum = 0;
    for (const e of weightEntries(net)) sum += e.abs * e.abs;
    expect(Math.abs(lpqNorm(net, 2, 2) - Math.sqrt(sum)) / Math.sqrt(sum)).toBeLessThan(1e-14);
  });

  it('is homogeneous of degree 1 in the weights, for finite and infinite q, without overflow or underflow', () => {
    const net = mlpNet(11);
    for (const [p, q] of [
      [2, 2],
      [1, 3],
      [8, 8],
      [3, 0.5],
      [2, Infinity],
      [8, Infinity],
      [0.5, 12],
    ]) {
      const base = lpqNorm(net, p, q);
      for (const c of [1e3, 1e-3, 2 ** 200, 2 ** -200]) {
        const scaled = { ...net, blocks: net.blocks.map((b) => ({ ...b, weight: b.weight.map((w) => w * c) })) };
        const value = lpqNorm(scaled, p, q);
        expect(Number.isFinite(value) && value > 0, `p=${p} q=${q} c=${c}`).toBe(true);
        expect(Math.abs(value / (c * base) - 1), `p=${p} q=${q} c=${c}`).toBeLessThan(1e-12);
      }
    }
  });

  it('includeBiases counts each bias as a weight from a constant unit', () => {
    const net = mlpNet(12);
    let sum = 0;
    for (const e of weightEntries(net)) sum += e.abs ** 3;
    let withBias = sum;
    for (const b of net.blocks) for (const x of b.bias ?? []) withBias += Math.abs(x) ** 3;
    expect(Math.abs(lpqNorm(net, 3, 3) - Math.cbrt(sum)) / Math.cbrt(sum)).toBeLessThan(1e-13);
    expect(Math.abs(lpqNorm(net, 3, 3, { includeBiases: true }) - Math.cbrt(withBias)) / Math.cbrt(withBias)).toBeLessThan(1e-13);
  });
});

describe('large exponents and large weights', () => {
  it('p = q = 8 with weights up to 1e3, and p = 1, q = 40: balances to the minimum without overflow', async () => {
    const net = structuredClone(mlpNet(13));
    net.blocks[1].weight = net.blocks[1].weight.map((w) => w * 1e3);
    for (const [p, q] of [
      [8, 8],
      [1, 40],
      [6, 2],
    ]) {
      const result = await expectMinimum(net, p, q);
      expect(Number.isFinite(result.finalNorm)).toBe(true);
      expect(result.finalNorm).toBeLessThan(result.initialNorm);
    }
  });

  it('weights scaled by 2^400 or 2^-400 (|w|^4 out of float64 range): the same balance, scaled', async () => {
    const net = mlpNet(18);
    const base = await balance(net, { p: 4, q: 4, backend: 'cpu', tol: 1e-10 });
    for (const c of [2 ** 400, 2 ** -400]) {
      const scaled = { ...net, blocks: net.blocks.map((b) => ({ ...b, weight: b.weight.map((w) => w * c) })) };
      const result = await balance(scaled, { p: 4, q: 4, backend: 'cpu', tol: 1e-10 });
      expect(result.sweeps).toBe(base.sweeps);
      expect(Math.abs(result.finalNorm / (c * base.finalNorm) - 1)).toBeLessThan(1e-13);
      expect(Math.abs(result.initialNorm / (c * base.initialNorm) - 1)).toBeLessThan(1e-13);
      expect(result.maxLogImbalance).toBeLessThan(1e-8);
      const back = { ...result.network, blocks: result.network.blocks.map((b) => ({ ...b, weight: b.weight.map((w) => w / c) })) };
      expect(weightDistance(back, base.network)).toBeLessThan(1e-13);
    }
  });
});

describe('cancellation and progress', () => {
  it('an AbortSignal rejects with an AbortError, before the start or mid-run, and leaves the input intact', async () => {
    const net = cnnNet(14);
    const before = structuredClone(net);
    const aborted = AbortSignal.abort();
    await expect(balance(net, { p: 2, q: 2, backend: 'cpu', signal: aborted })).rejects.toMatchObject({ name: 'AbortError' });
    const controller = new AbortController();
    let calls = 0;
    const run = balance(net, {
      p: 1.5,
      q: 2.5,
      backend: 'cpu',
      tol: 0,
      maxSweeps: 100000,
      signal: controller.signal,
      onSweep: (progress) => {
        calls++;
        if (progress.sweep === 3) controller.abort();
      },
    });
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(calls).toBe(3);
    expect(net).toEqual(before);
  });

  it("onSweep is called once per sweep, in order, with the history's norms; the run stops at the first imbalance <= tol", async () => {
    for (const schedule of ['accelerated', 'parallel', 'alternating'] as const) {
      const net = residualNet(15);
      const seen: SweepProgress[] = [];
      const result = await balance(net, { p: 2, q: 3, schedule, backend: 'cpu', tol: 1e-9, onSweep: (s) => seen.push(s) });
      expect(seen.map((s) => s.sweep)).toEqual(Array.from({ length: result.sweeps }, (_, k) => k + 1));
      expect(seen.map((s) => s.norm)).toEqual(result.history.slice(1));
      seen.forEach((s) => expect(s.ratio).toBeCloseTo(s.norm / result.initialNorm, 14));
      expect(seen[seen.length - 1].maxLogImbalance, schedule).toBeLessThanOrEqual(1e-9);
      expect(
        seen.slice(0, -1).every((s) => s.maxLogImbalance > 1e-9),
        schedule,
      ).toBe(true);
      expect(result.maxLogImbalance).toBeCloseTo(seen[seen.length - 1].maxLogImbalance, 12);
      // passes are cumulative and end at the result's count.
      expect(seen.every((s, k) => k === 0 || s.passes >= seen[k - 1].passes)).toBe(true);
      expect(seen[seen.length - 1].passes).toBe(result.passes);
    }
  });
});

describe('alternating classes', () => {
  it('an MLP gets two classes: odd and even hidden layers', () => {
    const net = mlpNet(16);
    const problem = compileProblem(net, { p: 2, q: 2 });
    expect(problem.nClasses).toBe(2);
    for (let k = 1; k < net.layers.length - 1; k++) {
      for (let c = 0; c < net.layers[k].shape[0]; c++) {
        expect(problem.varClass[problem.unitVar[problem.layerUnit0[k] + c]]).toBe((k - 1) % 2);
      }
    }
  });

  for (const name of ['cnn', 'residual', 'conv-residual', 'dag']) {
    it(`${name}: a valid colouring, no edge (from the raw weights) inside a class`, () => {
      const net = NETS[name](17);
      const problem = compileProblem(net, { p: 2, q: 2 });
      expect(problem.nClasses).toBeGreaterThanOrEqual(2);
      if (name === 'dag') expect(problem.nClasses).toBe(3); // layers 1, 2, 3 are pairwise joined
      let edges = 0;
      for (const e of weightEntries(net)) {
        const vr = problem.unitVar[e.row];
        const vc = problem.unitVar[e.col];
        if (vr < 0 || vc < 0 || vr === vc) continue;
        edges++;
        expect(problem.varClass[vr], `edge ${e.col} -> ${e.row}`).not.toBe(problem.varClass[vc]);
      }
      expect(edges).toBeGreaterThan(100);
      // Every class is used.
      const used = new Set(problem.varClass);
      expect(used.size).toBe(problem.nClasses);
    });
  }
});
