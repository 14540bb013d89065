/**
 * A compact picture of a network (SVG): one box per layer, its height growing with the log of
 * its units; an arrow per weight block (dense or conv, labelled), dashed arcs for residual skips
 * (whose units share a factor), dotted arcs from each source of a concatenation (its units are
 * the source's units, one factor each); a grey band for fixed units and a red one for frozen units; and,
 * after a run, each layer's norm of incoming weights before → after, so one sees where the
 * weight moved. Every layer's numbers are also on its `<g>` as `data-*` attributes.
 */
import type { Block, Network } from '../../src/index.js';
import { svg } from '../common/charts.js';
import { formatNumber } from '../common/dom.js';
import { fixedUnitsByLayer, layerKind } from '../common/networks.js';

/** What a run adds to the picture: per-layer norms (index 0 = layer 1) and frozen units per layer. */
export interface DiagramRun {
  p: number;
  q: number;
  before: number[];
  after: number[];
  /** Frozen units by layer index. */
  frozen: Map<number, number>;
}

const COLUMN = 120;
const BOX_W = 50;
const MAX_BOX_H = 110;

function blockLabel(b: Block): string {
  if (b.kind === 'dense') return 'dense';
  const [, , kh, kw] = b.shape;
  return `conv${kh}×${kw}${b.groups > 1 ? ` g${b.groups}` : ''}${b.stride[0] > 1 ? ` /${b.stride[0]}` : ''}`;
}

