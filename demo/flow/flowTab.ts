/**
 * The "Flows" tab: one ReLU MLP trained side by side by gradient descent on
 * `L = E + lambda ||W||_{p,q}^q` and by the weight-balancing flow `dW/dt = -M(W) grad L`
 * (MATH.md §5), optionally with a third run of gradient descent that re-applies the fix every k
 * steps. The training loss and the balance residual `max_h |g[h]| / (In[h] + Out[h])` are
 * plotted live. Training runs on the page's thread in short slices (float64, CPU).
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { MlpTrainer, WeightBalanceError, balanceResidual, mlp, parseDigitsCsv, splitDataset, twoSpirals } from '../../src/index.js';
import type { Dataset, Network, Optimizer } from '../../src/index.js';
import digitsUrl from '../../data/digits.csv.gz?url';
import { PALETTE } from '../common/charts.js';
import { el, errorMessage, field, formatNumber, readNumber } from '../common/dom.js';
import type { Field } from '../common/dom.js';
import type { DemoTab } from '../common/tab.js';

/** One trained copy of the network. */
interface Run {
  label: string;
  trainer: MlpTrainer;
  loss: number[];
  /** `max_h |g[h]|` relative to its value at step 0. */
  residual: number[];
  /** `max_h |g[h]|` at step 0. */
  residual0: number;
}

/** `max_h |g[h]|` over the rescalable units of a trainer's network. */
function maxResidual(trainer: MlpTrainer): number {
  const { p, q } = trainer.options;
  let worst = 0;
  for (const layer of balanceResidual(trainer.network(), { p, q }).g) for (const x of layer) if (Number.isFinite(x)) worst = Math.max(worst, Math.abs(x));
  return worst;
}

/** What a finished (or stopped) comparison leaves for tests and the curious: `window.weightBalanceFlows`. */
export interface FlowsSnapshot {
  steps: number[];
  runs: { label: string; loss: number[]; residual: number[]; trainAccuracy: number; testAccuracy: number }[];
  done: boolean;
}

const DATA_DEFAULTS: Record<string, { arch: string; lrGd: string; lrFlow: string }> = {
  digits: { arch: '64,64,32,10', lrGd: '0.1', lrFlow: '0.5' },
  spirals: { arch: '2,32,32,2', lrGd: '0.1', lrFlow: '0.5' },
};

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

function textInput(value: string): HTMLInputElement {
  return el('input', { type: 'text', inputmode: 'decimal', value, autocomplete: 'off', spellcheck: 'false' });
}

function readSizes(f: Field<HTMLInputElement>, data: Dataset): number[] {
  const text = f.control.value.trim();
  const sizes = text.split(',').map((s) => (/^\s*[0-9]+\s*$/.test(s) ? Number(s) : NaN));
  let message: string | null = null;
  if (sizes.length < 2 || sizes.some((n) => !Number.isSafeInteger(n) || n <= 0)) message = `layer sizes must be at least two positive integers like 64,64,32,10, got '${text}'`;
  else if (sizes[0] !== data.width) message = `the first size (${sizes[0]}) must equal the data's width (${data.width})`;
  else if (sizes[sizes.length - 1] !== data.outputs) message = `the last size (${sizes[sizes.length - 1]}) must equal the number of classes (${data.outputs})`;
  f.setError(message);
  if (message) throw new WeightBalanceError(message);
  return sizes;
}

/** A live line chart: one x axis (step), one line per run. */
class LiveChart {
  readonly plot: uPlot;
  /** `reference`: draw the last series as a dashed grey reference curve. */
  constructor(host: HTMLElement, yLabel: string, labels: string[], reference = false) {
    this.plot = new uPlot({
      width: Math.max(300, host.clientWidth || 480),
      height: 260,
      scales: { x: { time: false } },
      axes: [{ label: 'step' }, { label: yLabel, size: 64, values: (_u, ticks) => ticks.map((t) => formatNumber(t, 2)) }],
      series: [
        { label: 'step' },
        ...labels.map((label, k) => ({
          label,
          stroke: reference && k === labels.length - 1 ? '#777' : PALETTE[k % PALETTE.length],
          dash: reference && k === labels.length - 1 ? [6, 4] : undefined,
          width: 2,
          value: (_u: uPlot, v: number | null) => (v == null ? '–' : formatNumber(v, 4)),
        })),
      ],
      legend: { live: true },
    }, [[]], host);
    new ResizeObserver(() => this.plot.setSize({ width: Math.max(300, host.clientWidth), height: 260 })).observe(host);
  }
}

