/**
 * The WebGPU flag values the engine uses, as constants (they are fixed by the WebGPU
 * specification): the library never reads `GPUBufferUsage`, `GPUMapMode` or `GPUShaderStage`
 * from the global scope, so a `GPU` object from Dawn in Node works without Dawn's globals.
 */

/** `GPUBufferUsage` (WebGPU §5.1). */
export const BufferUsage = {
  MAP_READ: 0x0001,
  MAP_WRITE: 0x0002,
  COPY_SRC: 0x0004,
  COPY_DST: 0x0008,
  INDEX: 0x0010,
  VERTEX: 0x0020,
  UNIFORM: 0x0040,
  STORAGE: 0x0080,
  INDIRECT: 0x0100,
  QUERY_RESOLVE: 0x0200,
} as const;

/** `GPUMapMode` (WebGPU §5.2). */
export const MapMode = {
  READ: 0x0001,
  WRITE: 0x0002,
} as const;

/** `GPUShaderStage` (WebGPU §8.1). */
export const ShaderStage = {
  VERTEX: 0x1,
  FRAGMENT: 0x2,
  COMPUTE: 0x4,
} as const;
