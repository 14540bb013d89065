/**
 * An independent float64 reference of the weight-balancing problem (MATH.md §2–3), for the
 * tests of the fix. It is written directly from the network's weights with its own index
 * arithmetic, unit numbering, tie groups and degeneracy rule, and uses nothing from
 * src/problem, src/math or src/engines, so that agreement with the library means something.
 *
 * The problem: minimise `F(u) = sum_i rho_i(u)^r`, `rho_i = sum_j |W[i,j]|^p e^{p(u_i - u_j)}`
 * (plus `|b_i|^p e^{p u_i}` when biases are included) over the log factors `u` of the
 * rescalable unit groups, by Newton's method with a backtracking line search.
 */
import type { Network } from '../../src/network/types.js';

const HOMOGENEOUS = new Set(['relu', 'leaky_relu', 'identity']);

/** The unit-level problem: aggregated edge masses `sum_taps |w|^p` and a variable per group. */
export interface Reference {
  p: number;
  q: number;
  r: number;
  nUnits: number;
  /** First global unit of each layer. */
  layerStart: number[];
  /** Edges (row unit <- column unit) with their aggregated mass; column -1 = the bias unit. */
  edgeRow: Int32Array;
  edgeCol: Int32Array;
  edgeMass: Float64Array;
  /** Variable of each unit, -1 when fixed or frozen. */
  unitVar: Int32Array;
  nVars: number;
  /** Global units that are rescalable in principle but frozen (a group of a dead set). */
  frozen: number[];
  /** The tie group of each unit, named by one of its members. */
  group: Int32Array;
}

function units(shape: number[]): number {
  return shape[0];
}

/** Every weight entry as (row unit, column unit, |w|), from the raw layouts. */
export function weightEntries(net: Network): { row: number; col: number; abs: number }[] {
  const start: number[] = [];
  let n = 0;
  for (const layer of net.layers) {
    start.push(n);
    n += units(layer.shape);
  }
  const out: { row: number; col: number; abs: number }[] = [];
  for (const b of net.blocks) {
    const src = net.layers[b.from].shape;
    if (b.kind === 'dense') {
      const [rows, inputs] = b.shape;
      const perChannel = src.length === 3 ? src[1] * src[2] : 1;
      for (let i = 0; i < rows; i++) {
        for (let k = 0; k < inputs; k++) {
          out.push({ row: start[b.to] + i, col: start[b.from] + Math.floor(k / perChannel), abs: Math.abs(b.weight[i * inputs + k]) });
        }
      }
    } else {
      const [outCh, inPerGroup, kh, kw] = b.shape;
      const outPerGroup = outCh / b.groups;
      for (let f = 0; f < b.weight.length; f++) {
        const o = Math.floor(f / (inPerGroup * kh * kw));
        const c = Math.floor(f / (kh * kw)) % inPerGroup;
        const channel = Math.floor(o / outPerGroup) * inPerGroup + c;
        out.push({ row: start[b.to] + o, col: start[b.from] + channel, abs: Math.abs(b.weight[f]) });
      }
    }
  }
  return out;
}

