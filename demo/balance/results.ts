/**
 * The results of a balance run on the page: a table of every (p, q), a plain notice when the CPU
 * ran instead of WebGPU, and for the chosen pair the backend, adapter, sweeps, time and final
 * imbalance, per-layer norms before and after, the histogram of log factors, and Save.
 */
import type { BalanceResult, Fallback, Network } from '../../src/index.js';
import { barChart, figure, histogramChart } from '../common/charts.js';
import { el, errorMessage, field, formatNumber, select } from '../common/dom.js';
import { saveExtension, saveNetworkFile } from '../common/files.js';
import { layerNorms } from '../common/networks.js';
import { pairLabel } from '../common/pairs.js';
import type { Pair } from '../common/pairs.js';

/** The network the page balances, and where it came from. */
export interface Source {
  net: Network;
  /** Base name for saved files. */
  name: string;
  fingerprint: string;
}

/** One finished run, with what the page derived from it. */
export interface Finished {
  pair: Pair;
  result: BalanceResult;
  /** `max |f_balanced(x) - f(x)| / max |f(x)|` on the probe inputs. */
  functionChange: number;
}

/** Render the results of `finished` (runs on `origin`) into `results` and show it. */
export function renderResults(results: HTMLElement, origin: Source, finished: Finished[]): void {
  const rows = finished.map(({ pair, result, functionChange }) => el('tr', { 'data-final-norm': String(result.finalNorm), 'data-initial-norm': String(result.initialNorm), 'data-backend': result.backend, 'data-converged': String(result.converged) },
    el('th', { scope: 'row', text: pairLabel(pair) }),
    el('td', { text: result.backend }),
    el('td', { class: 'wrap', text: result.adapter ?? '–' }),
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
  const fallbacks = [...new Set(finished.flatMap((f) => (f.result.fallback ? [fallbackText(f.result.fallback)] : [])))];
  // A run can leave WebGPU altogether (the CPU finished it) or only for one step (e.g. the final rescaling).
  const cpuFinished = finished.some((f) => f.result.fallback !== null && f.result.backend === 'cpu');
  const lead = cpuFinished ? 'The CPU ran instead of WebGPU.' : 'WebGPU ran; the CPU took over one step.';
  const notice = el('p', { id: 'fallback-notice', class: 'notice', role: 'status', hidden: fallbacks.length === 0 },
    fallbacks.length ? `${lead} ${fallbacks.join('; ')}.` : '');

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
      saveNetworkFile(chosen.result.network, `${origin.name}-balanced-p${chosen.pair.p}-q${chosen.pair.q}${saveExtension(origin.net)}`, origin.net);
      saveError.hidden = true;
    } catch (error) {
      saveError.textContent = errorMessage(error);
      saveError.hidden = false;
    }
  });
  results.replaceChildren(el('h2', { text: 'Results' }), notice, el('div', { class: 'scroll' }, table), el('div', { class: 'actions' }, chooser.root, saveButton, saveError), detail);
  showDetail();
  results.hidden = false;
}

/** What the page says for a fallback: its own words for the kinds a browser meets before a run, else the library's sentence. */
function fallbackText(fallback: Fallback): string {
  switch (fallback.kind) {
    case 'no-webgpu': return 'this browser has no WebGPU (navigator.gpu is missing)';
    case 'no-adapter': return 'the browser found no WebGPU adapter';
    case 'software-adapter': return 'the browser offers only a software adapter (a CPU emulation of a GPU, slower than the CPU engine)';
    default: return fallback.message;
  }
}
