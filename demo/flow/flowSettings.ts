/**
 * The Flows tab's settings: the fields, their defaults per data set, and one reader that checks
 * every field and marks every bad one at once (as the Balance tab does).
 */

import type { Dataset } from '../../src/index.js';
import { WeightBalanceError } from '../../src/index.js';
import type { Field } from '../common/dom.js';
import { el, field, readNumber } from '../common/dom.js';

/**
 * Defaults per data set, measured so the tab shows what it claims (p = q = 1, lambda = 1e-4, 600
 * steps on the digits, seed 0): gradient descent's max |g| rises about 11% above its start while
 * the flow's falls along exp(-p q lambda t) (0.977 against 0.970 at the end); unit by unit, GD ends
 * about 20% of the starting max |g| away from exp(-p q lambda t) g[h](0), the flow about 7% (its
 * O(step) error). With the old defaults (lambda 3e-3, GD step 0.1) both ended near 0.4.
 */
export const DATA_DEFAULTS: Record<string, { arch: string; lrGd: string; lrFlow: string }> = {
  digits: { arch: '64,64,32,10', lrGd: '0.3', lrFlow: '0.5' },
  spirals: { arch: '2,32,32,2', lrGd: '0.3', lrFlow: '0.5' },
};

/** Settings of one comparison. */
export interface FlowSettings {
  sizes: number[];
  p: number;
  q: number;
  lambda: number;
  lrGd: number;
  lrFlow: number;
  steps: number;
  fixEvery: number;
}

function textInput(value: string): HTMLInputElement {
  return el('input', { type: 'text', inputmode: 'decimal', value, autocomplete: 'off', spellcheck: 'false' });
}

function readSizes(f: Field<HTMLInputElement>, data: Dataset): number[] {
  const text = f.control.value.trim();
  const sizes = text.split(',').map((s) => (/^\s*[0-9]+\s*$/.test(s) ? Number(s) : NaN));
  let message: string | null = null;
  if (sizes.length < 2 || sizes.some((n) => !Number.isSafeInteger(n) || n <= 0))
    message = `layer sizes must be at least two positive integers like 64,64,32,10, got '${text}'`;
  else if (sizes[0] !== data.width) message = `the first size (${sizes[0]}) must equal the data's width (${data.width})`;
  else if (sizes[sizes.length - 1] !== data.outputs) message = `the last size (${sizes[sizes.length - 1]}) must equal the number of classes (${data.outputs})`;
  f.setError(message);
  if (message) throw new WeightBalanceError(message);
  return sizes;
}

/** The fields of the Flows tab. */
export function flowFields(): Record<'arch' | 'p' | 'q' | 'lambda' | 'lrGd' | 'lrFlow' | 'steps' | 'fixEvery', Field<HTMLInputElement>> {
  return {
    arch: field('flow-arch', 'Layer sizes', textInput(DATA_DEFAULTS.digits.arch), 'input first, e.g. 64,64,32,10'),
    p: field('flow-p', 'p', textInput('1')),
    q: field('flow-q', 'q', textInput('1')),
    lambda: field('flow-lambda', 'lambda', textInput('1e-4'), 'weight of ||W||_{p,q}^q'),
    lrGd: field('flow-lr-gd', 'Step, gradient descent', textInput(DATA_DEFAULTS.digits.lrGd)),
    lrFlow: field('flow-lr-flow', 'Step, flow', textInput(DATA_DEFAULTS.digits.lrFlow), 'M rescales the gradient: for p = q = 1 by |W|'),
    steps: field('flow-steps', 'Steps', textInput('600')),
    fixEvery: field('flow-fix-every', 'Also GD + fix every', textInput('0'), 'steps; 0 for no third run'),
  };
}

/** Read every field: every bad one is marked next to it, then one error says how many (or which) failed. */
export function readFlowSettings(f: ReturnType<typeof flowFields>, data: Dataset): FlowSettings {
  const errors: unknown[] = [];
  const attempt = <T>(read: () => T, fallback: T): T => {
    try {
      return read();
    } catch (error) {
      errors.push(error);
      return fallback;
    }
  };
  const settings: FlowSettings = {
    sizes: attempt(() => readSizes(f.arch, data), []),
    p: attempt(() => readNumber(f.p, 'p', (x) => x > 0, 'a number > 0'), 1),
    q: attempt(() => readNumber(f.q, 'q', (x) => x > 0, 'a number > 0'), 1),
    lambda: attempt(() => readNumber(f.lambda, 'lambda', (x) => x >= 0, 'a number >= 0'), 0),
    lrGd: attempt(() => readNumber(f.lrGd, 'the step', (x) => x > 0, 'a number > 0'), 1),
    lrFlow: attempt(() => readNumber(f.lrFlow, 'the step', (x) => x > 0, 'a number > 0'), 1),
    steps: attempt(() => readNumber(f.steps, 'steps', (x) => Number.isInteger(x) && x >= 1, 'an integer >= 1'), 1),
    fixEvery: attempt(() => readNumber(f.fixEvery, 'the fix interval', (x) => Number.isInteger(x) && x >= 0, 'an integer >= 0'), 0),
  };
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new WeightBalanceError(`${errors.length} settings are not valid (marked in red)`);
  return settings;
}