/** Build the reference problem of a network for exponents `p, q`. */
export function referenceProblem(net: Network, p: number, q: number, includeBiases = false): Reference {
  const layerStart: number[] = [];
  let nUnits = 0;
  for (const layer of net.layers) {
    layerStart.push(nUnits);
    nUnits += units(layer.shape);
  }
  // Tie groups by union-find (skips tie channel c of both layers; explicit ties).
  const parent = Array.from({ length: nUnits }, (_, i) => i);
  const find = (x: number): number => (parent[x] === x ? x : (parent[x] = find(parent[x])));
  const join = (a: number, b: number): void => {
    parent[find(a)] = find(b);
  };
  net.layers.forEach((layer, k) => {
    for (const s of layer.skips ?? []) for (let c = 0; c < units(layer.shape); c++) join(layerStart[k] + c, layerStart[s] + c);
  });
  for (const group of net.ties ?? []) for (const m of group) join(layerStart[group[0].layer] + group[0].unit, layerStart[m.layer] + m.unit);

  const fixed = new Set<number>();
  net.layers.forEach((layer, k) => {
    const all = k === 0 || k === net.layers.length - 1 || !HOMOGENEOUS.has(layer.activation);
    for (let c = 0; c < units(layer.shape); c++) if (all || layer.fixed?.includes(c)) fixed.add(find(layerStart[k] + c));
  });

  // Aggregate entries into unit edges.
  const masses = new Map<number, number>();
  for (const e of weightEntries(net)) {
    const key = e.row * (nUnits + 1) + e.col + 1;
    masses.set(key, (masses.get(key) ?? 0) + Math.pow(e.abs, p));
  }
  if (includeBiases) {
    net.blocks.forEach((b) => {
      if (!b.bias) return;
      for (let i = 0; i < b.bias.length; i++) {
        const key = (layerStart[b.to] + i) * (nUnits + 1);
        masses.set(key, (masses.get(key) ?? 0) + Math.pow(Math.abs(b.bias[i]), p));
      }
    });
  }
  const keys = [...masses.keys()];
  const edgeRow = Int32Array.from(keys, (k) => Math.floor(k / (nUnits + 1)));
  const edgeCol = Int32Array.from(keys, (k) => (k % (nUnits + 1)) - 1);
  const edgeMass = Float64Array.from(keys, (k) => masses.get(k)!);

  // Degenerate groups (MATH.md §4): a free group is live when a chain of non-zero edges leads to it
  // from a fixed group or a bias, and one leads from it to a fixed group. Relaxed over the edge
  // list until nothing changes (no graph search, unlike the library).
  const closure = (forward: boolean): Set<number> => {
    const seen = new Set<number>(fixed);
    for (let changed = true; changed; ) {
      changed = false;
      for (let e = 0; e < edgeMass.length; e++) {
        if (edgeMass[e] === 0) continue;
        const rowRoot = find(edgeRow[e]);
        const colRoot = edgeCol[e] >= 0 ? find(edgeCol[e]) : -1;
        const [from, to] = forward ? [colRoot, rowRoot] : [rowRoot, colRoot];
        const reached = from === -1 || seen.has(from);
        if (reached && to !== -1 && !seen.has(to)) {
          seen.add(to);
          changed = true;
        }
      }
    }
    return seen;
  };
  const fromSources = closure(true);
  const toSinks = closure(false);
  const unitVar = new Int32Array(nUnits).fill(-1);
  const rootVar = new Map<number, number>();
  const frozen: number[] = [];
  for (let u = 0; u < nUnits; u++) {
    const root = find(u);
    if (fixed.has(root)) continue;
    if (!fromSources.has(root) || !toSinks.has(root)) {
      frozen.push(u);
      continue;
    }
    if (!rootVar.has(root)) rootVar.set(root, rootVar.size);
    unitVar[u] = rootVar.get(root)!;
  }
  const group = Int32Array.from({ length: nUnits }, (_, u) => find(u));
  return { p, q, r: q / p, nUnits, layerStart, edgeRow, edgeCol, edgeMass, unitVar, nVars: rootVar.size, frozen, group };
}

/** `rho_i` per unit at log factors `u` (one per variable). */
export function rowMass(ref: Reference, u: ArrayLike<number>): Float64Array {
  const rho = new Float64Array(ref.nUnits);
  const logA = (unit: number): number => (unit >= 0 && ref.unitVar[unit] >= 0 ? u[ref.unitVar[unit]] : 0);
  for (let e = 0; e < ref.edgeMass.length; e++) {
    rho[ref.edgeRow[e]] += ref.edgeMass[e] * Math.exp(ref.p * (logA(ref.edgeRow[e]) - logA(ref.edgeCol[e])));
  }
  return rho;
}

/** `F(u) = sum_i rho_i^r = ||W~||_{p,q}^q`. */
export function objective(ref: Reference, u: ArrayLike<number>): number {
  let F = 0;
  for (const rho of rowMass(ref, u)) if (rho > 0) F += Math.pow(rho, ref.r);
  return F;
}

/** `In` and `Out` per variable at `u` (MATH.md §3), summed over tie groups. */
export function inOut(ref: Reference, u: ArrayLike<number>): { In: Float64Array; Out: Float64Array } {
  const rho = rowMass(ref, u);
  const In = new Float64Array(ref.nVars);
  const Out = new Float64Array(ref.nVars);
  const logA = (unit: number): number => (unit >= 0 && ref.unitVar[unit] >= 0 ? u[ref.unitVar[unit]] : 0);
  for (let unit = 0; unit < ref.nUnits; unit++) if (ref.unitVar[unit] >= 0 && rho[unit] > 0) In[ref.unitVar[unit]] += Math.pow(rho[unit], ref.r);
  for (let e = 0; e < ref.edgeMass.length; e++) {
    const col = ref.edgeCol[e];
    if (col < 0 || ref.unitVar[col] < 0 || ref.edgeMass[e] === 0) continue;
    const row = ref.edgeRow[e];
    const term = ref.edgeMass[e] * Math.exp(ref.p * (logA(row) - logA(col)));
    Out[ref.unitVar[col]] += Math.pow(rho[row], ref.r - 1) * term;
  }
  return { In, Out };
}

