import { ACCEL_SCALARS } from '../../../shaders/accelerated.js';
import { COARSE_MAX_SLOTS, coarseRunWords, coarseSolveWorkgroupBytes } from '../../../shaders/coarseSolve.wgsl.js';
import { WORKGROUP } from '../../../shaders/common.js';
import type { ShiftParams } from '../../../shaders/shiftPartials.wgsl.js';
import type { StructValues } from '../../../shaders/struct.js';
import type { Problem } from '../../problem/problem.js';
import type { CoarseSpace } from '../../schedule/coarseSpace.js';
import { coarseSpace, MAX_COARSE_GROUPS } from '../../schedule/coarseSpace.js';
import { ScheduleNotOnGpuError } from '../engine.js';
import { coarseGather } from './coarseGather.js';
import type { Segment } from './layout.js';

/** Where the regions of the accelerated scalar buffer start (after the scalars and the coarse shift), and its length, in floats. */
export interface AccelLayout {
  predicted0: number;
  /** Per pair, the log factor of its column sums under the shift. */
  factor0: number;
  /** Per pair, the log factor of its row sums under the shift. */
  rowScale0: number;
  /** Per part of a pair (`space.partGroup`), the fraction of the pair's row sums its columns carry. */
  fraction0: number;
  length: number;
}

/**
 * The static tables the accelerated schedule's kernels read, built once per problem from its
 * coarse space (`schedule/coarseSpace.ts`) and the engine's segments. A *slot* of a row is a
 * block writing it whose (block, convolution group) pair reads a shifted group; a *run* is a
 * range of consecutive units with one group and the same pair in every slot.
 */
export interface AcceleratedTables {
  space: CoarseSpace;
  /** The most slots of any row (at least 1: the kernels are specialised to it). */
  slots: number;
  nRuns: number;
  /** The runs ({@link coarseRunWords} words each), then per pair the start of its parts, then per part its group + 1, then the group -> parts gather and each part's pair (`coarseGather.ts`). */
  solveTable: Uint32Array;
  partStartOffset: number;
  partGroupOffset: number;
  groupPartsOffset: number;
  partPairOffset: number;
  /** Whether the solve is by conjugate gradients (more than {@link MAX_COARSE_GROUPS} groups, as on the CPU) rather than dense. */
  newtonCg: boolean;
  /** Per unit, CSR (`nUnits + 1` starts, then `(base, stride, count, slot + 1, unshifted part + 1)` per block segment writing it). */
  coarseTopology: Uint32Array;
  entryOffset: number;
  /** The group of each variable (-1: none). */
  varGroup: Int32Array;
  /** Per (block, convolution group) pair, CSR (`nPairs + 1` starts, then `(unit, base, stride, count)` per row). */
  pairTable: Uint32Array;
  nPairs: number;
  /** The pairs whose columns lie in several groups (`nSplit + 1` starts of their parts), their parts' indices, and each part's columns (CSR of `(unit, base, stride, count)`). */
  partTable: Uint32Array;
  nSplit: number;
  partOffset: number;
  colStartOffset: number;
  partEntryOffset: number;
  accel: AccelLayout;
  /** Per segment, its partials and where its row and column factors are. */
  shifts: StructValues<typeof ShiftParams.fields>[];
}

/** The pair of row `i` of block `k`. */
function pairOfRow(problem: Problem, space: CoarseSpace, k: number, i: number): number {
  const b = problem.blocks[k];
  return space.groupBase[k] + Math.floor(i / (b.rows / b.groups));
}

/** Whether a pair's columns hold a shifted group, and the index of its unshifted part (-1: none). */
function pairParts(space: CoarseSpace, pair: number): { shifted: boolean; unshifted: number } {
  let shifted = false;
  let unshifted = -1;
  for (let t = space.partStart[pair]; t < space.partStart[pair + 1]; t++) {
    if (space.partGroup[t] >= 0) shifted = true;
    else unshifted = t;
  }
  return { shifted, unshifted };
}

/** The slots of every unit (the pairs of the blocks writing it that read a shifted group, in block order) and the runs of units. */
function slotsAndRuns(problem: Problem, space: CoarseSpace): { unitSlots: number[][]; runs: number[][] } {
  const unitSlots: number[][] = Array.from({ length: problem.nUnits }, () => []);
  problem.blocks.forEach((b, k) => {
    for (let i = 0; i < b.rows; i++) {
      const pair = pairOfRow(problem, space, k, i);
      if (pairParts(space, pair).shifted) unitSlots[b.rowUnit0 + i].push(pair);
    }
  });
  const runs: number[][] = [];
  const same = (a: number[], b: number[]): boolean => a.length === b.length && a.every((x, s) => x === b[s]);
  for (let unit = 0; unit < problem.nUnits; unit++) {
    const last = runs[runs.length - 1];
    const group = space.unitGroup[unit] + 1;
    if (last && last[2] === group && same(last.slice(4), unitSlots[unit])) last[1] = unit + 1;
    else runs.push([unit, unit + 1, group, unitSlots[unit].length, ...unitSlots[unit]]);
  }
  return { unitSlots, runs };
}

