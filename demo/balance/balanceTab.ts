/**
 * The "Balance" tab: pick or open a network, balance it for several (p, q) at once on WebGPU or
 * the CPU, watch `||W||_{p,q} / ||W0||_{p,q}` fall sweep by sweep, compare per-layer norms and the
 * log factors, and save the balanced network. The network on the page is never modified: every
 * run works on a copy (worker) or returns a new network (`balance`).
 */
import type { Backend, BalanceResult, Network, Schedule, SweepProgress } from '../../src/index.js';
import { figure, RatioChart } from '../common/charts.js';
import { el, errorMessage, field, formatNumber, readNumber, select } from '../common/dom.js';
import { acceptedExtensions, readNetworkFile } from '../common/files.js';
import { customMlp, describe, fingerprint, PRESETS, probeOutputs, relativeDifference } from '../common/networks.js';
import { DEFAULT_PAIRS, pairLabel, parsePairs } from '../common/pairs.js';
import type { Pair } from '../common/pairs.js';
import { startRun } from '../common/runner.js';
import type { RunHandle } from '../common/runner.js';
import type { DemoTab } from '../common/tab.js';
import { renderResults } from './results.js';
import type { Finished, Source } from './results.js';

const CUSTOM = 'custom';
const FILE = 'file';

/**
 * How far one run has come, in [0, 1]: the share of `maxSweeps` done, or, when larger, how far the
 * imbalance `max |log(Out/In)|` has fallen from its first value towards `tol` on a log scale (it
 * shrinks geometrically near the minimum).
 */
function runFraction(sweepShare: number, firstImbalance: number, imbalance: number, tol: number): number {
  const converging = tol > 0 && firstImbalance > tol && imbalance > 0 ? Math.log(firstImbalance / imbalance) / Math.log(firstImbalance / tol) : 0;
  return Math.min(1, Math.max(0, sweepShare, converging));
}

function numberInput(value: string, attributes: Record<string, string> = {}): HTMLInputElement {
  return el('input', { type: 'text', inputmode: 'decimal', value, autocomplete: 'off', spellcheck: 'false', ...attributes });
}

