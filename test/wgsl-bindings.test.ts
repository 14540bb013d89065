/**
 * Every kernel declares its bindings once, by name and kind (shaders/bindings.ts): its WGSL
 * binding lines come from that declaration, and the host binds buffers by name
 * (src/engines/webgpu/bind.ts), so passing buffers in the wrong order cannot happen silently.
 */
import { describe, expect, it } from 'vitest';
import { acceleratedControlKernel } from '../shaders/acceleratedControl.wgsl.js';
import { acceleratedStepKernel } from '../shaders/acceleratedStep.wgsl.js';
import type { BindingKind, Kernel } from '../shaders/bindings.js';
import { bindingLayout, bindingsWgsl, readOnly, storage, uniform } from '../shaders/bindings.js';
import { blockTileKernel } from '../shaders/blockTile.js';
import { buildPowerKernel } from '../shaders/buildPower.wgsl.js';
import { coarseRowsKernel } from '../shaders/coarseRows.wgsl.js';
import { coarseSolveKernel } from '../shaders/coarseSolve.wgsl.js';
import { columnFactorsKernel } from '../shaders/columnFactors.wgsl.js';
import { columnSumsKernel } from '../shaders/columnSums.wgsl.js';
import { finishSweepKernel } from '../shaders/finishSweep.wgsl.js';
import { fusedSumsKernel } from '../shaders/fusedSums.wgsl.js';
import { normKernel } from '../shaders/norm.wgsl.js';
import { pairFractionsKernel } from '../shaders/pairFractions.wgsl.js';
import { rescaleKernel } from '../shaders/rescale.wgsl.js';
import { rowFinishKernel } from '../shaders/rowFinish.wgsl.js';
import { rowSumsKernel } from '../shaders/rowSums.wgsl.js';
import { shiftPartialsKernel } from '../shaders/shiftPartials.wgsl.js';
import { uniformStruct } from '../shaders/struct.js';
import { updateKernel } from '../shaders/update.wgsl.js';
import { bind } from '../src/engines/webgpu/bind.js';
import type { CompiledKernel } from '../src/engines/webgpu/pipelines.js';

const KERNELS: Kernel[] = [
  rowSumsKernel(),
  columnSumsKernel(),
  fusedSumsKernel(),
  blockTileKernel('t', true, false),
  buildPowerKernel({ singleTap: true, fastP: 1 }),
  buildPowerKernel({ singleTap: false, fastP: 0 }),
  rowFinishKernel({ unitR: true }),
  rowFinishKernel({ unitR: false }),
  updateKernel({ evaluate: false }),
  updateKernel({ evaluate: true }),
  normKernel(),
  finishSweepKernel(65),
  rescaleKernel(),
  pairFractionsKernel(),
  coarseRowsKernel(1),
  coarseRowsKernel(3),
  coarseSolveKernel(1, 4),
  coarseSolveKernel(6, 128),
  coarseSolveKernel(6, 385, { iterations: 2, tolerance: 0.1, products: 200 }),
  columnFactorsKernel(),
  shiftPartialsKernel(),
  acceleratedStepKernel(),
  acceleratedControlKernel(),
];

const SPACE: Record<string, BindingKind> = { uniform: 'uniform', 'storage, read': 'read-only-storage', 'storage, read_write': 'storage' };

/** The binding lines of a WGSL source: index, kind, name and type, in source order. */
function parseBindings(code: string): { index: number; kind: BindingKind; name: string; type: string }[] {
  return [...code.matchAll(/@group\((\d+)\)\s*@binding\((\d+)\)\s*var<([^>]+)>\s*(\w+)\s*:\s*([^;]+);/g)].map((m) => {
    expect(m[1]).toBe('0');
    return { index: Number(m[2]), kind: SPACE[m[3]], name: m[4], type: m[5].trim() };
  });
}