/** The segment of block `k` holding its row `i`, and where that row's partials are. */
function rowPartials(segments: readonly Segment[], k: number, i: number): [number, number, number] {
  const s = segments.find((x) => x.block === k && i >= x.rowStart && i < x.rowStart + x.rows);
  if (!s) throw new Error(`internal: row ${i} of block ${k} is in no segment`);
  return [s.rowPartBase + i - s.rowStart, s.rows, s.colTiles];
}

/** For the pairs whose columns lie in several groups: each part's columns with their column partials in the pair's block. */
function splitPairs(problem: Problem, space: CoarseSpace, segments: readonly Segment[]) {
  const splitParts: number[][] = [];
  const partColumns: number[][] = [];
  problem.blocks.forEach((b, k) => {
    for (let g = 0; g < b.groups; g++) {
      const pair = space.groupBase[k] + g;
      const t0 = space.partStart[pair];
      const t1 = space.partStart[pair + 1];
      if (t1 - t0 < 2) continue;
      splitParts.push(Array.from({ length: t1 - t0 }, (_, n) => t0 + n));
      const columns: number[][] = Array.from({ length: t1 - t0 }, () => []);
      for (const s of segments.filter((x) => x.block === k)) {
        const group0 = (s.colUnit0 - b.colUnit0) / b.cols;
        if (g < group0 || g >= group0 + s.groups) continue;
        for (let j = 0; j < b.cols; j++) {
          const unit = s.colUnit0 + (g - group0) * b.cols + j;
          const part = space.partGroup.subarray(t0, t1).indexOf(space.unitGroup[unit]);
          columns[part].push(unit, s.colPartBase + (g - group0) * b.cols + j, s.groups * s.cols, s.rowTiles);
        }
      }
      partColumns.push(...columns);
    }
  });
  const starts = csr(splitParts, 1);
  const columns = csr(partColumns, 4);
  return {
    partTable: Uint32Array.from([...starts.data, ...columns.data]),
    nSplit: splitParts.length,
    partOffset: starts.entryOffset,
    colStartOffset: starts.data.length,
    partEntryOffset: starts.data.length + columns.entryOffset,
  };
}

/**
 * Build the tables, or throw why this problem does not fit the GPU's coarse solve (a row
 * written by more than {@link COARSE_MAX_SLOTS} blocks reading shifted groups; or a solve whose
 * workgroup memory exceeds `workgroupBytes`): the driver then runs the schedule on the CPU engine.
 */
export function acceleratedTables(problem: Problem, segments: readonly Segment[], workgroupBytes = 16384): AcceleratedTables {
  const space = coarseSpace(problem);
  const { nUnits, blocks } = problem;
  const { unitSlots, runs } = slotsAndRuns(problem, space);
  const slots = unitSlots.reduce((most, list) => Math.max(most, list.length), 1);
  if (slots > COARSE_MAX_SLOTS) {
    throw new ScheduleNotOnGpuError(
      `the accelerated schedule on WebGPU takes rows written by at most ${COARSE_MAX_SLOTS} blocks reading shifted groups; this network has ${slots}`,
    );
  }
  if (coarseSolveWorkgroupBytes(slots, space.nGroups, space.nGroups > MAX_COARSE_GROUPS) > workgroupBytes) {
    throw new ScheduleNotOnGpuError(
      `the accelerated schedule's coarse solve for ${space.nGroups} groups needs more than the device's ${workgroupBytes} bytes of workgroup memory`,
    );
  }
  const nPairs = space.groupBase[blocks.length];
  const varGroup = new Int32Array(problem.nVars).fill(-1);
  for (let unit = 0; unit < nUnits; unit++) if (problem.unitVar[unit] >= 0) varGroup[problem.unitVar[unit]] = space.unitGroup[unit];
  const accel = accelLayout(problem, space);
  const topology = csr(rowEntries(problem, space, segments, unitSlots), 5);
  const pairs = csr(pairRows(problem, segments), 4);
  return {
    space,
    slots,
    nRuns: runs.length,
    ...solveTableOf(space, runs, slots),
    newtonCg: space.nGroups > MAX_COARSE_GROUPS,
    coarseTopology: topology.data,
    entryOffset: topology.entryOffset,
    varGroup,
    pairTable: pairs.data,
    nPairs,
    ...splitPairs(problem, space, segments),
    accel,
    shifts: shiftParams(problem, space, segments, accel),
  };
}

