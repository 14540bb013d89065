/**
 * The "Flows" tab: one ReLU MLP trained side by side by gradient descent on
 * `L = E + lambda ||W||_{p,q}^q` and by the weight-balancing flow `dW/dt = -M(W) grad L`
 * (MATH.md §5), optionally with a third run of gradient descent that re-applies the fix every k
 * steps. The training loss and the balance residual `max_h |g[h]|` are plotted live, with the
 * exact flow's `exp(-p q lambda t)` as a reference line; the table also says how far each run's
 * residuals are, unit by unit, from that exact decay. Training runs on the page's thread in short
 * slices (float64, CPU).
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import digitsUrl from '../../data/digits.csv.gz?url';
import type { Dataset, Network, Optimizer } from '../../src/index.js';
import { balanceResidual, MlpTrainer, mlp, parseDigitsCsv, splitDataset, twoSpirals } from '../../src/index.js';
import { linearTicks, tickLabel } from '../../src/plot/ticks.js';
import { PALETTE } from '../common/charts.js';
import { el, errorMessage, field, formatNumber } from '../common/dom.js';
import type { DemoTab } from '../common/tab.js';
import { DATA_DEFAULTS, flowFields, readFlowSettings } from './flowSettings.js';

/** One trained copy of the network. */
interface Run {
  label: string;
  trainer: MlpTrainer;
  loss: number[];
  /** `max_h |g[h]|` relative to its value at step 0. */
  residual: number[];
  /** `max_h |g[h] - exp(-p q lambda t) g[h](0)|` relative to `max_h |g[h](0)|`. */
  offExact: number[];
  /** `max_h |g[h]|` at step 0. */
  residual0: number;
  /** `g[h]` at step 0, per layer. */
  g0: Float64Array[];
}

/** The residuals `g[h]` of a trainer's network (NaN for units that are not rescalable). */
function residuals(trainer: MlpTrainer): Float64Array[] {
  const { p, q } = trainer.options;
  return balanceResidual(trainer.network(), { p, q }).g.map((layer) => Float64Array.from(layer));
}

/** `max_h |g[h]|`, and `max_h |g[h] - decay g0[h]|`. */
function residualStats(g: Float64Array[], g0: Float64Array[], decay: number): { max: number; off: number } {
  let max = 0;
  let off = 0;
  g.forEach((layer, k) => {
    layer.forEach((x, h) => {
      if (!Number.isFinite(x)) return;
      max = Math.max(max, Math.abs(x));
      off = Math.max(off, Math.abs(x - decay * g0[k][h]));
    });
  });
  return { max, off };
}

/** What a finished (or stopped) comparison leaves for tests and the curious: `window.weightBalanceFlows`. */
export interface FlowsSnapshot {
  steps: number[];
  runs: { label: string; loss: number[]; residual: number[]; offExact: number[]; trainAccuracy: number; testAccuracy: number }[];
  /** `exp(-p q lambda t)` at each logged step. */
  exact: number[];
  done: boolean;
}

/** Fetch and parse the shipped digits (gzip bytes, or plain text when a server already decoded them). */
async function fetchDigits(): Promise<Dataset> {
  const response = await fetch(digitsUrl);
  if (!response.ok) throw new Error(`cannot fetch the digits: HTTP ${response.status}`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  let text: string;
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
    text = await new Response(stream).text();
  } else {
    text = new TextDecoder().decode(bytes);
  }
  return parseDigitsCsv(text);
}

let digitsCache: Promise<Dataset> | null = null;

/** A live line chart: one x axis (step, whole-number ticks), one line per run. */
class LiveChart {
  readonly plot: uPlot;
  /** `reference`: draw the last series as a dashed black reference curve, on top of the others. */
  constructor(host: HTMLElement, yLabel: string, labels: string[], reference = false) {
    const isReference = (k: number): boolean => reference && k === labels.length - 1;
    this.plot = new uPlot(
      {
        width: Math.max(300, host.clientWidth || 480),
        height: 250,
        scales: { x: { time: false } },
        axes: [
          {
            label: 'step',
            splits: (_u, _i, min, max) => linearTicks(Math.max(0, min), max, 6, true),
            values: (_u, ticks) => ticks.map((t) => (t == null ? '' : tickLabel(t))),
          },
          {
            label: yLabel,
            size: 64,
            splits: (_u, _i, min, max) => linearTicks(min, max, 5),
            values: (_u, ticks) => ticks.map((t) => (t == null ? '' : tickLabel(t))),
          },
        ],
        series: [
          { label: 'step' },
          ...labels.map((label, k) => ({
            label,
            stroke: isReference(k) ? '#111' : PALETTE[k % PALETTE.length],
            dash: isReference(k) ? [7, 5] : undefined,
            width: isReference(k) ? 2.5 : 2,
            value: (_u: uPlot, v: number | null) => (v == null ? '–' : formatNumber(v, 4)),
          })),
        ],
        legend: { live: true },
      },
      [[]],
      host,
    );
    new ResizeObserver(() => this.plot.setSize({ width: Math.max(300, host.clientWidth), height: 250 })).observe(host);
  }
}

