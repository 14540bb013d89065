/** The (p, q) pairs the demo balances for, parsed from one text field. */
import { WeightBalanceError } from '../../src/index.js';
import { validateExponents } from '../../src/options.js';

/** One choice of exponents. */
export interface Pair {
  p: number;
  q: number;
}

/** The pairs shown by default (the spirit of the paper's figure). */
export const DEFAULT_PAIRS = '2,2; 1,1; 1,2; 2,1';

/**
 * Parse `p,q; p,q; ...` (pairs separated by `;`, numbers by `,` or spaces). Every pair is checked
 * by the library's own exponent check, so the page refuses exactly what `balance` refuses.
 */
export function parsePairs(text: string): Pair[] {
  const chunks = text
    .split(';')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (chunks.length === 0) throw new WeightBalanceError('give at least one pair, e.g. 2,2');
  if (chunks.length > 8) throw new WeightBalanceError(`at most 8 pairs at once, got ${chunks.length}`);
  const pairs = chunks.map((chunk) => {
    const numbers = chunk
      .replace(/[()]/g, '')
      .split(/[\s,]+/)
      .filter((s) => s.length > 0);
    if (numbers.length !== 2) throw new WeightBalanceError(`'${chunk}' is not a pair: write p,q`);
    const [p, q] = numbers.map(Number);
    try {
      validateExponents(p, q);
    } catch (error) {
      throw new WeightBalanceError(`(${chunk}): ${error instanceof Error ? error.message : String(error)}`);
    }
    return { p, q };
  });
  const seen = new Set<string>();
  for (const { p, q } of pairs) {
    const key = `${p},${q}`;
    if (seen.has(key)) throw new WeightBalanceError(`the pair (${key}) is given twice`);
    seen.add(key);
  }
  return pairs;
}

/** `(p, q)` for labels. */
export function pairLabel({ p, q }: Pair): string {
  return `(${p}, ${q})`;
}
