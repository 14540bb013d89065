/**
 * The figure of `weight-balance fig2` as a standalone SVG (hand-written, no plotting library):
 * like the paper's Fig. 2, one panel per network, the ratio `||W||_{p,q} / ||W0||_{p,q}` against
 * the number of updates (sweeps), one line per (p, q) (colour) and schedule (solid parallel,
 * dashed alternating). Every point of the CSV is drawn. Each panel carries its axis ranges and
 * plot box as `data-*` attributes, so a reader (or a test) can map the points back to ratios.
 */
import { linearTicks, niceStep, tickLabel } from '../plot/ticks.js';

/** One run of the experiment: its network, exponents, schedule and ratio after every sweep. */
export interface Fig2Series {
  net: string;
  p: number;
  q: number;
  schedule: string;
  /** `||W||/||W0||` before the first sweep (1) and after each sweep. */
  ratios: readonly number[];
}

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2'];
const PANEL = { width: 380, height: 300, left: 62, right: 14, top: 34, bottom: 46 };
const LEGEND_ROW = 18;

const xml = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const fixed = (x: number): string => String(Math.round(x * 100) / 100);

/** The y range of a panel: 1-2-5 steps around all its ratios. */
function yRange(series: readonly Fig2Series[]): [number, number] {
  const values = series.flatMap((s) => s.ratios).filter((v) => Number.isFinite(v));
  const lo = Math.min(1, ...values);
  const hi = Math.max(1, ...values);
  const step = niceStep(lo, hi, 5);
  return [Math.floor(lo / step) * step, Math.ceil(hi / step) * step];
}

function panel(net: string, series: readonly Fig2Series[], colourOf: (s: Fig2Series) => string, offsetX: number): string {
  const w = PANEL.width - PANEL.left - PANEL.right;
  const h = PANEL.height - PANEL.top - PANEL.bottom;
  const xMax = Math.max(1, ...series.map((s) => s.ratios.length - 1));
  const [yMin, yMax] = yRange(series);
  const x = (sweep: number): number => PANEL.left + (sweep / xMax) * w;
  const y = (ratio: number): number => PANEL.top + ((yMax - ratio) / (yMax - yMin || 1)) * h;
  const parts: string[] = [];
  parts.push(`<rect x="${PANEL.left}" y="${PANEL.top}" width="${w}" height="${h}" fill="none" stroke="#888"/>`);
  for (const t of linearTicks(0, xMax, 5, true)) {
    parts.push(`<line x1="${fixed(x(t))}" y1="${PANEL.top + h}" x2="${fixed(x(t))}" y2="${PANEL.top + h + 4}" stroke="#555"/>`);
    parts.push(`<text x="${fixed(x(t))}" y="${PANEL.top + h + 16}" text-anchor="middle" class="tick">${tickLabel(t)}</text>`);
  }
  for (const t of linearTicks(yMin, yMax, 5)) {
    parts.push(`<line x1="${PANEL.left}" y1="${fixed(y(t))}" x2="${PANEL.left + w}" y2="${fixed(y(t))}" stroke="#eee"/>`);
    parts.push(`<text x="${PANEL.left - 5}" y="${fixed(y(t) + 4)}" text-anchor="end" class="tick">${tickLabel(t)}</text>`);
  }
  parts.push(`<text x="${PANEL.left + w / 2}" y="${PANEL.height - 10}" text-anchor="middle" class="axis">updates (sweeps of all hidden units)</text>`);
  parts.push(`<text transform="translate(14 ${PANEL.top + h / 2}) rotate(-90)" text-anchor="middle" class="axis">‖W‖p,q / ‖W0‖p,q</text>`);
  parts.push(`<text x="${PANEL.left + w / 2}" y="20" text-anchor="middle" class="title">${xml(net)}</text>`);
  for (const s of series) {
    const points = s.ratios.map((r, k) => `${fixed(x(k))},${fixed(y(r))}`).join(' ');
    const dash = s.schedule === 'alternating' ? ' stroke-dasharray="6 3"' : '';
    parts.push(
      `<polyline data-p="${s.p}" data-q="${s.q}" data-schedule="${xml(s.schedule)}" fill="none" stroke="${colourOf(s)}" stroke-width="1.6"${dash} points="${points}"><title>(p, q) = (${s.p}, ${s.q}), ${xml(s.schedule)}</title></polyline>`,
    );
  }
  const data = `data-net="${xml(net)}" data-x-min="0" data-x-max="${xMax}" data-y-min="${yMin}" data-y-max="${yMax}" data-left="${PANEL.left}" data-top="${PANEL.top}" data-width="${w}" data-height="${h}"`;
  return `<g class="panel" transform="translate(${offsetX} 0)" ${data}>${parts.join('')}</g>`;
}

/** The SVG document of the experiment: one panel per network, in the order the series come. */
export function fig2Svg(series: readonly Fig2Series[]): string {
  const nets = [...new Set(series.map((s) => s.net))];
  const pairs = [...new Set(series.map((s) => `${s.p},${s.q}`))];
  const schedules = [...new Set(series.map((s) => s.schedule))];
  const colourOf = (s: Fig2Series): string => COLOURS[pairs.indexOf(`${s.p},${s.q}`) % COLOURS.length];
  const width = Math.max(1, nets.length) * PANEL.width;
  const legend: string[] = [];
  const entries = [
    ...pairs.map((pair, k) => ({ label: `(p, q) = (${pair.replace(',', ', ')})`, stroke: COLOURS[k % COLOURS.length], dash: '' })),
    ...(schedules.length > 1 ? schedules.map((s) => ({ label: s, stroke: '#333', dash: s === 'alternating' ? ' stroke-dasharray="6 3"' : '' })) : []),
  ];
  const perRow = Math.max(1, Math.floor(width / 150));
  entries.forEach((e, k) => {
    const lx = 16 + (k % perRow) * 150;
    const ly = PANEL.height + 8 + Math.floor(k / perRow) * LEGEND_ROW;
    legend.push(
      `<line x1="${lx}" y1="${ly}" x2="${lx + 24}" y2="${ly}" stroke="${e.stroke}" stroke-width="2"${e.dash}/><text x="${lx + 30}" y="${ly + 4}" class="legend">${xml(e.label)}</text>`,
    );
  });
  const height = PANEL.height + 16 + Math.ceil(entries.length / perRow) * LEGEND_ROW;
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<title>||W||p,q / ||W0||p,q against the number of updates, one panel per network</title>`,
    `<style>.tick{font-size:10px;fill:#333}.axis{font-size:11px;fill:#222}.title{font-size:12px;font-weight:600}.legend{font-size:11px}</style>`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    ...nets.map((net, k) =>
      panel(
        net,
        series.filter((s) => s.net === net),
        colourOf,
        k * PANEL.width,
      ),
    ),
    ...legend,
    `</svg>`,
    '',
  ].join('\n');
}

/** Where the figure of a CSV goes: the same path with `.svg` for `.csv` (or `.svg` appended). */
export function svgPathFor(csvPath: string): string {
  return /\.csv$/i.test(csvPath) ? csvPath.replace(/\.csv$/i, '.svg') : `${csvPath}.svg`;
}
