/** Networks whose float32 weights lie in a `weightBuffer` (test/cpu-weights-in-place.test.ts, test/balance-in-place.test.ts). */
import { weightBuffer } from '../../src/engines/cpu/wasm/weightBuffer.js';
import type { Network } from '../../src/network/types.js';

/** A copy of `net` whose float32 weights lie in one weight buffer, each on a 16-byte boundary past `pad` bytes (biases stay where they are). */
export async function inWeightMemory(net: Network, pad = 0): Promise<Network> {
  const sizes = net.blocks.map((b) => Math.ceil(b.weight.byteLength / 16) * 16);
  const bytes = await weightBuffer(pad + sizes.reduce((a, b) => a + b, 0), pad);
  if (!bytes) throw new Error('no weight buffer here');
  let at = bytes.byteOffset + pad;
  return {
    ...net,
    blocks: net.blocks.map((b, k) => {
      if (!(b.weight instanceof Float32Array)) throw new Error('float32 weights expected');
      const weight = new Float32Array(bytes.buffer, at, b.weight.length);
      weight.set(b.weight);
      at += sizes[k];
      return { ...b, weight };
    }),
  };
}
