/**
 * A full garbage collection on demand, for the CLI's big runs: the bytes of a model file that a
 * reader no longer holds (the ONNX reader keeps arrays of its own) are collected before
 * balancing allocates `P`, which lives in WebAssembly memory, whose growth does not prompt V8 to
 * collect. Without it the file's bytes may still be resident then (one more copy of the weights
 * at the peak, depending on when V8 last collected).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | null | undefined;

/** Collect now where V8 allows it (it does in Node); otherwise nothing: V8 collects when it will. */
export function collectGarbage(): void {
  if (gc === undefined) {
    try {
      // --expose-gc set at run time shows `gc` in contexts created afterwards.
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc') as () => void;
    } catch {
      gc = null;
    }
  }
  gc?.();
}
