/**
 * Dead sets of tie groups (MATH.md §4, "Degenerate units"; issue 14 point 4): a set of groups
 * that no non-zero weight enters from outside (or none leaves), although each group alone has
 * `In > 0` and `Out > 0`, is frozen at factor 1 and listed, and the rest reaches the minimum —
 * on the CPU engine and on the WebGPU engine, checked against the independent reference.
 */
import { describe, expect, it } from 'vitest';
import type { BalanceResult } from '../src/balance.js';
import { balance } from '../src/balance.js';
import { sequential } from '../src/network/builders.js';
import { forward } from '../src/network/forward.js';
import type { Network, UnitRef } from '../src/network/types.js';
import { compileProblem } from '../src/problem/compile.js';
import { gpuIt, useGpu } from './helpers/gpu.js';
import { residualNet } from './support/fixNets.js';
import type { Reference } from './support/fixReference.js';
import { maxLogImbalance, newtonMinimise, outputDistance, referenceProblem, uniformStream, varFactors } from './support/fixReference.js';

const gpu = useGpu();

/**
 * in -> h1 -> h2 -> h3 (= W h2 + h1: ties h1 with h3) -> h4 -> out, dense (6 units) or
 * convolutional (4 channels of 4x4, dense head). Layers 1..4 are h1..h4; block k feeds layer k + 1.
 */
function residualChain(seed: number, kind: 'dense' | 'conv', dtype: 'float32' | 'float64' = 'float64'): Network {
  const options = { seed, dtype, biasScale: 0.3 } as const;
  if (kind === 'dense') {
    return sequential(
      [5],
      [
        { type: 'dense', units: 6 },
        { type: 'dense', units: 6 },
        { type: 'dense', units: 6, skip: 1 },
        { type: 'dense', units: 6 },
        { type: 'dense', units: 3 },
      ],
      options,
    );
  }
  return sequential(
    [2, 4, 4],
    [
      { type: 'conv', channels: 4, kernel: 3, padding: 1 },
      { type: 'conv', channels: 4, kernel: 3, padding: 1 },
      { type: 'conv', channels: 4, kernel: 3, padding: 1, skip: 1 },
      { type: 'conv', channels: 4, kernel: 3, padding: 1 },
      { type: 'dense', units: 3 },
    ],
    options,
  );
}

/** Columns (units of the source layer) and weight entries per (row, column) of a block. */
function blockShape(net: Network, block: number): { rows: number; cols: number; taps: number } {
  const b = net.blocks[block];
  const rows = b.shape[0];
  const cols = b.kind === 'dense' ? net.layers[b.from].shape[0] : b.shape[1];
  return { rows, cols, taps: b.weight.length / (rows * cols) };
}

/** Zero the incoming weights of row `row` of a block, except those from the columns in `keep`. */
function readOnly(net: Network, block: number, row: number, keep: number[]): void {
  const { cols, taps } = blockShape(net, block);
  const w = net.blocks[block].weight;
  for (let j = 0; j < cols; j++) if (!keep.includes(j)) w.fill(0, (row * cols + j) * taps, (row * cols + j + 1) * taps);
}

/** Zero the outgoing weights of column `col` of a block, except those to the rows in `keep`. */
function feedOnly(net: Network, block: number, col: number, keep: number[]): void {
  const { rows, cols, taps } = blockShape(net, block);
  const w = net.blocks[block].weight;
  for (let i = 0; i < rows; i++) if (!keep.includes(i)) w.fill(0, (i * cols + col) * taps, (i * cols + col + 1) * taps);
}

/** The reproducer: h1_0 fed by no weight, h2_0 reading only h1_0, h3_0 only h2_0. */
function deadEntering(net: Network): Network {
  readOnly(net, 0, 0, []);
  readOnly(net, 1, 0, [0]);
  readOnly(net, 2, 0, [0]);
  return net;
}

/** The mirror image: h1_0 feeds only h2_0, h2_0 only h3_0, h3_0 nothing. */
function deadLeaving(net: Network): Network {
  feedOnly(net, 1, 0, [0]);
  feedOnly(net, 2, 0, [0]);
  feedOnly(net, 3, 0, []);
  return net;
}

/** The reproducer, and h4_0 reading only h3_0: the dead set reaches one layer further. */
function deadDownstream(net: Network): Network {
  deadEntering(net);
  readOnly(net, 3, 0, [0]);
  return net;
}

const CASES: { name: string; make: (net: Network) => Network; frozen: UnitRef[] }[] = [
  { name: 'nothing enters (the reproducer)', make: deadEntering, frozen: [1, 2, 3].map((layer) => ({ layer, unit: 0 })) },
  { name: 'nothing leaves', make: deadLeaving, frozen: [1, 2, 3].map((layer) => ({ layer, unit: 0 })) },
  { name: 'nothing enters, one layer further', make: deadDownstream, frozen: [1, 2, 3, 4].map((layer) => ({ layer, unit: 0 })) },
];

const globalUnits = (ref: Reference, units: UnitRef[]): number[] => units.map((u) => ref.layerStart[u.layer] + u.unit);

/**
 * Whether some frozen group has, on its own, a non-zero weight entering from outside it and one
 * leaving it: the per-group rule would have let it run, only the closure freezes it.
 */
