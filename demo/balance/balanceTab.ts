/**
 * The "Balance" tab: pick or open a network, balance it for several (p, q) at once on WebGPU or
 * the CPU, watch `||W||_{p,q} / ||W0||_{p,q}` fall sweep by sweep, compare per-layer norms and the
 * log factors, and save the balanced network. The network on the page is never modified: every
 * run works on a copy (worker) or returns a new network (`balance`).
 */
import { WeightBalanceError } from '../../src/index.js';
import type { Backend, BalanceResult, Network, Schedule, SweepProgress } from '../../src/index.js';
import { barChart, figure, histogramChart, RatioChart } from '../common/charts.js';
import { el, errorMessage, field, formatNumber } from '../common/dom.js';
import type { Field } from '../common/dom.js';
import { acceptedExtensions, readNetworkFile, saveNetworkFile } from '../common/files.js';
import { customMlp, describe, fingerprint, layerNorms, PRESETS, probeOutputs, relativeDifference } from '../common/networks.js';
import { DEFAULT_PAIRS, pairLabel, parsePairs } from '../common/pairs.js';
import type { Pair } from '../common/pairs.js';
import { startRun } from '../common/runner.js';
import type { RunHandle } from '../common/runner.js';
import type { DemoTab } from '../common/tab.js';

/** The network the page balances, and where it came from. */
interface Source {
  net: Network;
  /** Base name for saved files. */
  name: string;
  fingerprint: string;
}

/** One finished run, with what the page derived from it. */
interface Finished {
  pair: Pair;
  result: BalanceResult;
  /** `max |f_balanced(x) - f(x)| / max |f(x)|` on the probe inputs. */
  functionChange: number;
}

const CUSTOM = 'custom';
const FILE = 'file';

function select(options: [string, string][], value: string): HTMLSelectElement {
  const node = el('select');
  for (const [v, label] of options) node.append(el('option', { value: v, text: label }));
  node.value = value;
  return node;
}

function numberInput(value: string, attributes: Record<string, string> = {}): HTMLInputElement {
  return el('input', { type: 'text', inputmode: 'decimal', value, autocomplete: 'off', spellcheck: 'false', ...attributes });
}

function readNumber(f: Field<HTMLInputElement>, what: string, check: (x: number) => boolean, rule: string): number {
  const text = f.control.value.trim();
  const x = Number(text);
  if (text === '' || !Number.isFinite(x) || !check(x)) {
    const message = `${what} must be ${rule}, got '${text}'`;
    f.setError(message);
    throw new WeightBalanceError(message);
  }
  f.setError(null);
  return x;
}

