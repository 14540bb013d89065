/**
 * The layers of weight-balance and the rules that keep them (`npm run lint:deps`, part of
 * `npm run lint`). See docs/ARCHITECTURE.md.
 *
 * A module may import its own layer and the layers below it, never one above:
 *
 *   base (errors, options, shaders, math/powers: scalar arithmetic) → network → problem → math → engines (and their schedules)
 *   → driver (balance.ts, driver/) → flows and io → the API (index.ts), the Node adapters (node/)
 *   and the plotting helpers (plot/) → apps (cli, demo, bench)
 *
 * Besides: no import cycles; the two engines and the two branches of the flows/io layer do not
 * import each other; browser-safe code (everything in src/ but src/cli/ and src/node/, and the
 * demo) never imports a Node-only module (src/node/, src/cli/, Node's built-ins, Dawn's `webgpu`,
 * `onnxruntime-node`).
 */

/** The layers, lowest first: each entry is a path pattern (relative to the repository root). */
const LAYERS = [
  { name: 'base', path: '^(src/(errors|options|math/powers)\\.ts$|shaders/)' },
  { name: 'network', path: '^src/network/' },
  { name: 'problem', path: '^src/problem/' },
  { name: 'math', path: '^src/math/(?!powers\\.ts$)' },
  { name: 'engines', path: '^src/(engines|schedule)/' },
  { name: 'driver', path: '^src/(balance\\.ts$|driver/)' },
  { name: 'flows-io', path: '^src/(flow|io)/' },
  { name: 'api-node', path: '^src/(index\\.ts$|node/|plot/)' },
  { name: 'apps', path: '^(src/cli/|demo/|bench/)' },
];

const upward = LAYERS.slice(0, -1).map((layer, k) => ({
  name: `layer-${layer.name}`,
  severity: 'error',
  comment: `${layer.name} imports only its own layer and those below it (${LAYERS.slice(0, k + 1)
    .map((l) => l.name)
    .join(', ')})`,
  from: { path: layer.path },
  to: {
    path: LAYERS.slice(k + 1)
      .map((l) => l.path)
      .join('|'),
  },
}));

/** Node-only: the Node adapters, the CLI, Node's built-ins and the Node-only packages. */
const NODE_ONLY = '^src/(node|cli)/|(^|/)node_modules/(webgpu|onnxruntime-node)/';

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import cycles (type-only imports included).',
      from: {},
      to: { circular: true },
    },
    ...upward,
    {
      name: 'browser-safe',
      severity: 'error',
      comment: 'The library and the demo run in browsers: they never import Node-only modules (put those in src/node/).',
      from: { path: '^(src/|demo/)', pathNot: '^(src/(node|cli)/|demo/vite\\.config\\.ts$)' },
      to: { path: NODE_ONLY },
    },
    {
      name: 'browser-safe-builtins',
      severity: 'error',
      comment: 'The library and the demo never import Node built-ins (node:fs, ...): put such code in src/node/.',
      from: { path: '^(src/|demo/)', pathNot: '^(src/(node|cli)/|demo/vite\\.config\\.ts$)' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'in-a-layer',
      severity: 'error',
      comment: 'Every module of src/ belongs to a layer: give a new folder its place in LAYERS.',
      from: { path: '^src/', pathNot: LAYERS.map((l) => l.path).join('|') },
      to: {},
    },
    {
      name: 'engines-apart',
      severity: 'error',
      comment: 'The CPU and WebGPU engines share only engines/*.ts (the Engine interface), never each other.',
      from: { path: '^src/engines/(cpu|webgpu)/' },
      to: { path: '^src/engines/(cpu|webgpu)/', pathNot: '^src/engines/$1/' },
    },
    {
      name: 'flows-io-apart',
      severity: 'error',
      comment: 'The flows (src/flow/) and the file formats (src/io/) do not import each other.',
      from: { path: '^src/(flow|io)/' },
      to: { path: '^src/(flow|io)/', pathNot: '^src/$1/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(dist|dist-demo|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.json'],
    },
  },
};
