// The device kit's adapter check, run by bench/device/run.sh before the benchmark (from the
// kit's app folder, where `webgpu` resolves). Prints the adapter Dawn picks (the benchmark asks
// for the same one: powerPreference 'high-performance'), its limits, and a one-copy round trip
// through the device. Exit status: 0 a GPU adapter that works; 2 no adapter or the device
// failed; 3 a CPU adapter (SwiftShader, llvmpipe/lavapipe, or a fallback adapter), unless
// ALLOW_SWIFTSHADER=1 (for rehearsing the kit on a machine without a GPU).
import { create, globals } from 'webgpu';

for (const [name, value] of Object.entries(globals)) if (!(name in globalThis)) globalThis[name] = value;

const fail = (code, message) => {
  console.log(`probe: FAIL: ${message}`);
  process.exit(code);
};

const gpu = create(['enable-dawn-features=disable_workgroup_init']);
const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
if (!adapter) fail(2, `no WebGPU adapter (VK_DRIVER_FILES=${process.env.VK_DRIVER_FILES ?? ''} VK_ICD_FILENAMES=${process.env.VK_ICD_FILENAMES ?? ''})`);
const info = adapter.info ?? {};
const text = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' | ');
const fallback = Boolean(adapter.isFallbackAdapter ?? info.isFallbackAdapter);
console.log(`probe: adapter ${text} (fallback: ${fallback})`);
const limits = adapter.limits;
console.log(
  `probe: maxBufferSize ${limits.maxBufferSize}, maxStorageBufferBindingSize ${limits.maxStorageBufferBindingSize}, maxComputeWorkgroupSizeX ${limits.maxComputeWorkgroupSizeX}`,
);

// The device must really run work: write a pattern, copy it, read it back.
const device = await adapter.requestDevice({
  requiredLimits: { maxBufferSize: limits.maxBufferSize, maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize },
});
const n = 1 << 20;
const data = new Uint32Array(n).map((_, i) => (i * 2654435761) >>> 0);
const source = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
const target = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.MAP_READ });
device.queue.writeBuffer(source, 0, data);
const encoder = device.createCommandEncoder();
encoder.copyBufferToBuffer(source, 0, target, 0, n * 4);
device.queue.submit([encoder.finish()]);
await target.mapAsync(GPUMapMode.READ);
const back = new Uint32Array(target.getMappedRange());
let wrong = 0;
for (let i = 0; i < n; i++) if (back[i] !== data[i]) wrong++;
target.unmap();
device.destroy();
if (wrong > 0) fail(2, `a 4 MiB copy through the device came back with ${wrong} wrong words`);
console.log('probe: a 4 MiB copy through the device came back intact');

if (fallback || /swiftshader|llvmpipe|lavapipe|software/i.test(text)) {
  if (process.env.ALLOW_SWIFTSHADER === '1') console.log('probe: CPU adapter allowed (ALLOW_SWIFTSHADER=1): a rehearsal, not a GPU measurement');
  else fail(3, `the adapter is CPU emulation (${text}), not the GPU: set VK_DRIVER_FILES/VK_ICD_FILENAMES to the GPU driver's ICD json`);
}
console.log('probe: ok');
process.exit(0);
