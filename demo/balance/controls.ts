/**
 * The settings of the Balance tab: the network (a preset, a custom MLP, or a file opened or
 * dropped), the (p, q) pairs, schedule, backend, tol and max sweeps. Reading the settings checks
 * every field and marks every bad one at once.
 */
import type { Backend, Network, Schedule } from '../../src/index.js';
import { el, errorMessage, field, readNumber, select } from '../common/dom.js';
import { acceptedExtensions, fileFixedUnits, readNetworkFile } from '../common/files.js';
import { customMlp, describe as describeNetwork, fingerprint, PRESETS } from '../common/networks.js';
import type { Pair } from '../common/pairs.js';
import { DEFAULT_PAIRS, parsePairs } from '../common/pairs.js';
import type { Source } from './results.js';

const CUSTOM = 'custom';
const FILE = 'file';

/** Settings of one run, as read (and checked) from the form. */
export interface Settings {
  pairs: Pair[];
  tol: number;
  maxSweeps: number;
  schedule: Schedule;
  backend: Backend;
}

/** The settings form and what the tab needs from it. */
export interface Controls {
  form: HTMLFormElement;
  /** The network on the page now (null while its settings do not build one). */
  source(): Source | null;
  /** Check every field, mark the bad ones, and return the settings (null when any is bad). */
  read(): Settings | null;
  /** Show a line of status (e.g. a file opened). */
  onStatus: (text: string) => void;
  /** Called whenever the network changes. */
  onSource: (source: Source | null) => void;
  /** Show the fingerprint of the current network, recomputed. */
  showFingerprint(value: string): void;
  /** Build the network from the settings now (call once the callbacks are set). */
  refresh(): void;
}

function numberInput(value: string, attributes: Record<string, string> = {}): HTMLInputElement {
  return el('input', { type: 'text', inputmode: 'decimal', value, autocomplete: 'off', spellcheck: 'false', ...attributes });
}

/** A sentence on the units a file's operators fixed (an ONNX Sigmoid, an unknown op), or '' when none. */
function fixedNote(net: Network): string {
  const fixed = fileFixedUnits(net);
  if (fixed.length === 0) return '';
  const parts = fixed.map((f) => `${f.units} in layer ${f.layer} (${f.name}) by ${f.op} ${f.node}`);
  const total = fixed.reduce((n, f) => n + f.units, 0);
  return ` The file's operators fixed ${total} units (never rescaled): ${parts.join('; ')}.`;
}

/** Build the settings form. */
export function buildControls(): Controls {
  const networkField = field(
    'network',
    'Network',
    select([...PRESETS.map((p): [string, string] => [p.id, p.label]), [CUSTOM, 'Custom MLP (layer sizes below)']], PRESETS[0].id),
  );
  const customField = field(
    'custom-arch',
    'Custom architecture',
    el('input', { type: 'text', value: '200-64-32-10', autocomplete: 'off', spellcheck: 'false' }),
    'layer sizes, input first: 200-64-32-10',
  );
  const seedField = field('seed', 'Seed', numberInput('0', { inputmode: 'numeric' }));
  const fileField = field(
    'file',
    'Open a network file',
    el('input', { type: 'file', accept: acceptedExtensions() }),
    '.safetensors (dense and conv weights) or .onnx; or drop it on this box',
  );
  const dropZone = el('div', { class: 'dropzone', id: 'dropzone', 'aria-describedby': 'file-hint' }, fileField.root);
  const summary = el('output', { id: 'network-summary', 'aria-label': 'Network summary', class: 'summary' });
  const fingerprintOut = el('output', { id: 'network-fingerprint', 'aria-label': 'Network fingerprint', class: 'mono' });
  const pairsField = field(
    'pairs',
    '(p, q) pairs',
    el('input', { type: 'text', value: DEFAULT_PAIRS, autocomplete: 'off', spellcheck: 'false' }),
    'p,q; p,q; … with p > 0 and q > 0',
  );
  const scheduleField = field(
    'schedule',
    'Schedule',
    select(
      [
        ['accelerated', 'accelerated (fewest passes; CPU or WebGPU)'],
        ['parallel', "parallel (the paper's update; CPU or WebGPU)"],
        ['alternating', 'alternating (one class at a time; CPU or WebGPU)'],
      ],
      'accelerated',
    ),
  );
  const backendField = field(
    'backend',
    'Backend',
    select(
      [
        ['auto', 'auto (WebGPU on a hardware GPU, else CPU)'],
        ['webgpu', 'WebGPU'],
        ['cpu', 'CPU (Web Worker)'],
      ],
      'auto',
    ),
  );
  const tolField = field('tol', 'Tolerance (tol)', numberInput('1e-4'), 'stop once max |log(Out/In)| over the hidden units is at most this');
  const sweepsField = field('max-sweeps', 'Max sweeps', numberInput('1000', { inputmode: 'numeric' }));
  const form = el(
    'form',
    { 'aria-label': 'Balance settings', id: 'balance-form', novalidate: true },
    el(
      'fieldset',
      {},
      el('legend', { text: 'Network' }),
      networkField.root,
      customField.root,
      seedField.root,
      dropZone,
      el('p', { class: 'summary' }, summary, el('br'), 'Fingerprint: ', fingerprintOut),
    ),
    el(
      'fieldset',
      {},
      el('legend', { text: 'Balancing' }),
      pairsField.root,
      el('div', { class: 'pair-row' }, tolField.root, sweepsField.root),
      scheduleField.root,
      backendField.root,
    ),
  );

  let source: Source | null = null;
  let fileSource: Source | null = null;
  const controls: Controls = {
    form,
    source: () => source,
    read,
    onStatus: () => undefined,
    onSource: () => undefined,
    showFingerprint: (value) => {
      fingerprintOut.textContent = value;
    },
    refresh: () => rebuild(),
  };
  const setSource = (next: Source | null): void => {
    source = next;
    summary.textContent = next ? `${next.name}: ${describeNetwork(next.net)}.${fixedNote(next.net)}` : 'No network.';
    fingerprintOut.textContent = next ? next.fingerprint : '–';
    controls.onSource(next);
  };
  const makeSource = (net: Network, name: string): Source => ({ net, name, fingerprint: fingerprint(net) });

  function rebuild(): void {
    const choice = networkField.control.value;
    customField.root.hidden = choice !== CUSTOM;
    seedField.root.hidden = choice === FILE;
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
  }

  async function openFile(file: File): Promise<void> {
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
      rebuild();
      controls.onStatus(`Opened ${file.name}.`);
    } catch (error) {
      fileField.setError(`${file.name}: ${errorMessage(error)}`);
    }
  }

  function read(): Settings | null {
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
    try {
      tol = readNumber(tolField, 'tol', (x) => x >= 0, 'a number >= 0');
    } catch {
      ok = false;
    }
    try {
      maxSweeps = readNumber(sweepsField, 'max sweeps', (x) => Number.isInteger(x) && x >= 1 && x <= 1_000_000, 'a whole number from 1 to 1000000');
    } catch {
      ok = false;
    }
    networkField.setError(source ? null : 'choose a network that builds, or open a file');
    if (!source) ok = false;
    const schedule = scheduleField.control.value as Schedule;
    const backend = backendField.control.value as Backend;
    return ok ? { pairs, tol, maxSweeps, schedule, backend } : null;
  }

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
    if (file)
      void openFile(file).finally(() => {
        fileField.control.value = '';
      });
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
  return controls;
}
