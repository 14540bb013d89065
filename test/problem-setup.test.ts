/**
 * The set-up before the first sweep read row by row (issue 11 point 4): the dead-set search
 * (`deadGroups`) and the colouring (`colourVariables`) against brute-force references that walk
 * every edge, on random blocks, tie groups and zero patterns — ties joining a unit to a later
 * layer's included, so that a group is reached (or reaches the sinks) only through a member in
 * another layer — and the range of the weights read with their validation.
 */
import { describe, expect, it } from 'vitest';
import type { Network } from '../src/network/types.js';
import { validatedRange } from '../src/network/validate.js';
import { colourVariables } from '../src/problem/colouring.js';
import { compileProblem } from '../src/problem/compile.js';
import { deadGroups } from '../src/problem/degenerate.js';
import type { ProblemBlock } from '../src/problem/problem.js';
import { cnnNet, dagNet, groupedSplitNet, mlpNet, residualNet } from './support/fixNets.js';
import { uniformStream } from './support/fixReference.js';

/** Every (column unit, row unit) pair joined by a non-zero tap, from the raw weights. */
function edges(blocks: readonly ProblemBlock[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const b of blocks) {
    const rowsPerGroup = b.rows / b.groups;
    for (let i = 0; i < b.rows; i++) {
      const c0 = b.colUnit0 + Math.floor(i / rowsPerGroup) * b.cols;
      for (let j = 0; j < b.cols; j++) {
        let any = false;
        for (let t = 0; t < b.taps; t++) any ||= b.weight[(i * b.cols + j) * b.taps + t] !== 0;
        if (any) out.push([c0 + j, b.rowUnit0 + i]);
      }
    }
  }
  return out;
}

/** The dead groups by a fixed point over the group graph: reached from the sources and reaching the sinks. */
function referenceDead(blocks: readonly ProblemBlock[], root: Int32Array, fixedRoot: Uint8Array, biasSources: number[]): Uint8Array {
  const n = root.length;
  const pairs = edges(blocks).map(([c, r]) => [root[c], root[r]]);
  const closure = (seeds: number[], forward: boolean): Uint8Array => {
    const seen = new Uint8Array(n);
    for (const g of seeds) seen[g] = 1;
    for (let changed = true; changed; ) {
      changed = false;
      for (const [from, to] of pairs) {
        const [a, b] = forward ? [from, to] : [to, from];
        if (seen[a] && !seen[b]) {
          seen[b] = 1;
          changed = true;
        }
      }
    }
    return seen;
  };
  const fixed = Array.from({ length: n }, (_, u) => u).filter((u) => root[u] === u && fixedRoot[u]);
  const reached = closure([...fixed, ...biasSources], true);
  const reaching = closure(fixed, false);
  return Uint8Array.from({ length: n }, (_, u) => (root[u] === u && !fixedRoot[u] && (!reached[u] || !reaching[u]) ? 1 : 0));
}

/**
 * Random layers of 1–5 units (the first and last fixed), blocks between random earlier and later
 * layers (dense with 1–2 taps, or grouped), weights zero with probability `zeros`, and random
 * tie groups joining units of any two hidden layers.
 */
