import { describe, expect, it } from 'vitest';
import type { CliIO } from '../src/cli/io.js';
import { main } from '../src/cli/main.js';

function capture(): CliIO & { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return {
    out: (text) => void (out += text),
    err: (text) => void (err += text),
    isTTY: false,
    stdout: () => out,
    stderr: () => err,
  };
}

describe('weight-balance train', () => {
  it('--json prints exactly one JSON object { step, loss, accuracy, residual, testAccuracy }', async () => {
    const io = capture();
    const code = await main(
      [
        'train',
        '--data',
        'digits',
        '--arch',
        '64,32,10',
        '-p',
        '1',
        '-q',
        '1',
        '--lambda',
        '1e-4',
        '--optimizer',
        'flow',
        '--steps',
        '150',
        '--lr',
        '1',
        '--seed',
        '0',
        '--log-every',
        '50',
        '--json',
      ],
      io,
    );
    expect(io.stderr()).toBe('');
    expect(code).toBe(0);
    const text = io.stdout();
    expect(text.trim().split('\n')).toHaveLength(1);
    const result = JSON.parse(text);
    expect(Object.keys(result).sort()).toEqual(['accuracy', 'loss', 'residual', 'step', 'testAccuracy']);
    expect(result.step).toEqual([0, 50, 100, 150]);
    for (const key of ['loss', 'accuracy', 'residual']) expect(result[key]).toHaveLength(4); // steps 0, 50, 100, 150
    expect(result.loss[3]).toBeLessThan(result.loss[0] / 3);
    expect(result.accuracy[3]).toBeGreaterThan(0.85);
    expect(result.testAccuracy).toBeGreaterThan(0.85);
    // lambda is tiny: the flow keeps the residual near its start.
    expect(Math.abs(result.residual[3] - result.residual[0])).toBeLessThan(0.05 * result.residual[0]);
  });

  it('--json step lists the logged steps: 0, every --log-every, and the last one', async () => {
    const io = capture();
    expect(await main(['train', '--data', 'spirals', '--arch', '2,8,2', '--steps', '12', '--log-every', '5', '--json'], io)).toBe(0);
    const result = JSON.parse(io.stdout());
    expect(result.step).toEqual([0, 5, 10, 12]);
    expect(result.loss).toHaveLength(result.step.length);
  });

  it('gradient descent with the fix every k steps: the residual is zero at every logged step after the first', async () => {
    const io = capture();
    const code = await main(
      [
        'train',
        '--data',
        'spirals',
        '--arch',
        '2,16,16,2',
        '--optimizer',
        'momentum',
        '--fix-every',
        '5',
        '--steps',
        '20',
        '--log-every',
        '5',
        '--lr',
        '0.05',
        '--biases',
        '--json',
      ],
      io,
    );
    expect(code).toBe(0);
    const { residual, accuracy, testAccuracy } = JSON.parse(io.stdout());
    expect(residual[0]).toBeGreaterThan(0.05);
    for (const r of residual.slice(1)) expect(r).toBeLessThan(1e-6);
    expect(accuracy).toHaveLength(5);
    expect(testAccuracy).toBeGreaterThan(0);
  });

  it('-p, -q, --lambda and --optimizer reach the trainer: for p = q = 2 the flow is gradient descent, for p = q = 1 it is not', async () => {
    const run = async (...args: string[]): Promise<{ loss: number[]; residual: number[] }> => {
      const io = capture();
      expect(await main(['train', '--data', 'spirals', '--steps', '10', '--log-every', '5', '--lr', '0.1', '--json', ...args], io)).toBe(0);
      return JSON.parse(io.stdout());
    };
    const flow2 = await run('-p', '2', '-q', '2', '--lambda', '0.1', '--optimizer', 'flow');
    const gd2 = await run('-p', '2', '-q', '2', '--lambda', '0.1', '--optimizer', 'gd');
    const flow1 = await run('-p', '1', '-q', '1', '--lambda', '0.1', '--optimizer', 'flow');
    const free = await run('-p', '2', '-q', '2', '--lambda', '0', '--optimizer', 'flow');
    expect(flow2).toEqual(gd2);
    expect(flow1.loss[2]).not.toBe(flow2.loss[2]);
    expect(flow1.residual[0]).not.toBe(flow2.residual[0]); // the residual is measured in l_{p,q}
    expect(free.loss[2]).not.toBe(flow2.loss[2]);
  });

  it('prints a table without --json, and null accuracy for the regression', async () => {
    const io = capture();
    expect(await main(['train', '--data', 'teacher', '--steps', '10', '--log-every', '5', '-p', '2', '-q', '1'], io)).toBe(0);
    const lines = io.stdout().trim().split('\n');
    expect(lines[0]).toMatch(/^train teacher \(800 train, 200 test\) {2}arch 10,32,32,1 {2}flow {2}p 2 {2}q 1/);
    expect(lines.filter((l) => l.startsWith('step'))).toHaveLength(3);
    expect(lines[1]).toMatch(/accuracy n\/a {2}residual \d\.\d{3}e[-+]\d+/);
    expect(lines[lines.length - 1]).toMatch(/^test loss \d+\.\d{4} {2}test accuracy n\/a/);
    const json = capture();
    await main(['train', '--data', 'teacher', '--steps', '2', '--json'], json);
    expect(JSON.parse(json.stdout()).accuracy).toEqual([null, null, null]);
  });

  it.each([
    [['--lr=-0.1'], 1, /the learning rate \(--lr\) must be a finite number > 0, got -0.1/],
    [['--lr', 'Infinity'], 1, /the learning rate \(--lr\) must be a finite number > 0, got Infinity/],
    [['--lambda=-1e-4'], 1, /--lambda must be a finite number >= 0, got -0.0001/],
    [['--lambda', 'abc'], 2, /--lambda: expected a number, got 'abc'/],
    [['--lr', '-0.1'], 1, /the learning rate \(--lr\) must be a finite number > 0, got -0.1/],
    [['-p', '0'], 1, /p must be a finite number > 0, got 0/],
    [['--arch', '63,32,10'], 1, /--arch: the first size \(63\) differs from the width of the data 'digits' \(64\)/],
    [['--arch', '64,32,9'], 1, /--arch: the last size \(9\) must equal the number of classes of 'digits' \(10\)/],
    [['--data', 'spirals', '--arch', '2,8,3'], 1, /last size \(3\) must equal the number of classes of 'spirals' \(2\)/],
    [['--data', 'mnist'], 2, /--data: expected 'digits', 'spirals', 'teacher', got 'mnist'/],
    [['--optimizer', 'sgd'], 2, /--optimizer: expected 'gd', 'momentum', 'adam', 'flow', got 'sgd'/],
    [['--steps', '1.5'], 2, /--steps: expected an integer/],
    [['--fix-every=-2'], 1, /--fix-every must be >= 0, got -2/],
  ])('refuses %j before training (exit %i)', async (args, exitCode, message) => {
    const io = capture();
    expect(await main(['train', ...args, '--json'], io)).toBe(exitCode);
    expect(io.stderr()).toMatch(message);
    expect(io.stdout()).toBe('');
  });
});
