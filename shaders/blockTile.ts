import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import { gridWgsl, lseWgsl, stateWgsl } from './common.js';
import type { Kernel } from './common.js';

/** Columns of a tile: one invocation per column. */
export const TILE_COLS = 64;
/** Rows of a tile (TILE_ROWS x TILE_COLS floats of workgroup memory stay under 16 KiB). */
export const TILE_ROWS = 48;

/** Byte size of the per-segment uniform read by the tile kernels. */
export const SEGMENT_BYTES = 48;

/**
 * The shared body of the three passes over `log P` (row sums, column sums, both fused). A
 * workgroup reads one tile of TILE_ROWS x TILE_COLS entries of one group of one block segment,
 * coalesced along the columns, once. Column partials are log-sum-exp pairs over the tile's rows
 * of `log P[i,j] + log y[i]`; row partials are pairs over the tile's columns of
 * `log P[i,j] - log alpha[j]`, reduced from a swizzled workgroup tile (no bank conflicts).
 * The fused pass (only for `r = 1`, where `y = alpha`) reads `log alpha` of the rows directly,
 * so it is current right after an update. The partials are finished per unit by the
 * row-finish and update kernels.
 */
export function blockTileKernel(name: string, rows: boolean, columns: boolean): Kernel {
  const code = wgsl`
${lseWgsl}
${stateWgsl}
${gridWgsl}
struct Segment {
  rows: u32,
  cols: u32,
  rowsPerGroup: u32,
  groups: u32,
  rowTiles: u32,
  colTiles: u32,
  tiles: u32,
  rowUnit0: u32,
  colUnit0: u32,
  rowPartBase: u32,
  colPartBase: u32,
  pad: u32,
}
const TR: u32 = ${TILE_ROWS}u;
const TC: u32 = ${TILE_COLS}u;
@group(0) @binding(0) var<uniform> seg: Segment;
@group(0) @binding(1) var<storage, read> state: State;
@group(0) @binding(2) var<storage, read> logP: array<f32>;
@group(0) @binding(3) var<storage, read> logAlpha: array<f32>;
@group(0) @binding(4) var<storage, read> logY: array<f32>;
@group(0) @binding(5) var<storage, read_write> rowPart: array<vec2f>;
@group(0) @binding(6) var<storage, read_write> colPart: array<vec2f>;
#if ${rows}
var<workgroup> tileMem: array<f32, ${TILE_ROWS * TILE_COLS}>;
#endif
var<workgroup> done: u32;

@compute @workgroup_size(${TILE_COLS})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let tile = flatWorkgroup(wid, nwg);
  if (tile >= seg.tiles) { return; }
  if (lid == 0u) { done = state.converged; }
  if (workgroupUniformLoad(&done) != 0u) { return; }
  let perGroup = seg.rowTiles * seg.colTiles;
  let g = tile / perGroup;
  let rt = (tile % perGroup) / seg.colTiles;
  let ct = tile % seg.colTiles;
  let i0 = g * seg.rowsPerGroup + rt * TR;
  let n = min(TR, seg.rowsPerGroup - rt * TR);
  let j = ct * TC + lid;
  let live = j < seg.cols;
  let colUnit = seg.colUnit0 + g * seg.cols + min(j, seg.cols - 1u);
  let colScale = logAlpha[colUnit];
  var acc = vec2f(LOG_ZERO, 0.0);
  for (var k = 0u; k < n; k++) {
    let i = i0 + k;
    var v = LOG_ZERO;
    if (live) { v = logP[i * seg.cols + j]; }
#if ${rows}
    tileMem[k * TC + (lid ^ k)] = v - colScale;
#endif
#if ${rows && columns}
    acc = lseAdd(acc, v + logAlpha[seg.rowUnit0 + i]);
#elif ${columns}
    acc = lseAdd(acc, v + logY[seg.rowUnit0 + i]);
#endif
  }
#if ${columns}
  if (live) { colPart[seg.colPartBase + rt * (seg.groups * seg.cols) + g * seg.cols + j] = acc; }
#endif
#if ${rows}
  workgroupBarrier();
  if (lid < n) {
    let m = min(TC, seg.cols - ct * TC);
    var racc = vec2f(LOG_ZERO, 0.0);
    for (var c = 0u; c < m; c++) { racc = lseAdd(racc, tileMem[lid * TC + (c ^ lid)]); }
    rowPart[seg.rowPartBase + ct * seg.rows + i0 + lid] = racc;
  }
#endif
}
`;
  return {
    name,
    code,
    bindings: ['uniform', 'read-only-storage', 'read-only-storage', 'read-only-storage', 'read-only-storage', 'storage', 'storage'],
  };
}
