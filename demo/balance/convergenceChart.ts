/**
 * The live convergence chart of the Balance tab (uPlot), one line per (p, q), in one of three
 * views: the ratio `||W||/||W0||` (linear axis), the gap to the final ratio (log axis: the tail a
 * linear axis hides), or the largest log-factor step of each sweep (log axis: what `tol` bounds).
 * Sweeps get whole-number ticks, log axes 1-2-5 ticks. The chart keeps every sweep's ratio and
 * step, for the CSV export, and renders itself to a PNG.
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { linearTicks, logTicks, tickLabel } from '../../src/plot/ticks.js';
import { PALETTE } from '../common/charts.js';
import { formatNumber } from '../common/dom.js';

/** What the y axis shows. */
export type ConvergenceView = 'ratio' | 'gap' | 'step';

/** The views, with their labels (for the view selector) and y-axis titles. */
export const VIEWS: { id: ConvergenceView; label: string; axis: string }[] = [
  { id: 'ratio', label: 'ratio ‖W‖/‖W0‖ (linear)', axis: '‖W‖p,q / ‖W0‖p,q' },
  { id: 'gap', label: 'gap to the final ratio (log)', axis: 'ratio − final ratio' },
  { id: 'step', label: 'largest log-factor step (log)', axis: 'max |Δ log a| in the sweep' },
];

/** One sweep's numbers as progress reports them. */
export interface SweepPoint {
  sweep: number;
  ratio: number;
  maxStep: number;
}

/** Every sweep of one (p, q): `ratios[0] = 1` before the first sweep, `steps[0]` is null. */
export interface SeriesData {
  ratios: number[];
  steps: (number | null)[];
}

const HEIGHT = 320;

/** The y values of one series in a view (null where a log axis cannot show them). */
function valuesOf(series: SeriesData, view: ConvergenceView, length: number): (number | null)[] {
  const { ratios, steps } = series;
  const last = ratios[ratios.length - 1];
  return Array.from({ length }, (_, i) => {
    if (view === 'ratio') return i < ratios.length ? ratios[i] : null;
    if (view === 'step') return steps[i] != null && steps[i]! > 0 ? steps[i] : null;
    const gap = i < ratios.length - 1 ? ratios[i] - last : 0;
    return gap > 0 ? gap : null;
  });
}

/** A live chart of the norm ratios of several (p, q) runs. */
export class ConvergenceChart {
  private plot: uPlot | null = null;
  private readonly data: SeriesData[];
  private frame = 0;
  private readonly resize: ResizeObserver;
  private yRange: [number, number] = [0, 1];

  constructor(
    private readonly host: HTMLElement,
    private readonly labels: string[],
    private view: ConvergenceView = 'ratio',
  ) {
    this.data = labels.map(() => ({ ratios: [], steps: [] }));
    this.build();
    this.resize = new ResizeObserver(() => this.plot?.setSize({ width: this.width(), height: HEIGHT }));
    this.resize.observe(host);
  }

  private width(): number {
    return Math.max(320, this.host.clientWidth || 640);
  }

  private build(): void {
    this.plot?.destroy();
    const log = this.view !== 'ratio';
    const axis = VIEWS.find((v) => v.id === this.view)!.axis;
    this.plot = new uPlot(
      {
        width: this.width(),
        height: HEIGHT,
        scales: {
          x: { time: false },
          y: log ? { distr: 3, range: () => this.yRange } : { range: () => this.yRange },
        },
        axes: [
          {
            label: 'sweep (updates of all hidden units)',
            splits: (_u, _i, min, max) => linearTicks(Math.max(0, min), max, 8, true),
            values: (_u, ticks) => ticks.map((t) => (t == null ? '' : tickLabel(t))),
          },
          {
            label: axis,
            size: 64,
            splits: (_u, _i, min, max) => (log ? logTicks(min, max) : linearTicks(min, max, 6)),
            values: (_u, ticks) => ticks.map((t) => (t == null ? '' : tickLabel(t))),
          },
        ],
        series: [
          { label: 'sweep' },
          ...this.labels.map((label, k) => ({
            label: `(p, q) = ${label}`,
            stroke: PALETTE[k % PALETTE.length],
            width: 2,
            spanGaps: false,
            value: (_u: uPlot, v: number | null) => (v == null ? '–' : formatNumber(v, 6)),
          })),
        ],
        legend: { live: true },
      },
      [[]],
      this.host,
    );
    this.host.dataset.view = this.view;
    this.redraw();
  }