const LOSS_CAPTION = 'Training loss E (cross-entropy on a fixed subset of 256 training examples).';
const FIX_CAPTION =
  ' GD + fix: the fix itself leaves the function, so the loss, unchanged; but it moves weight between layers, and the next steps of the same size then change the rescaled (now smaller) weights relatively more, so the loss can jump for a few steps after each fix before training settles again.';

function mount(panel: HTMLElement): void {
  const dataSelect = el(
    'select',
    {},
    el('option', { value: 'digits', text: '8x8 digits (1797 images, 10 classes)' }),
    el('option', { value: 'spirals', text: 'Two spirals (400 points, 2 classes)' }),
  );
  const data = field('flow-data', 'Data', dataSelect);
  const f = flowFields();
  const start = el('button', { type: 'button', class: 'primary', text: 'Train' });
  const stop = el('button', { type: 'button', text: 'Stop', disabled: true });
  const status = el('p', { role: 'status', id: 'flow-status', text: 'Ready.' });
  const lossHost = el('div', { id: 'flow-loss-chart' });
  const lossCaption = el('figcaption', { text: LOSS_CAPTION });
  const residualHost = el('div', { id: 'flow-residual-chart' });
  const table = el('table', { id: 'flow-results', class: 'fit' });

  dataSelect.addEventListener('change', () => {
    const d = DATA_DEFAULTS[dataSelect.value];
    f.arch.control.value = d.arch;
    f.lrGd.control.value = d.lrGd;
    f.lrFlow.control.value = d.lrFlow;
  });

  panel.append(
    el('p', {
      class: 'intro',
      text: "The same ReLU network, trained from the same start on the same minibatches by gradient descent on L = E + λ·‖W‖p,q^q and by the weight-balancing flow dW/dt = −M(W)·∇L. The flow keeps every hidden unit's balance residual g[h] = q·(In[h] − Out[h]) on exp(−p·q·λ·t) (constant for λ = 0); gradient descent does not (for p = q = 2 the two coincide). With the defaults, GD's largest residual grows while the flow's shrinks along the dashed exact curve. Training runs in float64 on this page.",
    }),
    el(
      'div',
      { class: 'layout' },
      el('fieldset', {}, el('legend', { text: 'Training' }), data.root, ...Object.values(f).map((x) => x.root), el('div', { class: 'actions' }, start, stop)),
      el(
        'div',
        { class: 'output' },
        status,
        el(
          'figure',
          { 'aria-label': 'Balance residual plot' },
          residualHost,
          el('figcaption', {
            text: 'Balance residual max_h |g[h]|, relative to its start. Along the exact flow (dashed) every g[h] decays like exp(−p·q·λ·t), t = step × (flow step size); the discrete flow follows it up to O(step). 0 means balanced (the fix).',
          }),
        ),
        el('figure', { 'aria-label': 'Training loss plot' }, lossHost, lossCaption),
        el('div', { class: 'scroll', id: 'flow-table' }, table),
      ),
    ),
  );

  let stopped = false;
  let lossChart: LiveChart | null = null;
  let residualChart: LiveChart | null = null;
  const snapshot: FlowsSnapshot = { steps: [], runs: [], exact: [], done: false };
  (window as unknown as { weightBalanceFlows: () => FlowsSnapshot }).weightBalanceFlows = () => snapshot;

  stop.addEventListener('click', () => {
    stopped = true;
  });
  start.addEventListener('click', () => {
    void train();
  });

  async function train(): Promise<void> {
    start.disabled = true;
    stop.disabled = false;
    stopped = false;
    snapshot.done = false;
    try {
      status.textContent = 'Loading the data…';
      // A failed fetch is not cached: the next Train tries again.
      const all =
        dataSelect.value === 'digits'
          ? await (digitsCache ??= fetchDigits().catch((error: unknown) => {
              digitsCache = null;
              throw error;
            }))
          : twoSpirals({ perClass: 200, seed: 0 });
      const s = readFlowSettings(f, all);
      const { train: trainSet, test } = splitDataset(all, { seed: 0 });
      const built = mlp(s.sizes, { seed: 0, dtype: 'float64' });
      const net: Network = { ...built, blocks: built.blocks.map((b) => ({ ...b, bias: null })) };
      const base = { p: s.p, q: s.q, lambda: s.lambda, batchSize: 32, seed: 0 };
      const make = (label: string, optimizer: Optimizer, lr: number, fix = 0): Run => ({
        label,
        trainer: new MlpTrainer(net, trainSet, { ...base, optimizer, lr, fixEvery: fix }),
        loss: [],
        residual: [],
        offExact: [],
        residual0: NaN,
        g0: [],
      });
      const runs = [make('gradient descent', 'gd', s.lrGd), make('weight-balancing flow', 'flow', s.lrFlow)];
      if (s.fixEvery > 0) runs.push(make(`GD + fix every ${s.fixEvery}`, 'gd', s.lrGd, s.fixEvery));
      lossCaption.textContent = LOSS_CAPTION + (s.fixEvery > 0 ? FIX_CAPTION : '');
      const probe = { ...trainSet, count: Math.min(256, trainSet.count) };
      probe.inputs = trainSet.inputs.subarray(0, probe.count * trainSet.width);
      probe.labels = trainSet.labels!.subarray(0, probe.count);

      lossChart?.plot.destroy();
      residualChart?.plot.destroy();
      lossHost.replaceChildren();
      residualHost.replaceChildren();
      lossChart = new LiveChart(
        lossHost,
        'loss',
        runs.map((r) => r.label),
      );
      residualChart = new LiveChart(residualHost, 'max |g| / start', [...runs.map((r) => r.label), 'exact flow: exp(−p·q·λ·t)'], true);
      const exact: number[] = [];
      const xs: number[] = [];
      const logEvery = Math.max(1, Math.round(s.steps / 150));
      const log = (step: number): void => {
        const decay = Math.exp(-s.p * s.q * s.lambda * s.lrFlow * step);
        xs.push(step);
        for (const run of runs) {
          run.loss.push(run.trainer.evaluate(probe).loss);
          const g = residuals(run.trainer);
          if (step === 0) run.g0 = g;
          const { max, off } = residualStats(g, run.g0, decay);
          if (step === 0) run.residual0 = max;
          run.residual.push(max / run.residual0);
          run.offExact.push(off / run.residual0);
        }
        exact.push(decay);
        lossChart!.plot.setData([xs, ...runs.map((r) => r.loss)] as uPlot.AlignedData);
        residualChart!.plot.setData([xs, ...runs.map((r) => r.residual), exact] as uPlot.AlignedData);
        snapshot.steps = xs;
        snapshot.exact = exact;
        snapshot.runs = runs.map((r) => ({ label: r.label, loss: r.loss, residual: r.residual, offExact: r.offExact, trainAccuracy: NaN, testAccuracy: NaN }));
      };
      log(0);
      let step = 0;
      while (step < s.steps && !stopped) {
        const sliceEnd = performance.now() + 25;
        while (step < s.steps && performance.now() < sliceEnd) {
          for (const run of runs) await run.trainer.step();
          step++;
          if (step % logEvery === 0 || step === s.steps) log(step);
        }
        status.textContent = `Training… step ${step} of ${s.steps}`;
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      if (step % logEvery !== 0 && step !== s.steps) log(step);
      const rows = runs.map((run) => ({ run, trainAccuracy: run.trainer.evaluate().accuracy, testAccuracy: run.trainer.evaluate(test).accuracy }));
      snapshot.runs = rows.map(({ run, trainAccuracy, testAccuracy }) => ({
        label: run.label,
        loss: run.loss,
        residual: run.residual,
        offExact: run.offExact,
        trainAccuracy,
        testAccuracy,
      }));
      const last = (xs2: number[]): number => xs2[xs2.length - 1];
      table.replaceChildren(
        el('caption', {
          text: `After ${step} steps (${trainSet.count} training, ${test.count} test examples). "off exp(−pqλt)": max_h |g[h] − exp(−p·q·λ·t)·g[h](0)| relative to the starting max |g|, unit by unit.`,
        }),
        el(
          'tr',
          {},
          ...['run', 'loss', 'train acc.', 'test acc.', 'max |g| start → now', 'off exp(−pqλt)', 'max |g|/(In+Out)'].map((h) =>
            el('th', { scope: 'col', text: h }),
          ),
        ),
        ...rows.map(({ run, trainAccuracy, testAccuracy }) =>
          el(
            'tr',
            {},
            el('th', { scope: 'row', text: run.label }),
            el('td', { text: formatNumber(last(run.loss), 4) }),
            el('td', { text: formatNumber(trainAccuracy, 3) }),
            el('td', { text: formatNumber(testAccuracy, 3) }),
            el('td', { text: `${formatNumber(run.residual0, 3)} → ${formatNumber(run.residual0 * last(run.residual), 3)}` }),
            el('td', { text: formatNumber(last(run.offExact), 3) }),
            el('td', { text: formatNumber(run.trainer.residual(), 3) }),
          ),
        ),
      );
      status.textContent = stopped ? `Stopped at step ${step}.` : `Done: ${step} steps.`;
      snapshot.done = true;
    } catch (error) {
      status.textContent = `Error: ${errorMessage(error)}`;
    } finally {
      start.disabled = false;
      stop.disabled = true;
    }
  }
}

/** The Flows tab (register it in demo/tabs.ts). */
export const flowTab: DemoTab = { id: 'flows', label: 'Flows', mount };
