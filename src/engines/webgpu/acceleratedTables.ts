import { COARSE_MAX_GROUPS, COARSE_SLOTS } from '../../../shaders/accelerated.js';
import { COARSE_LAYER_WORDS } from '../../../shaders/coarseSolve.wgsl.js';
import type { ShiftParams } from '../../../shaders/shiftPartials.wgsl.js';
import type { StructValues } from '../../../shaders/struct.js';
import type { Problem } from '../../problem/problem.js';
import type { CoarseSpace } from '../../schedule/coarse.js';
import { coarseSpace } from '../../schedule/coarse.js';
import type { Segment } from './layout.js';

/**
 * The static tables the accelerated schedule's kernels read, built once per problem from its
 * coarse space (`schedule/coarse.ts`) and the engine's segments.
 */
export interface AcceleratedTables {
  space: CoarseSpace;
  /** Per layer, {@link COARSE_LAYER_WORDS} words: first unit, end unit, row group + 1 (0: none), slots, the group of each slot. */
  layers: Uint32Array;
  nLayers: number;
  /** Per unit, CSR (`nUnits + 1` starts, then `(base, stride, count, slot + 1)` per row partial list): the coarse rows' topology. */
  coarseTopology: Uint32Array;
  entryOffset: number;
  /** The group of each variable (-1: none). */
  varGroup: Int32Array;
  /** Per segment, its partials and the groups of its rows and columns. */
  shifts: StructValues<typeof ShiftParams.fields>[];
}

/**
 * Build the tables, or throw why this problem does not fit the one-workgroup coarse solve (more
 * than {@link COARSE_MAX_GROUPS} groups of layers, or a layer reading more than
 * {@link COARSE_SLOTS} shifted groups): the driver then runs the schedule on the CPU engine.
 */
export function acceleratedTables(problem: Problem, segments: readonly Segment[]): AcceleratedTables {
  const space = coarseSpace(problem);
  if (space.nGroups > COARSE_MAX_GROUPS) {
    throw new Error(`the accelerated schedule on WebGPU solves for at most ${COARSE_MAX_GROUPS} groups of layers; this network has ${space.nGroups}`);
  }
  const { layerUnit0, nUnits, blocks } = problem;
  const nLayers = layerUnit0.length;
  const layerEnd = (k: number): number => (k + 1 < nLayers ? layerUnit0[k + 1] : nUnits);
  const layerOf = new Map<number, number>();
  layerUnit0.forEach((unit0, k) => {
    if (!layerOf.has(unit0) || layerEnd(k) > unit0) layerOf.set(unit0, k);
  });
  // The slots of a layer: the distinct shifted groups its writing blocks read.
  const slots: number[][] = Array.from({ length: nLayers }, () => []);
  blocks.forEach((b, k) => {
    const layer = layerOf.get(b.rowUnit0);
    if (layer === undefined || layerEnd(layer) - b.rowUnit0 !== b.rows) throw new Error(`internal: block ${b.label} does not write one whole layer`);
    const g = space.blockColGroup[k];
    if (g >= 0 && !slots[layer].includes(g)) slots[layer].push(g);
  });
  const layers = new Uint32Array(nLayers * COARSE_LAYER_WORDS);
  slots.forEach((list, k) => {
    if (list.length > COARSE_SLOTS) {
      throw new Error(`the accelerated schedule on WebGPU lets a layer read at most ${COARSE_SLOTS} groups of layers; layer ${k} reads ${list.length}`);
    }
    const o = k * COARSE_LAYER_WORDS;
    layers.set([layerUnit0[k], layerEnd(k), layerEnd(k) > layerUnit0[k] ? space.unitGroup[layerUnit0[k]] + 1 : 0, list.length, ...list], o);
  });
  const entries: number[][] = Array.from({ length: nUnits }, () => []);
  for (const s of segments) {
    const layer = layerOf.get(problem.blocks[s.block].rowUnit0) as number;
    const slot = slots[layer].indexOf(space.blockColGroup[s.block]) + 1;
    for (let i = 0; i < s.rows; i++) entries[s.rowUnit0 + i].push(s.rowPartBase + i, s.rows, s.colTiles, slot);
  }
  const topology: number[] = [0];
  for (const list of entries) topology.push(topology[topology.length - 1] + list.length / 4);
  const entryOffset = topology.length;
  for (const list of entries) topology.push(...list);
  const varGroup = new Int32Array(problem.nVars).fill(-1);
  for (let unit = 0; unit < nUnits; unit++) if (problem.unitVar[unit] >= 0) varGroup[problem.unitVar[unit]] = space.unitGroup[unit];
  const shifts = segments.map((s) => ({
    rowBase: s.rowPartBase,
    rowCount: s.colTiles * s.rows,
    colBase: s.colPartBase,
    colCount: s.rowTiles * s.groups * s.cols,
    rowGroup: space.blockRowGroup[s.block],
    colGroup: space.blockColGroup[s.block],
  }));
  return { space, layers, nLayers, coarseTopology: Uint32Array.from(topology), entryOffset, varGroup, shifts };
}