/** `max_v |log(Out_v / In_v)|`. */
export function maxLogImbalance(ref: Reference, u: ArrayLike<number>): number {
  const { In, Out } = inOut(ref, u);
  let worst = 0;
  for (let v = 0; v < ref.nVars; v++) worst = Math.max(worst, Math.abs(Math.log(Out[v] / In[v])));
  return worst;
}

/** Gradient and Hessian of `F` at `u`, dense. */
function derivatives(ref: Reference, u: Float64Array): { F: number; g: Float64Array; H: Float64Array } {
  const n = ref.nVars;
  const { p, r } = ref;
  const logA = (unit: number): number => (unit >= 0 && ref.unitVar[unit] >= 0 ? u[ref.unitVar[unit]] : 0);
  const varOf = (unit: number): number => (unit >= 0 ? ref.unitVar[unit] : -1);
  // Edges grouped by row.
  const byRow = new Map<number, number[]>();
  for (let e = 0; e < ref.edgeMass.length; e++) {
    const list = byRow.get(ref.edgeRow[e]) ?? [];
    list.push(e);
    byRow.set(ref.edgeRow[e], list);
  }
  let F = 0;
  const g = new Float64Array(n);
  const H = new Float64Array(n * n);
  const gradRho = new Float64Array(n);
  const hessRho = new Float64Array(n * n);
  for (const [, edges] of byRow) {
    gradRho.fill(0);
    hessRho.fill(0);
    let rho = 0;
    for (const e of edges) {
      const row = ref.edgeRow[e];
      const col = ref.edgeCol[e];
      const t = ref.edgeMass[e] * Math.exp(p * (logA(row) - logA(col)));
      rho += t;
      // z = p (e_row - e_col) in variable space.
      const vr = varOf(row);
      const vc = varOf(col);
      if (vr === vc) continue;
      const z: [number, number][] = [];
      if (vr >= 0) z.push([vr, p]);
      if (vc >= 0) z.push([vc, -p]);
      for (const [a, za] of z) {
        gradRho[a] += t * za;
        for (const [b, zb] of z) hessRho[a * n + b] += t * za * zb;
      }
    }
    if (!(rho > 0)) continue;
    F += Math.pow(rho, r);
    const c1 = r * Math.pow(rho, r - 1);
    const c2 = r * (r - 1) * Math.pow(rho, r - 2);
    for (let a = 0; a < n; a++) {
      if (gradRho[a] === 0 && hessRho[a * n + a] === 0) continue;
      g[a] += c1 * gradRho[a];
      for (let b = 0; b < n; b++) H[a * n + b] += c1 * hessRho[a * n + b] + c2 * gradRho[a] * gradRho[b];
    }
  }
  return { F, g, H };
}

/** Solve `(H + mu I) x = b` by Cholesky; null when not positive definite. */
function choleskySolve(H: Float64Array, b: Float64Array, n: number, mu: number): Float64Array | null {
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = H[i * n + j] + (i === j ? mu : 0);
      for (let k = 0; k < j; k++) s -= L[i * n + k] * L[j * n + k];
      if (i === j) {
        if (!(s > 0)) return null;
        L[i * n + i] = Math.sqrt(s);
      } else L[i * n + j] = s / L[j * n + j];
    }
  }
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= L[i * n + k] * y[k];
    y[i] = s / L[i * n + i];
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i];
    for (let k = i + 1; k < n; k++) s -= L[k * n + i] * x[k];
    x[i] = s / L[i * n + i];
  }
  return x;
}

/**
 * Minimise `F` over `u` by damped Newton on `log F` (the same minimiser; `log F` is a
 * log-sum-exp of convex functions, hence convex, and far better conditioned than `F` when
 * `q / p` is large), with an Armijo backtracking line search, until every group is balanced to
 * `max |log(Out/In)| <= 1e-13` (or no step changes anything). Near the minimum, where the
 * predicted decrease is below rounding, full Newton steps are taken without the line search
 * (quadratic convergence). Returns the minimiser, `F` there and the Newton iterations used.
 */
