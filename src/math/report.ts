import type { Network } from '../network/types.js';
import { unitCount } from '../network/types.js';
import type { NormExponents } from '../options.js';
import { compileProblem } from '../problem/compile.js';
import { balanceStatistics } from './statistics.js';

/** Per-unit balance of a network (MATH.md §3). */
export interface BalanceReport {
  /** `In[h]` per layer and unit: summed over the unit's tie group; `NaN` for fixed or frozen units. */
  In: Float64Array[];
  /** `Out[h]`, likewise. */
  Out: Float64Array[];
  /** `max_h |log(Out[h] / In[h])|` over the rescalable units. */
  maxLogImbalance: number;
}

/**
 * How far each rescalable unit is from balance: `In[h] = rho[h]^(q/p)` against
 * `Out[h] = sum_i rho[i]^(q/p - 1) |W[i,h]|^p`. The network is at the minimum of
 * `||W||_{p,q}` over rescalings exactly when every unit has `In = Out`.
 */
export function balanceReport(net: Network, options: NormExponents): BalanceReport {
  const problem = compileProblem(net, options);
  const { In, Out, maxLogImbalance } = balanceStatistics(problem, new Float64Array(problem.nVars));
  const perLayer = (values: Float64Array): Float64Array[] =>
    net.layers.map((layer, k) =>
      Float64Array.from({ length: unitCount(layer) }, (_, c) => {
        const v = problem.unitVar[problem.layerUnit0[k] + c];
        return v >= 0 ? values[v] : NaN;
      }),
    );
  return { In: perLayer(In), Out: perLayer(Out), maxLogImbalance };
}
