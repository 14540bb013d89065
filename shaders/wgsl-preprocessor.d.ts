/** Types for `wgsl-preprocessor`, which ships plain JavaScript without declarations. */
declare module 'wgsl-preprocessor/wgsl-preprocessor.js' {
  /** Tagged template: resolves `#if ${cond}` / `#elif ${cond}` / `#else` / `#endif` blocks. */
  export function wgsl(strings: TemplateStringsArray, ...values: unknown[]): string;
}
