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

/**
 * Dawn's `GPU` object for Node, or `null` when the `webgpu` package cannot be loaded. Sets
 * `VK_ICD_FILENAMES` to Chromium's SwiftShader driver when it is unset and that file exists
 * (so a machine without a GPU still gets an adapter), and installs Dawn's WebGPU globals
 * (`GPUBufferUsage`, ...) when the environment has none. Loaded once per process.
 */
export function nodeGpu(): Promise<GPU | null> {
  loaded ??= load();
  return loaded;
}

let loaded: Promise<GPU | null> | undefined;

async function load(): Promise<GPU | null> {
  if (process.env.VK_ICD_FILENAMES === undefined && existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  try {
    const dawn = (await import('webgpu')) as { create: (flags: string[]) => GPU; globals: Record<string, unknown> };
    for (const [name, value] of Object.entries(dawn.globals)) {
      if (!(name in globalThis)) (globalThis as Record<string, unknown>)[name] = value;
    }
    return dawn.create([`enable-dawn-features=${DAWN_TOGGLES.join(',')}`]);
  } catch {
    return null;
  }
}