function randomCase(seed: number, zeros: number) {
  const rand = uniformStream(seed);
  const pick = (n: number): number => Math.floor(rand() * n);
  const nLayers = 3 + pick(4);
  const sizes = Array.from({ length: nLayers }, () => 1 + pick(5));
  const layerUnit0 = new Int32Array(nLayers);
  for (let k = 1; k < nLayers; k++) layerUnit0[k] = layerUnit0[k - 1] + sizes[k - 1];
  const nUnits = layerUnit0[nLayers - 1] + sizes[nLayers - 1];
  const blocks: ProblemBlock[] = [];
  const addBlock = (from: number, to: number): void => {
    const groups = sizes[from] === sizes[to] && sizes[to] % 2 === 0 && rand() < 0.3 ? 2 : 1;
    const cols = sizes[from] / groups;
    const taps = 1 + pick(2);
    const weight = Float64Array.from({ length: sizes[to] * cols * taps }, () => (rand() < zeros ? 0 : rand() - 0.5));
    const rowUnit0 = layerUnit0[to];
    const colUnit0 = layerUnit0[from];
    blocks.push({ index: blocks.length, label: `b${blocks.length}`, rows: sizes[to], cols, groups, taps, rowUnit0, colUnit0, weight, bias: null });
  };
  for (let k = 1; k < nLayers; k++) addBlock(k - 1, k);
  for (let extra = pick(3); extra > 0; extra--) {
    const from = pick(nLayers - 1);
    addBlock(from, from + 1 + pick(nLayers - 1 - from));
  }
  // Tie groups by union of random pairs of hidden units (any layers), as roots (the smallest member).
  const parent = Int32Array.from({ length: nUnits }, (_, u) => u);
  const find = (u: number): number => (parent[u] === u ? u : (parent[u] = find(parent[u])));
  const hidden0 = layerUnit0[1];
  const hiddenEnd = layerUnit0[nLayers - 1];
  for (let t = pick(4); t > 0 && hiddenEnd > hidden0; t--) {
    const a = find(hidden0 + pick(hiddenEnd - hidden0));
    const b = find(hidden0 + pick(hiddenEnd - hidden0));
    if (a !== b) parent[Math.max(a, b)] = Math.min(a, b);
  }
  const root = Int32Array.from({ length: nUnits }, (_, u) => find(u));
  const fixedRoot = new Uint8Array(nUnits);
  for (let u = 0; u < nUnits; u++) if (u < hidden0 || u >= hiddenEnd || rand() < 0.05) fixedRoot[root[u]] = 1;
  return { blocks, layerUnit0, root, fixedRoot, rand };
}

describe('the dead-set search, row by row', () => {
  it('equals the fixed point over every edge on 400 random nets with ties across layers, grouped blocks, taps and zeros', () => {
    let deadSeen = 0;
    for (let seed = 0; seed < 400; seed++) {
      const { blocks, layerUnit0, root, fixedRoot } = randomCase(seed, [0.3, 0.6, 0.85][seed % 3]);
      const got = deadGroups(blocks, layerUnit0, root, fixedRoot, false);
      const expected = referenceDead(blocks, root, fixedRoot, []);
      expect(Array.from(got), `seed ${seed}`).toEqual(Array.from(expected));
      deadSeen += expected.reduce((s, x) => s + x, 0);
    }
    expect(deadSeen).toBeGreaterThan(100); // the cases do exercise dead groups
  });

  it('non-zero included biases are sources: equal to the fixed point with them', () => {
    for (let seed = 0; seed < 100; seed++) {
      const { blocks, layerUnit0, root, fixedRoot, rand } = randomCase(1000 + seed, 0.7);
      const biasSources: number[] = [];
      for (const b of blocks) {
        b.bias = Float64Array.from({ length: b.rows }, () => (rand() < 0.7 ? 0 : 1));
        b.bias.forEach((x, i) => x !== 0 && biasSources.push(root[b.rowUnit0 + i]));
      }
      expect(Array.from(deadGroups(blocks, layerUnit0, root, fixedRoot, true)), `seed ${seed}`).toEqual(
        Array.from(referenceDead(blocks, root, fixedRoot, biasSources)),
      );
    }
  });

  it('a group reached only through its member in a later layer, and one reaching the sinks only through an earlier member, are live', () => {
    // in(2) -> h1(2) -> h2(2) -> h3(2) -> out(1); h1_0 is tied to h3_0. No weight enters h1_0 and
    // none leaves h3_0: the group {h1_0, h3_0} is entered at h3_0 (from h2) and left at h1_0 (to h2).
    const sizes = [2, 2, 2, 2, 1];
    const layerUnit0 = Int32Array.from([0, 2, 4, 6, 8]);
    const dense = (index: number, from: number, to: number, weight: number[]): ProblemBlock => ({
      index,
      label: `b${index}`,
      rows: sizes[to],
      cols: sizes[from],
      groups: 1,
      taps: 1,
      rowUnit0: layerUnit0[to],
      colUnit0: layerUnit0[from],
      weight: Float64Array.from(weight),
      bias: null,
    });
    const blocks = [dense(0, 0, 1, [0, 0, 1, 1]), dense(1, 1, 2, [1, 1, 1, 1]), dense(2, 2, 3, [1, 1, 1, 1]), dense(3, 3, 4, [0, 1])];
    const root = Int32Array.from([0, 1, 2, 3, 4, 5, 2, 7, 8]); // unit 6 (h3_0) tied to unit 2 (h1_0)
    const fixedRoot = Uint8Array.from([1, 1, 0, 0, 0, 0, 0, 0, 1]);
    const dead = deadGroups(blocks, layerUnit0, root, fixedRoot, false);
    expect(Array.from(dead)).toEqual(Array.from(referenceDead(blocks, root, fixedRoot, [])));
    expect(dead[2]).toBe(0);
    // Without the tie, h1_0 is entered by no weight and h3_0 feeds nothing: both dead.
    const untied = Int32Array.from({ length: 9 }, (_, u) => u);
    const alone = deadGroups(blocks, layerUnit0, untied, fixedRoot, false);
    expect([alone[2], alone[6]]).toEqual([1, 1]);
  });
});

