/**
 * The "Balance" tab: pick or open a network, balance it for several (p, q) at once on WebGPU or
 * the CPU, watch the convergence live (ratio, gap to the final ratio, or largest step; elapsed
 * time), see the network as a diagram with each layer's norm before and after, compare per-layer
 * norms and log factors, export the run (CSV, PNG) and save the balanced network. The network on
 * the page is never modified: every run works on a copy (worker) or returns a new network.
 */
import type { BalanceResult, Network, SweepProgress } from '../../src/index.js';
import { el, errorMessage, formatNumber, formatSeconds as seconds, select } from '../common/dom.js';
import { download } from '../common/download.js';
import { fingerprint, probeOutputs, relativeDifference } from '../common/networks.js';
import { pairLabel } from '../common/pairs.js';
import type { RunHandle } from '../common/runner.js';
import { startRun } from '../common/runner.js';
import type { DemoTab } from '../common/tab.js';
import type { Settings } from './controls.js';
import { buildControls } from './controls.js';
import type { ConvergenceView } from './convergenceChart.js';
import { ConvergenceChart, VIEWS } from './convergenceChart.js';
import { historiesCsv } from './exportRun.js';
import type { DiagramRun } from './networkDiagram.js';
import { networkDiagram } from './networkDiagram.js';
import type { Finished, Source } from './results.js';
import { renderResults } from './results.js';

/**
 * How far one run has come, in [0, 1]: the share of `maxSweeps` done, or, when larger, how far the
 * imbalance `max |log(Out/In)|` has fallen from its first value towards `tol` on a log scale (it
 * shrinks geometrically near the minimum).
 */
function runFraction(sweepShare: number, firstImbalance: number, imbalance: number, tol: number): number {
  const converging = tol > 0 && firstImbalance > tol && imbalance > 0 ? Math.log(firstImbalance / imbalance) / Math.log(firstImbalance / tol) : 0;
  return Math.min(1, Math.max(0, sweepShare, converging));
}

