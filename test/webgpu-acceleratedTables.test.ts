/**
 * The accelerated schedule's static tables for the GPU (`acceleratedTables.ts`), without a GPU:
 * on every convolutional net of the pass-count figures (layers split by convolution group, rows
 * reading many groups, segments split by groups and by rows) the tables are built (no
 * `ScheduleNotOnGpuError`), the runs cover the units in order with one group and the same slots
 * each, every row's entries name the pair its block reads and the right slot, and every column of
 * a pair split over several groups is listed once per segment, under its own group; a row written
 * by more blocks reading shifted groups than the solve takes is refused by name, and so is a
 * solve that needs more workgroup memory than the device has (a device of 1 KiB); past
 * `MAX_COARSE_GROUPS` groups the tables ask for the solve by conjugate gradients, and the
 * solve table ends with the group -> parts gather (`coarseGather.ts`) and each part's pair.
 */
import { describe, expect, it } from 'vitest';
import { COARSE_MAX_SLOTS, coarseRunWords, coarseSolveWorkgroupBytes } from '../shaders/coarseSolve.wgsl.js';
import { ScheduleNotOnGpuError } from '../src/engines/engine.js';
import type { AcceleratedTables } from '../src/engines/webgpu/acceleratedTables.js';
import { acceleratedTables } from '../src/engines/webgpu/acceleratedTables.js';
import { coarseGather } from '../src/engines/webgpu/coarseGather.js';
import { segmentBlocks } from '../src/engines/webgpu/layout.js';
import { mlp } from '../src/network/builders.js';
import { compileProblem } from '../src/problem/compile.js';
import type { Problem } from '../src/problem/problem.js';
import { coarseSpace, MAX_COARSE_GROUPS } from '../src/schedule/coarseSpace.js';
import { CONV_NETS, NETS } from './support/fixNets.js';

/** Per unit, the pairs of the blocks writing it (in block order) and whether each reads a shifted group. */
function writers(problem: Problem, t: AcceleratedTables): { pair: number; shifted: boolean }[][] {
  const { space } = t;
  const out: { pair: number; shifted: boolean }[][] = Array.from({ length: problem.nUnits }, () => []);
  problem.blocks.forEach((b, k) => {
    for (let i = 0; i < b.rows; i++) {
      const pair = space.groupBase[k] + Math.floor(i / (b.rows / b.groups));
      const groups = space.partGroup.slice(space.partStart[pair], space.partStart[pair + 1]);
      out[b.rowUnit0 + i].push({ pair, shifted: groups.some((g) => g >= 0) });
    }
  });
  return out;
}

function checkRuns(problem: Problem, t: AcceleratedTables): void {
  const words = coarseRunWords(t.slots);
  const byUnit = writers(problem, t);
  let next = 0;
  for (let run = 0; run < t.nRuns; run++) {
    const [first, end, group, nSlots, ...pairs] = t.solveTable.subarray(run * words, (run + 1) * words);
    expect(first).toBe(next);
    expect(end).toBeGreaterThan(first);
    next = end;
    for (let unit = first; unit < end; unit++) {
      expect(t.space.unitGroup[unit] + 1).toBe(group);
      expect(pairs.slice(0, nSlots)).toEqual(byUnit[unit].filter((w) => w.shifted).map((w) => w.pair));
    }
  }
  expect(next).toBe(problem.nUnits);
}

function checkRowEntries(problem: Problem, t: AcceleratedTables): void {
  const byUnit = writers(problem, t);
  for (let unit = 0; unit < problem.nUnits; unit++) {
    const e0 = t.coarseTopology[unit];
    const e1 = t.coarseTopology[unit + 1];
    expect(e1 - e0).toBe(byUnit[unit].length);
    const slotted = byUnit[unit].filter((w) => w.shifted).map((w) => w.pair);
    const slots = Array.from({ length: e1 - e0 }, (_, n) => t.coarseTopology[t.entryOffset + 5 * (e0 + n) + 3]);
    expect(slots.filter((s) => s > 0).sort()).toEqual(slotted.map((_, s) => s + 1));
    expect(slots.filter((s) => s === 0)).toHaveLength(byUnit[unit].length - slotted.length);
  }
}

