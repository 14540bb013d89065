import { ACCEL_PREDICTED0, COARSE_MAX_GROUPS, COARSE_SLOTS } from '../../../shaders/accelerated.js';
import { COARSE_LAYER_WORDS } from '../../../shaders/coarseSolve.wgsl.js';
import { WORKGROUP } from '../../../shaders/common.js';
import type { ShiftParams } from '../../../shaders/shiftPartials.wgsl.js';
import type { StructValues } from '../../../shaders/struct.js';
import type { Problem } from '../../problem/problem.js';
import type { CoarseSpace } from '../../schedule/coarseSpace.js';
import { coarseSpace } from '../../schedule/coarseSpace.js';
import { ScheduleNotOnGpuError } from '../engine.js';
import type { Segment } from './layout.js';

/**
 * The static tables the accelerated schedule's kernels read, built once per problem from its
 * coarse space (`schedule/coarseSpace.ts`) and the engine's segments.
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
  /** Per (block, convolution group) pair, CSR (`nPairs + 1` starts, then `(unit, base, stride, count)` per row). */
  pairTable: Uint32Array;
  nPairs: number;
  /** Where the pairs' column factors start in the accelerated scalar buffer (after the predicted-decrease partials). */
  factor0: number;
  /** Per segment, its partials, the group of its columns and where its column factors are. */
  shifts: StructValues<typeof ShiftParams.fields>[];
}

/** The layer of each block's rows and columns, checking that every layer is one group of the coarse space (or none). */
function layerGroups(problem: Problem, space: CoarseSpace): { layerEnd: (k: number) => number; rowLayer: number[]; colGroup: number[] } {
  const { layerUnit0, nUnits, blocks } = problem;
  const nLayers = layerUnit0.length;
  const layerEnd = (k: number): number => (k + 1 < nLayers ? layerUnit0[k + 1] : nUnits);
  for (let k = 0; k < nLayers; k++) {
    for (let unit = layerUnit0[k]; unit < layerEnd(k); unit++) {
      if (space.unitGroup[unit] !== space.unitGroup[layerUnit0[k]]) {
        throw new ScheduleNotOnGpuError(
          `the accelerated schedule on WebGPU shifts whole layers; this network's coarse space splits layer ${k} by convolution group`,
        );
      }
    }
  }
  const rowLayer = blocks.map((b) => {
    const layer = layerUnit0.findIndex((unit0, k) => unit0 === b.rowUnit0 && layerEnd(k) - unit0 === b.rows);
    if (layer < 0) throw new Error(`internal: block ${b.label} does not write one whole layer`);
    return layer;
  });
  return { layerEnd, rowLayer, colGroup: blocks.map((b) => space.unitGroup[b.colUnit0] ?? -1) };
}

/** The coarse model's layer table: per layer its rows, its group and the distinct shifted groups its writing blocks read (its slots). */
function layerTable(problem: Problem, space: CoarseSpace, rowLayer: number[], colGroup: number[], layerEnd: (k: number) => number) {
  const { layerUnit0 } = problem;
  const slots: number[][] = Array.from(layerUnit0, () => []);
  problem.blocks.forEach((_, k) => {
    const g = colGroup[k];
    if (g >= 0 && !slots[rowLayer[k]].includes(g)) slots[rowLayer[k]].push(g);
  });
  const layers = new Uint32Array(layerUnit0.length * COARSE_LAYER_WORDS);
  slots.forEach((list, k) => {
    if (list.length > COARSE_SLOTS) {
      throw new ScheduleNotOnGpuError(
        `the accelerated schedule on WebGPU lets a layer read at most ${COARSE_SLOTS} groups of layers; layer ${k} reads ${list.length}`,
      );
    }
    const rows = layerEnd(k) > layerUnit0[k];
    layers.set([layerUnit0[k], layerEnd(k), rows ? space.unitGroup[layerUnit0[k]] + 1 : 0, list.length, ...list], k * COARSE_LAYER_WORDS);
  });
  return { layers, slots };
}

