import { describe, expect, it } from 'vitest';
import type { Dataset } from '../src/flow/data.js';
import { parseDigitsCsv, parseLabelledCsv, splitDataset, teacherStudent, twoSpirals, validateDataset } from '../src/flow/data.js';
import { MlpTrainer, train } from '../src/flow/trainer.js';
import { mlp, WeightBalanceError } from '../src/index.js';
import { loadDigits } from '../src/node/digits.js';

const row = (pixels: number, label: number | string): string => [...Array.from({ length: pixels }, (_, i) => i % 17), label].join(',');

describe('data without downloads', () => {
  it('loads the shipped 8x8 digits: 1797 rows, pixels in [0, 1], labels 0..9', () => {
    const digits = loadDigits();
    expect(digits.count).toBe(1797);
    expect(digits.width).toBe(64);
    expect(Math.min(...digits.inputs)).toBe(0);
    expect(Math.max(...digits.inputs)).toBe(1);
    const counts = new Array(10).fill(0);
    for (const y of digits.labels!) counts[y]++;
    for (const c of counts) expect(c).toBeGreaterThan(150); // every class is present
  });

  it('splits with a fixed seed: disjoint, covering, reproducible, seed-dependent', () => {
    const data = twoSpirals({ perClass: 50, seed: 1 });
    const a = splitDataset(data, { seed: 3 });
    const b = splitDataset(data, { seed: 3 });
    const c = splitDataset(data, { seed: 4 });
    expect(a.test.count).toBe(20);
    expect(a.train.count).toBe(80);
    expect(Array.from(a.test.inputs)).toEqual(Array.from(b.test.inputs));
    expect(Array.from(a.test.inputs)).not.toEqual(Array.from(c.test.inputs));
    const key = (d: Dataset, n: number): string => `${d.inputs[2 * n]},${d.inputs[2 * n + 1]},${d.labels![n]}`;
    const all = new Set(Array.from({ length: data.count }, (_, n) => key(data, n)));
    const seen = new Set([
      ...Array.from({ length: a.train.count }, (_, n) => key(a.train, n)),
      ...Array.from({ length: a.test.count }, (_, n) => key(a.test, n)),
    ]);
    expect(seen).toEqual(all);
  });

  it('generates spirals and a teacher–student regression from a seed', () => {
    const s1 = twoSpirals({ seed: 5 });
    expect(s1.count).toBe(400);
    expect(Array.from(twoSpirals({ seed: 5 }).inputs)).toEqual(Array.from(s1.inputs));
    expect(Array.from(twoSpirals({ seed: 6 }).inputs)).not.toEqual(Array.from(s1.inputs));
    // The two classes are the same curve turned by pi: their means are opposite.
    const mean = (cls: number): number[] =>
      [0, 1].map((d) => {
        let s = 0;
        for (let n = cls; n < s1.count; n += 2) s += s1.inputs[2 * n + d];
        return s / (s1.count / 2);
      });
    mean(0).forEach((m, d) => expect(m).toBeCloseTo(-mean(1)[d], 1));
    const t = teacherStudent({ count: 300, width: 4, outputs: 2, seed: 9 });
    expect(t.labels).toBeNull();
    expect(t.targets!.length).toBe(600);
    expect(Array.from(teacherStudent({ count: 300, width: 4, outputs: 2, seed: 9 }).targets!)).toEqual(Array.from(t.targets!));
    const variance = t.targets!.reduce((a, x) => a + x * x, 0) / 600;
    expect(variance).toBeGreaterThan(0.01); // the teacher's outputs are not noise-level
  });

  it('a student net learns the teacher (regression, squared error)', async () => {
    const { train: tr, test } = splitDataset(teacherStudent({ count: 400, width: 5, hidden: 8, seed: 2 }), { seed: 0 });
    const result = await train(mlp([5, 32, 1], { seed: 1, dtype: 'float64' }), tr, { optimizer: 'flow', p: 1, q: 2, lr: 0.1, lambda: 1e-4, steps: 400, test });
    expect(result.logs[result.logs.length - 1].loss).toBeLessThan(result.logs[0].loss / 5);
    expect(Number.isNaN(result.testAccuracy)).toBe(true);
    expect(result.testLoss).toBeLessThan(result.logs[0].loss / 3);
  });

  it('refuses ragged rows, non-numeric entries and labels outside the class range, naming row and column', () => {
    const good = [row(64, 3), row(64, 9)].join('\n');
    expect(parseDigitsCsv(good + '\n\n').count).toBe(2);
    expect(() => parseDigitsCsv([row(64, 3), row(63, 9)].join('\n'))).toThrow(/digits: row 2 has 64 fields, expected 65/);
    expect(() => parseDigitsCsv([row(64, 3), row(64, 9), row(65, 1)].join('\n'))).toThrow(/row 3 has 66 fields/);
    const bad = row(64, 1).split(',');
    bad[10] = 'abc';
    expect(() => parseDigitsCsv([row(64, 0), bad.join(',')].join('\n'))).toThrow(/digits: row 2, column 11: 'abc' is not a number/);
    expect(() => parseDigitsCsv(row(64, 10))).toThrow(/row 1, column 65: label 10 is outside the class range 0..9/);
    expect(() => parseDigitsCsv(row(64, -1))).toThrow(/label -1 is outside the class range/);
    expect(() => parseDigitsCsv(row(64, 2.5))).toThrow(/label 2.5 is outside the class range/);
    expect(() => parseDigitsCsv('')).toThrow(/no rows/);
    expect(() => parseLabelledCsv('1,2,0\n3,4,1', { classes: 1 })).toThrow(WeightBalanceError);
    expect(parseLabelledCsv('1,2,0\n3,4,1', { classes: 2 }).width).toBe(2);
  });

  it('refuses a data set whose labels leave the class range, before training', () => {
    const data = twoSpirals({ perClass: 10, seed: 0 });
    const broken: Dataset = { ...data, labels: Int32Array.from(data.labels!, (y, n) => (n === 7 ? 2 : y)) };
    expect(() => validateDataset(broken)).toThrow(/row 8 has label 2, outside the class range 0..1/);
    expect(() => new MlpTrainer(mlp([2, 4, 2]), broken, { p: 1, q: 1, lr: 0.1 })).toThrow(/row 8 has label 2/);
    const fractional = { ...data, labels: Float64Array.from(data.labels!, (y, n) => (n === 3 ? 0.5 : y)) } as unknown as Dataset;
    expect(() => validateDataset(fractional)).toThrow(/row 4 has label 0.5, outside the class range 0..1/);
    const inputs = Float64Array.from(data.inputs);
    inputs[2 * 5 + 1] = NaN;
    expect(() => validateDataset({ ...data, inputs })).toThrow(/row 6, column 2 is not finite/);
  });

  it('refuses a header row and NaN pixels in a CSV file', () => {
    const header = [...Array.from({ length: 64 }, (_, i) => `pixel${i}`), 'label'].join(',');
    expect(() => parseDigitsCsv([header, row(64, 3)].join('\n'))).toThrow(/digits: row 1, column 1: 'pixel0' is not a number/);
    const nan = row(64, 3).split(',');
    nan[5] = 'NaN';
    expect(() => parseDigitsCsv(nan.join(','))).toThrow(/row 1, column 6: 'NaN' is not a number/);
  });
});

