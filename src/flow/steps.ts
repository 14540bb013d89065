import { WeightBalanceError } from '../errors.js';
import type { Block, Network, WeightArray } from '../network/types.js';
import { validateNetwork } from '../network/validate.js';
import type { FlowOptions, ParameterArrays } from './metric.js';
import { flowDirections } from './metric.js';

/**
 * Discretisations of the weight-balancing flow `dW/dt = -M(W) grad L` (MATH.md §5). A step keeps
 * each balance residual up to O(step^2), so over a fixed time the drift is O(step).
 */

/** How a flow step is taken. */
export type Integrator = 'euler' | 'exponential';

/** `w <- w - step · d`, in place (the Euler step, given the direction `d = M · grad L`). */
export function eulerUpdate(w: Float64Array, d: ArrayLike<number>, step: number): void {
  for (let e = 0; e < w.length; e++) w[e] -= step * d[e];
}

/**
 * `|w| <- |w| · exp(-step · sign(w) ⊙ g)`, in place: the exact solution of the `p = q = 1` flow
 * `dw/dt = -|w| ⊙ g` for a frozen gradient `g`. It never changes a weight's sign, and a zero
 * weight stays zero.
 */
export function exponentialUpdate(w: Float64Array, g: ArrayLike<number>, step: number): void {
  for (let e = 0; e < w.length; e++) w[e] *= Math.exp(-step * Math.sign(w[e]) * g[e]);
}

/** Check an integrator's name and that it fits the exponents; returns it. */
export function checkIntegrator(integrator: unknown, p: number, q: number): Integrator {
  if (integrator !== 'euler' && integrator !== 'exponential')
    throw new WeightBalanceError(`integrator must be 'euler' or 'exponential', got '${String(integrator)}'`);
  if (integrator === 'exponential' && !(p === 1 && q === 1)) {
    throw new WeightBalanceError(`the exponential step integrates the flow for p = q = 1 only, got p = ${p}, q = ${q}`);
  }
  return integrator;
}

/** Options of {@link flowStep}. */
export interface FlowStepOptions extends FlowOptions {
  /** The time step, finite and > 0. */
  step: number;
  /** `euler` (default, any p, q) or `exponential` (`p = q = 1` only). */
  integrator?: Integrator;
}

function copyLike(source: WeightArray, values: Float64Array): WeightArray {
  return source instanceof Float32Array ? Float32Array.from(values) : values;
}

/**
 * One step of the weight-balancing flow from the gradient of the loss: returns a new network
 * (same precision; the input is not modified). `grad` holds the weight gradients, one array per
 * block in block order and shape, or `{ weight, bias }` to move the biases too (with
 * `includeBiases` they take the flow's metric, otherwise a plain gradient step).
 *
 * @example
 * const next = flowStep(net, gradient, { p: 1, q: 1, step: 0.1, integrator: 'exponential' });
 */
export function flowStep(net: Network, grad: ArrayLike<number>[] | ParameterArrays, options: FlowStepOptions): Network {
  const step = options?.step;
  if (typeof step !== 'number' || !Number.isFinite(step) || !(step > 0)) throw new WeightBalanceError(`step must be a finite number > 0, got ${String(step)}`);
  const integrator = checkIntegrator(options.integrator ?? 'euler', options.p, options.q);
  validateNetwork(net);
  const full: ParameterArrays = Array.isArray(grad)
    ? { weight: grad.map((g) => Float64Array.from(g)), bias: net.blocks.map((b) => (b.bias ? new Float64Array(b.bias.length) : null)) }
    : { weight: grad.weight.map((g) => Float64Array.from(g)), bias: grad.bias.map((g) => (g ? Float64Array.from(g) : null)) };
  // Validates p, q, epsilon and the gradient's shapes and values.
  const direction = flowDirections(net, full, options);
  const includeBiases = options.includeBiases ?? false;
  const blocks = net.blocks.map((b, k): Block => {
    const weight = Float64Array.from(b.weight);
    if (integrator === 'exponential') exponentialUpdate(weight, full.weight[k], step);
    else eulerUpdate(weight, direction.weight[k], step);
    let bias: WeightArray | null = null;
    if (b.bias) {
      const values = Float64Array.from(b.bias);
      if (integrator === 'exponential' && includeBiases) exponentialUpdate(values, full.bias[k]!, step);
      else eulerUpdate(values, direction.bias[k]!, step);
      bias = copyLike(b.bias, values);
    }
    return { ...b, weight: copyLike(b.weight, weight), bias } as Block;
  });
  return { ...net, layers: net.layers.map((l) => ({ ...l })), blocks };
}