function mount(panel: HTMLElement): void {
  // ---- controls -------------------------------------------------------------------------
  const networkField = field('network', 'Network', select([...PRESETS.map((p): [string, string] => [p.id, p.label]), [CUSTOM, 'Custom MLP (layer sizes below)']], PRESETS[0].id));
  const customField = field('custom-arch', 'Custom architecture', el('input', { type: 'text', value: '200-64-32-10', autocomplete: 'off', spellcheck: 'false' }), 'layer sizes, input first: 200-64-32-10');
  const seedField = field('seed', 'Seed', numberInput('0', { inputmode: 'numeric' }));
  const fileField = field('file', 'Open a network file', el('input', { type: 'file', accept: acceptedExtensions() }), 'a .safetensors state dict (dense and conv weights) or an .onnx model, or drop it on this box');
  const dropZone = el('div', { class: 'dropzone', id: 'dropzone', 'aria-describedby': 'file-hint' }, el('span', { text: 'Drop a .safetensors or .onnx file here' }));
  const summary = el('output', { id: 'network-summary', 'aria-label': 'Network summary', class: 'summary' });
  const fingerprintOut = el('output', { id: 'network-fingerprint', 'aria-label': 'Network fingerprint', class: 'mono' });

  const pairsField = field('pairs', '(p, q) pairs', el('input', { type: 'text', value: DEFAULT_PAIRS, autocomplete: 'off', spellcheck: 'false' }), 'p,q; p,q; … with p > 0 and q > 0');
  const scheduleField = field('schedule', 'Schedule', select([
    ['accelerated', 'accelerated (fewest passes; CPU engine)'], ['parallel', 'parallel (the paper\'s update; CPU or WebGPU)'], ['alternating', 'alternating (one class at a time; CPU or WebGPU)'],
  ], 'accelerated'));
  const backendField = field('backend', 'Backend', select([['auto', 'auto (WebGPU if available)'], ['webgpu', 'WebGPU'], ['cpu', 'CPU (Web Worker)']], 'auto'));
  const tolField = field('tol', 'Tolerance (tol)', numberInput('1e-4'), 'stop once max |log(Out/In)| over the hidden units is at most this');
  const sweepsField = field('max-sweeps', 'Max sweeps', numberInput('1000', { inputmode: 'numeric' }));
  // The accelerated schedule runs on the CPU engine only: choosing WebGPU switches to the paper's
  // parallel update (visibly), as the library's default does for backend 'webgpu'.
  backendField.control.addEventListener('change', () => {
    if (backendField.control.value === 'webgpu' && scheduleField.control.value === 'accelerated') scheduleField.control.value = 'parallel';
  });

  const runButton = el('button', { type: 'submit', class: 'primary', text: 'Balance' });
  const cancelButton = el('button', { type: 'button', text: 'Cancel', disabled: true });
  const runError = el('p', { id: 'run-error', class: 'error', role: 'alert', hidden: true });
  const progress = el('progress', { id: 'run-progress', 'aria-label': 'Progress', max: 1, value: 0 });
  const status = el('p', { id: 'run-status', role: 'status', 'aria-live': 'polite', text: 'Ready.' });

  const form = el('form', { 'aria-label': 'Balance settings', novalidate: true },
    el('fieldset', {}, el('legend', { text: 'Network' }), networkField.root, customField.root, seedField.root, fileField.root, dropZone,
      el('p', {}, summary), el('p', {}, 'Fingerprint: ', fingerprintOut)),
    el('fieldset', {}, el('legend', { text: 'Balancing' }), pairsField.root, scheduleField.root, backendField.root, tolField.root, sweepsField.root),
    el('div', { class: 'actions' }, runButton, cancelButton, progress, runError),
    status,
  );

  const chartHost = el('div', { id: 'ratio-chart', class: 'chart' });
  const chartFigure = figure('‖W‖p,q / ‖W0‖p,q against the sweep, one line per (p, q). It falls monotonically and flattens at the balanced minimum.', chartHost);
  chartFigure.setAttribute('aria-label', 'Norm ratio plot');
  const results = el('section', { id: 'results', 'aria-label': 'Results', hidden: true });

  panel.append(el('div', { class: 'layout' }, form, el('div', { class: 'output' }, chartFigure, results)));

  // ---- the network --------------------------------------------------------------------------
  let source: Source | null = null;
  let fileSource: Source | null = null;

  const setSource = (next: Source | null): void => {
    source = next;
    summary.textContent = next ? `${next.name}: ${describe(next.net)}` : 'No network.';
    fingerprintOut.textContent = next ? next.fingerprint : '–';
  };
  const makeSource = (net: Network, name: string): Source => ({ net, name, fingerprint: fingerprint(net) });

  const rebuild = (): void => {
    const choice = networkField.control.value;
    if (choice === FILE) {
      setSource(fileSource);
      return;
    }
    let seed: number;
    try {
      seed = readNumber(seedField, 'the seed', (x) => Number.isInteger(x) && x >= 0 && x < 2 ** 32, 'a whole number from 0 to 4294967295');
    } catch {
      setSource(null);
      return;
    }
    if (choice === CUSTOM) {
      try {
        const net = customMlp(customField.control.value, seed);
        customField.setError(null);
        setSource(makeSource(net, `mlp-${customField.control.value.trim().replace(/[^\d]+/g, '-')}`));
      } catch (error) {
        customField.setError(errorMessage(error));
        setSource(null);
      }
      return;
    }
    const preset = PRESETS.find((p) => p.id === choice) ?? PRESETS[0];
    setSource(makeSource(preset.build(seed), `${preset.id}-seed${seed}`));
  };

  const openFile = async (file: File): Promise<void> => {
    fileField.setError(null);
    try {
      const net = await readNetworkFile(file);
      fileSource = makeSource(net, file.name.replace(/\.[^.]+$/, ''));
      let option = networkField.control.querySelector<HTMLOptionElement>(`option[value="${FILE}"]`);
      if (!option) {
        option = el('option', { value: FILE });
        networkField.control.append(option);
      }
      option.textContent = `File: ${file.name}`;
      networkField.control.value = FILE;
      networkField.setError(null);
      setSource(fileSource);
      status.textContent = `Opened ${file.name}.`;
    } catch (error) {
      fileField.setError(`${file.name}: ${errorMessage(error)}`);
    }
  };

  networkField.control.addEventListener('change', () => {
    fileField.setError(null);
    rebuild();
  });
  seedField.control.addEventListener('change', rebuild);
  customField.control.addEventListener('change', () => {
    networkField.control.value = CUSTOM;
    rebuild();
  });
  fileField.control.addEventListener('change', () => {
    const file = fileField.control.files?.[0];
    if (file) void openFile(file).finally(() => { fileField.control.value = ''; });
  });
  dropZone.addEventListener('dragover', (event) => {
    event.preventDefault();
    dropZone.classList.add('over');
  });
  dropZone.addEventListener('dragleave', () => dropZone.classList.remove('over'));
  dropZone.addEventListener('drop', (event) => {
    event.preventDefault();
    dropZone.classList.remove('over');
    const file = event.dataTransfer?.files[0];
    if (file) void openFile(file);
    else fileField.setError('the drop held no file');
  });

  // ---- running ------------------------------------------------------------------------------
  let handle: RunHandle | null = null;
  let cancelled = false;
  /** Counts runs, so late progress of a cancelled run never reaches a newer one. */
  let runCount = 0;
  let chart: RatioChart | null = null;
  let finished: Finished[] = [];

  const setRunning = (running: boolean): void => {
    runButton.disabled = running;
    cancelButton.disabled = !running;
    form.setAttribute('aria-busy', String(running));
    panel.dataset.state = running ? 'running' : 'idle';
  };

  const readSettings = (): { pairs: Pair[]; tol: number; maxSweeps: number } | null => {
    let ok = true;
    let pairs: Pair[] = [];
    try {
      pairs = parsePairs(pairsField.control.value);
      pairsField.setError(null);
    } catch (error) {
      pairsField.setError(errorMessage(error));
      ok = false;
    }
    let tol = 0;
    let maxSweeps = 0;
    try { tol = readNumber(tolField, 'tol', (x) => x >= 0, 'a number >= 0'); } catch { ok = false; }
    try { maxSweeps = readNumber(sweepsField, 'max sweeps', (x) => Number.isInteger(x) && x >= 1 && x <= 1_000_000, 'a whole number from 1 to 1000000'); } catch { ok = false; }
    if (!source) {
      networkField.setError('choose a network that builds, or open a file');
      ok = false;
    } else {
      networkField.setError(null);
    }
    return ok ? { pairs, tol, maxSweeps } : null;
  };

  const run = async (): Promise<void> => {
    runError.hidden = true;
    const settings = readSettings();
    if (!settings || !source) {
      status.textContent = 'Fix the settings marked in red, then run again.';
      return;
    }
    const { pairs, tol, maxSweeps } = settings;
    const origin = source;
    const backend = backendField.control.value as Backend;
    const schedule = scheduleField.control.value as Schedule;
    cancelled = false;
    const thisRun = ++runCount;
    finished = [];
    setRunning(true);
    results.hidden = true;
    chart?.destroy();
    chartHost.replaceChildren();
    chart = new RatioChart(chartHost, pairs.map(pairLabel));
    chartHost.dataset.state = 'running';
    const originalOutputs = probeOutputs(origin.net);
    progress.max = pairs.length;
    progress.value = 0;
    let failure: string | null = null;
    for (let k = 0; k < pairs.length && !cancelled; k++) {
      const pair = pairs[k];
      const label = `pair ${k + 1} of ${pairs.length}, (p, q) = ${pairLabel(pair)}`;
      status.textContent = `Balancing ${label}…`;
      let initial = 0;
      let firstStep = 0;
      const onProgress = (items: SweepProgress[]): void => {
        if (cancelled || thisRun !== runCount || items.length === 0) return;
        if (initial === 0) {
          initial = items[0].norm / items[0].ratio;
          firstStep = items[0].maxLogImbalance;
          chart?.push(k, [1]);
        }
        chart?.push(k, items.map((s) => s.ratio));
        const last = items[items.length - 1];
        progress.value = k + runFraction(last.sweep / maxSweeps, firstStep, last.maxLogImbalance, tol);
        status.textContent = `Balancing ${label}: sweep ${last.sweep} (${last.backend}), ratio ${formatNumber(last.ratio, 6)}, max |log(Out/In)| ${formatNumber(last.maxLogImbalance, 3)}, passes ${formatNumber(last.passes, 3)}`;
      };
      try {
        handle = await startRun(origin.net, { ...pair, schedule, tol, maxSweeps }, backend, onProgress);
        if (cancelled) handle.cancel();
        const result = await handle.result;
        const ratios = result.history.map((n) => n / result.history[0]);
        chart.replace(k, ratios);
        finished.push({ pair, result, functionChange: relativeDifference(originalOutputs, probeOutputs(result.network)) });
        progress.value = k + 1;
      } catch (error) {
        if (cancelled || (error instanceof Error && error.name === 'AbortError')) {
          cancelled = true;
        } else {
          failure = `${pairLabel(pair)}: ${errorMessage(error)}`;
        }
        break;
      } finally {
        handle = null;
      }
    }
    chart.redraw();
    setRunning(false);
    // Show that the page's network came through untouched, by recomputing its fingerprint.
    const after = fingerprint(origin.net);
    if (source === origin) fingerprintOut.textContent = after;
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
      status.textContent = `Done: ${pairs.length} ${pairs.length === 1 ? 'pair' : 'pairs'} balanced; ${intact}.`;
      chartHost.dataset.state = 'done';
    }
    if (finished.length > 0) renderResults(results, origin, finished);
  };


  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (!runButton.disabled) void run();
  });
  cancelButton.addEventListener('click', () => {
    cancelled = true;
    handle?.cancel();
    status.textContent = 'Cancelling…';
  });

  rebuild();
  setRunning(false);
  // Hooks for tests and the console: read-only views of the page's state.
  Object.assign(window, {
    weightBalanceDemo: {
      /** The network the page balances (never modified by a run). */
      source: (): Network | null => source?.net ?? null,
      /** Outputs of the current network on the fixed probe inputs. */
      probe: (): number[] => (source ? Array.from(probeOutputs(source.net)) : []),
      /** The results of the last run. */
      results: (): BalanceResult[] => finished.map((f) => f.result),
    },
  });
}

/** The balance tab. */
export const balanceTab: DemoTab = { id: 'balance', label: 'Balance', mount };
