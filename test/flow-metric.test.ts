import { describe, expect, it } from 'vitest';
import type { Network, ParameterArrays } from '../src/index.js';
import { balanceResidual, flowDirection, flowDirections, flowStep, lpqNorm, lpqRegulariser, mlp, sequential, WeightBalanceError } from '../src/index.js';
import { Random } from '../src/network/random.js';
import { unitCount } from '../src/network/types.js';

/** A float64 ReLU MLP without biases (the rescaling direction X_h then lives in the weights only). */
function net(sizes: number[], seed: number, biases = false): Network {
  const n = mlp(sizes, { seed, dtype: 'float64', biasScale: biases ? 0.5 : 0 });
  return biases ? n : { ...n, blocks: n.blocks.map((b) => ({ ...b, bias: null })) };
}

/** A copy of the network with weight entry `e` of block `k` moved by `delta`. */
function moved(n: Network, k: number, e: number, delta: number): Network {
  const blocks = n.blocks.map((b, m) => {
    if (m !== k) return b;
    const weight = Float64Array.from(b.weight);
    weight[e] += delta;
    return { ...b, weight };
  });
  return { ...n, blocks };
}

/** The rescaling direction of unit `unit` of layer `layer`: X_h[i,j] = W[i,j] ([i = h] - [j = h]). */
function rescalingDirection(n: Network, layer: number, unit: number): Float64Array[] {
  return n.blocks.map((b) => {
    const X = new Float64Array(b.weight.length);
    const [rows, cols] = b.shape as [number, number];
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) {
        const e = i * cols + j;
        X[e] = b.weight[e] * ((b.to === layer && i === unit ? 1 : 0) - (b.from === layer && j === unit ? 1 : 0));
      }
    }
    return X;
  });
}

/** grad g[h] by central differences, entry by entry. */
function residualGradient(n: Network, p: number, q: number, layer: number, unit: number): Float64Array[] {
  const g = (m: Network): number => balanceResidual(m, { p, q }).g[layer][unit];
  return n.blocks.map((b, k) => {
    const out = new Float64Array(b.weight.length);
    for (let e = 0; e < out.length; e++) {
      const h = 1e-5 * Math.max(Math.abs(b.weight[e]), 1e-3);
      out[e] = (g(moved(n, k, e, h)) - g(moved(n, k, e, -h))) / (2 * h);
    }
    return out;
  });
}

/**
 * X_h summed over the members `[layer, unit]` of one tie group, weights and biases, for dense and
 * (grouped) convolution blocks: entry `(i, j, tap)` of a block is the edge column unit -> row unit.
 */
function groupDirection(n: Network, members: [number, number][]): ParameterArrays {
  const sign = (layer: number, unit: number): number => (members.some(([l, u]) => l === layer && u === unit) ? 1 : 0);
  const weight = n.blocks.map((b) => {
    const rows = b.shape[0];
    const rowLength = b.weight.length / rows;
    const groups = b.kind === 'conv2d' ? b.groups : 1;
    const cols = b.kind === 'conv2d' ? b.shape[1] : unitCount(n.layers[b.from]);
    const taps = rowLength / cols;
    return Float64Array.from(b.weight, (w, e) => {
      const i = Math.floor(e / rowLength);
      const j = Math.floor(i / (rows / groups)) * cols + Math.floor((e % rowLength) / taps);
      return w * (sign(b.to, i) - sign(b.from, j));
    });
  });
  const bias = n.blocks.map((b) => (b.bias ? Float64Array.from(b.bias, (x, i) => x * sign(b.to, i)) : null));
  return { weight, bias };
}

const flat = (arrays: ArrayLike<number>[]): number[] => arrays.flatMap((a) => Array.from(a));
const dotProduct = (a: number[], b: number[]): number => a.reduce((s, x, i) => s + x * b[i], 0);
const norm2 = (a: number[]): number => Math.sqrt(dotProduct(a, a));

const PAIRS: [number, number][] = [
  [2, 2],
  [1, 1],
  [2, 4],
  [3, 1.5],
  [1, 2],
  [4, 2],
  [1.5, 6],
];