/** The greedy colouring by walking every neighbour of every unit (the definition). */
function referenceColours(net: Network): Int32Array {
  const problem = compileProblem(net, { p: 2, q: 2 });
  const { nVars, unitVar } = problem;
  const neighbours = Array.from({ length: nVars }, () => new Set<number>());
  for (const b of problem.blocks) {
    const rowsPerGroup = b.rows / b.groups;
    for (let i = 0; i < b.rows; i++) {
      const c0 = b.colUnit0 + Math.floor(i / rowsPerGroup) * b.cols;
      for (let j = 0; j < b.cols; j++) {
        const [v, w] = [unitVar[b.rowUnit0 + i], unitVar[c0 + j]];
        if (v >= 0 && w >= 0 && v !== w) {
          neighbours[v].add(w);
          neighbours[w].add(v);
        }
      }
    }
  }
  const colour = new Int32Array(nVars).fill(-1);
  for (let v = 0; v < nVars; v++) {
    const taken = new Set([...neighbours[v]].map((w) => colour[w]));
    let c = 0;
    while (taken.has(c)) c++;
    colour[v] = c;
  }
  return colour;
}

describe('the colouring, without walking edges', () => {
  const nets: Array<[string, Network]> = [
    ['MLP', mlpNet(1)],
    ['CNN', cnnNet(2)],
    ['residual', residualNet(3)],
    ['DAG', dagNet(4)],
    ['grouped split', groupedSplitNet({ seed: 5 })],
  ];
  for (const [name, net] of nets) {
    it(`${name}: the same greedy colours as walking every neighbour`, () => {
      const problem = compileProblem(net, { p: 2, q: 2 });
      const { varClass, nClasses } = colourVariables(problem);
      expect(Array.from(varClass)).toEqual(Array.from(referenceColours(net)));
      expect(nClasses).toBe(Math.max(...varClass) + 1);
    });
  }
});

describe('the weight range, read with the validation', () => {
  it('equals the smallest non-zero and largest |w| over the weights, float32 and float64', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      const net = residualNet(7, dtype);
      net.blocks[1].weight[3] = 0;
      net.blocks[2].weight[5] = -1e-30;
      const all = net.blocks.flatMap((b) => Array.from(b.weight, Math.abs));
      const range = validatedRange(net);
      expect(range.largest).toBe(Math.max(...all));
      expect(range.smallest).toBe(Math.min(...all.filter((a) => a > 0)));
      expect(compileProblem(net, { p: 2, q: 2 }).weightRange).toEqual(range);
    }
  });

  it('a NaN first, an infinity as the largest entry, a NaN after the largest: refused at that entry', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      for (const [at, value] of [
        [0, Number.NaN],
        [4, Number.POSITIVE_INFINITY],
        [9, Number.NEGATIVE_INFINITY],
      ] as const) {
        const net = mlpNet(3, dtype);
        net.blocks[1].weight[2] = 1e6;
        net.blocks[1].weight[at] = value;
        expect(() => validatedRange(net), `${dtype} ${value} at ${at}`).toThrow(
          new RegExp(`block 1 .*weight entry ${at} is not finite \\(${String(value)}\\)`),
        );
      }
    }
  });
});