  /** Show another view of the same runs. */
  setView(view: ConvergenceView): void {
    if (view === this.view) return;
    this.view = view;
    this.build();
  }

  /** Append progress of series `k` (the ratio 1 before the first sweep is added here). */
  push(k: number, points: SweepPoint[]): void {
    const s = this.data[k];
    for (const p of points) {
      if (s.ratios.length === 0) {
        s.ratios.push(1);
        s.steps.push(null);
      }
      s.ratios[p.sweep] = p.ratio;
      s.steps[p.sweep] = p.maxStep;
    }
    this.schedule();
  }

  /** Replace the ratios of series `k` by the exact ones of a finished run (steps are kept). */
  replace(k: number, ratios: number[]): void {
    this.data[k].ratios = [...ratios];
    this.data[k].steps.length = ratios.length;
    this.schedule();
  }

  private schedule(): void {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.redraw());
  }

  /** Draw now (also called after the run, so the final state is on screen). */
  redraw(): void {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    const length = Math.max(1, ...this.data.map((s) => s.ratios.length));
    const xs = Array.from({ length }, (_, i) => i);
    const ys = this.data.map((s) => valuesOf(s, this.view, length));
    const finite = ys.flat().filter((v): v is number => v != null && Number.isFinite(v));
    if (this.view === 'ratio') {
      const lo = Math.min(1, ...finite);
      const pad = Math.max(1e-6, (1 - lo) * 0.04);
      this.yRange = [lo - pad, 1 + pad];
    } else {
      const positive = finite.filter((v) => v > 0);
      const lo = positive.length ? Math.min(...positive) : 1e-8;
      const hi = positive.length ? Math.max(...positive) : 1;
      this.yRange = [10 ** Math.floor(Math.log10(lo)), 10 ** Math.ceil(Math.log10(hi) + 1e-9)];
    }
    this.plot?.setData([xs, ...ys] as uPlot.AlignedData);
    this.host.dataset.points = String(this.data.reduce((n, s) => n + s.ratios.length, 0));
  }

  /** Every sweep's ratio and largest step, per series. */
  series(): readonly SeriesData[] {
    return this.data;
  }

  /** The chart as a PNG: white background, the canvas uPlot drew, and a legend under it. */
  async png(): Promise<Blob> {
    this.redraw();
    const source = this.plot!.ctx.canvas;
    const scale = source.width / this.plot!.width;
    const row = 20 * scale;
    const canvas = document.createElement('canvas');
    canvas.width = source.width;
    canvas.height = source.height + row * (this.labels.length + 0.5);
    const ctx = canvas.getContext('2d')!;
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(source, 0, 0);
    ctx.font = `${12 * scale}px sans-serif`;
    this.labels.forEach((label, k) => {
      const y = source.height + row * (k + 0.75);
      ctx.fillStyle = PALETTE[k % PALETTE.length];
      ctx.fillRect(70 * scale, y - 2 * scale, 24 * scale, 3 * scale);
      ctx.fillStyle = '#222';
      ctx.fillText(`(p, q) = ${label}`, 100 * scale, y + 4 * scale);
    });
    return new Promise((resolve, reject) =>
      canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error('the chart could not be encoded as PNG'))), 'image/png'),
    );
  }

  /** Remove the chart. */
  destroy(): void {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.resize.disconnect();
    this.plot?.destroy();
    this.plot = null;
  }
}