describe('the balancing metric M (MATH.md §5, §7 item 7)', () => {
  it.each(PAIRS)('M · grad g[h] = p q X_h by finite differences for (p, q) = (%s, %s)', (p, q) => {
    const n = net([3, 4, 3, 2], 11);
    let worst = 0;
    for (const [layer, unit] of [
      [1, 0],
      [1, 3],
      [2, 1],
    ]) {
      const gradG = residualGradient(n, p, q, layer, unit);
      const Mg = flat(flowDirection(n, gradG, { p, q, epsilon: 1e-12 }));
      const X = flat(rescalingDirection(n, layer, unit)).map((x) => p * q * x);
      const error = norm2(Mg.map((v, i) => v - X[i])) / norm2(X);
      worst = Math.max(worst, error);
    }
    expect(worst).toBeLessThan(1e-6);
  });

  it.each([
    [1, 2],
    [3, 1.5],
    [1.5, 6],
  ])('M · grad g[h] = p q X_h with biases in the rows, on convolutions and on tied units, (p, q) = (%s, %s)', (p, q) => {
    const withBiases = mlp([3, 4, 3, 2], { seed: 11, dtype: 'float64', biasScale: 0.5 });
    const residual = sequential(
      [4],
      [
        { type: 'dense', units: 5 },
        { type: 'dense', units: 5, skip: 1 },
        { type: 'dense', units: 2 },
      ],
      { seed: 2, dtype: 'float64' },
    );
    const convolutional = sequential(
      [2, 4, 4],
      [
        { type: 'conv', channels: 4, kernel: 2, groups: 2 },
        { type: 'conv', channels: 4, kernel: 2, groups: 4 },
        { type: 'dense', units: 3 },
      ],
      { seed: 6, dtype: 'float64' },
    );
    const cases: [Network, boolean, [number, number][]][] = [
      [withBiases, true, [[1, 3]]],
      [withBiases, true, [[2, 1]]],
      [
        residual,
        false,
        [
          [1, 2],
          [2, 2],
        ],
      ], // the residual ties unit 2 of layers 1 and 2
      [convolutional, false, [[1, 1]]],
      [convolutional, false, [[2, 3]]],
    ];
    for (const [n, includeBiases, members] of cases) {
      const [layer, unit] = members[0];
      const g = (m: Network): number => balanceResidual(m, { p, q, includeBiases }).g[layer][unit];
      const derivative = (k: number, e: number, bias: boolean): number => {
        const at = (delta: number): number =>
          g({
            ...n,
            blocks: n.blocks.map((b, m) => {
              if (m !== k) return b;
              const values = Float64Array.from(bias ? b.bias! : b.weight);
              values[e] += delta;
              return bias ? { ...b, bias: values } : { ...b, weight: values };
            }),
          });
        const h = 1e-4 * Math.abs((bias ? n.blocks[k].bias! : n.blocks[k].weight)[e]);
        return h === 0 ? 0 : (at(h) - at(-h)) / (2 * h);
      };
      const gradG: ParameterArrays = {
        weight: n.blocks.map((b, k) => Float64Array.from(b.weight, (_, e) => derivative(k, e, false))),
        bias: n.blocks.map((b, k) => (b.bias ? Float64Array.from(b.bias, (_, e) => (includeBiases ? derivative(k, e, true) : 0)) : null)),
      };
      const Mg = flowDirections(n, gradG, { p, q, includeBiases, epsilon: 1e-12 });
      const X = groupDirection(n, members);
      const actual = [...flat(Mg.weight), ...(includeBiases ? flat(Mg.bias.filter((b) => b !== null)) : [])];
      const expected = [...flat(X.weight), ...(includeBiases ? flat(X.bias.filter((b) => b !== null)) : [])].map((x) => p * q * x);
      expect(norm2(actual.map((v, i) => v - expected[i])) / norm2(expected)).toBeLessThan(1e-5);
    }
  });

  it('the residual g[h] = <grad R, X_h>', () => {
    for (const [p, q] of PAIRS) {
      const n = net([4, 5, 3, 2], 3);
      const { weight } = lpqRegulariser(n, { p, q });
      const { g } = balanceResidual(n, { p, q });
      for (const [layer, unit] of [
        [1, 2],
        [2, 0],
      ]) {
        const expected = dotProduct(flat(weight), flat(rescalingDirection(n, layer, unit)));
        expect(g[layer][unit]).toBeCloseTo(expected, 10);
      }
    }
  });

  it('the regulariser is ||W||_{p,q}^q and its gradient matches finite differences', () => {
    const n = net([3, 5, 2], 5, true);
    for (const [p, q] of PAIRS) {
      for (const includeBiases of [false, true]) {
        const R = lpqRegulariser(n, { p, q, includeBiases });
        expect(R.value).toBeCloseTo(Math.pow(lpqNorm(n, p, q, { includeBiases }), q), 10);
        const k = 1;
        for (const e of [0, 3, 7]) {
          const h = 1e-6;
          const fd =
            (lpqRegulariser(moved(n, k, e, h), { p, q, includeBiases }).value - lpqRegulariser(moved(n, k, e, -h), { p, q, includeBiases }).value) / (2 * h);
          expect(R.weight[k][e]).toBeCloseTo(fd, 6);
        }
        expect(R.bias[0]!.some((x) => x !== 0)).toBe(includeBiases);
      }
    }
  });

  it('M is positive definite: <v, M v> > 0 for random v', () => {
    const rng = new Random(7);
    for (const [p, q] of [...PAIRS, [0.5, 3], [2, 20], [6, 1]] as [number, number][]) {
      for (const includeBiases of [false, true]) {
        const n = net([5, 6, 4, 3], 21, includeBiases);
        for (let trial = 0; trial < 20; trial++) {
          const v = {
            weight: n.blocks.map((b) => Float64Array.from({ length: b.weight.length }, () => rng.normal())),
            bias: n.blocks.map((b) => (b.bias ? Float64Array.from({ length: b.bias.length }, () => rng.normal()) : null)),
          };
          const Mv = flowDirections(n, v, { p, q, includeBiases });
          const quadratic =
            dotProduct(flat(v.weight), flat(Mv.weight)) + dotProduct(flat(v.bias.filter((x) => x !== null)), flat(Mv.bias.filter((x) => x !== null)));
          expect(quadratic).toBeGreaterThan(0);
        }
        // The direction of steepest loss along W itself (rank-one term at its largest): still positive.
        const Mw = flowDirection(
          n,
          n.blocks.map((b) => b.weight),
          { p, q },
        );
        expect(dotProduct(flat(n.blocks.map((b) => b.weight)), flat(Mw))).toBeGreaterThan(0);
      }
    }
  });

  it('is the identity for p = q = 2 (the gradient flow) and |W| ⊙ G for p = q = 1', () => {
    const n = net([4, 6, 3], 2);
    const rng = new Random(1);
    const G = n.blocks.map((b) => Float64Array.from({ length: b.weight.length }, () => rng.normal()));
    expect(flat(flowDirection(n, G, { p: 2, q: 2 }))).toEqual(flat(G));
    const l1 = flat(flowDirection(n, G, { p: 1, q: 1 }));
    const expected = flat(n.blocks.map((b, k) => b.weight.map((w, e) => Math.abs(w) * G[k][e])));
    l1.forEach((x, i) => expect(x).toBeCloseTo(expected[i], 14));
  });

  it('floors |W| at epsilon for p > 2 (finite at zero weights) and keeps M positive definite', () => {
    const n = net([3, 4, 2], 4);
    n.blocks[0].weight[0] = 0;
    const G = n.blocks.map((b) => Float64Array.from(b.weight, (w) => w + 1));
    const d = flowDirection(n, G, { p: 4, q: 8, epsilon: 1e-2 });
    expect(flat(d).every(Number.isFinite)).toBe(true);
    expect(dotProduct(flat(G), flat(d))).toBeGreaterThan(0);
    const smaller = flowDirection(n, G, { p: 4, q: 8, epsilon: 1e-3 });
    expect(Math.abs(smaller[0][0])).toBeGreaterThan(Math.abs(d[0][0])); // |W|^(2-p) grows as the floor drops
  });

  it('an all-zero row (rho = 0, a dead unit) gets the diagonal alone: finite, 0 for p < 2, G for p = 2, epsilon^(2-p) G for p > 2', () => {
    const n = net([3, 4, 2], 4);
    n.blocks[0].weight.fill(0, 3, 6); // unit 1 of layer 1
    const G = n.blocks.map((b) => Float64Array.from(b.weight, () => 1));
    for (const [p, q, expected] of [
      [1, 2, 0],
      [1.5, 0.5, 0],
      [2, 4, 1],
      [2, 1, 1],
      [3, 6, 10],
      [4, 1, 100],
    ]) {
      const d = flowDirection(n, G, { p, q, epsilon: 0.1 });
      expect(flat(d).every(Number.isFinite)).toBe(true);
      for (let e = 3; e < 6; e++) expect(d[0][e]).toBeCloseTo(expected, 12);
    }
  });

  it('stays positive definite where the floor is active and q > p (rank-one term at its most negative)', () => {
    // Row 0 of block 0 entirely below epsilon: with the floored diagonal D, M = rho^(1-r) (D + c W W^T)
    // is positive definite only if the rank-one weight uses W^T D^-1 W, not rho (which is 10x smaller here).
    const n = net([3, 4, 2], 4);
    for (let j = 0; j < 3; j++) n.blocks[0].weight[j] = (j % 2 ? -1 : 1) * 1e-3 * (1 + j);
    const p = 3;
    const q = 12; // (p - q) / q = -0.75
    const rowOnly = n.blocks.map((b, k) => Float64Array.from(b.weight, (w, e) => (k === 0 && e < 3 ? w : 0)));
    const d = flowDirection(n, rowOnly, { p, q, epsilon: 1e-2 });
    expect(dotProduct(flat(rowOnly), flat(d))).toBeGreaterThan(0);
    const rng = new Random(5);
    for (let trial = 0; trial < 20; trial++) {
      const v = n.blocks.map((b) => Float64Array.from({ length: b.weight.length }, () => rng.normal()));
      expect(dotProduct(flat(v), flat(flowDirection(n, v, { p, q, epsilon: 1e-2 })))).toBeGreaterThan(0);
    }
  });

  it('refuses bad input with a clear error and leaves the gradient untouched', () => {
    const n = net([3, 4, 2], 4);
    const G = n.blocks.map((b) => new Float64Array(b.weight.length).fill(1));
    expect(() => flowDirection(n, G, { p: 0, q: 1 })).toThrow(/p must be a finite number > 0, got 0/);
    expect(() => flowDirection(n, G, { p: 1, q: NaN })).toThrow(/q must be a number > 0/);
    expect(() => flowDirection(n, G, { p: 1, q: Infinity })).toThrow(WeightBalanceError);
    expect(() => flowDirection(n, G.slice(0, 1), { p: 1, q: 1 })).toThrow(/one array per weight block \(2\), got 1/);
    expect(() => flowDirection(n, [G[0], new Float64Array(3)], { p: 1, q: 1 })).toThrow(/grad\[1\] must have 8 entries/);
    const bad = G.map((g) => Float64Array.from(g));
    bad[0][2] = NaN;
    expect(() => flowDirection(n, bad, { p: 1, q: 1 })).toThrow(/grad\[0\] entry 2 is not finite/);
    expect(() => flowDirection(n, G, { p: 3, q: 1, epsilon: -1 })).toThrow(/epsilon must be a finite number > 0/);
    expect(flat(G).every((x) => x === 1)).toBe(true);
  });
});

