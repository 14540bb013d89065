/**
 * The demo's charts: a live uPlot line chart of `||W||_{p,q} / ||W0||_{p,q}` per (p, q) against the
 * sweep, and small SVG bar charts (per-layer norms before/after, the histogram of log factors).
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { el, formatNumber } from './dom.js';

/** One colour per series, readable on white. */
export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2'];

/** A live chart of norm ratios, one line per (p, q). */
export class RatioChart {
  private readonly plot: uPlot;
  private readonly series: number[][] = [];
  private frame = 0;
  private readonly resize: ResizeObserver;

  constructor(private readonly host: HTMLElement, labels: string[]) {
    const width = Math.max(320, host.clientWidth || 640);
    this.plot = new uPlot({
      width,
      height: 320,
      scales: { x: { time: false } },
      axes: [
        { label: 'sweep (updates of all hidden units)' },
        { label: '‖W‖p,q / ‖W0‖p,q', size: 60, values: (_u, ticks) => ticks.map((t) => formatNumber(t, 3)) },
      ],
      series: [
        { label: 'sweep' },
        ...labels.map((label, k) => ({ label: `(p, q) = ${label}`, stroke: PALETTE[k % PALETTE.length], width: 2, spanGaps: false, value: (_u: uPlot, v: number | null) => (v == null ? '–' : formatNumber(v, 6)) })),
      ],
      legend: { live: true },
    }, [[]], host);
    labels.forEach(() => this.series.push([]));
    this.resize = new ResizeObserver(() => this.plot.setSize({ width: Math.max(320, host.clientWidth), height: 320 }));
    this.resize.observe(host);
  }

  /** Append ratios of series `k` (its first value is the ratio 1 before any sweep). */
  push(k: number, ratios: number[]): void {
    this.series[k].push(...ratios);
    if (!this.frame) this.frame = requestAnimationFrame(() => this.redraw());
  }

  /** Replace series `k` by the exact ratios of a finished run. */
  replace(k: number, ratios: number[]): void {
    this.series[k] = [...ratios];
    if (!this.frame) this.frame = requestAnimationFrame(() => this.redraw());
  }

  /** Draw now (also called after the run, so the final state is on screen). */
  redraw(): void {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    const length = Math.max(1, ...this.series.map((s) => s.length));
    const xs = Array.from({ length }, (_, i) => i);
    const ys = this.series.map((s) => Array.from({ length }, (_, i) => (i < s.length ? s[i] : null)));
    this.plot.setData([xs, ...ys] as uPlot.AlignedData);
    this.host.dataset.points = String(this.series.reduce((n, s) => n + s.length, 0));
  }

  /** Remove the chart. */
  destroy(): void {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.resize.disconnect();
    this.plot.destroy();
  }
}

const SVG = 'http://www.w3.org/2000/svg';

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attributes: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
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

/**
 * A grouped bar chart as an SVG with a title (for screen readers) and a legend; `logScale`
 * draws bar heights on a log axis (norms spread over orders of magnitude).
 */
export function barChart(title: string, groups: BarGroup[], seriesLabels: string[], options: { logScale?: boolean; xLabel?: string } = {}): SVGSVGElement {
  const width = 560;
  const height = 220;
  const margin = { left: 56, right: 12, top: 24, bottom: 40 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const all = groups.flatMap((g) => g.values).filter((v) => Number.isFinite(v));
  const positive = all.filter((v) => v > 0);
  const log = options.logScale === true && positive.length > 0;
  const lo = log ? Math.log10(Math.min(...positive)) - 0.2 : 0;
  const hi = log ? Math.log10(Math.max(...positive)) + 0.1 : Math.max(1e-300, ...all);
  const y = (v: number): number => {
    const t = log ? (Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo) : v / hi;
    return margin.top + plotH * (1 - Math.min(1, Math.max(0, t)));
  };
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', class: 'bars' });
  root.append(svg('title', {}, title));
  root.append(svg('line', { x1: margin.left, y1: margin.top + plotH, x2: width - margin.right, y2: margin.top + plotH, stroke: '#555' }));
  root.append(svg('line', { x1: margin.left, y1: margin.top, x2: margin.left, y2: margin.top + plotH, stroke: '#555' }));
  const ticks = log ? [lo, (lo + hi) / 2, hi].map((t) => 10 ** t) : [0, hi / 2, hi];
  for (const t of ticks) {
    root.append(svg('text', { x: margin.left - 4, y: y(t) + 4, 'text-anchor': 'end', class: 'tick' }, formatNumber(t, 3)));
  }
  const slot = plotW / Math.max(1, groups.length);
  const barW = Math.max(1, (slot * 0.8) / Math.max(1, seriesLabels.length));
  groups.forEach((g, i) => {
    g.values.forEach((v, s) => {
      if (!Number.isFinite(v)) return;
      const x = margin.left + i * slot + slot * 0.1 + s * barW;
      const top = y(v);
      const rect = svg('rect', { x, y: top, width: Math.max(0.5, barW - 1), height: Math.max(0, margin.top + plotH - top), fill: PALETTE[s % PALETTE.length] });
      rect.append(svg('title', {}, `${g.label} · ${seriesLabels[s]}: ${formatNumber(v, 6)}`));
      root.append(rect);
    });
    if (g.label !== '' && (groups.length <= 40 || i % Math.ceil(groups.length / 12) === 0)) {
      root.append(svg('text', { x: margin.left + i * slot + slot / 2, y: margin.top + plotH + 14, 'text-anchor': 'middle', class: 'tick' }, g.label));
    }
  });
  if (options.xLabel) root.append(svg('text', { x: margin.left + plotW / 2, y: height - 6, 'text-anchor': 'middle', class: 'axis' }, options.xLabel));
  seriesLabels.forEach((label, s) => {
    const x = margin.left + 8 + s * 120;
    root.append(svg('rect', { x, y: 6, width: 10, height: 10, fill: PALETTE[s % PALETTE.length] }));
    root.append(svg('text', { x: x + 14, y: 15, class: 'legend' }, label));
  });
  return root;
}

/** Counts of `values` in `bins` equal bins between their min and max. */
export function histogram(values: ArrayLike<number>, bins: number): { edges: number[]; counts: number[] } {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) { lo = Math.min(lo, values[i]); hi = Math.max(hi, values[i]); }
  if (!(hi > lo)) { lo = (Number.isFinite(lo) ? lo : 0) - 0.5; hi = lo + 1; }
  const counts = new Array<number>(bins).fill(0);
  const width = (hi - lo) / bins;
  for (let i = 0; i < values.length; i++) counts[Math.min(bins - 1, Math.floor((values[i] - lo) / width))]++;
  return { edges: Array.from({ length: bins + 1 }, (_, k) => lo + k * width), counts };
}

/** A histogram of log factors as an SVG bar chart. */
export function histogramChart(title: string, values: ArrayLike<number>, bins = 30): SVGSVGElement {
  const { edges, counts } = histogram(values, bins);
  const groups = counts.map((c, k) => ({ label: k % 5 === 0 || k === bins - 1 ? formatNumber(edges[k], 2) : '', values: [c] }));
  return barChart(title, groups, ['units'], { xLabel: 'log a (bin start)' });
}

/** A `<figure>` with a caption around a chart. */
export function figure(caption: string, content: Element): HTMLElement {
  return el('figure', {}, content, el('figcaption', { text: caption }));
}
