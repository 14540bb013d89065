import { wgsl } from 'wgsl-preprocessor/wgsl-preprocessor.js';
import type { Kernel } from './bindings.js';
import { bindingLayout, bindingsWgsl, readOnly, storage, uniform } from './bindings.js';
import { gridWgsl, lseWgsl, State } from './common.js';
import { uniformStruct } from './struct.js';

/** Columns of a tile: one invocation per column. */
export const TILE_COLS = 64;
/** Rows of a tile (TILE_ROWS x TILE_COLS floats of workgroup memory stay under 16 KiB). */
export const TILE_ROWS = 48;

/** The per-segment uniform of the tile kernels (the fields of a `Segment` of the engine's layout). */
export const SegmentParams = uniformStruct('SegmentParams', {
  rows: 'u32',
  cols: 'u32',
  rowsPerGroup: 'u32',
  groups: 'u32',
  rowTiles: 'u32',
  colTiles: 'u32',
  tiles: 'u32',
  rowUnit0: 'u32',
  colUnit0: 'u32',
  rowPartBase: 'u32',
  colPartBase: 'u32',
});

/** The bindings of {@link blockTileKernel}, by name (binding k is the k-th). */
export const TileBindings = bindingLayout({
  params: uniform(SegmentParams),
  state: readOnly(State),
  logP: readOnly('array<f32>'),
  logAlpha: readOnly('array<f32>'),
  logY: readOnly('array<f32>'),
  rowPart: storage('array<vec2f>'),
  colPart: storage('array<vec2f>'),
});

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
export function blockTileKernel(name: string, rows: boolean, columns: boolean): Kernel<typeof TileBindings> {
  const code = wgsl`
${lseWgsl}
${State.wgsl}
${gridWgsl}
${SegmentParams.wgsl}
const TR: u32 = ${TILE_ROWS}u;
const TC: u32 = ${TILE_COLS}u;
${bindingsWgsl(TileBindings)}
#if ${rows}
var<workgroup> tileMem: array<f32, ${TILE_ROWS * TILE_COLS}>;
#endif
var<workgroup> done: u32;

@compute @workgroup_size(${TILE_COLS})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let tile = flatWorkgroup(wid, nwg);
  if (tile >= params.tiles) { return; }
  if (lid == 0u) { done = state.converged; }
  if (workgroupUniformLoad(&done) != 0u) { return; }
  let perGroup = params.rowTiles * params.colTiles;
  let g = tile / perGroup;
  let rt = (tile % perGroup) / params.colTiles;
  let ct = tile % params.colTiles;
  let i0 = g * params.rowsPerGroup + rt * TR;
  let n = min(TR, params.rowsPerGroup - rt * TR);
  let j = ct * TC + lid;
  let live = j < params.cols;
  let colUnit = params.colUnit0 + g * params.cols + min(j, params.cols - 1u);
  let colScale = logAlpha[colUnit];
  var acc = vec2f(LOG_ZERO, 0.0);
  for (var k = 0u; k < n; k++) {
    let i = i0 + k;
    var v = LOG_ZERO;
    if (live) { v = logP[i * params.cols + j]; }
#if ${rows}
    tileMem[k * TC + (lid ^ k)] = v - colScale;
#endif
#if ${rows && columns}
    acc = lseAdd(acc, v + logAlpha[params.rowUnit0 + i]);
#elif ${columns}
    acc = lseAdd(acc, v + logY[params.rowUnit0 + i]);
#endif
  }
#if ${columns}
  if (live) { colPart[params.colPartBase + rt * (params.groups * params.cols) + g * params.cols + j] = acc; }
#endif
#if ${rows}
  workgroupBarrier();
  if (lid < n) {
    let m = min(TC, params.cols - ct * TC);
    var racc = vec2f(LOG_ZERO, 0.0);
    for (var c = 0u; c < m; c++) { racc = lseAdd(racc, tileMem[lid * TC + (c ^ lid)]); }
    rowPart[params.rowPartBase + ct * params.rows + i0 + lid] = racc;
  }
#endif
}
`;
  return {
    name,
    code,
    bindings: TileBindings,
  };
}
