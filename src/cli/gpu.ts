/**
 * Where the CLI gets WebGPU in Node: Dawn's `GPU` (through `src/node/webgpu.ts`), and
 * the library's one backend choice (`chooseBackend`) decides.
 *
 * - `cpu`: Dawn is never loaded.
 * - `webgpu`: Dawn is loaded in this process and `balance` runs on any adapter it offers.
 * - `auto`: Dawn and the Vulkan loader print warnings from native code (XDG_RUNTIME_DIR, missing
 *   Vulkan features, SwiftShader) that no JavaScript can silence. So `auto` first asks for an
 *   adapter in a child process whose stderr is discarded (shown with `--verbose`), and
 *   `chooseBackend` decides on that adapter's description: on a hardware adapter Dawn is then
 *   loaded here and the run goes to WebGPU; otherwise the run goes to the CPU, Dawn never loaded
 *   here, nothing printed. The probe runs once per process.
 */
import { spawn } from 'node:child_process';
import type { AdapterInfoLike, GpuSource } from '../driver/backend.js';
import { chooseBackend } from '../driver/backend.js';
import type { Fallback } from '../driver/fallback.js';
import type { Backend } from '../options.js';

/** Where a CLI run goes: the `GPU` source for `balance`, or the CPU with the reason. */
export interface CliGpu {
  source: GpuSource;
  /** Set when `auto` decided on the CPU before loading Dawn here. */
  fallback: Fallback | null;
}

/** What the probe child reports. */
interface ProbeAnswer {
  dawn: boolean;
  adapter: AdapterInfoLike | null;
  /** The Vulkan driver list the adapter was found with (SwiftShader when the system had none). */
  icd: string | null;
}

/** The probe: load Dawn as `node.ts` does (SwiftShader when the system's drivers give no adapter), describe the adapter. */
const PROBE = `
const [url, swiftshader] = JSON.parse(process.argv[1]);
const { existsSync } = await import('node:fs');
const say = (answer) => { process.stdout.write(JSON.stringify(answer)); process.exit(0); };
let dawn;
try { dawn = await import(url); } catch { say({ dawn: false, adapter: null, icd: null }); }
const flags = ['enable-dawn-features=disable_workgroup_init'];
const ask = () => dawn.create(flags).requestAdapter({ powerPreference: 'high-performance' }).catch(() => null);
let adapter = await ask();
if (!adapter && process.env.VK_ICD_FILENAMES === undefined && existsSync(swiftshader)) {
  process.env.VK_ICD_FILENAMES = swiftshader;
  adapter = await ask();
}
const info = adapter?.info ?? {};
say({ dawn: true, icd: process.env.VK_ICD_FILENAMES ?? null, adapter: adapter ? {
  vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description,
  isFallbackAdapter: info.isFallbackAdapter === true || adapter.isFallbackAdapter === true,
} : null });
`;

/** Run the probe in a child process; its stderr (Dawn's and Vulkan's messages) is discarded unless `verbose`. */
function probe(verbose: boolean): Promise<ProbeAnswer> {
  return new Promise((resolve) => {
    let url: string;
    try {
      url = import.meta.resolve('webgpu');
    } catch {
      resolve({ dawn: false, adapter: null, icd: null });
      return;
    }
    const child = spawn(process.execPath, ['--input-type=module', '-e', PROBE, JSON.stringify([url, SWIFTSHADER])], {
      stdio: ['ignore', 'pipe', verbose ? 'inherit' : 'ignore'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    const failed = { dawn: true, adapter: null, icd: null };
    child.on('error', () => resolve(failed));
    child.on('close', () => {
      try {
        resolve(JSON.parse(out) as ProbeAnswer);
      } catch {
        resolve(failed);
      }
    });
  });
}

/** Chromium's SwiftShader Vulkan driver (as in `node.ts`, which the probe must not import: it would load Dawn here). */
const SWIFTSHADER = '/usr/lib/chromium/vk_swiftshader_icd.json';

let probed: Promise<ProbeAnswer> | undefined;

async function dawnSource(): Promise<GpuSource> {
  const { nodeGpu } = await import('../node/webgpu.js');
  const gpu = await nodeGpu();
  return gpu ? { gpu } : {};
}

/** Decide where a run with the given `--backend` goes (see the module comment). */
export async function gpuForBackend(backend: Backend, verbose = false): Promise<CliGpu> {
  if (backend === 'cpu') return { source: {}, fallback: null };
  if (backend === 'webgpu') return { source: await dawnSource(), fallback: null };
  probed ??= probe(verbose);
  const answer = await probed;
  if (!answer.dawn) return { source: {}, fallback: { kind: 'no-webgpu', message: 'WebGPU unavailable: the webgpu package (Dawn) could not be loaded' } };
  const described = { requestAdapter: async () => (answer.adapter ? { info: answer.adapter, limits: {} } : null) };
  const choice = await chooseBackend('auto', { gpu: described });
  if (choice.backend === 'cpu') return { source: {}, fallback: choice.fallback };
  // A hardware adapter: use the same Vulkan drivers here.
  if (answer.icd !== null && process.env.VK_ICD_FILENAMES === undefined) process.env.VK_ICD_FILENAMES = answer.icd;
  return { source: await dawnSource(), fallback: null };
}
