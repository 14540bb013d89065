// Passes over P to tol, accelerated against the paper's parallel update, on the small test nets
// (CNNs, depthwise chains, residual nets with ties, a DAG, an MLP), seed by seed (bench/README.md,
// "Time to balance"; issue 10's target on CNNs and residual nets: at most 1/3).
// With `webgpu` last, the accelerated schedule also runs on the WebGPU engine (Dawn, any adapter:
// SwiftShader counts passes, not time), and the table says its passes and where it ran.
// Run: npx rolldown bench/passRatio.ts --format esm --platform node --dir dist/passRatio --external webgpu && node dist/passRatio/passRatio.js [seeds] [tol] [net,net] [webgpu]
import { balance } from '../src/balance.js';
import type { Network } from '../src/network/types.js';
import { nodeGpu } from '../src/node/webgpu.js';
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
const gpu = process.argv[5] === 'webgpu' ? await nodeGpu() : null;
if (process.argv[5] === 'webgpu' && !gpu) throw new Error('the npm package webgpu (Dawn) could not be loaded');
console.log(`# seeds 1..${seeds}, tol ${tol}, float64, CPU engine; passes = reads of all of P`);
console.log(
  `| net | coarse groups | p,q | passes (accelerated) | passes (paper) | ratio median | ratio max |${gpu ? ' passes (accelerated, webgpu) | ran on |' : ''}`,
);
console.log(`| --- | ---: | --- | ---: | ---: | ---: | ---: |${gpu ? ' ---: | --- |' : ''}`);
for (const [name, build] of Object.entries(nets))
  for (const [p, q] of [
    [2, 2],
    [1, 2],
    [3, 1.5],
  ]) {
    const fast: number[] = [];
    const paper: number[] = [];
    const ratio: number[] = [];
    const onGpu: number[] = [];
    const ranOn = new Set<string>();
    const space = coarseSpace(compileProblem(build(1), { p, q }));
    for (let seed = 1; seed <= seeds; seed++) {
      const common = { p, q, backend: 'cpu', tol, maxSweeps: 100000 } as const;
      const a = await balance(build(seed), { ...common, schedule: 'accelerated' });
      const b = await balance(build(seed), { ...common, schedule: 'parallel' });
      if (!a.converged || !b.converged) throw new Error(`${name} seed ${seed} p=${p} q=${q}: not converged`);
      fast.push(a.passes);
      paper.push(b.passes);
      ratio.push(a.passes / b.passes);
      if (gpu) {
        const g = await balance(build(seed), { ...common, backend: 'webgpu', gpu, schedule: 'accelerated' });
        onGpu.push(g.passes);
        ranOn.add(g.fallback ? `${g.backend} (${g.fallback.kind})` : g.backend);
      }
    }
    const groups = `${space.nGroups}`;
    console.log(
      `| ${name} | ${groups} | ${p},${q} | ${median(fast).toFixed(1)} | ${median(paper).toFixed(1)} | ${median(ratio).toFixed(3)} | ${Math.max(...ratio).toFixed(3)} |${
        gpu ? ` ${median(onGpu).toFixed(1)} | ${[...ranOn].join(', ')} |` : ''
      }`,
    );
  }