describe('the trainer refuses bad input before training', () => {
  const data = twoSpirals({ perClass: 10, seed: 0 });
  const net = mlp([2, 8, 2], { seed: 0 });
  const weights = Array.from(net.blocks[0].weight);
  const make = (options: Record<string, unknown>, n = net, d: Dataset = data): MlpTrainer => new MlpTrainer(n, d, { p: 1, q: 1, lr: 0.1, ...options } as never);

  it.each([
    [{ lr: -0.1 }, /learning rate \(lr\) must be a finite number > 0, got -0.1/],
    [{ lr: NaN }, /learning rate \(lr\) must be a finite number > 0, got NaN/],
    [{ lr: Infinity }, /learning rate \(lr\) must be a finite number > 0, got Infinity/],
    [{ lambda: -1 }, /lambda must be a finite number >= 0, got -1/],
    [{ lambda: Infinity }, /lambda must be a finite number >= 0, got Infinity/],
    [{ p: 0 }, /p must be a finite number > 0, got 0/],
    [{ q: -2 }, /q must be a number > 0, got -2/],
    [{ optimizer: 'sgd' }, /optimizer must be 'gd', 'momentum', 'adam' or 'flow', got 'sgd'/],
    [{ optimizer: 'flow', p: 2, q: 2, integrator: 'exponential' }, /exponential step integrates the flow for p = q = 1 only/],
    [{ batchSize: 0 }, /batchSize must be an integer >= 1, got 0/],
    [{ fixEvery: 1.5 }, /fixEvery must be an integer >= 0, got 1.5/],
  ])('options %o', (options, message) => {
    expect(() => make(options)).toThrow(message);
    expect(Array.from(net.blocks[0].weight)).toEqual(weights);
  });

  it('an architecture that does not fit the data', () => {
    expect(() => make({}, mlp([3, 8, 2]))).toThrow(/the architecture's first size \(3\) differs from the width of the data 'spirals' \(2\)/);
    expect(() => make({}, mlp([2, 8, 3]))).toThrow(/the architecture's last size \(3\) must equal the number of classes of 'spirals' \(2\)/);
    expect(() => make({}, mlp([2, 8, 2], { activation: 'tanh' }))).toThrow(/ReLU-like hidden units: layer 1 \('hidden1'\) is 'tanh'/);
    // A negative leaky slope makes the activation positive on both sides: backprop from the outputs cannot tell the sides apart.
    const leaky = mlp([2, 8, 2], { activation: 'leaky_relu' });
    const negative = { ...leaky, layers: leaky.layers.map((l, k) => (k === 1 ? { ...l, negativeSlope: -0.3 } : l)) };
    expect(() => make({}, negative)).toThrow(/layer 1 \('hidden1'\): the trainer needs a leaky ReLU slope >= 0, got -0.3/);
    const reg = teacherStudent({ count: 20, width: 2, seed: 0 });
    expect(() => make({ loss: 'cross-entropy' }, mlp([2, 8, 1]), reg)).toThrow(/cross-entropy needs class labels/);
  });

  it('train() refuses a test set that does not fit and a bad step count', async () => {
    const other = twoSpirals({ perClass: 10, seed: 0 });
    const wide: Dataset = { ...other, width: 1, inputs: other.inputs.subarray(0, other.count) };
    await expect(train(net, data, { p: 1, q: 1, lr: 0.1, steps: 5, test: wide })).rejects.toThrow(/first size \(2\) differs from the width/);
    await expect(train(net, data, { p: 1, q: 1, lr: 0.1, steps: -1 })).rejects.toThrow(/steps must be an integer >= 0, got -1/);
    const controller = new AbortController();
    let logged = 0;
    const run = train(net, data, {
      p: 1,
      q: 1,
      lr: 0.1,
      steps: 50,
      logEvery: 1,
      signal: controller.signal,
      onLog: (log) => {
        logged = log.step;
        if (log.step === 3) controller.abort();
      },
    });
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(logged).toBe(3);
    expect(Array.from(net.blocks[0].weight)).toEqual(weights);
  });
});
