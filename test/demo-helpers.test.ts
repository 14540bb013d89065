/**
 * The demo's pure helpers (demo/common): what the page refuses is what the library refuses,
 * per-layer norms add up to the network's norm, the fingerprint sees every byte.
 */
import { describe, expect, it } from 'vitest';
import { customMlp, fingerprint, layerNorms, PRESETS, probeOutputs, relativeDifference } from '../demo/common/networks.js';
import { parsePairs } from '../demo/common/pairs.js';
import { balance, cnn, lpqNorm, mlp, WeightBalanceError } from '../src/index.js';

describe('demo (p, q) pairs', () => {
  it('parses pairs in several spellings', () => {
    expect(parsePairs('2,2; 1 1;(1.5, 6) ;')).toEqual([{ p: 2, q: 2 }, { p: 1, q: 1 }, { p: 1.5, q: 6 }]);
  });
  it.each([
    ['', 'at least one pair'],
    ['2', 'not a pair'],
    ['2,2,2', 'not a pair'],
    ['0,1', 'p must be'],
    ['-1,2', 'p must be'],
    ['1,0', 'q must be'],
    ['Infinity,2', 'p must be'],
    ['1,Infinity', 'q must be finite'],
    ['a,2', 'p must be'],
    ['2,2; 2,2', 'twice'],
  ])('refuses %j (%s)', (text, message) => {
    expect(() => parsePairs(text)).toThrow(WeightBalanceError);
    expect(() => parsePairs(text)).toThrow(message);
  });
});

describe('demo networks', () => {
  it('builds a custom MLP like mlp() and refuses malformed sizes', () => {
    const net = customMlp(' 12-8 x 5,3 ', 4);
    expect(net.layers.map((l) => l.shape[0])).toEqual([12, 8, 5, 3]);
    expect(fingerprint(net)).toBe(fingerprint(mlp([12, 8, 5, 3], { seed: 4 })));
    for (const bad of ['12', '12-0-3', '12-abc-3', '12-2.5-3', '-']) expect(() => customMlp(bad, 0)).toThrow(WeightBalanceError);
  });

  it('presets are the nets of MATH.md §6 and a CNN, one seed one network', () => {
    const sizes = PRESETS.filter((p) => p.id.startsWith('mlp')).map((p) => p.label.match(/[\d-]+/)![0].split('-').map(Number));
    expect(sizes.map((s) => [s[0], s.slice(1, -1).reduce((a, b) => a + b, 0), s[s.length - 1]])).toEqual([[200, 3750, 10], [200, 3750, 10], [200, 3750, 10]]);
    const small = PRESETS.find((p) => p.id === 'cnn')!;
    expect(fingerprint(small.build(3))).toBe(fingerprint(cnn({ seed: 3 })));
    expect(fingerprint(small.build(3))).not.toBe(fingerprint(small.build(4)));
  });

  it('per-layer norms combine to the network l_{p,q} norm', () => {
    const net = cnn({ seed: 2 });
    for (const [p, q] of [[2, 2], [1, 2], [3, 1.5]]) {
      const perLayer = layerNorms(net, p, q);
      expect(perLayer).toHaveLength(net.layers.length - 1);
      const combined = Math.pow(perLayer.reduce((s, n) => s + Math.pow(n, q), 0), 1 / q);
      expect(combined).toBeCloseTo(lpqNorm(net, p, q), 10);
    }
  });

  it('the fingerprint changes with any single weight or bias and not otherwise', () => {
    const net = mlp([6, 5, 2], { seed: 1, biasScale: 0.1 });
    const before = fingerprint(net);
    expect(fingerprint(structuredClone(net))).toBe(before);
    const w = structuredClone(net);
    w.blocks[1].weight[3] = Math.fround(w.blocks[1].weight[3] * (1 + 1e-6)) || 1e-30;
    expect(fingerprint(w)).not.toBe(before);
    const b = structuredClone(net);
    b.blocks[0].bias![0] += 1;
    expect(fingerprint(b)).not.toBe(before);
  });

  it('the probe sees that balancing keeps the function and that a rescaled output layer does not', async () => {
    const net = mlp([10, 12, 6, 3], { seed: 5, biasScale: 0.1, dtype: 'float64' });
    const { network } = await balance(net, { p: 1, q: 2, backend: 'cpu', tol: 1e-9 });
    expect(relativeDifference(probeOutputs(net), probeOutputs(network))).toBeLessThan(1e-12);
    const scaled = structuredClone(net);
    scaled.blocks[2].weight.forEach((v, i, a) => { a[i] = 2 * v; });
    expect(relativeDifference(probeOutputs(net), probeOutputs(scaled))).toBeGreaterThan(0.1);
  });
});
