/**
 * The layer-wise answers of set-up (issue 11, point 4): where the blocks are layered (each joins
 * a whole earlier layer to a whole later one, one conv group) and no tie group has two units,
 * the colouring and the dead-set search take their answers from the layers. They must equal
 * the general per-unit walks on every such problem (MLPs, plain CNNs, DAGs with skip blocks),
 * with dead units, sparse weights, fixed hidden units and biases in or out of the norm; on the
 * other problems (grouped convolutions, residual ties) the general walks run.
 */
import { describe, expect, it } from 'vitest';
import { mlp, sequential } from '../src/network/builders.js';
import type { Network } from '../src/network/types.js';
import { unitCount } from '../src/network/types.js';
import { layerColours, unitColours } from '../src/problem/colouring.js';
import { compileProblem } from '../src/problem/compile.js';
import { deadGroups, searchDeadGroups } from '../src/problem/degenerate.js';
import { layeredBlocks } from '../src/problem/problem.js';
import { NETS } from './support/fixNets.js';
import { uniformStream } from './support/fixReference.js';

/** A plain CNN (no grouped convolution): conv with a max-pool, conv, a dense head reading the feature map. */
function plainCnn(seed: number): Network {
  return sequential(
    [3, 6, 6],
    [
      { type: 'conv', channels: 5, kernel: 3, padding: 1, pool: { kind: 'max', size: 2 } },
      { type: 'conv', channels: 4, kernel: 3, padding: 1 },
      { type: 'dense', units: 6 },
      { type: 'dense', units: 3 },
    ],
    { seed, dtype: 'float64', biasScale: 0.3 },
  );
}

/**
 * A copy of `net` with weights zeroed at random: whole rows and columns of edges (all taps) with
 * probability `dead`, single entries with probability `sparse`; the biases of zeroed rows too
 * where `zeroBias`. The original is not written.
 */
function sparsified(net: Network, seed: number, dead: number, sparse: number, zeroBias: boolean): Network {
  const random = uniformStream(seed);
  return {
    ...net,
    blocks: net.blocks.map((b) => {
      const weight = b.weight.slice();
      const bias = b.bias ? b.bias.slice() : b.bias;
      const rows = b.shape[0];
      const perRow = weight.length / rows;
      const cols = b.kind === 'dense' ? b.shape[1] : b.shape[1];
      const taps = perRow / cols;
      for (let i = 0; i < rows; i++) {
        if (random() < dead) {
          weight.fill(0, i * perRow, (i + 1) * perRow);
          if (zeroBias && bias) bias[i] = 0;
        }
      }
      for (let j = 0; j < cols; j++) {
        if (random() >= dead) continue;
        for (let i = 0; i < rows; i++) weight.fill(0, (i * cols + j) * taps, (i * cols + j + 1) * taps);
      }
      for (let e = 0; e < weight.length; e++) if (random() < sparse) weight[e] = 0;
      return { ...b, weight, bias } as typeof b;
    }),
  };
}

/** Fixed units at random in the hidden layers (`Layer.fixed`), beside the inputs and outputs. */
function withFixed(net: Network, seed: number, share: number): Network {
  const random = uniformStream(seed);
  return {
    ...net,
    layers: net.layers.map((layer, k) => {
      if (k === 0 || k === net.layers.length - 1) return layer;
      const count = unitCount(layer);
      const fixed: number[] = [];
      for (let c = 0; c < count; c++) if (random() < share) fixed.push(c);
      return fixed.length > 0 ? { ...layer, fixed } : layer;
    }),
  };
}

const LAYERED: Record<string, (seed: number) => Network> = {
  mlp: (seed) => NETS.mlp(seed),
  'wide mlp': (seed) => mlp([9, 30, 25, 30, 4], { seed, dtype: 'float32', biasScale: 0.2 }),
  'plain cnn': plainCnn,
  dag: (seed) => NETS.dag(seed),
};

/** The fixed units of a compiled problem (no ties): inputs, outputs and every unit without a variable that is not frozen. */
function fixedUnits(problem: ReturnType<typeof compileProblem>): Uint8Array {
  const fixed = new Uint8Array(problem.nUnits);
  const frozen = new Set(problem.frozen.map((f) => problem.layerUnit0[f.layer] + f.unit));
  for (let u = 0; u < problem.nUnits; u++) if (problem.unitVar[u] < 0 && !frozen.has(u)) fixed[u] = 1;
  return fixed;
}

describe('layer-wise set-up on layered problems equals the per-unit walks', () => {
  it('the layered nets are recognised, the others are not', () => {
    for (const [name, make] of Object.entries(LAYERED)) {
      const problem = compileProblem(make(1), { p: 2, q: 2 });
      expect(layeredBlocks(problem.blocks, problem.layerUnit0, problem.nUnits), name).not.toBeNull();
    }
    for (const name of ['cnn', 'conv-residual']) {
      const problem = compileProblem(NETS[name](1), { p: 2, q: 2 });
      expect(layeredBlocks(problem.blocks, problem.layerUnit0, problem.nUnits), name).toBeNull();
    }
  });

  it('the dead units (the layer sweeps) equal the searches over groups, with dead rows and columns, sparse weights, fixed hidden units, biases in and out', () => {
    let frozenSeen = 0;
    for (const [name, make] of Object.entries(LAYERED)) {
      for (let seed = 1; seed <= 12; seed++) {
        const dead = [0, 0.1, 0.3, 0.6][seed % 4];
        const sparse = [0, 0.5, 0.9][seed % 3];
        const net = withFixed(sparsified(make(seed), seed + 50, dead, sparse, seed % 2 === 0), seed + 90, seed % 5 === 0 ? 0.2 : 0);
        for (const includeBiases of [false, true]) {
          const problem = compileProblem(net, { p: 2, q: 3, includeBiases });
          const root = new Int32Array(problem.nUnits).map((_, u) => u);
          const fixed = fixedUnits(problem);
          const fast = deadGroups(problem.blocks, problem.layerUnit0, root, fixed, includeBiases);
          const general = searchDeadGroups(problem.blocks, problem.layerUnit0, root, fixed, includeBiases);
          expect(Array.from(fast), `${name} seed ${seed} biases ${includeBiases}`).toEqual(Array.from(general));
          frozenSeen += problem.frozen.length;
        }
      }
    }
    expect(frozenSeen, 'some units were dead').toBeGreaterThan(0);
  });

  it('the colouring by layers equals the greedy colouring by variables; no layer-wise colouring where the blocks are not layered or a variable has two units', () => {
    for (const [name, make] of Object.entries(LAYERED)) {
      for (let seed = 1; seed <= 6; seed++) {
        const net = withFixed(sparsified(make(seed), seed, 0.3, 0, false), seed + 7, 0.3);
        const problem = compileProblem(net, { p: 2, q: 2 });
        const byLayer = layerColours(problem);
        expect(byLayer, name).not.toBeNull();
        const byUnit = unitColours(problem);
        expect(byLayer?.nClasses, name).toBe(byUnit.nClasses);
        expect(Array.from(byLayer?.varClass ?? []), `${name} seed ${seed}`).toEqual(Array.from(byUnit.varClass));
      }
    }
    for (const name of ['cnn', 'residual', 'conv-residual']) {
      const problem = compileProblem(NETS[name](1), { p: 2, q: 2 });
      expect(layerColours(problem), name).toBeNull();
    }
  });
});