function hasGroupAloneBalanced(ref: Reference): boolean {
  return ref.frozen.some((unit) => {
    const g = ref.group[unit];
    let enters = false;
    let leaves = false;
    for (let e = 0; e < ref.edgeMass.length; e++) {
      if (ref.edgeMass[e] === 0 || ref.edgeCol[e] < 0) continue;
      const [row, col] = [ref.group[ref.edgeRow[e]], ref.group[ref.edgeCol[e]]];
      if (row === g && col !== g) enters = true;
      if (col === g && row !== g) leaves = true;
    }
    return enters && leaves;
  });
}

/** Balance on the CPU to tight tolerance and check the minimum against Newton on the reference. */
async function expectMinimum(net: Network, p: number, q: number, includeBiases = false): Promise<BalanceResult> {
  const result = await balance(net, { p, q, includeBiases, backend: 'cpu', tol: 1e-11, schedule: 'alternating', maxSweeps: 50000 });
  const ref = referenceProblem(net, p, q, includeBiases);
  expect(result.converged).toBe(true);
  expect(Math.abs(result.finalNorm - Math.pow(newtonMinimise(ref).F, 1 / q)) / result.finalNorm).toBeLessThan(1e-9);
  expect(maxLogImbalance(ref, varFactors(ref, result.logFactors))).toBeLessThan(1e-8);
  expect(outputDistance(forward, net, result.network, 3)).toBeLessThan(1e-10);
  return result;
}

describe('a dead cycle through ties', () => {
  for (const kind of ['dense', 'conv'] as const) {
    for (const { name, make, frozen } of CASES) {
      it(`${kind}, ${name}: the set is frozen and listed, the rest reaches the minimum`, async () => {
        const net = make(residualChain(1, kind));
        const ref = referenceProblem(net, 2, 2);
        expect(ref.frozen).toEqual(globalUnits(ref, frozen));
        expect(hasGroupAloneBalanced(ref)).toBe(true);
        expect(compileProblem(net, { p: 2, q: 2 }).frozen).toEqual(frozen);
        for (const [p, q] of [
          [2, 2],
          [1.5, 3],
          [3, 1.2],
        ]) {
          const result = await expectMinimum(net, p, q);
          expect(result.frozenUnits).toEqual(frozen);
          for (const u of frozen) expect(result.logFactors[u.layer][u.unit]).toBe(0);
          // The default run stops by the tolerance, far from maxSweeps.
          const plain = await balance(net, { p, q, backend: 'cpu' });
          expect(plain.converged).toBe(true);
          expect(plain.sweeps).toBeLessThan(2000);
        }
      });
    }
  }

  it('a non-zero bias entering the set makes it live when biases are in the norm; a set nothing leaves stays dead', async () => {
    const entering = deadEntering(residualChain(2, 'dense'));
    expect(entering.blocks[0].bias![0]).not.toBe(0);
    const live = await expectMinimum(entering, 2, 2, true);
    expect(live.frozenUnits).toEqual([]);
    expect(live.logFactors[1][0]).not.toBe(0);
    const leaving = deadLeaving(residualChain(2, 'dense'));
    const dead = await expectMinimum(leaving, 1.5, 2.5, true);
    expect(dead.frozenUnits).toEqual(CASES[1].frozen);
  });

  it("random sparse residual nets with ties: the frozen units are the reference's, and the rest reaches the minimum", async () => {
    let cycles = 0;
    for (let seed = 0; seed < 40; seed++) {
      const net = structuredClone(residualNet(seed));
      const next = uniformStream(1000 + seed);
      const density = 0.15 + 0.3 * next();
      for (const b of net.blocks) for (let k = 0; k < b.weight.length; k++) if (next() > density) b.weight[k] = 0;
      const ref = referenceProblem(net, 2, 2);
      const frozen = compileProblem(net, { p: 2, q: 2 }).frozen;
      expect(globalUnits(ref, frozen), `seed ${seed}`).toEqual(ref.frozen);
      if (hasGroupAloneBalanced(ref)) cycles++;
      if (seed % 8 === 0) await expectMinimum(net, 1.7, 2.6);
    }
    expect(cycles).toBeGreaterThan(0); // the draw exercises sets that no group alone reveals
  });
});

describe('a dead cycle through ties on the WebGPU engine', () => {
  gpuIt(
    gpu,
    "freezes the same units, stops by the tolerance and gives the CPU backend's balance",
    async ({ gpu: dawn }) => {
      for (const kind of ['dense', 'conv'] as const) {
        for (const { name, make, frozen } of CASES) {
          const net = make(residualChain(3, kind, 'float32'));
          const copy = structuredClone(net);
          const options = { p: 2, q: 3, tol: 1e-5, maxSweeps: 3000 } as const;
          const result = await balance(net, { ...options, backend: 'webgpu', gpu: dawn });
          const label = `${kind}, ${name}`;
          expect(result.backend, label).toBe('webgpu');
          expect(result.fallback, label).toBeNull();
          expect(result.converged, label).toBe(true);
          expect(result.frozenUnits, label).toEqual(frozen);
          for (const u of frozen) expect(result.logFactors[u.layer][u.unit], label).toBe(0);
          const cpu = await balance(net, { ...options, backend: 'cpu' });
          expect(Math.abs(result.finalNorm / cpu.finalNorm - 1), label).toBeLessThan(1e-5);
          expect(net).toEqual(copy);
        }
      }
    },
    300_000,
  );
});