export function newtonMinimise(ref: Reference, start?: Float64Array): { u: Float64Array; F: number; iterations: number } {
  const n = ref.nVars;
  const u = start ? start.slice() : new Float64Array(n);
  let iterations = 0;
  for (; iterations < 500 && maxLogImbalance(ref, u) > 1e-13; iterations++) {
    const { F, g, H } = derivatives(ref, u);
    // Derivatives of G = log F.
    const gG = g.map((x) => x / F);
    const HG = new Float64Array(n * n);
    for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) HG[a * n + b] = H[a * n + b] / F - gG[a] * gG[b];
    const G = Math.log(F);
    const minus = gG.map((x) => -x);
    let d: Float64Array | null = null;
    for (let mu = 0; d === null; mu = mu === 0 ? 1e-14 : mu * 10) d = choleskySolve(HG, minus, n, mu);
    // Far from the minimum the Hessian of log F is nearly singular: cap the step at 2/p in u.
    let longest = 0;
    for (const x of d) longest = Math.max(longest, Math.abs(x));
    if (longest > 2 / ref.p) d = d.map((x) => (x * 2) / ref.p / longest);
    let slope = 0;
    for (let a = 0; a < n; a++) slope += gG[a] * d[a];
    let t = 1;
    const trial = new Float64Array(n);
    for (;;) {
      for (let a = 0; a < n; a++) trial[a] = u[a] + t * d[a];
      if (-slope < 1e-13 || Math.log(objective(ref, trial)) <= G + 1e-4 * t * slope || t < 1e-12) break;
      t /= 2;
    }
    if (t < 1e-12) break; // no further progress representable
    u.set(trial);
  }
  return { u, F: objective(ref, u), iterations };
}

/** Log factors per variable read off a per-layer result (`logFactors[layer][unit]`). */
export function varFactors(ref: Reference, logFactors: ArrayLike<number>[]): Float64Array {
  const u = new Float64Array(ref.nVars);
  logFactors.forEach((layer, k) => {
    for (let c = 0; c < layer.length; c++) {
      const v = ref.unitVar[ref.layerStart[k] + c];
      if (v >= 0) u[v] = layer[c];
    }
  });
  return u;
}

/** A seeded uniform PRNG (mulberry32) for the tests' own draws, independent of src/network/random. */
export function uniformStream(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Random `(p, q)` pairs: non-integers, both orders, from a seed. */
export function randomExponents(seed: number, count: number): [number, number][] {
  const next = uniformStream(seed);
  const pairs: [number, number][] = [];
  for (let k = 0; k < count; k++) {
    const p = 0.6 + 3.4 * next();
    const q = k % 2 === 0 ? p * (0.3 + 0.6 * next()) : p * (1.1 + 1.5 * next()); // alternately q < p and q > p
    pairs.push([Math.round(p * 1000) / 1000, Math.round(q * 1000) / 1000]);
  }
  return pairs;
}

/** Largest relative difference between the weights (and biases) of two networks of one shape. */
export function weightDistance(a: Network, b: Network): number {
  let worst = 0;
  a.blocks.forEach((block, k) => {
    const other = b.blocks[k];
    let scale = 0;
    for (const x of block.weight) scale = Math.max(scale, Math.abs(x));
    for (let i = 0; i < block.weight.length; i++) worst = Math.max(worst, Math.abs(block.weight[i] - other.weight[i]) / scale);
    if (block.bias && other.bias) {
      let biasScale = 0;
      for (const x of block.bias) biasScale = Math.max(biasScale, Math.abs(x));
      for (let i = 0; i < block.bias.length && biasScale > 0; i++) worst = Math.max(worst, Math.abs(block.bias[i] - other.bias[i]) / biasScale);
    }
  });
  return worst;
}

/** Relative difference of the outputs of two networks on `batch` seeded random inputs. */
export function outputDistance(
  forward: (net: Network, x: Float64Array, batch: number) => Float64Array,
  a: Network,
  b: Network,
  seed: number,
  batch = 8,
): number {
  const size = a.layers[0].shape.reduce((x, y) => x * y, 1);
  const next = uniformStream(seed);
  const x = Float64Array.from({ length: size * batch }, () => 2 * next() - 1);
  const ya = forward(a, x, batch);
  const yb = forward(b, x, batch);
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < ya.length; i++) {
    scale = Math.max(scale, Math.abs(ya[i]));
    diff = Math.max(diff, Math.abs(ya[i] - yb[i]));
  }
  return diff / scale;
}
