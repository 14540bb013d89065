import type { RangeFold } from '../network/finite.js';
import type { Network, UnitRef } from '../network/types.js';
import { isHomogeneous, positionsPerUnit, unitCount } from '../network/types.js';
import { validatedRange } from '../network/validate.js';
import { validateExponents } from '../options.js';
import { colourVariables } from './colouring.js';
import { deadGroups } from './degenerate.js';
import type { Problem, ProblemBlock } from './problem.js';
import { unitRef } from './problem.js';

/** Union–find over global units, for tie groups. */
class Ties {
  private readonly parent: Int32Array;
  constructor(n: number) {
    this.parent = new Int32Array(n).map((_, i) => i);
  }
  find(x: number): number {
    const parent = this.parent;
    while (parent[x] !== x) {
      parent[x] = parent[parent[x]];
      x = parent[x];
    }
    return x;
  }
  union(a: number, b: number): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.parent[Math.max(ra, rb)] = Math.min(ra, rb);
  }
}

function toProblemBlocks(net: Network, layerUnit0: Int32Array): ProblemBlock[] {
  return net.blocks.map((b, index) => {
    const label = `block ${index} ('${b.name}')`;
    const base = { index, label, rowUnit0: layerUnit0[b.to], colUnit0: layerUnit0[b.from], weight: b.weight, bias: b.bias ?? null };
    if (b.kind === 'dense') {
      const taps = positionsPerUnit(net.layers[b.from]);
      return { ...base, rows: b.shape[0], cols: b.shape[1] / taps, groups: 1, taps };
    }
    return { ...base, rows: b.shape[0], cols: b.shape[1], groups: b.groups, taps: b.shape[2] * b.shape[3] };
  });
}

/** The root of each global unit's tie group (residual skips tie channel c of both layers; concat layers tie each unit to its source; explicit ties). */
function tieGroups(net: Network, layerUnit0: Int32Array, nUnits: number): Int32Array {
  const ties = new Ties(nUnits);
  net.layers.forEach((layer, k) => {
    for (const s of layer.skips ?? []) {
      for (let c = 0; c < unitCount(layer); c++) ties.union(layerUnit0[k] + c, layerUnit0[s] + c);
    }
    // A concatenated unit is the source unit it came from (joined unit `select[c]` for unit `c`).
    if (layer.concat) {
      const joined: number[] = layer.concat.flatMap((s) => Array.from({ length: unitCount(net.layers[s]) }, (_, c) => layerUnit0[s] + c));
      const select = layer.select ?? joined.map((_, c) => c);
      select.forEach((u, c) => {
        ties.union(layerUnit0[k] + c, joined[u]);
      });
    }
  });
  for (const group of net.ties ?? []) {
    for (let m = 1; m < group.length; m++) {
      ties.union(layerUnit0[group[0].layer] + group[0].unit, layerUnit0[group[m].layer] + group[m].unit);
    }
  }
  return new Int32Array(nUnits).map((_, u) => ties.find(u));
}

/** 1 at the root of each fixed group: a group is fixed if any member is (inputs, outputs, non-homogeneous activations, gates, `Layer.fixed`). */
function fixedGroups(net: Network, layerUnit0: Int32Array, root: Int32Array): Uint8Array {
  const fixedRoot = new Uint8Array(root.length);
  const last = net.layers.length - 1;
  const gates = new Set(net.layers.flatMap((l) => (l.gate !== undefined ? [l.gate] : [])));
  net.layers.forEach((layer, k) => {
    const all = k === 0 || k === last || !isHomogeneous(layer.activation) || gates.has(k);
    if (all) for (let c = 0; c < unitCount(layer); c++) fixedRoot[root[layerUnit0[k] + c]] = 1;
    for (const c of layer.fixed ?? []) fixedRoot[root[layerUnit0[k] + c]] = 1;
  });
  return fixedRoot;
}

/**
 * Compile a network into a {@link Problem}: validate it and the exponents (one validation for
 * every engine), number the units, merge tie groups, mark fixed units, freeze degenerate groups
 * (a dead unit, a dead set of tie groups: see {@link deadGroups}), and colour the variables for
 * the alternating schedule. The network's arrays are shared, never copied or written. `fold`
 * reads the values (default: `foldWeightRange`, in JS).
 */
export function compileProblem(net: Network, options: { p: number; q: number; includeBiases?: boolean }, fold?: RangeFold): Problem {
  const { p, q, includeBiases = false } = options;
  validateExponents(p, q);
  const weightRange = validatedRange(net, fold);
  const layerUnit0 = new Int32Array(net.layers.length);
  let nUnits = 0;
  net.layers.forEach((layer, k) => {
    layerUnit0[k] = nUnits;
    nUnits += unitCount(layer);
  });
  const blocks = toProblemBlocks(net, layerUnit0);
  const root = tieGroups(net, layerUnit0, nUnits);
  const fixedRoot = fixedGroups(net, layerUnit0, root);
  const dead = deadGroups(blocks, layerUnit0, root, fixedRoot, includeBiases);

  const unitVar = new Int32Array(nUnits).fill(-1);
  const rootVar = new Int32Array(nUnits).fill(-1);
  const frozen: UnitRef[] = [];
  let nVars = 0;
  for (let u = 0; u < nUnits; u++) {
    const g = root[u];
    if (fixedRoot[g]) continue;
    if (dead[g]) {
      frozen.push(unitRef(layerUnit0, u));
      continue;
    }
    if (rootVar[g] < 0) rootVar[g] = nVars++;
    unitVar[u] = rootVar[g];
  }

  const problem: Problem = {
    p,
    q,
    r: q / p,
    includeBiases,
    nUnits,
    layerUnit0,
    unitVar,
    nVars,
    varClass: new Int32Array(nVars),
    nClasses: 0,
    blocks,
    frozen,
    weightRange,
  };
  const { varClass, nClasses } = colourVariables(problem);
  problem.varClass = varClass;
  problem.nClasses = nClasses;
  return problem;
}
