/**
 * The type of an interceptor's DEFAULTS constant (resolved by `resolveOptions` of `@weft/core`):
 * every option of `O` with its default, and the options in `NoDefault` (optional, no default) as
 * `undefined`. Naming the type keeps literal defaults (`2`, `false`) from narrowing the option.
 */
export type OptionDefaults<O, NoDefault extends keyof O = never> = Readonly<
  Required<Omit<O, NoDefault>> & { [K in NoDefault]: O[K] | undefined }
>;
