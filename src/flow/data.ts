import { WeightBalanceError } from '../errors.js';
import { mlp } from '../network/builders.js';
import { forward } from '../network/forward.js';
import { Random } from '../network/random.js';

/**
 * Data sets for the flows, generated or parsed without downloads and without Node APIs, so the
 * same code runs in the CLI, the tests and the browser demo. Rows are examples, row-major.
 */

/** A data set: inputs and either class labels (classification) or real targets (regression). */
export interface Dataset {
  name: string;
  /** Number of examples. */
  count: number;
  /** Features per example. */
  width: number;
  /** `count x width`, row-major. */
  inputs: Float64Array;
  /** Class of each example in `0 .. classes-1`, or `null` for regression. */
  labels: Int32Array | null;
  /** Number of classes (0 for regression). */
  classes: number;
  /** Regression targets, `count x outputs`, or `null` for classification. */
  targets: Float64Array | null;
  /** Network outputs the data set needs: `classes`, or the targets' width. */
  outputs: number;
}

function fail(message: string): never {
  throw new WeightBalanceError(message);
}

function checkCount(name: string, value: unknown, min = 1): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) fail(`${name} must be an integer >= ${min}, got ${String(value)}`);
  return value;
}

function checkNonNegative(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) fail(`${name} must be a finite number >= 0, got ${String(value)}`);
  return value;
}

/**
 * Check a data set's internal consistency: array lengths, finite values, labels inside
 * `0 .. classes-1`. Throws a {@link WeightBalanceError} naming the first bad example.
 */
export function validateDataset(data: Dataset): void {
  if (!data || typeof data !== 'object') fail('a data set must be an object');
  const where = `data set '${String(data.name)}'`;
  checkCount(`${where}: count`, data.count);
  checkCount(`${where}: width`, data.width);
  if (!(data.inputs instanceof Float64Array) || data.inputs.length !== data.count * data.width) {
    fail(`${where}: inputs must be a Float64Array of count x width = ${data.count * data.width} values`);
  }
  for (let k = 0; k < data.inputs.length; k++) {
    if (!Number.isFinite(data.inputs[k])) fail(`${where}: row ${Math.floor(k / data.width) + 1}, column ${(k % data.width) + 1} is not finite`);
  }
  if (data.labels) {
    checkCount(`${where}: classes`, data.classes, 2);
    if (data.labels.length !== data.count) fail(`${where}: ${data.labels.length} labels for ${data.count} examples`);
    for (let n = 0; n < data.count; n++) {
      const y = data.labels[n];
      if (!Number.isInteger(y) || y < 0 || y >= data.classes) fail(`${where}: row ${n + 1} has label ${y}, outside the class range 0..${data.classes - 1}`);
    }
    if (data.outputs !== data.classes) fail(`${where}: outputs (${data.outputs}) must equal classes (${data.classes})`);
  } else {
    if (!(data.targets instanceof Float64Array)) fail(`${where}: needs labels or targets`);
    checkCount(`${where}: outputs`, data.outputs);
    if (data.targets.length !== data.count * data.outputs) fail(`${where}: targets must hold count x outputs = ${data.count * data.outputs} values`);
    for (let k = 0; k < data.targets.length; k++) {
      if (!Number.isFinite(data.targets[k])) fail(`${where}: target of row ${Math.floor(k / data.outputs) + 1} is not finite`);
    }
  }
}

/** Options of {@link parseLabelledCsv}. */
export interface CsvOptions {
  /** Name of the data set (in messages). */
  name?: string;
  /** Number of classes: labels must be integers in `0 .. classes-1`. */
  classes: number;
  /** Features per row (the label comes after them); default: the first row's fields minus one. */
  width?: number;
  /** Every feature is multiplied by this (default 1). */
  scale?: number;
}

/**
 * Parse a comma-separated file of `width` numeric features followed by an integer class label
 * per line (no header; blank lines ignored). Environment-free: works on a string in Node or a
 * browser. Refuses ragged rows, non-numeric entries and labels outside the class range with a
 * {@link WeightBalanceError} naming the row (1-based line) and column.
 */
export function parseLabelledCsv(text: string, options: CsvOptions): Dataset {
  if (typeof text !== 'string') fail('the data must be text');
  const name = options.name ?? 'csv';
  const classes = checkCount('classes', options.classes, 2);
  const scale = options.scale ?? 1;
  if (!Number.isFinite(scale)) fail(`scale must be finite, got ${scale}`);
  const lines = text.split(/\r?\n/);
  const rows: { line: number; fields: string[] }[] = [];
  lines.forEach((l, k) => {
    if (l.trim() !== '') rows.push({ line: k + 1, fields: l.split(',') });
  });
  if (rows.length === 0) fail(`${name}: the file has no rows`);
  const width = options.width ?? rows[0].fields.length - 1;
  checkCount(`${name}: width`, width);
  const inputs = new Float64Array(rows.length * width);
  const labels = new Int32Array(rows.length);
  rows.forEach(({ line, fields }, n) => {
    if (fields.length !== width + 1) fail(`${name}: row ${line} has ${fields.length} fields, expected ${width + 1} (${width} features and a label)`);
    for (let c = 0; c <= width; c++) {
      const field = fields[c].trim();
      const value = field === '' ? NaN : Number(field);
      if (!Number.isFinite(value)) fail(`${name}: row ${line}, column ${c + 1}: '${field}' is not a number`);
      if (c < width) inputs[n * width + c] = value * scale;
      else {
        if (!Number.isInteger(value) || value < 0 || value >= classes)
          fail(`${name}: row ${line}, column ${c + 1}: label ${field} is outside the class range 0..${classes - 1}`);
        labels[n] = value;
      }
    }
  });
  return { name, count: rows.length, width, inputs, labels, classes, targets: null, outputs: classes };
}

