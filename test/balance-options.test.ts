/**
 * Options of `balance()` that are easy to get wrong: a misspelt key is refused by name (never
 * silently ignored), and `maxSweeps: 0` evaluates only (documented in `BalanceOptions`).
 */
import { describe, expect, it } from 'vitest';
import type { BalanceOptions } from '../src/balance.js';
import { balance } from '../src/balance.js';
import { WeightBalanceError } from '../src/errors.js';
import { lpqNorm } from '../src/math/norm.js';
import { balanceReport } from '../src/math/report.js';
import { mlpNet } from './support/fixNets.js';

describe('balance(): unknown option keys', () => {
  it('refuses a misspelt key by name, with the closest known one, before any work', async () => {
    const net = mlpNet(1);
    const copy = structuredClone(net);
    let sweeps = 0;
    const options = { p: 2, q: 2, maxSweep: 3, onSweep: () => void sweeps++ } as unknown as BalanceOptions;
    const error = await balance(net, options).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(WeightBalanceError);
    expect((error as Error).message).toMatch(/^balance: unknown option 'maxSweep' \(did you mean 'maxSweeps'\?\)/);
    expect(sweeps).toBe(0);
    expect(net).toEqual(copy);
  });

  it('lists every unknown key; a far-off one gets no suggestion; undefined values count as absent', async () => {
    const options = { p: 2, q: 2, tolerance: 1e-3, colour: 'red' } as unknown as BalanceOptions;
    await expect(balance(mlpNet(1), options)).rejects.toThrow(/unknown options 'tolerance', 'colour'; known: p, q/);
    await expect(balance(mlpNet(1), { p: 2, q: 2, schedul: 'parallel' } as unknown as BalanceOptions)).rejects.toThrow(
      /'schedul' \(did you mean 'schedule'\?\)/,
    );
    const result = await balance(mlpNet(1), { p: 2, q: 2, backend: 'cpu', gpu: undefined, extra: undefined } as unknown as BalanceOptions);
    expect(result.converged).toBe(true);
  });
});

describe('balance(): maxSweeps 0 evaluates only', () => {
  it('reports the norm and imbalance of the network as given, with no sweep and a copy of the network', async () => {
    const net = mlpNet(2);
    const result = await balance(net, { p: 2, q: 3, backend: 'cpu', maxSweeps: 0 });
    expect(result.sweeps).toBe(0);
    expect(result.converged).toBe(false);
    expect(result.history).toHaveLength(1);
    expect(result.finalNorm).toBe(result.initialNorm);
    // The default tol (1e-4) runs the CPU engine on float32 P (entries rounded to 2^-24 relative).
    const [normBound, imbalanceBound] = result.precision === 'float32' ? [1e-7, 1e-6] : [1e-12, 1e-9];
    expect(Math.abs(result.initialNorm / lpqNorm(net, 2, 3) - 1)).toBeLessThan(normBound);
    const report = balanceReport(net, { p: 2, q: 3 });
    expect(Math.abs(result.maxLogImbalance - report.maxLogImbalance)).toBeLessThan(imbalanceBound * Math.max(1, report.maxLogImbalance));
    expect(result.maxLogImbalance).toBeGreaterThan(1e-3); // a random net is not balanced: this is not a balanced result
    expect(result.network).toEqual(net);
    expect(result.network.blocks[0].weight).not.toBe(net.blocks[0].weight);
    expect(result.logFactors.every((layer) => layer.every((u) => u === 0))).toBe(true);
  });
});