function mount(panel: HTMLElement): void {
  // ---- controls -------------------------------------------------------------------------
  const networkField = field('network', 'Network', select([...PRESETS.map((p): [string, string] => [p.id, p.label]), [CUSTOM, 'Custom MLP (layer sizes below)']], PRESETS[0].id));
  const customField = field('custom-arch', 'Custom architecture', el('input', { type: 'text', value: '200-64-32-10', autocomplete: 'off', spellcheck: 'false' }), 'layer sizes, input first: 200-64-32-10');
  const seedField = field('seed', 'Seed', numberInput('0', { inputmode: 'numeric' }));
  const fileField = field('file', 'Open a network file', el('input', { type: 'file', accept: acceptedExtensions() }), 'a .safetensors state dict (dense and conv weights), or drop it on this box');
  const dropZone = el('div', { class: 'dropzone', id: 'dropzone', 'aria-describedby': 'file-hint' }, el('span', { text: 'Drop a .safetensors file here' }));
  const summary = el('output', { id: 'network-summary', 'aria-label': 'Network summary', class: 'summary' });
  const fingerprintOut = el('output', { id: 'network-fingerprint', 'aria-label': 'Network fingerprint', class: 'mono' });

  const pairsField = field('pairs', '(p, q) pairs', el('input', { type: 'text', value: DEFAULT_PAIRS, autocomplete: 'off', spellcheck: 'false' }), 'p,q; p,q; … with p > 0 and q > 0');
  const scheduleField = field('schedule', 'Schedule', select([['parallel', 'parallel (any network)'], ['alternating', 'alternating (about 4x fewer sweeps)']], 'parallel'));
  const backendField = field('backend', 'Backend', select([['auto', 'auto (WebGPU if available)'], ['webgpu', 'WebGPU'], ['cpu', 'CPU (Web Worker)']], 'auto'));
  const tolField = field('tol', 'Tolerance (tol)', numberInput('1e-6'), 'stop when no log factor moves more than this in a sweep');
  const sweepsField = field('max-sweeps', 'Max sweeps', numberInput('1000', { inputmode: 'numeric' }));

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

  networkField.control.addEventListener('change', rebuild);
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
      const onProgress = (items: SweepProgress[]): void => {
        if (cancelled || thisRun !== runCount || items.length === 0) return;
        if (initial === 0) {
          initial = items[0].norm / items[0].ratio;
          chart?.push(k, [1]);
        }
        chart?.push(k, items.map((s) => s.ratio));
        const last = items[items.length - 1];
        progress.value = k + Math.min(1, last.sweep / maxSweeps);
        status.textContent = `Balancing ${label}: sweep ${last.sweep} (${last.backend}), ratio ${formatNumber(last.ratio, 6)}, largest step ${formatNumber(last.maxStep, 3)}`;
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
    if (finished.length > 0) renderResults(origin);
  };

  const renderResults = (origin: Source): void => {
    const rows = finished.map(({ pair, result, functionChange }) => el('tr', { 'data-final-norm': String(result.finalNorm), 'data-initial-norm': String(result.initialNorm), 'data-backend': result.backend, 'data-converged': String(result.converged) },
      el('th', { scope: 'row', text: pairLabel(pair) }),
      el('td', { text: result.backend }),
      el('td', { text: result.adapter ?? '–' }),
      el('td', { text: String(result.sweeps) }),
      el('td', { text: result.converged ? 'yes' : 'no (max sweeps)' }),
      el('td', { text: formatNumber(result.initialNorm, 7) }),
      el('td', { text: formatNumber(result.finalNorm, 7) }),
      el('td', { text: formatNumber(result.finalNorm / result.initialNorm, 6) }),
      el('td', { text: formatNumber(result.maxLogImbalance, 3) }),
      el('td', { text: formatNumber(functionChange, 2) }),
      el('td', { text: `${formatNumber(result.ms / 1000, 3)} s` }),
    ));
    const table = el('table', { 'aria-label': 'Balance results' },
      el('thead', {}, el('tr', {}, ...['(p, q)', 'backend', 'adapter', 'sweeps', 'converged', '‖W0‖', '‖W‖ balanced', 'ratio', 'max |log Out/In|', 'function change', 'time'].map((h) => el('th', { scope: 'col', text: h })))),
      el('tbody', {}, ...rows));
    const fallbacks = [...new Set(finished.map((f) => f.result.fallback).filter((f): f is string => f !== null))];
    const notice = el('p', { id: 'fallback-notice', class: 'notice', role: 'status', hidden: fallbacks.length === 0 },
      fallbacks.length ? `The CPU ran instead of WebGPU. ${fallbacks.join('; ')}.` : '');

    const chooser = field('result-choice', 'Show result for', select(finished.map((f, k): [string, string] => [String(k), pairLabel(f.pair)]), '0'));
    const detail = el('div', { id: 'result-detail' });
    const saveButton = el('button', { type: 'button', text: 'Save balanced network' });
    const saveError = el('p', { id: 'save-error', class: 'error', role: 'alert', hidden: true });
    const showDetail = (): void => {
      const chosen = finished[Number(chooser.control.value)];
      const { result, pair } = chosen;
      const before = layerNorms(origin.net, pair.p, pair.q);
      const after = layerNorms(result.network, pair.p, pair.q);
      const names = origin.net.layers.slice(1).map((l, k) => `${k + 1}`.concat(l.name === 'output' ? ' (out)' : ''));
      const facts: [string, string, string][] = [
        ['Backend used', 'result-backend', result.backend],
        ['Adapter', 'result-adapter', result.adapter ?? 'none (CPU)'],
        ['Sweeps', 'result-sweeps', `${result.sweeps}${result.converged ? ' (converged)' : ' (stopped at max sweeps)'}`],
        ['Time', 'result-time', `${formatNumber(result.ms, 4)} ms`],
        ['Final imbalance', 'result-imbalance', `max |log(Out/In)| = ${formatNumber(result.maxLogImbalance, 3)}`],
        ['Final norm', 'result-norm', `${formatNumber(result.finalNorm, 8)} (from ${formatNumber(result.initialNorm, 8)})`],
        ['Frozen units', 'result-frozen', String(result.frozenUnits.length)],
      ];
      const hidden = result.logFactors.slice(1, -1).flatMap((f) => Array.from(f));
      detail.replaceChildren(
        el('dl', { class: 'facts' }, ...facts.flatMap(([term, id, value]) => [el('dt', { id: `${id}-label`, text: term }), el('dd', {}, el('output', { id, 'aria-labelledby': `${id}-label`, text: value }))])),
        figure(`Per-layer ‖W_k‖${pair.p},${pair.q} of each layer's incoming weights, before and after balancing (log scale).`,
          barChart('Per-layer norms before and after', names.map((label, k) => ({ label, values: [before[k], after[k]] })), ['before', 'after'], { logScale: true, xLabel: 'layer' })),
        el('table', { 'aria-label': 'Per-layer norms' },
          el('thead', {}, el('tr', {}, ...['layer', 'units', 'before', 'after'].map((h) => el('th', { scope: 'col', text: h })))),
          el('tbody', {}, ...names.map((name, k) => el('tr', {}, el('th', { scope: 'row', text: name }), el('td', { text: String(origin.net.layers[k + 1].shape[0]) }), el('td', { text: formatNumber(before[k], 6) }), el('td', { text: formatNumber(after[k], 6) }))))),
        figure(`Histogram of the log factors log a of the ${hidden.length.toLocaleString('en')} hidden units.`, histogramChart('Histogram of log factors', hidden)),
      );
    };
    chooser.control.addEventListener('change', showDetail);
    saveButton.addEventListener('click', () => {
      const chosen = finished[Number(chooser.control.value)];
      try {
        saveNetworkFile(chosen.result.network, `${origin.name}-balanced-p${chosen.pair.p}-q${chosen.pair.q}.safetensors`);
        saveError.hidden = true;
      } catch (error) {
        saveError.textContent = errorMessage(error);
        saveError.hidden = false;
      }
    });
    results.replaceChildren(el('h2', { text: 'Results' }), notice, el('div', { class: 'scroll' }, table), el('div', { class: 'actions' }, chooser.root, saveButton, saveError), detail);
    showDetail();
    results.hidden = false;
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
