/**
 * Errors thrown for bad input. Every refusal happens before any work, so the caller's network
 * and files are left exactly as they were.
 */
export class WeightBalanceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WeightBalanceError';
  }
}

/** Thrown when a run is cancelled through its `AbortSignal`. */
export class BalanceAbortedError extends Error {
  constructor(message = 'balance was aborted') {
    super(message);
    this.name = 'AbortError';
  }
}