/**
 * Parse the 8x8 handwritten digits (`data/digits.csv.gz` once gunzipped: 64 pixels in 0..16 then
 * the label 0..9 per row). Pixels are scaled to `[0, 1]`.
 */
export function parseDigitsCsv(text: string): Dataset {
  return parseLabelledCsv(text, { name: 'digits', classes: 10, width: 64, scale: 1 / 16 });
}

/** Options of {@link twoSpirals}. */
export interface SpiralOptions {
  /** Examples per spiral (default 200). */
  perClass?: number;
  /** Turns of each spiral (default 1.5). */
  turns?: number;
  /** Standard deviation of the Gaussian noise added to each coordinate (default 0.05). */
  noise?: number;
  seed?: number;
}

/**
 * Two interleaved spirals in the plane, one class each: a classic task no linear model solves.
 * Points lie in about `[-1, 1]^2`; one seed gives the same points everywhere.
 */
export function twoSpirals(options: SpiralOptions = {}): Dataset {
  const perClass = checkCount('perClass', options.perClass ?? 200);
  const turns = checkNonNegative('turns', options.turns ?? 1.5);
  const noise = checkNonNegative('noise', options.noise ?? 0.05);
  const rng = new Random(options.seed ?? 0);
  const count = 2 * perClass;
  const inputs = new Float64Array(count * 2);
  const labels = new Int32Array(count);
  for (let n = 0; n < count; n++) {
    const cls = n % 2;
    const t = (Math.floor(n / 2) + 0.5) / perClass; // 0..1 along the spiral
    const angle = t * turns * 2 * Math.PI + cls * Math.PI;
    const radius = 0.1 + 0.9 * t;
    inputs[2 * n] = radius * Math.cos(angle) + noise * rng.normal();
    inputs[2 * n + 1] = radius * Math.sin(angle) + noise * rng.normal();
    labels[n] = cls;
  }
  return { name: 'spirals', count, width: 2, inputs, labels, classes: 2, targets: null, outputs: 2 };
}

/** Options of {@link teacherStudent}. */
export interface TeacherOptions {
  /** Examples (default 1000). */
  count?: number;
  /** Inputs per example (default 10). */
  width?: number;
  /** Hidden units of the teacher (default 20). */
  hidden?: number;
  /** Outputs (default 1). */
  outputs?: number;
  /** Standard deviation of the Gaussian label noise (default 0.01). */
  noise?: number;
  seed?: number;
}

/**
 * A teacher–student regression: standard-normal inputs labelled by a random ReLU network
 * `width-hidden-outputs` (He weights, small random biases) plus Gaussian noise.
 */
export function teacherStudent(options: TeacherOptions = {}): Dataset {
  const count = checkCount('count', options.count ?? 1000);
  const width = checkCount('width', options.width ?? 10);
  const hidden = checkCount('hidden', options.hidden ?? 20);
  const outputs = checkCount('outputs', options.outputs ?? 1);
  const noise = checkNonNegative('noise', options.noise ?? 0.01);
  const seed = options.seed ?? 0;
  const teacher = mlp([width, hidden, outputs], { seed: seed + 1, dtype: 'float64', biasScale: 0.1 });
  const rng = new Random(seed);
  const inputs = Float64Array.from({ length: count * width }, () => rng.normal());
  const targets = forward(teacher, inputs, count);
  for (let k = 0; k < targets.length; k++) targets[k] += noise * rng.normal();
  return { name: 'teacher', count, width, inputs, labels: null, classes: 0, targets, outputs };
}

/** Examples `indices` of a data set, as a new data set. */
export function subset(data: Dataset, indices: ArrayLike<number>, name = data.name): Dataset {
  const n = indices.length;
  const inputs = new Float64Array(n * data.width);
  const labels = data.labels ? new Int32Array(n) : null;
  const targets = data.targets ? new Float64Array(n * data.outputs) : null;
  for (let k = 0; k < n; k++) {
    const m = indices[k];
    inputs.set(data.inputs.subarray(m * data.width, (m + 1) * data.width), k * data.width);
    if (labels) labels[k] = data.labels![m];
    if (targets) targets.set(data.targets!.subarray(m * data.outputs, (m + 1) * data.outputs), k * data.outputs);
  }
  return { ...data, name, count: n, inputs, labels, targets };
}

/** A seeded permutation of `0 .. n-1` (Fisher–Yates). */
export function permutation(n: number, rng: Random): Int32Array {
  const order = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}

/**
 * A fixed train/test split: a seeded shuffle, then the last `testFraction` of the examples
 * (default 0.2) for the test set. One seed gives one split, in Node and in the browser.
 */
export function splitDataset(data: Dataset, options: { testFraction?: number; seed?: number } = {}): { train: Dataset; test: Dataset } {
  const fraction = options.testFraction ?? 0.2;
  if (typeof fraction !== 'number' || !(fraction > 0 && fraction < 1)) fail(`testFraction must be strictly between 0 and 1, got ${String(fraction)}`);
  const order = permutation(data.count, new Random(options.seed ?? 0));
  const nTest = Math.max(1, Math.round(data.count * fraction));
  if (nTest >= data.count) fail(`the data set '${data.name}' has too few examples (${data.count}) to split`);
  return {
    train: subset(data, order.subarray(0, data.count - nTest), `${data.name} (train)`),
    test: subset(data, order.subarray(data.count - nTest), `${data.name} (test)`),
  };
}
