/** Small DOM helpers shared by the demo's tabs: element creation and errors next to a control. */
import { WeightBalanceError } from '../../src/index.js';

type Attributes = Record<string, string | number | boolean | undefined>;

/** Create an element with attributes (`text` sets textContent) and children. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Attributes = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (name === 'text') node.textContent = String(value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  node.append(...children);
  return node;
}

/** Look up an element by id inside a root, failing loudly when the markup and the code disagree. */
export function byId<T extends HTMLElement>(root: ParentNode, id: string): T {
  const node = root.querySelector<T>(`#${CSS.escape(id)}`);
  if (!node) throw new Error(`demo: missing element #${id}`);
  return node;
}

/**
 * A labelled control with an error line under it. The error is tied to the control through
 * `aria-describedby` and `aria-invalid`, so a screen reader (and a test) finds it from the control.
 */
export interface Field<T extends HTMLElement> {
  /** The wrapper: label, control, hint and error. */
  root: HTMLElement;
  control: T;
  /** Show `message` next to the control (null clears it). */
  setError(message: string | null): void;
}

/** Wrap a control in a field with a visible label, an optional hint and an error line. */
export function field<T extends HTMLElement>(id: string, label: string, control: T, hint?: string): Field<T> {
  control.id = id;
  const error = el('p', { id: `${id}-error`, class: 'error', role: 'alert', hidden: true });
  const parts: (Node | string)[] = [el('label', { for: id, text: label }), control];
  const described = [`${id}-error`];
  if (hint) {
    parts.push(el('small', { id: `${id}-hint`, class: 'hint', text: hint }));
    described.unshift(`${id}-hint`);
  }
  control.setAttribute('aria-describedby', described.join(' '));
  parts.push(error);
  const root = el('div', { class: 'field' }, ...parts);
  return {
    root,
    control,
    setError(message) {
      error.textContent = message ?? '';
      error.hidden = message === null;
      if (message === null) control.removeAttribute('aria-invalid');
      else control.setAttribute('aria-invalid', 'true');
    },
  };
}

/** The message of anything thrown. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Format a number with `digits` significant digits (exponent form for very small or large). */
export function formatNumber(x: number, digits = 6): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  return a !== 0 && (a < 1e-3 || a >= 1e6) ? x.toExponential(digits - 1) : Number(x.toPrecision(digits)).toString();
}

/** A duration given in milliseconds, in seconds: one unit for times everywhere on the page. */
export function formatSeconds(ms: number): string {
  return `${formatNumber(ms / 1000, 3)} s`;
}

/** A `<select>` of `[value, label]` options with `value` selected. */
export function select(options: [string, string][], value: string): HTMLSelectElement {
  const node = el('select');
  for (const [v, label] of options) node.append(el('option', { value: v, text: label }));
  node.value = value;
  return node;
}

/**
 * Read a number from a text field; on a bad value show the error next to the field and throw
 * a {@link WeightBalanceError} (the same kind the library throws), else clear the field's error.
 */
export function readNumber(f: Field<HTMLInputElement>, what: string, check: (x: number) => boolean, rule: string): number {
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
