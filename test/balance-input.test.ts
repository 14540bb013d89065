/**
 * MATH.md §7 item 8: every refusal of §4 (non-finite weights, bad exponents, shapes that do not
 * chain, an empty network) and every bad option is a WeightBalanceError whose message names the
 * problem, raised before any work, with the caller's network left exactly as it was.
 */
import { describe, expect, it } from 'vitest';
import type { BalanceOptions } from '../src/balance.js';
import { balance } from '../src/balance.js';
import { WeightBalanceError } from '../src/errors.js';
import { lpqNorm } from '../src/math/norm.js';
import { balanceReport } from '../src/math/report.js';
import type { Network } from '../src/network/types.js';
import { cnnNet, mlpNet, residualNet } from './support/fixNets.js';

/** Expect `run` to reject with a WeightBalanceError matching `pattern`, and `net` to be unchanged. */
async function refuses(net: Network, run: (net: Network) => unknown, pattern: RegExp): Promise<void> {
  const before = structuredClone(net);
  let caught: unknown = null;
  try {
    await run(net);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(WeightBalanceError);
  expect((caught as Error).message).toMatch(pattern);
  expect(net).toEqual(before);
}

function withWeight(net: Network, block: number, index: number, value: number, where: 'weight' | 'bias' = 'weight'): Network {
  const copy = structuredClone(net);
  copy.blocks[block][where]![index] = value;
  return copy;
}

const cpu = (extra: Partial<BalanceOptions> = {}): BalanceOptions => ({ p: 2, q: 2, backend: 'cpu', ...extra });

describe('bad input is refused (MATH.md §7.8)', () => {
  it('non-finite weights and biases, in float64 and float32 nets, for balance, lpqNorm and balanceReport', async () => {
    for (const dtype of ['float64', 'float32'] as const) {
      for (const [value, text] of [
        [NaN, 'NaN'],
        [Infinity, 'Infinity'],
        [-Infinity, '-Infinity'],
      ] as const) {
        const badWeight = withWeight(mlpNet(1, dtype), 2, 13, value);
        const pattern = new RegExp(`block 2 \\('4'\\): weight entry 13 is not finite \\(${text.replace('-', '\\-')}\\)`);
        await refuses(badWeight, (n) => balance(n, cpu()), pattern);
        await refuses(badWeight, (n) => lpqNorm(n, 2, 2), pattern);
        await refuses(badWeight, (n) => balanceReport(n, { p: 2, q: 2 }), pattern);
        const badBias = withWeight(cnnNet(1, dtype), 1, 3, value, 'bias');
        await refuses(badBias, (n) => balance(n, cpu({ includeBiases: true })), /block 1 \('2'\): bias entry 3 is not finite/);
        // A non-finite bias is refused even when biases are not part of the norm.
        await refuses(badBias, (n) => balance(n, cpu()), /bias entry 3 is not finite/);
      }
    }
  });

  it('p or q <= 0, NaN, not a number; q = Infinity for balance (allowed for lpqNorm only)', async () => {
    const net = mlpNet(2);
    for (const p of [0, -1, NaN, Infinity, '2' as unknown as number]) {
      await refuses(net, (n) => balance(n, cpu({ p })), /^p must be a finite number > 0, got /);
      await refuses(net, (n) => lpqNorm(n, p, 2), /^p must be a finite number > 0/);
      await refuses(net, (n) => balanceReport(n, { p, q: 2 }), /^p must be a finite number > 0/);
    }
    for (const q of [0, -2, NaN, -Infinity]) {
      await refuses(net, (n) => balance(n, cpu({ q })), /^q must be a number > 0, got /);
      await refuses(net, (n) => lpqNorm(n, 2, q), /^q must be a number > 0/);
    }
    await refuses(net, (n) => balance(n, cpu({ q: Infinity })), /^q must be finite here, got Infinity/);
    await refuses(net, (n) => balanceReport(n, { p: 2, q: Infinity }), /q must be finite here/);
    expect(Number.isFinite(lpqNorm(net, 2, Infinity))).toBe(true);
  });

  it('shapes that do not chain: dense in-size, conv channels and groups, a declared layer shape, a bias length', async () => {
    const dense = structuredClone(mlpNet(3));
    dense.blocks[1].shape = [9, 11];
    dense.blocks[1].weight = new Float64Array(99);
    await refuses(dense, (n) => balance(n, cpu()), /block 1 \('2'\): shapes do not chain: it reads 11 inputs but layer 1 \('hidden1'\) has 10/);

    const conv = structuredClone(cnnNet(3));
    const grouped = conv.blocks[1];
    if (grouped.kind !== 'conv2d') throw new Error('expected a conv block');
    grouped.groups = 3;
    await refuses(conv, (n) => balance(n, cpu()), /block 1 \('2'\): groups 3 must divide 8 input and 16 output channels/);

    const channels = structuredClone(cnnNet(3));
    channels.layers[2].shape = [12, 4, 4];
    await refuses(channels, (n) => balance(n, cpu()), /shapes do not chain/);

    const declared = structuredClone(mlpNet(3));
    declared.layers[4].shape = [5];
    await refuses(declared, (n) => balance(n, cpu()), /shapes do not chain: it has 4 outputs but layer 4 \('output'\) has 5 units/);

    const weightLength = structuredClone(mlpNet(3));
    weightLength.blocks[0].weight = weightLength.blocks[0].weight.slice(1);
    await refuses(weightLength, (n) => balance(n, cpu()), /block 0 \('0'\): weight has 69 entries, shape \[10,7\] needs 70/);

    const biasLength = structuredClone(mlpNet(3));
    biasLength.blocks[0].bias = new Float64Array(3);
    await refuses(biasLength, (n) => balance(n, cpu()), /bias has 3 entries, expected 10/);

    const skip = structuredClone(residualNet(3));
    skip.layers[3].skips = [0];
    await refuses(skip, (n) => balance(n, cpu()), /skip from layer 0 has shape \[6\], expected \[8\]/);

    const tie = structuredClone(residualNet(3));
    tie.ties = [
      [
        { layer: 1, unit: 0 },
        { layer: 1, unit: 8 },
      ],
    ];
    await refuses(tie, (n) => balance(n, cpu()), /tie group names unit \{"layer":1,"unit":8\}, which does not exist/);
  });

  it('an empty network', async () => {
    const empty = { layers: [], blocks: [] } as Network;
    await refuses(empty, (n) => balance(n, cpu()), /the network is empty/);
    await refuses(empty, (n) => lpqNorm(n, 2, 2), /the network is empty/);
    const noBlocks = { layers: mlpNet(1).layers, blocks: [] } as Network;
    await refuses(noBlocks, (n) => balance(n, cpu()), /the network is empty/);
    await refuses({} as Network, (n) => balance(n, cpu()), /a network needs arrays `layers` and `blocks`/);
  });

  it('bad options: schedule, tol, maxSweeps, backend, sweepsPerBatch, missing options', async () => {
    const net = residualNet(4);
    const cases: [Partial<BalanceOptions>, RegExp][] = [
      [{ schedule: 'fast' as never }, /^schedule must be one of 'accelerated', 'parallel', 'alternating', got 'fast'/],
      [{ tol: -1e-6 }, /^tol must be a finite number >= 0, got -0.000001/],
      [{ tol: NaN }, /^tol must be a finite number >= 0, got NaN/],
      [{ tol: Infinity }, /^tol must be a finite number >= 0, got Infinity/],
      [{ tol: '1e-6' as never }, /^tol must be a finite number >= 0/],
      [{ maxSweeps: 2.5 }, /^maxSweeps must be an integer >= 0, got 2.5/],
      [{ maxSweeps: -1 }, /^maxSweeps must be an integer >= 0, got -1/],
      [{ maxSweeps: Infinity }, /^maxSweeps must be an integer >= 0, got Infinity/],
      [{ backend: 'gpu' as never }, /^backend must be 'auto', 'cpu' or 'webgpu', got 'gpu'/],
      [{ sweepsPerBatch: 0 }, /^sweepsPerBatch must be a positive integer, got 0/],
    ];
    for (const [extra, pattern] of cases) await refuses(net, (n) => balance(n, cpu(extra)), pattern);
    await refuses(net, (n) => balance(n, undefined as never), /balance needs options \{ p, q \}/);
  });

  it('a refused run does no work: no onSweep call', async () => {
    let calls = 0;
    await refuses(withWeight(mlpNet(5), 0, 0, NaN), (n) => balance(n, cpu({ onSweep: () => calls++ })), /not finite/);
    await refuses(mlpNet(5), (n) => balance(n, cpu({ q: -1, onSweep: () => calls++ })), /^q must/);
    expect(calls).toBe(0);
  });
});