function mount(panel: HTMLElement): void {
  const dataSelect = el('select', {}, el('option', { value: 'digits', text: '8x8 digits (1797 images, 10 classes)' }), el('option', { value: 'spirals', text: 'Two spirals (400 points, 2 classes)' }));
  const data = field('flow-data', 'Data', dataSelect);
  const arch = field('flow-arch', 'Layer sizes', textInput(DATA_DEFAULTS.digits.arch), 'input first, e.g. 64,64,32,10');
  const p = field('flow-p', 'p', textInput('1'));
  const q = field('flow-q', 'q', textInput('1'));
  const lambda = field('flow-lambda', 'lambda', textInput('3e-3'), 'weight of ||W||_{p,q}^q');
  const lrGd = field('flow-lr-gd', 'Step, gradient descent', textInput(DATA_DEFAULTS.digits.lrGd));
  const lrFlow = field('flow-lr-flow', 'Step, flow', textInput(DATA_DEFAULTS.digits.lrFlow), 'M rescales the gradient: for p = q = 1 by |W|');
  const steps = field('flow-steps', 'Steps', textInput('600'));
  const fixEvery = field('flow-fix-every', 'Also GD + fix every', textInput('0'), 'steps; 0 for no third run');
  const start = el('button', { type: 'button', class: 'primary', text: 'Train' });
  const stop = el('button', { type: 'button', text: 'Stop', disabled: true });
  const status = el('p', { role: 'status', id: 'flow-status', text: 'Ready.' });
  const lossHost = el('div', { id: 'flow-loss-chart' });
  const residualHost = el('div', { id: 'flow-residual-chart' });
  const table = el('table', { id: 'flow-results' });

  dataSelect.addEventListener('change', () => {
    const d = DATA_DEFAULTS[dataSelect.value];
    arch.control.value = d.arch;
    lrGd.control.value = d.lrGd;
    lrFlow.control.value = d.lrFlow;
  });

  panel.append(
    el('p', { text: 'The same ReLU network, trained from the same start on the same minibatches by gradient descent on L = E + lambda·||W||p,q^q and by the weight-balancing flow dW/dt = −M(W)·∇L. The flow keeps every hidden unit\'s balance residual g[h] = q·(In[h] − Out[h]) decaying at rate p·q·lambda (constant for lambda = 0); gradient descent does not (for p = q = 2 the two coincide). Training runs in float64 on this page.' }),
    el('div', { class: 'layout' },
      el('fieldset', {}, el('legend', { text: 'Training' }), data.root, arch.root, p.root, q.root, lambda.root, lrGd.root, lrFlow.root, steps.root, fixEvery.root, el('div', { class: 'actions' }, start, stop)),
      el('div', { class: 'output' },
        status,
        el('figure', { 'aria-label': 'Training loss plot' }, lossHost, el('figcaption', { text: 'Training loss E (cross-entropy on a fixed subset of 256 training examples).' })),
        el('figure', { 'aria-label': 'Balance residual plot' }, residualHost, el('figcaption', { text: 'Balance residual max_h |g[h]|, relative to its start. Along the exact flow every g[h] decays like exp(−p·q·λ·t) with t = step × (flow step size); the discrete flow follows it up to O(step). 0 means balanced (the fix).' })),
        el('div', { class: 'scroll' }, table),
      ),
    ),
  );

  let stopped = false;
  let lossChart: LiveChart | null = null;
  let residualChart: LiveChart | null = null;
  const snapshot: FlowsSnapshot = { steps: [], runs: [], done: false };
  (window as unknown as { weightBalanceFlows: () => FlowsSnapshot }).weightBalanceFlows = () => snapshot;

  stop.addEventListener('click', () => { stopped = true; });
  start.addEventListener('click', () => { void train(); });

  async function train(): Promise<void> {
    start.disabled = true;
    stop.disabled = false;
    stopped = false;
    snapshot.done = false;
    try {
      status.textContent = 'Loading the data…';
      // A failed fetch is not cached: the next Train tries again.
      const all = dataSelect.value === 'digits'
        ? await (digitsCache ??= fetchDigits().catch((error: unknown) => { digitsCache = null; throw error; }))
        : twoSpirals({ perClass: 200, seed: 0 });
      const sizes = readSizes(arch, all);
      const pv = readNumber(p, 'p', (x) => x > 0, 'a number > 0');
      const qv = readNumber(q, 'q', (x) => x > 0, 'a number > 0');
      const lambdaV = readNumber(lambda, 'lambda', (x) => x >= 0, 'a number >= 0');
      const lrG = readNumber(lrGd, 'the step', (x) => x > 0, 'a number > 0');
      const lrF = readNumber(lrFlow, 'the step', (x) => x > 0, 'a number > 0');
      const nSteps = readNumber(steps, 'steps', (x) => Number.isInteger(x) && x >= 1, 'an integer >= 1');
      const k = readNumber(fixEvery, 'the fix interval', (x) => Number.isInteger(x) && x >= 0, 'an integer >= 0');
      const { train: trainSet, test } = splitDataset(all, { seed: 0 });
      const built = mlp(sizes, { seed: 0, dtype: 'float64' });
      const net: Network = { ...built, blocks: built.blocks.map((b) => ({ ...b, bias: null })) };
      const base = { p: pv, q: qv, lambda: lambdaV, batchSize: 32, seed: 0 };
      const make = (label: string, optimizer: Optimizer, lr: number, fix = 0): Run => ({
        label, trainer: new MlpTrainer(net, trainSet, { ...base, optimizer, lr, fixEvery: fix }), loss: [], residual: [], residual0: NaN,
      });
      const runs = [make('gradient descent', 'gd', lrG), make('weight-balancing flow', 'flow', lrF)];
      if (k > 0) runs.push(make(`GD + fix every ${k}`, 'gd', lrG, k));
      const probe = { ...trainSet, count: Math.min(256, trainSet.count) };
      probe.inputs = trainSet.inputs.subarray(0, probe.count * trainSet.width);
      probe.labels = trainSet.labels!.subarray(0, probe.count);

      lossChart?.plot.destroy();
      residualChart?.plot.destroy();
      lossHost.replaceChildren();
      residualHost.replaceChildren();
      lossChart = new LiveChart(lossHost, 'loss', runs.map((r) => r.label));
      residualChart = new LiveChart(residualHost, 'max |g| / start', [...runs.map((r) => r.label), 'exact flow: exp(−p·q·λ·t)'], true);
      const exact: number[] = [];
      const xs: number[] = [];
      const logEvery = Math.max(1, Math.round(nSteps / 150));
      const log = (step: number): void => {
        xs.push(step);
        for (const run of runs) {
          run.loss.push(run.trainer.evaluate(probe).loss);
          const g = maxResidual(run.trainer);
          if (step === 0) run.residual0 = g;
          run.residual.push(g / run.residual0);
        }
        exact.push(Math.exp(-pv * qv * lambdaV * lrF * step));
        lossChart!.plot.setData([xs, ...runs.map((r) => r.loss)] as uPlot.AlignedData);
        residualChart!.plot.setData([xs, ...runs.map((r) => r.residual), exact] as uPlot.AlignedData);
        snapshot.steps = xs;
        snapshot.runs = runs.map((r) => ({ label: r.label, loss: r.loss, residual: r.residual, trainAccuracy: NaN, testAccuracy: NaN }));
      };
      log(0);
      let step = 0;
      while (step < nSteps && !stopped) {
        const sliceEnd = performance.now() + 25;
        while (step < nSteps && performance.now() < sliceEnd) {
          for (const run of runs) await run.trainer.step();
          step++;
          if (step % logEvery === 0 || step === nSteps) log(step);
        }
        status.textContent = `Training… step ${step} of ${nSteps}`;
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      if (step % logEvery !== 0 && step !== nSteps) log(step);
      const rows = runs.map((run) => {
        const trainAccuracy = run.trainer.evaluate().accuracy;
        const testAccuracy = run.trainer.evaluate(test).accuracy;
        return { run, trainAccuracy, testAccuracy };
      });
      snapshot.runs = rows.map(({ run, trainAccuracy, testAccuracy }) => ({ label: run.label, loss: run.loss, residual: run.residual, trainAccuracy, testAccuracy }));
      table.replaceChildren(
        el('caption', { text: `After ${step} steps (${trainSet.count} training, ${test.count} test examples)` }),
        el('tr', {}, ...['run', 'training loss', 'train accuracy', 'test accuracy', 'max |g| at start', 'max |g| now', 'max |g|/(In+Out) now'].map((h) => el('th', { scope: 'col', text: h }))),
        ...rows.map(({ run, trainAccuracy, testAccuracy }) => el('tr', {},
          el('th', { scope: 'row', text: run.label }),
          el('td', { text: formatNumber(run.loss[run.loss.length - 1], 4) }),
          el('td', { text: formatNumber(trainAccuracy, 3) }),
          el('td', { text: formatNumber(testAccuracy, 3) }),
          el('td', { text: formatNumber(run.residual0, 4) }),
          el('td', { text: formatNumber(run.residual0 * run.residual[run.residual.length - 1], 4) }),
          el('td', { text: formatNumber(run.trainer.residual(), 3) }),
        )),
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
