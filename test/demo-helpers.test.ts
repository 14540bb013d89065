/**
 * The demo's pure helpers (demo/common): what the page refuses is what the library refuses,
 * per-layer norms add up to the network's norm, the fingerprint sees every byte.
 */
import { describe, expect, it } from 'vitest';
import type { SeriesData } from '../demo/balance/convergenceChart.js';
import { CSV_HEADER, historiesCsv } from '../demo/balance/exportRun.js';
import type { Finished } from '../demo/balance/results.js';
import { customMlp, fingerprint, fixedUnitsByLayer, layerKind, layerNorms, PRESETS, probeOutputs, relativeDifference } from '../demo/common/networks.js';
import { parsePairs } from '../demo/common/pairs.js';
import { balance, cnn, lpqNorm, mlp, readOnnx, WeightBalanceError } from '../src/index.js';
import { squeezeExcite } from './onnx/opModels.js';

describe('demo (p, q) pairs', () => {
  it('parses pairs in several spellings', () => {
    expect(parsePairs('2,2; 1 1;(1.5, 6) ;')).toEqual([
      { p: 2, q: 2 },
      { p: 1, q: 1 },
      { p: 1.5, q: 6 },
    ]);
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
    const sizes = PRESETS.filter((p) => p.id.startsWith('mlp')).map((p) =>
      p.label
        .match(/[\d-]+/)![0]
        .split('-')
        .map(Number),
    );
    expect(sizes.map((s) => [s[0], s.slice(1, -1).reduce((a, b) => a + b, 0), s[s.length - 1]])).toEqual([
      [200, 3750, 10],
      [200, 3750, 10],
      [200, 3750, 10],
    ]);
    const small = PRESETS.find((p) => p.id === 'cnn')!;
    expect(fingerprint(small.build(3))).toBe(fingerprint(cnn({ seed: 3 })));
    expect(fingerprint(small.build(3))).not.toBe(fingerprint(small.build(4)));
  });

  it('per-layer norms combine to the network l_{p,q} norm', () => {
    const net = cnn({ seed: 2 });
    for (const [p, q] of [
      [2, 2],
      [1, 2],
      [3, 1.5],
    ]) {
      const perLayer = layerNorms(net, p, q);
      expect(perLayer).toHaveLength(net.layers.length - 1);
      const combined = Math.pow(
        perLayer.reduce((s, n) => s + Math.pow(n, q), 0),
        1 / q,
      );
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
    scaled.blocks[2].weight.forEach((v, i, a) => {
      a[i] = 2 * v;
    });
    expect(relativeDifference(probeOutputs(net), probeOutputs(scaled))).toBeGreaterThan(0.1);
  });
});

describe('demo fixed units and the run export', () => {
  it('counts the units balancing never rescales: all output units, a non-ReLU layer, listed fixed units', () => {
    const net = mlp([4, 6, 5, 3], { seed: 0 });
    expect(fixedUnitsByLayer(net)).toEqual([0, 0, 0, 3]);
    expect([0, 1, 3].map((k) => layerKind(net, k))).toEqual(['input', 'hidden', 'output']);
    const marked = structuredClone(net);
    marked.layers[1].fixed = [0, 2, 2];
    marked.layers[2].activation = 'sigmoid';
    expect(fixedUnitsByLayer(marked)).toEqual([0, 2, 5, 3]);
    expect(net.layers[1].fixed).toBeUndefined(); // the original is untouched
    // A gate (squeeze-and-excitation) is fixed whatever its activation.
    const gated = readOnnx(squeezeExcite(1, 'conv', 'Relu')).network;
    const gate = gated.layers.findIndex((l) => l.name === 's');
    expect(fixedUnitsByLayer(gated)[gate]).toBe(4);
  });

  it("the CSV export has one row per pair and sweep whose norm, ratio and step are the run's", async () => {
    const net = mlp([6, 8, 4], { seed: 1, dtype: 'float64' });
    const pairs = [
      { p: 2, q: 2 },
      { p: 1, q: 2 },
    ];
    const finished: Finished[] = [];
    const series: SeriesData[] = [];
    for (const pair of pairs) {
      const steps: (number | null)[] = [null];
      const result = await balance(net, {
        ...pair,
        backend: 'cpu',
        tol: 1e-8,
        onSweep: (s) => {
          steps[s.sweep] = s.maxStep;
        },
      });
      finished.push({ pair, result, functionChange: 0 });
      series.push({ ratios: result.history.map((h) => h / result.history[0]), steps });
    }
    expect(finished.map((f) => f.result.schedule)).toEqual(['accelerated', 'accelerated']); // the default
    const lines = historiesCsv(finished, series).trim().split('\n');
    expect(lines[0]).toBe(CSV_HEADER);
    expect(lines).toHaveLength(1 + finished.reduce((n, f) => n + f.result.history.length, 0));
    let row = 1;
    finished.forEach(({ pair, result }, k) => {
      result.history.forEach((norm, sweep) => {
        const [p, q, schedule, backend, s, n, ratio, step] = lines[row++].split(',');
        expect([Number(p), Number(q), schedule, backend, Number(s)]).toEqual([pair.p, pair.q, result.schedule, 'cpu', sweep]);
        expect(Number(n)).toBe(norm);
        expect(Number(ratio)).toBe(norm / result.history[0]);
        expect(step === '' ? null : Number(step)).toBe(series[k].steps[sweep]);
      });
    });
  });
});
