// The default tol (README, "Choosing tol"): norm gap to the minimum and float32 function drift at each imbalance.
// Run: npx rolldown bench/tolerance.ts --format esm --platform node --file dist/tolerance.js && node dist/tolerance.js
import { balance } from '../src/balance.js';
import { mlp } from '../src/network/builders.js';
import { forward } from '../src/network/forward.js';
import type { Network } from '../src/network/types.js';
import { NETS } from '../test/support/fixNets.js';

function toFloat32(net: Network): Network {
  return { ...net, blocks: net.blocks.map((b) => ({ ...b, weight: Float32Array.from(b.weight), bias: b.bias ? Float32Array.from(b.bias) : null })) };
}
function inputs(net: Network, n: number): Float64Array {
  const size = net.layers[0].shape.reduce((a, b) => a * b, 1);
  let s = 12345;
  return Float64Array.from({ length: size * n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648 - 0.5;
  });
}
function drift(a: Float64Array, b: Float64Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(a[i]));
  }
  return num / den;
}
const nets: Record<string, Network> = {
  '200-2500-1250-10': mlp([200, 2500, 1250, 10], { seed: 0, dtype: 'float64' }),
  '200-1000-750-750-500-500-250-10': mlp([200, 1000, 750, 750, 500, 500, 250, 10], { seed: 0, dtype: 'float64' }),
  cnn: NETS.cnn(1),
  residual: NETS.residual(1),
};
for (const [name, net] of Object.entries(nets))
  for (const [p, q] of [
    [2, 2],
    [1, 2],
    [3, 1.5],
  ]) {
    const best = await balance(net, { p, q, backend: 'cpu', tol: 1e-12, maxSweeps: 100000 });
    const f32 = toFloat32(net);
    const x = inputs(net, 8);
    const y0 = forward(f32, x, 8);
    const row: string[] = [];
    for (const tol of [1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6]) {
      const r = await balance(net, { p, q, backend: 'cpu', tol });
      const r32 = await balance(f32, { p, q, backend: 'cpu', tol });
      const gap = (r.finalNorm - best.finalNorm) / best.finalNorm;
      row.push(
        `tol ${tol.toExponential(0)}: passes ${r.passes.toFixed(1)} gap ${gap.toExponential(1)} f32drift ${drift(y0, forward(r32.network, x, 8)).toExponential(1)}`,
      );
    }
    console.log(`${name} p=${p} q=${q}\n  ` + row.join('\n  '));
  }
