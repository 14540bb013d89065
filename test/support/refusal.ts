import { expect } from 'vitest';
import { WeightBalanceError } from '../../src/errors.js';

/** The message of the `WeightBalanceError` that `run` throws (fails the test if it throws nothing or something else). */
export function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(WeightBalanceError);
    return (error as Error).message;
  }
  throw new Error('expected a WeightBalanceError, nothing was thrown');
}