describe('kernel bindings by name', () => {
  for (const kernel of KERNELS) {
    it(`${kernel.name}: the WGSL binds exactly the declared names, kinds and types, binding k = the k-th name`, () => {
      const declared = Object.entries(kernel.bindings);
      const parsed = parseBindings(kernel.code);
      expect(parsed).toEqual(declared.map(([name, b], index) => ({ index, kind: b.kind, name, type: b.type })));
      expect(kernel.code.split('@binding(')).toHaveLength(declared.length + 1);
    });
  }

  it('every declared binding is used by at least one variant of the kernels sharing the declaration', () => {
    const families = new Map<object, string[]>();
    for (const kernel of KERNELS) families.set(kernel.bindings, [...(families.get(kernel.bindings) ?? []), kernel.code]);
    expect(families.size).toBe(14);
    for (const [bindings, codes] of families) {
      for (const name of Object.keys(bindings)) {
        const uses = codes.map((code) => code.match(new RegExp(`\\b${name}\\b`, 'g'))?.length ?? 0);
        expect(Math.max(...uses), name).toBeGreaterThan(1);
      }
    }
  });

  it('bindingsWgsl writes one line per binding in declaration order', () => {
    const Params = uniformStruct('Params', { n: 'u32' });
    const layout = bindingLayout({ params: uniform(Params), data: readOnly('array<f32>'), out: storage('array<vec2f>') });
    expect(bindingsWgsl(layout)).toBe(
      [
        '@group(0) @binding(0) var<uniform> params: Params;',
        '@group(0) @binding(1) var<storage, read> data: array<f32>;',
        '@group(0) @binding(2) var<storage, read_write> out: array<vec2f>;',
      ].join('\n'),
    );
    expect(() => bindingLayout({ 'not a name': storage('array<f32>') })).toThrow(/not a WGSL identifier/);
    expect(() => bindingLayout({})).toThrow(/at least one binding/);
  });
});

describe('bind(): a bind group from buffers by name', () => {
  const layout = bindingLayout({ params: uniform({ name: 'P' }), input: readOnly('array<f32>'), output: storage('array<f32>') });
  const kernel: CompiledKernel<typeof layout> = {
    name: 'test',
    pipeline: {} as GPUComputePipeline,
    layout: { label: 'layout' } as GPUBindGroupLayout,
    bindings: layout,
  };
  const made: GPUBindGroupDescriptor[] = [];
  const createBindGroup = (d: GPUBindGroupDescriptor): GPUBindGroup => {
    made.push(d);
    return { label: d.label } as GPUBindGroup;
  };
  const device = { createBindGroup } as unknown as GPUDevice;
  const buffer = (label: string, usage: number): GPUBuffer => ({ label, usage }) as GPUBuffer;
  const UNIFORM = 0x40;
  const STORAGE = 0x80;
  const params = buffer('params', UNIFORM);
  const input = buffer('input', STORAGE);
  const output = buffer('output', STORAGE);

  it('puts each buffer on the binding of its name, whatever the order of the object', () => {
    made.length = 0;
    bind(device, 'x', kernel, { output, params, input });
    expect(made).toHaveLength(1);
    expect(made[0].layout).toBe(kernel.layout);
    expect([...made[0].entries].map((e) => [e.binding, (e.resource as GPUBufferBinding).buffer.label])).toEqual([
      [0, 'params'],
      [1, 'input'],
      [2, 'output'],
    ]);
  });

  it('a missing or unknown name is a type error and a run-time error', () => {
    // @ts-expect-error `output` is missing
    expect(() => bind(device, 'x', kernel, { params, input })).toThrow(/no buffer for binding 'output'/);
    // @ts-expect-error `outptu` is not a binding of the kernel
    expect(() => bind(device, 'x', kernel, { params, input, output, outptu: output })).toThrow(/no binding 'outptu'/);
  });

  it("a buffer whose usage does not fit its binding's kind is refused with the binding's name", () => {
    expect(() => bind(device, 'x', kernel, { params: input, input: params, output })).toThrow(/cannot be bound as uniform \('params'/);
    expect(() => bind(device, 'x', kernel, { params, input: params, output })).toThrow(/'input'/);
  });
});
