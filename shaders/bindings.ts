/**
 * One declaration per kernel of its buffer bindings, by name and kind (like `struct.ts` does for
 * the uniform structs): the WGSL `@group(0) @binding(k) var<...> name: type;` lines come from it,
 * in declaration order, and so do the pipeline's bind group layout and the host's bind groups
 * (`bind(kernel, { name: buffer, ... })` in the engine), so a buffer cannot land on the wrong
 * binding: the host names every buffer, and a missing or misspelled name is a compile error.
 */

/** How a kernel binds a buffer (all bindings are in group 0). */
export type BindingKind = 'uniform' | 'storage' | 'read-only-storage';

/** One binding: its kind and its WGSL type (a struct name, `array<f32>`, ...). */
export interface Binding {
  readonly kind: BindingKind;
  readonly type: string;
}

/** A kernel's bindings by name, in binding-index order. */
export type BindingLayout = Readonly<Record<string, Binding>>;

/** A uniform binding holding one struct (declared with `uniformStruct`). */
export function uniform(struct: { readonly name: string }): Binding {
  return { kind: 'uniform', type: struct.name };
}

/** A read-write storage binding of WGSL type `type` (a struct: pass it, or its name). */
export function storage(type: string | { readonly name: string }): Binding {
  return { kind: 'storage', type: typeof type === 'string' ? type : type.name };
}

/** A read-only storage binding of WGSL type `type`. */
export function readOnly(type: string | { readonly name: string }): Binding {
  return { kind: 'read-only-storage', type: typeof type === 'string' ? type : type.name };
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const ADDRESS_SPACE: Record<BindingKind, string> = {
  uniform: 'uniform',
  storage: 'storage, read_write',
  'read-only-storage': 'storage, read',
};

/** Check a layout's names (WGSL identifiers) and return it unchanged, with its literal type. */
export function bindingLayout<const B extends BindingLayout>(layout: B): B {
  const names = Object.keys(layout);
  if (names.length === 0) throw new Error('a kernel needs at least one binding');
  for (const name of names) if (!IDENTIFIER.test(name)) throw new Error(`binding '${name}' is not a WGSL identifier`);
  return layout;
}

/** The WGSL declarations of a layout: binding `k` is the `k`-th name. */
export function bindingsWgsl(layout: BindingLayout): string {
  return Object.entries(layout)
    .map(([name, b], k) => `@group(0) @binding(${k}) var<${ADDRESS_SPACE[b.kind]}> ${name}: ${b.type};`)
    .join('\n');
}

/** A kernel: its WGSL (whose binding lines come from `bindings`) and its bindings by name. */
export interface Kernel<B extends BindingLayout = BindingLayout> {
  readonly name: string;
  readonly code: string;
  readonly bindings: B;
}