/** The segment of block `k` holding its row `i`, and where that row's partials are. */
function rowPartials(segments: readonly Segment[], k: number, i: number): [number, number, number] {
  const s = segments.find((x) => x.block === k && i >= x.rowStart && i < x.rowStart + x.rows);
  if (!s) throw new Error(`internal: row ${i} of block ${k} is in no segment`);
  return [s.rowPartBase + i - s.rowStart, s.rows, s.colTiles];
}

/**
 * Build the tables, or throw why this problem does not fit the GPU's coarse solve (a layer split
 * by convolution group, more than {@link COARSE_MAX_GROUPS} groups, or a layer reading more than
 * {@link COARSE_SLOTS} shifted groups): the driver then runs the schedule on the CPU engine.
 */
export function acceleratedTables(problem: Problem, segments: readonly Segment[]): AcceleratedTables {
  const space = coarseSpace(problem);
  const { nUnits, blocks } = problem;
  const { layerEnd, rowLayer, colGroup } = layerGroups(problem, space);
  if (space.nGroups > COARSE_MAX_GROUPS) {
    throw new ScheduleNotOnGpuError(
      `the accelerated schedule on WebGPU solves for at most ${COARSE_MAX_GROUPS} groups of layers; this network has ${space.nGroups}`,
    );
  }
  const { layers, slots } = layerTable(problem, space, rowLayer, colGroup, layerEnd);
  const entries: number[][] = Array.from({ length: nUnits }, () => []);
  for (const s of segments) {
    const slot = slots[rowLayer[s.block]].indexOf(colGroup[s.block]) + 1;
    for (let i = 0; i < s.rows; i++) entries[s.rowUnit0 + i].push(s.rowPartBase + i, s.rows, s.colTiles, slot);
  }
  const topology = csr(entries, 4);
  const nPairs = space.groupBase[blocks.length];
  const pairRows: number[][] = [];
  blocks.forEach((b, k) => {
    const perGroup = b.rows / b.groups;
    for (let g = 0; g < b.groups; g++) {
      pairRows.push(Array.from({ length: perGroup }, (_, r) => [b.rowUnit0 + g * perGroup + r, ...rowPartials(segments, k, g * perGroup + r)]).flat());
    }
  });
  const pairs = csr(pairRows, 4);
  const varGroup = new Int32Array(problem.nVars).fill(-1);
  for (let unit = 0; unit < nUnits; unit++) if (problem.unitVar[unit] >= 0) varGroup[problem.unitVar[unit]] = space.unitGroup[unit];
  const factor0 = ACCEL_PREDICTED0 + Math.ceil(problem.nVars / WORKGROUP);
  const shifts = segments.map((s) => {
    const b = blocks[s.block];
    return {
      rowBase: s.rowPartBase,
      rowCount: s.colTiles * s.rows,
      colBase: s.colPartBase,
      colCount: s.rowTiles * s.groups * s.cols,
      colGroup: colGroup[s.block],
      factor0: factor0 + space.groupBase[s.block] + (s.colUnit0 - b.colUnit0) / b.cols,
      span: s.groups * s.cols,
      cols: s.cols,
    };
  });
  return {
    space,
    layers,
    nLayers: problem.layerUnit0.length,
    coarseTopology: topology.data,
    entryOffset: topology.entryOffset,
    varGroup,
    pairTable: pairs.data,
    nPairs,
    factor0,
    shifts,
  };
}

/** Lists of `width`-word entries as one CSR array: `lists.length + 1` starts (in entries), then the entries. */
function csr(lists: number[][], width: number): { data: Uint32Array; entryOffset: number } {
  const out: number[] = [0];
  for (const list of lists) out.push(out[out.length - 1] + list.length / width);
  const entryOffset = out.length;
  for (const list of lists) for (const x of list) out.push(x);
  return { data: Uint32Array.from(out), entryOffset };
}
