/**
 * The results of a balance run on the page: a table of every (p, q) that fits its column, a plain
 * notice when the CPU ran instead of WebGPU, and for the chosen pair the facts with a line on what
 * each means, per-layer norms before and after (also drawn on the network diagram), the histogram
 * of log factors coloured by layer, and Save.
 */
import type { BalanceResult, Fallback, Network } from '../../src/index.js';
import { barChart, figure, stackedHistogram } from '../common/charts.js';
import { el, errorMessage, field, formatNumber, formatSeconds as seconds, select } from '../common/dom.js';
import { saveExtension, saveNetworkFile } from '../common/files.js';
import { fixedUnitsByLayer, layerKind, layerNorms } from '../common/networks.js';
import type { Pair } from '../common/pairs.js';
import { pairLabel } from '../common/pairs.js';
import type { DiagramRun } from './networkDiagram.js';

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

/** A layer's label, the same in the table, the charts and the diagram: `1`, `2`, …, `output`. */
export function layerLabel(net: Network, layer: number): string {
  return layerKind(net, layer) === 'output' ? 'output' : String(layer);
}

/** Why the run left WebGPU, in words (null: it did not); the page reads `fallback.kind`, never the text. */
export function fallbackText(result: BalanceResult): string | null {
  const fallback: Fallback | null = result.fallback;
  if (!fallback) return null;
  switch (fallback.kind) {
    case 'no-webgpu':
      return 'this browser has no WebGPU (navigator.gpu is missing)';
    case 'no-adapter':
      return 'the browser found no WebGPU adapter';
    case 'software-adapter':
      return 'the browser offers only a software adapter (a CPU emulation of a GPU, slower than the CPU engine)';
    default:
      return fallback.message;
  }
}

function resultsTable(finished: Finished[]): HTMLTableElement {
  const rows = finished.map(({ pair, result, functionChange }) =>
    el(
      'tr',
      {
        'data-final-norm': String(result.finalNorm),
        'data-initial-norm': String(result.initialNorm),
        'data-backend': result.backend,
        'data-adapter': result.adapter ?? '',
        'data-sweeps': String(result.sweeps),
        'data-converged': String(result.converged),
      },
      el('th', { scope: 'row', text: pairLabel(pair) }),
      el('td', { text: result.backend }),
      el('td', { text: `${result.sweeps}${result.converged ? '' : ' (max)'}` }),
      el('td', { text: formatNumber(result.initialNorm, 6) }),
      el('td', { text: formatNumber(result.finalNorm, 6) }),
      el('td', { text: formatNumber(result.finalNorm / result.initialNorm, 5) }),
      el('td', { text: formatNumber(result.maxLogImbalance, 2) }),
      el('td', { text: formatNumber(functionChange, 2) }),
      el('td', { text: seconds(result.ms) }),
    ),
  );
  const headers: [string, string][] = [
    ['(p, q)', ''],
    ['backend', ''],
    ['sweeps', 'sweeps run; (max) = stopped at max sweeps before tol'],
    ['‖W0‖', 'norm before balancing: differs per (p, q)'],
    ['‖W‖ balanced', ''],
    ['ratio', '‖W‖ / ‖W0‖'],
    ['max |log Out/In|', 'imbalance left: 0 at the minimum'],
    ['function change', 'relative output change: rounding only'],
    ['time', ''],
  ];
  return el(
    'table',
    { 'aria-label': 'Balance results', class: 'fit' },
    el('thead', {}, el('tr', {}, ...headers.map(([h, tip]) => el('th', { scope: 'col', text: h, title: tip || undefined })))),
    el('tbody', {}, ...rows),
  );
}

/** The chosen pair's facts, each with what it means. */
function facts(origin: Network, { result, pair, functionChange }: Finished): HTMLElement {
  const fixed = fixedUnitsByLayer(origin);
  const fixedLayers = fixed.map((n, k) => (n > 0 ? `${n} in layer ${layerLabel(origin, k)}` : '')).filter((s) => s);
  const frozenLayers = [...new Set(result.frozenUnits.map((u) => layerLabel(origin, u.layer)))];
  const rows: [string, string, string, string][] = [
    ['Backend used', 'result-backend', result.backend, 'where the sweeps ran (WebGPU in float32, the CPU in float64).'],
    ['Adapter', 'result-adapter', result.adapter ?? 'none (CPU)', 'the GPU the browser gave.'],
    [
      'Sweeps',
      'result-sweeps',
      `${result.sweeps}${result.converged ? ' (converged)' : ' (stopped at max sweeps)'}`,
      'one sweep updates every hidden unit once; the run stops when no log factor moves more than tol.',
    ],
    ['Time', 'result-time', seconds(result.ms), 'wall time of this pair, setup included.'],
    [
      '‖W0‖p,q',
      'result-initial',
      formatNumber(result.initialNorm, 8),
      `the norm of the network as given, for this (p, q) = ${pairLabel(pair)}: each pair measures the same weights differently, so each starts from its own ‖W0‖.`,
    ],
    [
      'Final norm',
      'result-norm',
      `${formatNumber(result.finalNorm, 8)} (ratio ${formatNumber(result.finalNorm / result.initialNorm, 6)})`,
      'the smallest norm over all rescalings of the hidden units.',
    ],
    [
      'Final imbalance',
      'result-imbalance',
      `max |log(Out/In)| = ${formatNumber(result.maxLogImbalance, 3)}`,
      "at the minimum every hidden unit's incoming mass In equals its outgoing mass Out (log ratio 0); this is the largest gap left.",
    ],
    [
      'Function change',
      'result-function',
      formatNumber(functionChange, 3),
      'max |f_balanced(x) − f(x)| / max |f(x)| on 4 fixed random inputs: rescaling does not change what a ReLU network computes, so this is rounding (about 1e-7 in float32).',
    ],
    [
      'Fixed units',
      'result-fixed',
      fixedLayers.join(', ') || 'none',
      'never rescaled: the output layer, units whose activation is not ReLU-like (e.g. an ONNX Sigmoid), units a file marks fixed.',
    ],
    [
      'Frozen units',
      'result-frozen',
      result.frozenUnits.length ? `${result.frozenUnits.length} (layer ${frozenLayers.join(', ')})` : '0',
      'dead units (no incoming or no outgoing weight): the minimum is not attained for them, so they stay at factor 1.',
    ],
  ];
  return el(
    'dl',
    { class: 'facts' },
    ...rows.flatMap(([term, id, value, meaning]) => [
      el('dt', { id: `${id}-label`, text: term }),
      el('dd', {}, el('output', { id, 'aria-labelledby': `${id}-label`, text: value }), el('small', { class: 'hint', text: ` ${meaning}` })),
    ]),
  );
}

