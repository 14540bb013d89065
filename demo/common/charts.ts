/**
 * The demo's small SVG charts: grouped or stacked bars (per-layer norms before/after, the
 * histogram of log factors coloured by layer), with 1-2-5 ticks on log axes, whole-number ticks
 * for counts, and numeric x ticks for a histogram. The live line charts use uPlot
 * (demo/balance/convergenceChart.ts, demo/flow/flowTab.ts).
 */
import { linearTicks, logTicks, tickLabel } from '../../src/plot/ticks.js';
import { el, formatNumber } from './dom.js';

/** One colour per series, readable on white. */
export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2'];

const SVG = 'http://www.w3.org/2000/svg';

/** Create an SVG element with attributes and optional text. */
export function svg<K extends keyof SVGElementTagNameMap>(tag: K, attributes: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A group of bars per category. */
export interface BarGroup {
  label: string;
  values: number[];
}

/** Options of {@link barChart}. */
export interface BarOptions {
  /** Bar heights on a log axis (norms spread over orders of magnitude). */
  logScale?: boolean;
  /** Stack a group's values instead of placing them side by side (a histogram by layer). */
  stacked?: boolean;
  /** The values are counts: whole-number ticks. */
  integer?: boolean;
  xLabel?: string;
  yLabel?: string;
  /** The groups are equal bins of `[lo, hi]`: numeric x ticks instead of group labels. */
  xRange?: [number, number];
  /** Colour of each series (default: the palette). */
  colours?: string[];
}

const WIDTH = 560;
const HEIGHT = 230;
const MARGIN = { left: 58, right: 12, top: 26, bottom: 42 };

/** The y axis: a map from value to pixel and its ticks. */
function yAxis(values: number[], options: BarOptions): { y: (v: number) => number; ticks: number[] } {
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const positive = values.filter((v) => v > 0 && Number.isFinite(v));
  const toPixel = (t: number): number => MARGIN.top + plotH * (1 - Math.min(1, Math.max(0, t)));
  if (options.logScale && positive.length > 0) {
    const lo = 10 ** Math.floor(Math.log10(Math.min(...positive)) - 1e-9);
    const hi = 10 ** Math.ceil(Math.log10(Math.max(...positive)) + 1e-9);
    const [a, b] = [Math.log10(lo), Math.log10(hi)];
    return { y: (v) => toPixel((Math.log10(Math.max(v, lo)) - a) / (b - a || 1)), ticks: logTicks(lo, hi, 2) };
  }
  const ticks = linearTicks(0, Math.max(options.integer ? 1 : 1e-300, ...values.filter(Number.isFinite)), 4, options.integer === true);
  const top = Math.max(ticks[ticks.length - 1], ...values.filter(Number.isFinite));
  return { y: (v) => toPixel(v / (top || 1)), ticks };
}

/** A grouped (or stacked) bar chart as an SVG with a title (for screen readers) and a legend. */
export function barChart(title: string, groups: BarGroup[], seriesLabels: string[], options: BarOptions = {}): SVGSVGElement {
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const base = HEIGHT - MARGIN.bottom;
  const totals = groups.map((g) => (options.stacked ? g.values.reduce((a, b) => a + b, 0) : Math.max(0, ...g.values.filter(Number.isFinite))));
  const { y, ticks } = yAxis(options.stacked ? totals : groups.flatMap((g) => g.values), options);
  const colour = (s: number): string => options.colours?.[s] ?? PALETTE[s % PALETTE.length];
  const root = svg('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', class: 'bars' });
  root.append(svg('title', {}, title));
  for (const t of ticks) {
    root.append(svg('line', { x1: MARGIN.left, y1: y(t), x2: WIDTH - MARGIN.right, y2: y(t), stroke: '#eee' }));
    root.append(svg('text', { x: MARGIN.left - 4, y: y(t) + 4, 'text-anchor': 'end', class: 'tick' }, tickLabel(t)));
  }
  root.append(svg('line', { x1: MARGIN.left, y1: base, x2: WIDTH - MARGIN.right, y2: base, stroke: '#555' }));
  root.append(svg('line', { x1: MARGIN.left, y1: MARGIN.top, x2: MARGIN.left, y2: base, stroke: '#555' }));
  const slot = plotW / Math.max(1, groups.length);
  const inner = options.stacked ? slot * 0.92 : slot * 0.8;
  const barW = Math.max(1, options.stacked ? inner : inner / Math.max(1, seriesLabels.length));
  groups.forEach((g, i) => {
    let stackTop = base;
    g.values.forEach((v, s) => {
      if (!Number.isFinite(v) || (options.stacked && v === 0)) return;
      const x = MARGIN.left + i * slot + (slot - inner) / 2 + (options.stacked ? 0 : s * barW);
      const top = options.stacked ? stackTop - (base - y(v)) : y(v);
      const bottom = options.stacked ? stackTop : base;
      const rect = svg('rect', {
        x,
        y: top,
        width: Math.max(0.5, barW - (options.stacked ? 0.5 : 1)),
        height: Math.max(0, bottom - top),
        fill: colour(s),
        'data-series': s,
      });
      rect.append(svg('title', {}, `${g.label} · ${seriesLabels[s]}: ${formatNumber(v, 6)}`));
      root.append(rect);
      stackTop = top;
    });
    if (!options.xRange && (groups.length <= 40 || i % Math.ceil(groups.length / 12) === 0)) {
      root.append(svg('text', { x: MARGIN.left + i * slot + slot / 2, y: base + 14, 'text-anchor': 'middle', class: 'tick' }, g.label));
    }
  });
  if (options.xRange) {
    const [lo, hi] = options.xRange;
    for (const t of linearTicks(lo, hi, 6)) {
      const x = MARGIN.left + ((t - lo) / (hi - lo || 1)) * plotW;
      root.append(svg('line', { x1: x, y1: base, x2: x, y2: base + 4, stroke: '#555' }));
      root.append(svg('text', { x, y: base + 15, 'text-anchor': 'middle', class: 'tick' }, tickLabel(t)));
    }
  }
  if (options.xLabel) root.append(svg('text', { x: MARGIN.left + plotW / 2, y: HEIGHT - 6, 'text-anchor': 'middle', class: 'axis' }, options.xLabel));
  if (options.yLabel)
    root.append(
      svg('text', { transform: `translate(12 ${MARGIN.top + (base - MARGIN.top) / 2}) rotate(-90)`, 'text-anchor': 'middle', class: 'axis' }, options.yLabel),
    );
  let lx = MARGIN.left + 8;
  seriesLabels.forEach((label, s) => {
    root.append(svg('rect', { x: lx, y: 7, width: 10, height: 10, fill: colour(s) }));
    root.append(svg('text', { x: lx + 14, y: 16, class: 'legend' }, label));
    lx += 24 + label.length * 6.5;
  });
  return root;
}

