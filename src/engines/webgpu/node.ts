/**
 * WebGPU in Node through the npm package `webgpu` (Dawn). Imported only by the CLI, the
 * benchmark and the tests, never by the library entry, which must run in browsers.
 */
import { existsSync } from 'node:fs';

/** Chromium's SwiftShader Vulkan driver: a CPU fallback adapter where no GPU driver is installed. */
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/**
 * Dawn toggles. `disable_workgroup_init`: Dawn zero-fills workgroup memory at the start of
 * every kernel; SwiftShader compiles that fill unrolled (about 7 s for a 12 KiB tile), and every
 * kernel of this library writes its workgroup memory before reading it (the Chromium e2e tests
 * run the same kernels with the fill on and must agree).
 */
const DAWN_TOGGLES = ['disable_workgroup_init'];

type Dawn = { create: (flags: string[]) => GPU };

let loaded: Promise<GPU | null> | undefined;

/**
 * Dawn's `GPU` object for Node, or `null` when the `webgpu` package cannot be loaded. Installs
 * no globals: the library's WebGPU flags are constants (`flags.ts`). When
 * `VK_ICD_FILENAMES` is unset and the system's Vulkan drivers give no adapter (a machine without
 * a GPU), it points `VK_ICD_FILENAMES` at Chromium's SwiftShader driver, if installed, and tries
 * again; a real GPU's driver is never hidden. Loaded once per process.
 */
export function nodeGpu(): Promise<GPU | null> {
  loaded ??= load();
  return loaded;
}

async function load(): Promise<GPU | null> {
  let dawn: Dawn;
  try {
    dawn = (await import('webgpu')) as Dawn;
  } catch {
    return null;
  }
  const flags = [`enable-dawn-features=${DAWN_TOGGLES.join(',')}`];
  const gpu = dawn.create(flags);
  if (process.env.VK_ICD_FILENAMES !== undefined || !existsSync(SWIFTSHADER_ICD)) return gpu;
  if (await gpu.requestAdapter().catch(() => null)) return gpu;
  process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  return dawn.create(flags);
}