/** The diagram of `net`; with `run`, each layer's norm before → after balancing. */
export function networkDiagram(net: Network, run: DiagramRun | null = null): SVGSVGElement {
  const n = net.layers.length;
  // Room above the boxes only when some block skips layers (drawn as an arc over them).
  const MID = net.blocks.some((b) => b.to > b.from + 1) ? 100 : 72;
  const width = Math.max(640, n * COLUMN + 20);
  const hasSkips = net.layers.some((l) => (l.skips ?? []).length > 0 || (l.concat ?? []).length > 0);
  // Notes under the boxes start here (lower when skip arcs and their labels run under the boxes).
  const notesY = MID + MAX_BOX_H / 2 + (hasSkips ? 46 : 30);
  const height = notesY - 30 - MID + (run ? 185 : 150);
  const maxUnits = Math.max(...net.layers.map((l) => l.shape[0]));
  const boxH = (units: number): number => 14 + (MAX_BOX_H - 14) * (Math.log10(units + 1) / Math.log10(maxUnits + 1));
  const cx = (i: number): number => 10 + COLUMN / 2 + (i * (width - 20 - COLUMN)) / Math.max(1, n - 1);
  const fixed = fixedUnitsByLayer(net);
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', class: 'diagram', 'aria-label': 'Network diagram' });
  const concatEdges = net.layers.reduce((count, l) => count + (l.concat?.length ?? 0), 0);
  const concatText = concatEdges > 0 ? `, ${concatEdges} concat edges` : '';
  root.append(svg('title', {}, `Network diagram: ${n} layers, ${net.blocks.length} weight blocks${concatText}`));
  const marker = svg('marker', { id: 'arrow', viewBox: '0 0 8 8', refX: 8, refY: 4, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
  marker.append(svg('path', { d: 'M0,0 L8,4 L0,8 z', fill: '#555' }));
  const defs = svg('defs', {});
  defs.append(marker);
  root.append(defs);

  for (const b of net.blocks) {
    const x1 = cx(b.from) + BOX_W / 2;
    const x2 = cx(b.to) - BOX_W / 2;
    const group = svg('g', { class: 'block', 'data-from': b.from, 'data-to': b.to, 'data-kind': b.kind });
    if (b.to === b.from + 1) {
      group.append(svg('line', { x1, y1: MID, x2: x2 - 1, y2: MID, stroke: '#555', 'stroke-width': 1.4, 'marker-end': 'url(#arrow)' }));
      group.append(svg('text', { x: (x1 + x2) / 2, y: MID - 5, 'text-anchor': 'middle', class: 'block-label' }, blockLabel(b)));
    } else {
      const top = MID - MAX_BOX_H / 2 - 14;
      group.append(
        svg('path', {
          d: `M${x1 - BOX_W / 2},${MID - 12} C${x1},${top} ${x2},${top} ${x2 + BOX_W / 2},${MID - 12}`,
          fill: 'none',
          stroke: '#555',
          'marker-end': 'url(#arrow)',
        }),
      );
      group.append(svg('text', { x: (x1 + x2) / 2, y: top + 8, 'text-anchor': 'middle', class: 'small' }, blockLabel(b)));
    }
    group.append(svg('title', {}, `${b.name}: ${b.kind} block, layer ${b.from} → ${b.to}, shape ${b.shape.join('×')}`));
    root.append(group);
  }
  /**
   * An arc under the boxes from layer `from` to layer `to` (a skip or a concat edge: units tied, no
   * weights), labelled halfway, or under the source (`atSource`: a concat layer's sources all end
   * at one point, their labels would overlap halfway).
   */
  const tieArc = (
    from: number,
    to: number,
    attributes: Record<string, string | number>,
    style: Record<string, string | number>,
    label: string,
    atSource = false,
  ): void => {
    const bottom = MID + MAX_BOX_H / 2 + 16;
    const group = svg('g', { ...attributes, 'data-from': from, 'data-to': to });
    const y0 = MID + boxH(net.layers[from].shape[0]) / 2;
    const y1 = MID + boxH(net.layers[to].shape[0]) / 2;
    group.append(
      svg('path', {
        d: `M${cx(from)},${y0} C${cx(from)},${bottom + 8} ${cx(to)},${bottom + 8} ${cx(to)},${y1 + 1}`,
        fill: 'none',
        'stroke-width': 1.5,
        'marker-end': 'url(#arrow)',
        ...style,
      }),
    );
    const x = atSource ? cx(from) : (cx(from) + cx(to)) / 2;
    group.append(svg('text', { x, y: bottom + 20, 'text-anchor': 'middle', class: `small ${attributes.class}-label` }, label));
    root.append(group);
  };
  net.layers.forEach((layer, to) => {
    for (const from of layer.skips ?? []) tieArc(from, to, { class: 'skip' }, { stroke: '#9467bd', 'stroke-dasharray': '5 3' }, 'skip: units tied');
    let offset = 0;
    for (const from of layer.concat ?? []) {
      const units = net.layers[from].shape[0];
      const range = `units ${offset}–${offset + units - 1}`;
      tieArc(
        from,
        to,
        { class: 'concat', 'data-offset': offset, 'data-units': units },
        { stroke: '#2ca02c', 'stroke-dasharray': '2 2' },
        `concat: ${range}`,
        true,
      );
      const arc = root.lastElementChild!;
      arc.append(svg('title', {}, `concat: layer ${from}'s ${units} units are ${range} of layer ${to} (same units, one factor each)`));
      offset += units;
    }
  });

  net.layers.forEach((layer, i) => {
    const units = layer.shape[0];
    const h = boxH(units);
    const x = cx(i) - BOX_W / 2;
    const y = MID - h / 2;
    const fixedCount = fixed[i];
    const frozenCount = run?.frozen.get(i) ?? 0;
    const kind = layerKind(net, i);
    const attributes: Record<string, string | number> = {
      class: 'layer',
      'data-layer': i,
      'data-units': units,
      'data-fixed': fixedCount,
      'data-frozen': frozenCount,
      'data-height': h.toFixed(2),
    };
    if (run && i > 0) Object.assign(attributes, { 'data-before': run.before[i - 1], 'data-after': run.after[i - 1] });
    const group = svg('g', attributes);
    group.append(
      svg('rect', { x, y, width: BOX_W, height: h, rx: 3, fill: kind === 'input' ? '#eee' : kind === 'output' ? '#fde7c8' : '#dcebf8', stroke: '#557' }),
    );
    const band = (count: number, colour: string, offset: number): number => {
      if (count <= 0) return 0;
      const bh = Math.max(3, (h * count) / units);
      group.append(svg('rect', { x, y: y + h - offset - bh, width: BOX_W, height: bh, fill: colour, opacity: 0.85 }));
      return bh;
    };
    const fixedH = kind === 'input' ? 0 : band(fixedCount, '#999', 0);
    band(frozenCount, '#d62728', fixedH);
    const shape = layer.shape.join('×');
    // The same labels as the tables and charts: input, 1, 2, …, output (a file's own layer name after the number).
    const ownName = layer.name && !/^(hidden|layer|output|input)\d*$/.test(layer.name) ? ` ${layer.name.slice(0, 10)}` : '';
    group.append(svg('text', { x: cx(i), y: y - 5, 'text-anchor': 'middle', class: 'name' }, `${kind === 'hidden' ? `${i}${ownName}` : kind}`));
    group.append(svg('text', { x: cx(i), y: MID + 4, 'text-anchor': 'middle', class: 'units' }, shape));
    const notes = kind === 'input' ? [] : [`${layer.activation}${layer.pool ? ` + ${layer.pool.kind}pool` : ''}`];
    if (fixedCount > 0 && kind !== 'input') notes.push(fixedCount === units ? 'all fixed' : `${fixedCount} fixed`);
    if (frozenCount > 0) notes.push(`${frozenCount} frozen`);
    notes.forEach((note, k) => {
      group.append(svg('text', { x: cx(i), y: notesY + 12 * k, 'text-anchor': 'middle', class: `small${note.includes('frozen') ? ' frozen' : ''}` }, note));
    });
    if (run && i > 0) {
      const yn = notesY + 12 * notes.length + 6;
      group.append(svg('text', { x: cx(i), y: yn, 'text-anchor': 'middle', class: 'norm' }, formatNumber(run.before[i - 1], 3)));
      group.append(svg('text', { x: cx(i), y: yn + 13, 'text-anchor': 'middle', class: 'norm after' }, `→ ${formatNumber(run.after[i - 1], 3)}`));
    }
    group.append(
      svg('title', {}, `layer ${i}${layer.name ? ` (${layer.name})` : ''}: ${shape}, ${layer.activation}; ${fixedCount} fixed, ${frozenCount} frozen units`),
    );
    root.append(group);
  });
  if (run)
    root.append(
      svg('text', { x: 10, y: height - 4, class: 'small' }, `Under each layer: ‖W_k‖${run.p},${run.q} of its incoming weights, before → after balancing.`),
    );
  return root;
}