/** Counts of `values` in `bins` equal bins between their min and max. */
export function histogram(values: ArrayLike<number>, bins: number): { edges: number[]; counts: number[] } {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    lo = Math.min(lo, values[i]);
    hi = Math.max(hi, values[i]);
  }
  if (!(hi > lo)) {
    lo = (Number.isFinite(lo) ? lo : 0) - 0.5;
    hi = lo + 1;
  }
  const counts = new Array<number>(bins).fill(0);
  const width = (hi - lo) / bins;
  for (let i = 0; i < values.length; i++) counts[Math.min(bins - 1, Math.floor((values[i] - lo) / width))]++;
  return { edges: Array.from({ length: bins + 1 }, (_, k) => lo + k * width), counts };
}

/** A histogram of values in several groups (e.g. log factors per layer), stacked and coloured by group. */
export function stackedHistogram(title: string, groups: { label: string; values: ArrayLike<number> }[], bins = 30, xLabel = 'log a'): SVGSVGElement {
  const all = groups.flatMap((g) => Array.from(g.values));
  const { edges } = histogram(all, bins);
  const lo = edges[0];
  const hi = edges[bins];
  const counts = groups.map((g) => histogram([...Array.from(g.values), lo, hi], bins).counts);
  // The two range anchors added above land in the first and last bins: take them out again.
  for (const c of counts) {
    c[0]--;
    c[bins - 1]--;
  }
  const barGroups = edges
    .slice(0, bins)
    .map((edge, k) => ({ label: `${formatNumber(edge, 3)} to ${formatNumber(edges[k + 1], 3)}`, values: counts.map((c) => c[k]) }));
  return barChart(
    title,
    barGroups,
    groups.map((g) => g.label),
    { stacked: true, integer: true, xRange: [lo, hi], xLabel, yLabel: 'units' },
  );
}

/** A `<figure>` with a caption around a chart. */
export function figure(caption: string, content: Element): HTMLElement {
  return el('figure', {}, content, el('figcaption', { text: caption }));
}