function checkSplitPairs(problem: Problem, t: AcceleratedTables, segments: ReturnType<typeof segmentBlocks>): number {
  const { space, partTable } = t;
  let split = 0;
  problem.blocks.forEach((b, k) => {
    for (let g = 0; g < b.groups; g++) {
      const pair = space.groupBase[k] + g;
      const t0 = space.partStart[pair];
      const t1 = space.partStart[pair + 1];
      if (t1 - t0 < 2) continue;
      const q0 = partTable[split];
      expect(partTable[split + 1] - q0).toBe(t1 - t0);
      const covering = segments.filter(
        (s) => s.block === k && s.colUnit0 <= b.colUnit0 + g * b.cols && b.colUnit0 + (g + 1) * b.cols <= s.colUnit0 + s.groups * s.cols,
      );
      const seen = new Map<number, number>();
      for (let q = q0; q < q0 + t1 - t0; q++) {
        const part = partTable[t.partOffset + q];
        expect(part).toBe(t0 + q - q0);
        for (let e = partTable[t.colStartOffset + q]; e < partTable[t.colStartOffset + q + 1]; e++) {
          const [unit, base, stride, count] = partTable.subarray(t.partEntryOffset + 4 * e, t.partEntryOffset + 4 * e + 4);
          expect(space.unitGroup[unit]).toBe(space.partGroup[part]);
          const s = covering.find((x) => base >= x.colPartBase && base < x.colPartBase + x.groups * x.cols);
          expect(s, `column ${unit}`).toBeDefined();
          if (!s) continue;
          expect(base - s.colPartBase).toBe(unit - s.colUnit0);
          expect([stride, count]).toEqual([s.groups * s.cols, s.rowTiles]);
          seen.set(unit, (seen.get(unit) ?? 0) + 1);
        }
      }
      for (let unit = b.colUnit0 + g * b.cols; unit < b.colUnit0 + (g + 1) * b.cols; unit++) expect(seen.get(unit)).toBe(covering.length);
      split++;
    }
  });
  expect(t.nSplit).toBe(split);
  return split;
}

/** The gather at the end of the solve table is `coarseGather`'s, and each part's pair. */
function checkGather(t: AcceleratedTables): void {
  const { groupParts, partPair } = coarseGather(t.space);
  expect(t.partPairOffset).toBe(t.groupPartsOffset + groupParts.length);
  expect(Array.from(t.solveTable.subarray(t.groupPartsOffset, t.partPairOffset))).toEqual(Array.from(groupParts));
  expect(Array.from(t.solveTable.subarray(t.partPairOffset))).toEqual(Array.from(partPair));
}

describe('the accelerated schedule tables for the GPU', () => {
  const nets = {
    ...Object.fromEntries(Object.entries(NETS).map(([name, build]) => [name, () => build(1)])),
    ...Object.fromEntries(Object.entries(CONV_NETS).map(([name, build]) => [name, () => build(1)])),
  };
  for (const [name, build] of Object.entries(nets)) {
    it(`${name}: runs, row entries and split pairs, whole blocks and blocks split into segments`, () => {
      const problem = compileProblem(build(), { p: 2, q: 2 });
      const dense = coarseSpace(problem).nGroups <= MAX_COARSE_GROUPS;
      if (!dense) {
        // The solve by conjugate gradients keeps its vectors in storage: its workgroup memory does not grow with the groups.
        expect(coarseSolveWorkgroupBytes(1, coarseSpace(problem).nGroups, true)).toBe(coarseSolveWorkgroupBytes(1, 1, true));
        expect(() => acceleratedTables(problem, segmentBlocks(problem, 1 << 30), 1024)).toThrow(/bytes of workgroup memory/);
      }
      for (const maxBytes of [1 << 30, 4096]) {
        const segments = segmentBlocks(problem, maxBytes);
        const tables = acceleratedTables(problem, segments);
        expect(tables.slots).toBeGreaterThanOrEqual(1);
        expect(tables.newtonCg).toBe(!dense);
        checkGather(tables);
        checkRuns(problem, tables);
        checkRowEntries(problem, tables);
        const split = checkSplitPairs(problem, tables, segments);
        if (name === 'wide-depthwise') expect(split).toBeGreaterThan(0);
        const { predicted0, factor0, rowScale0, fraction0, length } = tables.accel;
        expect(predicted0).toBe(8 + tables.space.nGroups);
        expect([factor0 < rowScale0 || tables.nPairs === 0, rowScale0 - factor0, fraction0 - rowScale0, length - fraction0]).toEqual([
          true,
          tables.nPairs,
          tables.nPairs,
          tables.space.partGroup.length,
        ]);
      }
    });
  }

  it(`refuses, by name, a row written by more than ${COARSE_MAX_SLOTS} blocks reading shifted groups`, () => {
    const chain = mlp([3, ...Array.from({ length: COARSE_MAX_SLOTS + 1 }, () => 3), 2], { seed: 3 });
    const last = COARSE_MAX_SLOTS + 1;
    const extra = Array.from({ length: COARSE_MAX_SLOTS }, (_, k) => ({ ...chain.blocks[last], name: `skip${k + 1}`, from: k + 1, bias: null }));
    const problem = compileProblem({ ...chain, blocks: [...chain.blocks, ...extra] }, { p: 2, q: 2 });
    const segments = segmentBlocks(problem, 1 << 30);
    expect(() => acceleratedTables(problem, segments)).toThrow(ScheduleNotOnGpuError);
    expect(() => acceleratedTables(problem, segments)).toThrow(/at most 10 blocks reading shifted groups; this network has 11/);
    // One block fewer fits.
    const fits = compileProblem({ ...chain, blocks: [...chain.blocks, ...extra.slice(1)] }, { p: 2, q: 2 });
    expect(acceleratedTables(fits, segmentBlocks(fits, 1 << 30)).slots).toBe(COARSE_MAX_SLOTS);
  });
});
