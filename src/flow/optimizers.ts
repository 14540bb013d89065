import type { Network } from '../network/types.js';
import type { ParameterArrays } from './metric.js';
import { metricProduct } from './metric.js';
import type { Integrator } from './steps.js';
import { eulerUpdate, exponentialUpdate } from './steps.js';

/**
 * The optimisers of the trainer (MATH.md §5), behind one interface: a step from the gradient of
 * `L = E + lambda R`, and the rescaling of their state when the fix rescales the network, so that
 * the state describes the same trajectory in the new coordinates.
 */

/** How a step uses the gradient of `L`. `flow` is the weight-balancing flow. */
export type Optimizer = 'gd' | 'momentum' | 'adam' | 'flow';

/** The settings an optimiser reads (validated by the trainer). */
export interface OptimizerSettings {
  optimizer: Optimizer;
  /** Learning rate (the flow's time step). */
  lr: number;
  momentum: number;
  beta1: number;
  beta2: number;
  adamEpsilon: number;
  /** The flow's metric: exponents, biases, floor and discretisation. */
  p: number;
  q: number;
  includeBiases: boolean;
  epsilon: number;
  integrator: Integrator;
}

/** The state of an optimiser: first moments (momentum, Adam) and second moments (Adam). */
export interface OptimizerState {
  first: ParameterArrays | null;
  second: ParameterArrays | null;
}

/** One optimiser: updates a network's weights and biases in place from a gradient. */
export interface OptimizerRule {
  /** Step number `t` (1 for the first step) of the update `W <- W - lr · D(grad)`, in place. */
  step(net: Network, grad: ParameterArrays, t: number): void;
  /**
   * Rescale the state after the network's hidden units were rescaled by `a = exp(logFactors)`:
   * first moments like a gradient, `m[i,j] -> (a[j]/a[i]) m[i,j]`, bias `m[i] -> m[i]/a[i]`;
   * second moments by the square of that.
   */
  rescale(net: Network, logFactors: ArrayLike<number>[]): void;
  /** The state, by reference (`null` where the optimiser has none). */
  readonly state: OptimizerState;
}

/** Zero arrays shaped like a network's weights and biases. */
export function zerosLike(net: Network): ParameterArrays {
  return {
    weight: net.blocks.map((b) => new Float64Array(b.weight.length)),
    bias: net.blocks.map((b) => (b.bias ? new Float64Array(b.bias.length) : null)),
  };
}

/** The optimiser named in the settings, with zero state shaped like the network. */
export function createOptimizer(settings: OptimizerSettings, net: Network): OptimizerRule {
  const first = settings.optimizer === 'momentum' || settings.optimizer === 'adam' ? zerosLike(net) : null;
  const second = settings.optimizer === 'adam' ? zerosLike(net) : null;
  const state: OptimizerState = { first, second };
  const step = STEPS[settings.optimizer];
  return {
    state,
    step: (network, grad, t) => step(settings, state, network, grad, t),
    rescale: (network, logFactors) => {
      rescaleState(network, state.first, logFactors, 1);
      rescaleState(network, state.second, logFactors, 2);
    },
  };
}

type Step = (s: OptimizerSettings, state: OptimizerState, net: Network, grad: ParameterArrays, t: number) => void;

const STEPS: Record<Optimizer, Step> = {
  gd: (s, _state, net, grad) => apply(net, grad, s.lr),
  momentum: (s, state, net, grad) => {
    const m = state.first!;
    const mu = s.momentum;
    eachArray(net, (k, bias) => {
      const g = bias ? grad.bias[k]! : grad.weight[k];
      const v = bias ? m.bias[k]! : m.weight[k];
      for (let e = 0; e < g.length; e++) v[e] = mu * v[e] + g[e];
    });
    apply(net, m, s.lr);
  },
  adam: (s, state, net, grad, t) => {
    const m = state.first!;
    const v = state.second!;
    const { beta1, beta2, adamEpsilon, lr } = s;
    const c1 = 1 / (1 - Math.pow(beta1, t));
    const c2 = 1 / (1 - Math.pow(beta2, t));
    eachArray(net, (k, bias) => {
      const g = bias ? grad.bias[k]! : grad.weight[k];
      const s1 = bias ? m.bias[k]! : m.weight[k];
      const s2 = bias ? v.bias[k]! : v.weight[k];
      const W = bias ? net.blocks[k].bias! : net.blocks[k].weight;
      for (let e = 0; e < g.length; e++) {
        s1[e] = beta1 * s1[e] + (1 - beta1) * g[e];
        s2[e] = beta2 * s2[e] + (1 - beta2) * g[e] * g[e];
        W[e] -= (lr * s1[e] * c1) / (Math.sqrt(s2[e] * c2) + adamEpsilon);
      }
    });
  },
  flow: (s, _state, net, grad) => {
    if (s.integrator === 'exponential') {
      // p = q = 1: M = diag(|W|); each weight's magnitude follows exp(-step sign(W) G).
      net.blocks.forEach((b, k) => {
        exponentialUpdate(b.weight as Float64Array, grad.weight[k], s.lr);
        const gb = grad.bias[k];
        if (b.bias && gb) {
          if (s.includeBiases) exponentialUpdate(b.bias as Float64Array, gb, s.lr);
          else eulerUpdate(b.bias as Float64Array, gb, s.lr);
        }
      });
      return;
    }
    apply(net, metricProduct(net, grad, s.p, s.q, s.includeBiases, s.epsilon), s.lr);
  },
};

/** Visit every parameter array: the weights of each block, then its bias if it has one. */
function eachArray(net: Network, visit: (k: number, bias: boolean) => void): void {
  net.blocks.forEach((b, k) => {
    visit(k, false);
    if (b.bias) visit(k, true);
  });
}

/** `W <- W - lr D` for weights and biases. */
function apply(net: Network, D: ParameterArrays, lr: number): void {
  net.blocks.forEach((b, k) => {
    eulerUpdate(b.weight as Float64Array, D.weight[k], lr);
    const db = D.bias[k];
    if (b.bias && db) eulerUpdate(b.bias as Float64Array, db, lr);
  });
}

/**
 * Rescale per-parameter state of an MLP whose units were rescaled by `a = exp(u)`, in place:
 * `S[i,j] *= (a[j]/a[i])^power`, bias `S[i] *= a[i]^-power` (MATH.md §5: a gradient transforms
 * inversely to its weight).
 */
export function rescaleState(net: Network, state: ParameterArrays | null, u: ArrayLike<number>[], power: number): void {
  if (!state) return;
  net.blocks.forEach((b, k) => {
    const [rows, cols] = b.shape as [number, number];
    const W = state.weight[k];
    const uo = u[b.to];
    const ui = u[b.from];
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) W[i * cols + j] *= Math.exp(power * (ui[j] - uo[i]));
    }
    const s = state.bias[k];
    if (s) for (let i = 0; i < rows; i++) s[i] *= Math.exp(-power * uo[i]);
  });
}
