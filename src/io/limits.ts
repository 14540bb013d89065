/**
 * Bounds on what a model file may declare. A file beyond them is refused with a message saying
 * which bound it passes, before any work that grows with the declared size. Real models are far
 * inside them (resnet50: ~170 layers, ~400 ONNX nodes; the largest exported CNNs have a few
 * thousand); reading is linear in the file up to these bounds.
 */
import { WeightBalanceError } from '../errors.js';

/** The most layers (and weight blocks) a safetensors file's graph may declare. */
export const MAX_LAYERS = 100_000;

/** The most nodes an ONNX graph may hold. */
export const MAX_ONNX_NODES = 500_000;

/** The deepest nesting of arrays and objects accepted in a JSON header or graph metadata. */
export const MAX_JSON_DEPTH = 32;

/**
 * The nesting depth of the arrays and objects in a JSON text, by a linear scan that skips
 * strings (no parsing, no recursion). Stops counting as soon as `limit` is passed.
 */
export function jsonDepth(text: string, limit = Number.POSITIVE_INFINITY): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > limit) return deepest;
      }
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
}

/** Refuse a JSON text nested deeper than {@link MAX_JSON_DEPTH}; `what` names it in the message. */
export function checkJsonDepth(text: string, what: string): void {
  if (jsonDepth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) {
    throw new WeightBalanceError(`${what} nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep; refused (a valid file needs a few levels)`);
  }
}

/** Refuse a declared count beyond its bound: `what` is e.g. "the graph declares 200000 layers". */
export function checkCount(count: number, bound: number, what: string): void {
  if (count > bound) throw new WeightBalanceError(`${what}, more than the ${bound} this library accepts; refused`);
}
