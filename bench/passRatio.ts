// Passes over P to tol, accelerated against the paper's parallel update, on the small test nets
// (CNNs, depthwise chains, residual nets with ties, a DAG, an MLP), seed by seed (bench/README.md,
// "Time to balance"; issue 10's target on CNNs and residual nets: at most 1/3).
// Run: npx rolldown bench/passRatio.ts --format esm --platform node --file dist/passRatio.js && node dist/passRatio.js [seeds] [tol] [net,net]
import { balance } from '../src/balance.js';
import type { Network } from '../src/network/types.js';
import { compileProblem } from '../src/problem/compile.js';
import { coarseSpace } from '../src/schedule/coarseSpace.js';
import { CONV_NETS, NETS } from '../test/support/fixNets.js';

const seeds = Number(process.argv[2] ?? 10);
const tol = Number(process.argv[3] ?? 1e-6);
const all: Record<string, (seed: number) => Network> = {
  ...CONV_NETS,
  residual: (seed) => NETS.residual(seed),
  dag: (seed) => NETS.dag(seed),
  mlp: (seed) => NETS.mlp(seed),
};
const only = process.argv[4]?.split(',');
const nets = Object.fromEntries(Object.entries(all).filter(([name]) => !only || only.includes(name)));
const median = (xs: number[]): number => {
  const s = xs.slice().sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
console.log(`# seeds 1..${seeds}, tol ${tol}, float64, CPU engine; passes = reads of all of P`);
console.log('| net | coarse groups | p,q | passes (accelerated) | passes (paper) | ratio median | ratio max |');
console.log('| --- | ---: | --- | ---: | ---: | ---: | ---: |');
for (const [name, build] of Object.entries(nets))
  for (const [p, q] of [
    [2, 2],
    [1, 2],
    [3, 1.5],
  ]) {
    const fast: number[] = [];
    const paper: number[] = [];
    const ratio: number[] = [];
    const space = coarseSpace(compileProblem(build(1), { p, q }));
    for (let seed = 1; seed <= seeds; seed++) {
      const common = { p, q, backend: 'cpu', tol, maxSweeps: 100000 } as const;
      const a = await balance(build(seed), { ...common, schedule: 'accelerated' });
      const b = await balance(build(seed), { ...common, schedule: 'parallel' });
      if (!a.converged || !b.converged) throw new Error(`${name} seed ${seed} p=${p} q=${q}: not converged`);
      fast.push(a.passes);
      paper.push(b.passes);
      ratio.push(a.passes / b.passes);
    }
    const groups = `${space.nGroups}`;
    console.log(
      `| ${name} | ${groups} | ${p},${q} | ${median(fast).toFixed(1)} | ${median(paper).toFixed(1)} | ${median(ratio).toFixed(3)} | ${Math.max(...ratio).toFixed(3)} |`,
    );
  }
