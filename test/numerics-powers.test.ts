/**
 * `positivePow` (src/math/powers.ts): the per-unit powers of the statistics (`rho^(r-1)`,
 * `rho^r`) without `Math.pow`'s cost, exact on the common exponents and within the rounding of
 * the same power carried in logarithms elsewhere.
 */
import { describe, expect, it } from 'vitest';
import { positivePow } from '../src/math/powers.js';
import { uniformStream } from './support/fixReference.js';

const samples = (): number[] => {
  const next = uniformStream(7);
  return [1, 2, 0.5, 3, 1e-300, 1e300, ...Array.from({ length: 2000 }, () => 10 ** (600 * next() - 300))];
};

describe('positivePow', () => {
  it('is exact on the exponents 0, 1, 2, -1 and correctly rounded on ±1/2', () => {
    for (const x of samples()) {
      expect(positivePow(x, 0)).toBe(1);
      expect(positivePow(x, 1)).toBe(x);
      expect(positivePow(x, 2)).toBe(x * x);
      expect(positivePow(x, -1)).toBe(1 / x);
      expect(positivePow(x, 0.5)).toBe(Math.sqrt(x));
      expect(positivePow(x, -0.5)).toBe(1 / Math.sqrt(x));
    }
  });

  it('elsewhere agrees with Math.pow to within the rounding of exp(e log x): 2 |e log x| + 2 units of 2^-53', () => {
    for (const e of [-3.7, -0.25, 0.3, 1.5, 2.5, 7, 31]) {
      for (const x of samples()) {
        const exact = Math.pow(x, e);
        if (!(exact > 1e-300 && exact < 1e300)) continue;
        const bound = (2 * Math.abs(e * Math.log(x)) + 2) * 2 ** -53;
        expect(Math.abs(positivePow(x, e) / exact - 1), `x=${x} e=${e}`).toBeLessThanOrEqual(bound);
      }
    }
  });

  it('at 0: 0 for positive exponents, Infinity for negative ones, 1 for 0', () => {
    expect([positivePow(0, 1.5), positivePow(0, 2), positivePow(0, 0.5)]).toEqual([0, 0, 0]);
    expect([positivePow(0, -1.5), positivePow(0, -0.5), positivePow(0, -1)]).toEqual([Infinity, Infinity, Infinity]);
    expect(positivePow(0, 0)).toBe(1);
  });
});
