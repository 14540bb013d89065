/**
 * The network module refuses malformed input by name: the builders, forward() and
 * validateNetwork() (skips, fixed units, pools, names, activations on the input, ties).
 */
import { describe, expect, it } from 'vitest';
import { writeSafetensors } from '../src/io/safetensors.js';
import { cnn, mlp, sequential } from '../src/network/builders.js';
import { forward } from '../src/network/forward.js';
import type { Network } from '../src/network/types.js';
import { validateNetwork } from '../src/network/validate.js';
import { refusal } from './support/refusal.js';

describe('builders and forward refuse malformed arguments by name', () => {
  it('sequential: a fractional or non-positive size, an unknown dtype', () => {
    expect(refusal(() => sequential([3], [{ type: 'dense', units: 2.5 }]))).toMatch(/units/);
    expect(refusal(() => sequential([3], [{ type: 'dense', units: -2 }]))).toMatch(/units/);
    expect(refusal(() => sequential([3, 5, 5], [{ type: 'conv', channels: 3, kernel: 2.5 }]))).toMatch(/kernel/);
    expect(refusal(() => sequential([3, 5, 5], [{ type: 'conv', channels: 3, kernel: 3, stride: 0 }]))).toMatch(/stride/);
    expect(refusal(() => sequential([3, 5, 5], [{ type: 'conv', channels: 3, kernel: 3, padding: -1 }]))).toMatch(/padding/);
    expect(refusal(() => sequential([3.5], [{ type: 'dense', units: 2 }]))).toMatch(/input/);
    expect(refusal(() => mlp([3, 4, 2], { dtype: 'float16' as never }))).toMatch(/dtype/);
  });

  it('forward: a batch that is not a non-negative integer', () => {
    const net = mlp([2, 3, 2], { seed: 0 });
    expect(refusal(() => forward(net, [1, 2, 3], 1.5))).toMatch(/batch/);
  });

  it('forward: inputs that are not an array', () => {
    const net = mlp([2, 3, 2], { seed: 0 });
    expect(refusal(() => forward(net, undefined as never))).toBe('forward: inputs must be an array of numbers, got undefined');
    expect(refusal(() => forward(net, 7 as never))).toBe('forward: inputs must be an array of numbers, got number');
  });
});

describe('validateNetwork', () => {
  it('skips and fixed units that are not arrays, a pool window or stride that is not two integers: refused by name', () => {
    const base = cnn({ seed: 0 });
    const variants: Array<(n: Network) => void> = [
      (n) => {
        (n.layers[1] as { skips: unknown }).skips = 0;
      },
      (n) => {
        (n.layers[1] as { fixed: unknown }).fixed = 3;
      },
      (n) => {
        n.layers[1].pool!.size = [2] as unknown as [number, number];
      },
      (n) => {
        n.layers[1].pool!.stride = [2, 2, 2] as unknown as [number, number];
      },
    ];
    for (const change of variants) {
      const net = structuredClone(base);
      change(net);
      expect(refusal(() => validateNetwork(net))).toMatch(/layer 1 \('hidden1'\): (skips|fixed|pool size)/);
    }
  });

  it('pool flags: ceil and countPadding must be booleans, countPadding on average pooling only; ceil changes the shape that chains', () => {
    const base = cnn({ seed: 0 }); // layer 1: 8 x 8 max-pooled 2/2 -> 4 x 4; layer 3: 4 x 4 avg-pooled 2/2 -> 2 x 2
    const variants: Array<[(n: Network) => void, RegExp]> = [
      [
        (n) => {
          (n.layers[1].pool as { ceil: unknown }).ceil = 1;
        },
        /layer 1 \('hidden1'\): pool ceil must be a boolean/,
      ],
      [
        (n) => {
          n.layers[1].pool!.countPadding = true;
        },
        /layer 1 \('hidden1'\): pool countPadding must be a boolean, on average pooling only/,
      ],
      [
        (n) => {
          (n.layers[3].pool as { countPadding: unknown }).countPadding = 'yes';
        },
        /layer 3 \('hidden3'\): pool countPadding must be a boolean/,
      ],
      // 3 x 3 windows with stride 2 on 8 x 8: 3 windows, 4 with ceil; the layer still declares 4 x 4
      [
        (n) => {
          n.layers[1].pool!.size = [3, 3];
        },
        /layer 1 \('hidden1'\): shapes do not chain: its inputs give \[8,3,3\]/,
      ],
    ];
    for (const [change, message] of variants) {
      const net = structuredClone(base);
      change(net);
      expect(refusal(() => validateNetwork(net))).toMatch(message);
    }
    const ceiled = structuredClone(base);
    ceiled.layers[1].pool = { kind: 'max', size: [3, 3], stride: [2, 2], ceil: true };
    expect(() => validateNetwork(ceiled)).not.toThrow();
  });

  it('a layer name that is not a string (which the safetensors reader would refuse) is refused', () => {
    const net = mlp([3, 4, 2], { seed: 0 });
    (net.layers[1] as { name: unknown }).name = 5;
    expect(refusal(() => writeSafetensors(net))).toMatch(/layer 1: name must be a string/);
  });

  it('an activation or a pooling on the input layer (which forward would ignore) is refused', () => {
    const net = cnn({ seed: 0 });
    const relu = structuredClone(net);
    relu.layers[0].activation = 'relu';
    expect(refusal(() => validateNetwork(relu))).toMatch(/layer 0 \('input'\): the input layer must have the identity activation/);
    const pooled = structuredClone(net);
    pooled.layers[0].pool = { kind: 'max', size: [2, 2], stride: [2, 2] };
    expect(refusal(() => validateNetwork(pooled))).toMatch(/layer 0 \('input'\).*no pooling/);
  });

  it('ties that are not arrays of unit references are refused by name', () => {
    const net = mlp([3, 4, 2], { seed: 0 });
    for (const ties of [5, [5], [[null]], [{ layer: 1, unit: 0 }], [[{ layer: 'length', unit: 0 }]], [[{ layer: '__proto__', unit: 0 }]]]) {
      expect(refusal(() => validateNetwork({ ...net, ties } as unknown as Network))).toMatch(/tie/);
    }
  });
});