/** The runs, padded to {@link coarseRunWords} words, then per pair the start of its parts, then per part its group + 1, then the gather. */
function solveTableOf(space: CoarseSpace, runs: number[][], slots: number) {
  const nPairs = space.partStart.length - 1;
  const runWords = coarseRunWords(slots);
  const runData = runs.flatMap((run) => [...run, ...new Array(runWords - run.length).fill(0)]);
  const { groupParts, partPair } = coarseGather(space);
  const partGroupOffset = runData.length + nPairs + 1;
  const groupPartsOffset = partGroupOffset + space.partGroup.length;
  return {
    solveTable: Uint32Array.from([...runData, ...space.partStart, ...Array.from(space.partGroup, (g) => g + 1), ...groupParts, ...partPair]),
    partStartOffset: runData.length,
    partGroupOffset,
    groupPartsOffset,
    partPairOffset: groupPartsOffset + groupParts.length,
  };
}

/** Per unit, for each block segment writing it: its partials, its slot + 1 (0: fixed) and its pair's unshifted part + 1 (0: none or fixed). */
function rowEntries(problem: Problem, space: CoarseSpace, segments: readonly Segment[], unitSlots: number[][]): number[][] {
  const entries: number[][] = Array.from({ length: problem.nUnits }, () => []);
  for (const s of segments) {
    for (let i = 0; i < s.rows; i++) {
      const unit = s.rowUnit0 + i;
      const pair = pairOfRow(problem, space, s.block, s.rowStart + i);
      const slot = unitSlots[unit].indexOf(pair) + 1;
      entries[unit].push(s.rowPartBase + i, s.rows, s.colTiles, slot, slot > 0 ? pairParts(space, pair).unshifted + 1 : 0);
    }
  }
  return entries;
}

/** Per pair, its rows: `(unit, base, stride, count)` of each row's partials. */
function pairRows(problem: Problem, segments: readonly Segment[]): number[][] {
  const rows: number[][] = [];
  problem.blocks.forEach((b, k) => {
    const perGroup = b.rows / b.groups;
    for (let g = 0; g < b.groups; g++) {
      rows.push(Array.from({ length: perGroup }, (_, r) => [b.rowUnit0 + g * perGroup + r, ...rowPartials(segments, k, g * perGroup + r)]).flat());
    }
  });
  return rows;
}

/** The regions of the accelerated scalar buffer (see {@link AccelLayout}). */
function accelLayout(problem: Problem, space: CoarseSpace): AccelLayout {
  const nPairs = space.partStart.length - 1;
  const predicted0 = ACCEL_SCALARS + space.nGroups;
  const factor0 = predicted0 + Math.ceil(problem.nVars / WORKGROUP);
  const rowScale0 = factor0 + nPairs;
  const fraction0 = rowScale0 + nPairs;
  return { predicted0, factor0, rowScale0, fraction0, length: fraction0 + space.partGroup.length };
}

/** Per segment, the uniform of the shift of its partials: where its rows' and columns' factors are. */
function shiftParams(problem: Problem, space: CoarseSpace, segments: readonly Segment[], accel: AccelLayout) {
  return segments.map((s) => {
    const b = problem.blocks[s.block];
    const pair0 = space.groupBase[s.block] + (s.colUnit0 - b.colUnit0) / b.cols;
    return {
      rowBase: s.rowPartBase,
      rowCount: s.colTiles * s.rows,
      colBase: s.colPartBase,
      colCount: s.rowTiles * s.groups * s.cols,
      rowFactor0: accel.rowScale0 + pair0,
      factor0: accel.factor0 + pair0,
      rows: s.rows,
      rowsPerGroup: s.rowsPerGroup,
      span: s.groups * s.cols,
      cols: s.cols,
    };
  });
}

/** Lists of `width`-word entries as one CSR array: `lists.length + 1` starts (in entries), then the entries. */
function csr(lists: number[][], width: number): { data: Uint32Array; entryOffset: number } {
  const out: number[] = [0];
  for (const list of lists) out.push(out[out.length - 1] + list.length / width);
  const entryOffset = out.length;
  for (const list of lists) for (const x of list) out.push(x);
  return { data: Uint32Array.from(out), entryOffset };
}