describe('flowStep: one discretised step of the flow', () => {
  const n = net([4, 6, 3], 12, true);
  const rng = new Random(3);
  const G = n.blocks.map((b) => Float64Array.from({ length: b.weight.length }, () => rng.normal()));
  const Gb = n.blocks.map((b) => Float64Array.from({ length: b.bias!.length }, () => rng.normal()));

  it('Euler: W - step · M grad, for weights and (with includeBiases) biases; a new network, the input untouched', () => {
    const before = flat(n.blocks.map((b) => b.weight));
    for (const includeBiases of [false, true]) {
      const next = flowStep(n, { weight: G, bias: Gb }, { p: 1.5, q: 3, step: 0.01, includeBiases });
      const D = flowDirections(n, { weight: G, bias: Gb }, { p: 1.5, q: 3, includeBiases });
      next.blocks.forEach((b, k) => {
        b.weight.forEach((w, e) => expect(w).toBeCloseTo(n.blocks[k].weight[e] - 0.01 * D.weight[k][e], 14));
        b.bias!.forEach((x, i) => expect(x).toBeCloseTo(n.blocks[k].bias![i] - 0.01 * D.bias[k]![i], 14));
      });
    }
    expect(flat(n.blocks.map((b) => b.weight))).toEqual(before);
  });

  it('exponential (p = q = 1): keeps every sign, agrees with Euler to first order, keeps float32', () => {
    const step = 1e-4;
    const exp = flowStep(n, G, { p: 1, q: 1, step, integrator: 'exponential' });
    const euler = flowStep(n, G, { p: 1, q: 1, step });
    exp.blocks.forEach((b, k) =>
      b.weight.forEach((w, e) => {
        expect(Math.sign(w)).toBe(Math.sign(n.blocks[k].weight[e]));
        expect(Math.abs(w - euler.blocks[k].weight[e])).toBeLessThan(10 * step * step * (1 + G[k][e] ** 2));
      }),
    );
    const big = flowStep(n, G, { p: 1, q: 1, step: 10, integrator: 'exponential' }); // a huge step still keeps signs
    big.blocks.forEach((b, k) => b.weight.forEach((w, e) => expect(Math.sign(w)).toBe(Math.sign(n.blocks[k].weight[e]))));
    const single = mlp([4, 6, 3], { seed: 12 });
    expect(flowStep(single, G, { p: 1, q: 1, step, integrator: 'exponential' }).blocks[0].weight).toBeInstanceOf(Float32Array);
  });

  it('refuses a bad step or integrator', () => {
    expect(() => flowStep(n, G, { p: 1, q: 1, step: -1 })).toThrow(/step must be a finite number > 0, got -1/);
    expect(() => flowStep(n, G, { p: 1, q: 1, step: NaN })).toThrow(/step must be a finite number > 0/);
    expect(() => flowStep(n, G, { p: 2, q: 1, step: 0.1, integrator: 'exponential' })).toThrow(/for p = q = 1 only, got p = 2, q = 1/);
    expect(() => flowStep(n, G, { p: 1, q: 1, step: 0.1, integrator: 'rk4' as never })).toThrow(/integrator must be 'euler' or 'exponential', got 'rk4'/);
  });
});