function mount(panel: HTMLElement): void {
  const controls = buildControls();
  const runButton = el('button', { type: 'submit', form: 'balance-form', class: 'primary', text: 'Balance' });
  const cancelButton = el('button', { type: 'button', text: 'Cancel', disabled: true });
  const progress = el('progress', { id: 'run-progress', 'aria-label': 'Progress', max: 1, value: 0 });
  const elapsed = el('output', { id: 'run-elapsed', 'aria-label': 'Elapsed time', text: '' });
  const status = el('p', { id: 'run-status', role: 'status', 'aria-live': 'polite', text: 'Ready.' });
  const runError = el('p', { id: 'run-error', class: 'error', role: 'alert', hidden: true });
  const runBar = el('div', { class: 'runbar' }, el('div', { class: 'actions' }, runButton, cancelButton, progress, elapsed), status, runError);

  const viewSelect = select(
    VIEWS.map((v): [string, string] => [v.id, v.label]),
    'ratio',
  );
  viewSelect.id = 'chart-view';
  const csvButton = el('button', { type: 'button', text: 'CSV of the run', disabled: true });
  const pngButton = el('button', { type: 'button', text: 'PNG of the chart', disabled: true });
  const chartHost = el('div', { id: 'ratio-chart', class: 'chart' });
  const chartFigure = el(
    'figure',
    { 'aria-label': 'Norm ratio plot' },
    el('div', { class: 'chart-tools' }, el('label', { for: 'chart-view', text: 'Plot' }), viewSelect, csvButton, pngButton),
    chartHost,
    el('figcaption', {
      text: 'One line per (p, q). The ratio ‖W‖p,q / ‖W0‖p,q falls monotonically and flattens at the balanced minimum; on a log axis, the gap to the final ratio and the largest log-factor step show the geometric tail a linear axis hides (the run stops once max |log(Out/In)| is at most tol).',
    }),
  );
  const diagramHost = el('div', { id: 'network-diagram' });
  const diagramFigure = el(
    'figure',
    { 'aria-label': 'Network diagram figure' },
    diagramHost,
    el('figcaption', {
      text: 'The network: one box per layer (height grows with the log of its units), arrows for weight blocks, dashed arcs for residual skips (their units share one factor), grey for fixed units (never rescaled: the output layer, non-ReLU activations), red for frozen units (dead: left at factor 1).',
    }),
  );
  const results = el('section', { id: 'results', 'aria-label': 'Results', hidden: true });
  panel.append(el('div', { class: 'layout' }, controls.form, el('div', { class: 'output' }, runBar, chartFigure, diagramFigure, results)));

  const showDiagram = (net: Network | null, run: DiagramRun | null): void => {
    diagramHost.replaceChildren(...(net ? [networkDiagram(net, run)] : []));
  };
  controls.onStatus = (text) => {
    status.textContent = text;
  };
  controls.onSource = (source) => showDiagram(source?.net ?? null, null);

  // ---- running ------------------------------------------------------------------------------
  let handle: RunHandle | null = null;
  let cancelled = false;
  /** Counts runs, so late progress of a cancelled run never reaches a newer one. */
  let runCount = 0;
  let chart: ConvergenceChart | null = null;
  let finished: Finished[] = [];
  let lastSource: Source | null = null;
  let timer = 0;

  const setRunning = (running: boolean): void => {
    runButton.disabled = running;
    cancelButton.disabled = !running;
    csvButton.disabled = running || finished.length === 0;
    pngButton.disabled = running || chart === null;
    controls.form.setAttribute('aria-busy', String(running));
    panel.dataset.state = running ? 'running' : 'idle';
  };

  const runPair = async (k: number, settings: Settings, origin: Source, thisRun: number, originalOutputs: Float64Array): Promise<string | null> => {
    const { pairs, tol, maxSweeps, schedule, backend } = settings;
    const pair = pairs[k];
    const label = `pair ${k + 1} of ${pairs.length}, (p, q) = ${pairLabel(pair)}`;
    status.textContent = `Balancing ${label}: ${backend === 'cpu' ? 'starting the CPU worker' : 'choosing the backend; on WebGPU, uploading the weights and compiling the kernels'}…`;
    let firstImbalance = 0;
    const onProgress = (items: SweepProgress[]): void => {
      if (cancelled || thisRun !== runCount || items.length === 0) return;
      if (firstImbalance === 0) firstImbalance = items[0].maxLogImbalance;
      chart?.push(k, items);
      const last = items[items.length - 1];
      progress.value = k + runFraction(last.sweep / maxSweeps, firstImbalance, last.maxLogImbalance, tol);
      status.textContent = `Balancing ${label}: sweep ${last.sweep} (${last.backend}), ratio ${formatNumber(last.ratio, 6)}, max |log(Out/In)| ${formatNumber(last.maxLogImbalance, 3)}, passes ${formatNumber(last.passes, 3)}`;
    };
    try {
      handle = await startRun(origin.net, { ...pair, schedule, tol, maxSweeps }, backend, onProgress);
      if (cancelled) handle.cancel();
      const result: BalanceResult = await handle.result;
      chart?.replace(
        k,
        result.history.map((n) => n / result.history[0]),
      );
      finished.push({ pair, result, functionChange: relativeDifference(originalOutputs, probeOutputs(result.network)) });
      progress.value = k + 1;
      return null;
    } catch (error) {
      if (cancelled || (error instanceof Error && error.name === 'AbortError')) {
        cancelled = true;
        return null;
      }
      return `${pairLabel(pair)}: ${errorMessage(error)}`;
    } finally {
      handle = null;
    }
  };

  const run = async (): Promise<void> => {
    runError.hidden = true;
    const settings = controls.read();
    const origin = controls.source();
    if (!settings || !origin) {
      status.textContent = 'Fix the settings marked in red, then run again.';
      return;
    }
    const { pairs } = settings;
    cancelled = false;
    const thisRun = ++runCount;
    finished = [];
    lastSource = origin;
    chart?.destroy();
    chartHost.replaceChildren();
    chart = new ConvergenceChart(chartHost, pairs.map(pairLabel), viewSelect.value as ConvergenceView);
    setRunning(true);
    results.hidden = true;
    chartHost.dataset.state = 'running';
    const started = performance.now();
    const tick = (): void => {
      elapsed.textContent = `elapsed ${seconds(performance.now() - started)}`;
    };
    tick();
    timer = window.setInterval(tick, 100);
    // Let the page paint the elapsed time and the status before the probe's forward pass.
    await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
    const originalOutputs = probeOutputs(origin.net);
    progress.max = pairs.length;
    progress.value = 0;
    let failure: string | null = null;
    for (let k = 0; k < pairs.length && !cancelled && !failure; k++) failure = await runPair(k, settings, origin, thisRun, originalOutputs);
    window.clearInterval(timer);
    tick();
    chart.redraw();
    setRunning(false);
    // Show that the page's network came through untouched, by recomputing its fingerprint.
    const after = fingerprint(origin.net);
    if (controls.source() === origin) controls.showFingerprint(after);
    const intact = after === origin.fingerprint ? 'the original network is unchanged' : 'WARNING: the original network changed';
    if (failure) {
      runError.textContent = failure;
      runError.hidden = false;
      status.textContent = `Stopped by an error; ${intact}.`;
      chartHost.dataset.state = 'error';
    } else if (cancelled) {
      status.textContent = `Cancelled after ${finished.length} of ${pairs.length} pairs; ${intact} (fingerprint ${after}).`;
      chartHost.dataset.state = 'cancelled';
    } else {
      status.textContent = `Done: ${pairs.length} ${pairs.length === 1 ? 'pair' : 'pairs'} balanced in ${seconds(performance.now() - started)}; ${intact}.`;
      chartHost.dataset.state = 'done';
    }
    if (finished.length > 0) renderResults(results, origin, finished, (diagramRun) => showDiagram(origin.net, diagramRun));
  };

  controls.form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!runButton.disabled) void run();
  });
  cancelButton.addEventListener('click', () => {
    cancelled = true;
    handle?.cancel();
    status.textContent = 'Cancelling…';
  });
  viewSelect.addEventListener('change', () => chart?.setView(viewSelect.value as ConvergenceView));
  csvButton.addEventListener('click', () => {
    if (!chart || !lastSource) return;
    download(new Blob([historiesCsv(finished, chart.series())], { type: 'text/csv' }), `${lastSource.name}-balance-run.csv`);
  });
  pngButton.addEventListener('click', () => {
    if (!chart || !lastSource) return;
    const name = `${lastSource.name}-${viewSelect.value}.png`;
    chart.png().then(
      (blob) => download(blob, name),
      (error: unknown) => {
        runError.textContent = errorMessage(error);
        runError.hidden = false;
      },
    );
  });

  controls.refresh();
  setRunning(false);
  // Hooks for tests and the console: read-only views of the page's state.
  Object.assign(window, {
    weightBalanceDemo: {
      /** The network the page balances (never modified by a run). */
      source: (): Network | null => controls.source()?.net ?? null,
      /** Outputs of the current network on the fixed probe inputs. */
      probe: (): number[] => {
        const source = controls.source();
        return source ? Array.from(probeOutputs(source.net)) : [];
      },
      /** The results of the last run. */
      results: (): BalanceResult[] => finished.map((f) => f.result),
    },
  });
}

/** The balance tab. */
export const balanceTab: DemoTab = { id: 'balance', label: 'Balance', mount };