/** Per-layer norms (chart and table) and the histogram of log factors by layer, for one pair. */
function layerDetail(origin: Network, { result, pair }: Finished, before: number[], after: number[]): HTMLElement[] {
  const names = origin.layers.slice(1).map((_, k) => layerLabel(origin, k + 1));
  const hiddenLayers = origin.layers.map((_, k) => k).filter((k) => layerKind(origin, k) === 'hidden');
  const perLayer = hiddenLayers.map((k) => ({ label: `layer ${layerLabel(origin, k)}`, values: result.logFactors[k] }));
  const hiddenCount = perLayer.reduce((n, g) => n + g.values.length, 0);
  return [
    figure(
      `Per-layer ‖W_k‖${pair.p},${pair.q} of each layer's incoming weights, before and after balancing (log scale).`,
      barChart(
        'Per-layer norms before and after',
        names.map((label, k) => ({ label, values: [before[k], after[k]] })),
        ['before', 'after'],
        { logScale: true, xLabel: 'layer', yLabel: 'norm' },
      ),
    ),
    el(
      'table',
      { 'aria-label': 'Per-layer norms' },
      el('thead', {}, el('tr', {}, ...['layer', 'units', 'before', 'after'].map((h) => el('th', { scope: 'col', text: h })))),
      el(
        'tbody',
        {},
        ...names.map((name, k) =>
          el(
            'tr',
            {},
            el('th', { scope: 'row', text: name }),
            el('td', { text: String(origin.layers[k + 1].shape[0]) }),
            el('td', { text: formatNumber(before[k], 6) }),
            el('td', { text: formatNumber(after[k], 6) }),
          ),
        ),
      ),
    ),
    figure(
      `Histogram of the log factors log a of the ${hiddenCount.toLocaleString('en')} hidden units, coloured by layer (a > 1: the unit's incoming weights grew, its outgoing weights shrank).`,
      stackedHistogram('Histogram of log factors by layer', perLayer),
    ),
  ];
}

/** Render the results of `finished` (runs on `origin`) into `results` and show it. */
export function renderResults(results: HTMLElement, origin: Source, finished: Finished[], onDetail: (run: DiagramRun) => void): void {
  const fallbacks = [...new Set(finished.map((f) => fallbackText(f.result)).filter((f): f is string => f !== null))];
  // A run can leave WebGPU altogether (the CPU finished it) or only for one step (e.g. the final rescaling).
  const cpuFinished = finished.some((f) => f.result.fallback !== null && f.result.backend === 'cpu');
  const lead = cpuFinished ? 'The CPU ran instead of WebGPU.' : 'WebGPU ran; the CPU took over one step.';
  const notice = el(
    'p',
    { id: 'fallback-notice', class: 'notice', role: 'status', hidden: fallbacks.length === 0 },
    fallbacks.length ? `${lead} ${fallbacks.join('; ')}.` : '',
  );
  const chooser = field(
    'result-choice',
    'Show result for',
    select(
      finished.map((f, k): [string, string] => [String(k), pairLabel(f.pair)]),
      '0',
    ),
  );
  const detail = el('div', { id: 'result-detail' });
  const saveButton = el('button', { type: 'button', text: 'Save balanced network' });
  const saveError = el('p', { id: 'save-error', class: 'error', role: 'alert', hidden: true });
  const showDetail = (): void => {
    const chosen = finished[Number(chooser.control.value)];
    const { result, pair } = chosen;
    const before = layerNorms(origin.net, pair.p, pair.q);
    const after = layerNorms(result.network, pair.p, pair.q);
    const frozen = new Map<number, number>();
    for (const u of result.frozenUnits) frozen.set(u.layer, (frozen.get(u.layer) ?? 0) + 1);
    onDetail({ p: pair.p, q: pair.q, before, after, frozen });
    detail.replaceChildren(facts(origin.net, chosen), ...layerDetail(origin.net, chosen, before, after));
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
  results.replaceChildren(
    el('h2', { text: 'Results' }),
    notice,
    el('div', { class: 'scroll', id: 'results-table' }, resultsTable(finished)),
    el('div', { class: 'actions' }, chooser.root, saveButton, saveError),
    detail,
  );
  showDetail();
  results.hidden = false;
}
