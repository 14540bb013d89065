import { TILE_COLS, TILE_ROWS } from '../../../shaders/blockTile.js';
import { LOG_ZERO } from '../../../shaders/common.js';
import { logBiasMass } from '../../math/statistics.js';
import type { Problem } from '../../problem/problem.js';

/**
 * A block segment: a range of rows of one block that fits one buffer. Blocks larger than the
 * device's buffer limits are split by whole groups, or by rows inside a group, so every segment
 * is a (possibly grouped) block of its own.
 */
export interface Segment {
  /** Index of the block in `problem.blocks`. */
  block: number;
  /** First row of the segment in the block. */
  rowStart: number;
  rows: number;
  cols: number;
  groups: number;
  rowsPerGroup: number;
  taps: number;
  rowUnit0: number;
  colUnit0: number;
  rowTiles: number;
  colTiles: number;
  /** Workgroups of a tile pass: groups x row tiles x column tiles. */
  tiles: number;
  /** Offsets (in pairs) of the segment's row and column partials. */
  rowPartBase: number;
  colPartBase: number;
}

/** Split every block of a problem into segments of at most `maxBytes` of float32 weights. */
export function segmentBlocks(problem: Problem, maxBytes: number): Segment[] {
  const segments: Segment[] = [];
  let rowPart = 0;
  let colPart = 0;
  const push = (block: number, rowStart: number, rows: number, groups: number, colGroup0: number): void => {
    const b = problem.blocks[block];
    const rowsPerGroup = rows / groups;
    const rowTiles = Math.ceil(rowsPerGroup / TILE_ROWS);
    const colTiles = Math.ceil(b.cols / TILE_COLS);
    segments.push({
      block,
      rowStart,
      rows,
      cols: b.cols,
      groups,
      rowsPerGroup,
      taps: b.taps,
      rowUnit0: b.rowUnit0 + rowStart,
      colUnit0: b.colUnit0 + colGroup0 * b.cols,
      rowTiles,
      colTiles,
      tiles: groups * rowTiles * colTiles,
      rowPartBase: rowPart,
      colPartBase: colPart,
    });
    rowPart += colTiles * rows;
    colPart += rowTiles * groups * b.cols;
  };
  problem.blocks.forEach((b, k) => {
    const rowBytes = b.cols * b.taps * 4;
    const rowsPerGroup = b.rows / b.groups;
    if (rowBytes > maxBytes) {
      throw new Error(`${b.label}: one row of ${rowBytes} bytes exceeds the device's buffer limit of ${maxBytes} bytes`);
    }
    if (b.rows * rowBytes <= maxBytes) {
      push(k, 0, b.rows, b.groups, 0);
    } else if (rowsPerGroup * rowBytes <= maxBytes) {
      const perSegment = Math.floor(maxBytes / (rowsPerGroup * rowBytes));
      for (let g = 0; g < b.groups; g += perSegment) {
        const n = Math.min(perSegment, b.groups - g);
        push(k, g * rowsPerGroup, n * rowsPerGroup, n, g);
      }
    } else {
      const perSegment = Math.floor(maxBytes / rowBytes);
      for (let g = 0; g < b.groups; g++) {
        for (let i = 0; i < rowsPerGroup; i += perSegment) {
          push(k, g * rowsPerGroup + i, Math.min(perSegment, rowsPerGroup - i), 1, g);
        }
      }
    }
  });
  return segments;
}

/** Total row and column partial pairs of a list of segments. */
export function partialCounts(segments: Segment[]): { rowPairs: number; colPairs: number } {
  let rowPairs = 0;
  let colPairs = 0;
  for (const s of segments) {
    rowPairs += s.colTiles * s.rows;
    colPairs += s.rowTiles * s.groups * s.cols;
  }
  return { rowPairs, colPairs };
}

/**
 * Index lists the per-unit and per-variable kernels walk, packed in one `u32` array (so the
 * kernels stay within the default limit of 8 storage buffers), with the offset of each list.
 * Partial lists are (base, stride, count) triples into the row or column partials.
 */
export interface Topology {
  data: Uint32Array;
  rowStartOffset: number;
  rowEntryOffset: number;
  memberStartOffset: number;
  memberOffset: number;
  colStartOffset: number;
  colEntryOffset: number;
  classOffset: number;
  /** Where the group of each variable + 1 starts (the accelerated schedule's coarse groups; 0: none given). */
  groupOffset: number;
}

/** Build the {@link Topology} of a problem's segments (with `varGroup`, the coarse group of each variable, -1 for none). */
export function buildTopology(problem: Problem, segments: Segment[], varGroup?: Int32Array): Topology {
  const { nUnits, nVars, unitVar, varClass } = problem;
  const rowEntries: number[][] = Array.from({ length: nUnits }, () => []);
  const colEntries: number[][] = Array.from({ length: nUnits }, () => []);
  for (const s of segments) {
    for (let i = 0; i < s.rows; i++) rowEntries[s.rowUnit0 + i].push(s.rowPartBase + i, s.rows, s.colTiles);
    const span = s.groups * s.cols;
    for (let c = 0; c < span; c++) colEntries[s.colUnit0 + c].push(s.colPartBase + c, span, s.rowTiles);
  }
  const members: number[][] = Array.from({ length: nVars }, () => []);
  for (let unit = 0; unit < nUnits; unit++) if (unitVar[unit] >= 0) members[unitVar[unit]].push(unit);

  const out: number[] = [];
  const csr = (lists: number[][], width: number): { start: number; entries: number } => {
    const start = out.length;
    let n = 0;
    for (const list of lists) {
      out.push(n);
      n += list.length / width;
    }
    out.push(n);
    const entries = out.length;
    for (const list of lists) for (const x of list) out.push(x);
    return { start, entries };
  };
  const rows = csr(rowEntries, 3);
  const mem = csr(members, 1);
  const cols = csr(
    members.map((list) => list.flatMap((unit) => colEntries[unit])),
    3,
  );
  const classOffset = out.length;
  for (let v = 0; v < nVars; v++) out.push(varClass[v]);
  const groupOffset = out.length;
  if (varGroup) for (let v = 0; v < nVars; v++) out.push(varGroup[v] + 1);
  return {
    data: Uint32Array.from(out),
    rowStartOffset: rows.start,
    rowEntryOffset: rows.entries,
    memberStartOffset: mem.start,
    memberOffset: mem.entries,
    colStartOffset: cols.start,
    colEntryOffset: cols.entries,
    classOffset,
    groupOffset,
  };
}

/** `log` of the bias mass per unit ({@link logBiasMass}, float64) as float32, LOG_ZERO where there is none. */
export function logBiasMass32(problem: Problem, scale: number): Float32Array {
  const out = new Float32Array(problem.nUnits).fill(LOG_ZERO);
  logBiasMass(problem, scale).forEach((x, unit) => {
    if (x > -Infinity) out[unit] = x;
  });
  return out;
}

/** A grid of `n` workgroups folded into two dimensions of at most `maxPerDimension` each. */
export function foldGrid(n: number, maxPerDimension: number): [number, number] {
  if (n <= maxPerDimension) return [n, 1];
  const y = Math.ceil(n / maxPerDimension);
  if (y > maxPerDimension) throw new Error(`a grid of ${n} workgroups exceeds ${maxPerDimension}^2`);
  return [Math.ceil(n / y), y];
}
