/**
 * How the passes over one block's `P` are cut by rows into chunks for the threads. A block's rows form
 * `groups` groups of `rows / groups` rows, each reading its own `cols` columns; a range of rows
 * is run as at most three calls of the unchanged kernels on a sub-block: a partial first group,
 * a run of whole groups, a partial last group (each call a block of its own with shifted
 * pointers, so the kernels need no row-range parameter).
 */

/** A sub-block: `rows` rows from row `start` of the block, in `groups` groups, the first being group `group`. */
export interface RowPiece {
  start: number;
  rows: number;
  groups: number;
  group: number;
}

/** Rows `[from, to)` of a block of `rows` rows in `groups` groups as sub-blocks (none when empty). */
export function rowPieces(rows: number, groups: number, from: number, to: number): RowPiece[] {
  const per = rows / groups;
  const pieces: RowPiece[] = [];
  let at = from;
  while (at < to) {
    const group = Math.floor(at / per);
    if (at === group * per && to >= (group + 1) * per) {
      const whole = Math.floor(to / per) - group;
      pieces.push({ start: at, rows: whole * per, groups: whole, group });
      at += whole * per;
    } else {
      const end = Math.min(to, (group + 1) * per);
      pieces.push({ start: at, rows: end - at, groups: 1, group });
      at = end;
    }
  }
  return pieces;
}

/**
 * Split `rows` rows into at most `parts` contiguous ranges of near-equal size, each a multiple
 * of 4 rows but the last (the kernels walk four rows at a time), none smaller than `minRows`
 * (fewer ranges then); returns the `parts + 1` boundaries or fewer.
 */
export function rowRanges(rows: number, parts: number, minRows: number): number[] {
  const count = Math.max(1, Math.min(parts, Math.floor(rows / Math.max(1, minRows))));
  const bounds = [0];
  for (let t = 1; t < count; t++) bounds.push(Math.min(rows, Math.round((rows * t) / count / 4) * 4));
  bounds.push(rows);
  return bounds.filter((b, k) => k === 0 || b > bounds[k - 1]);
}
