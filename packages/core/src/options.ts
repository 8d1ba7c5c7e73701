/**
 * One way to resolve an interceptor's options: every default in one frozen constant, `undefined`
 * (given or omitted) means "use the default", and each value is checked once, at setup, with an
 * error that names the interceptor and the option. `{ ...defaults, ...options }` would let an
 * explicit `undefined` replace a default; this never does.
 */

/** Returns a problem with `value` ("must be a positive number"), or `undefined` if it is fine. */
export type OptionCheck<V> = (value: V) => string | undefined;

/** Checks for some of the options; an option without one is taken as given. */
export type OptionChecks<D> = { readonly [K in keyof D]?: OptionCheck<D[K]> };

/** Thrown at setup for an option that cannot work, e.g. `retry: option "maxAttempts" must be ... (got -1)`. */
export class OptionError extends TypeError {
  override readonly name = 'OptionError';
  constructor(
    readonly interceptor: string,
    readonly option: string,
    problem: string,
    value: unknown,
  ) {
    super(`${interceptor}: option "${option}" ${problem} (got ${describe(value)})`);
  }
}

function describe(value: unknown): string {
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'an array' : 'an object';
  return String(value);
}

/**
 * The options of `interceptor`: each key of `defaults` takes the given value unless that is
 * `undefined`. Keys not in `defaults` are dropped, so `defaults` must list every option (an
 * optional one with `undefined` as its default). The result is frozen.
 */
export function resolveOptions<D extends object>(
  interceptor: string,
  defaults: Readonly<D>,
  options: { readonly [K in keyof D]?: D[K] | undefined } | undefined,
  checks?: OptionChecks<D>,
): Readonly<D> {
  const resolved = { ...defaults } as D;
  if (options !== undefined && options !== null) {
    if (typeof options !== 'object')
      throw new OptionError(interceptor, 'options', 'must be an object', options);
    for (const key of Object.keys(defaults) as (keyof D)[]) {
      const value = options[key];
      if (value !== undefined) resolved[key] = value as D[keyof D];
    }
  }
  if (checks !== undefined) {
    for (const key of Object.keys(checks) as (keyof D & string)[]) {
      const problem = (checks[key] as OptionCheck<D[typeof key]>)(resolved[key]);
      if (problem !== undefined) throw new OptionError(interceptor, key, problem, resolved[key]);
    }
  }
  return Object.freeze(resolved);
}

/** Common checks; an `undefined` value (an optional option left out) passes all of them. */
export const check = Object.freeze({
  /** A finite number > 0. */
  positive: (value: number | undefined) =>
    value === undefined || (Number.isFinite(value) && value > 0) ? undefined : 'must be a positive number',
  /** A finite number >= 0. */
  nonNegative: (value: number | undefined) =>
    value === undefined || (Number.isFinite(value) && value >= 0) ? undefined : 'must be a number >= 0',
  /** An integer >= 1. */
  positiveInteger: (value: number | undefined) =>
    value === undefined || (Number.isInteger(value) && value >= 1) ? undefined : 'must be an integer >= 1',
  /** A number in [0, 1]. */
  fraction: (value: number | undefined) =>
    value === undefined || (value >= 0 && value <= 1) ? undefined : 'must be a number from 0 to 1',
  /** A function. */
  function: (value: unknown) =>
    value === undefined || typeof value === 'function' ? undefined : 'must be a function',
  /** A boolean. */
  boolean: (value: unknown) =>
    value === undefined || typeof value === 'boolean' ? undefined : 'must be true or false',
  /** A string (possibly empty). */
  string: (value: unknown) =>
    value === undefined || typeof value === 'string' ? undefined : 'must be a string',
  /** A non-empty string. */
  nonEmptyString: (value: unknown) =>
    value === undefined || (typeof value === 'string' && value.length > 0)
      ? undefined
      : 'must be a non-empty string',
  /** An array. */
  list: (value: unknown) => (value === undefined || Array.isArray(value) ? undefined : 'must be an array'),
  /** An object (not an array, not null). */
  object: (value: unknown) =>
    value === undefined || (typeof value === 'object' && value !== null && !Array.isArray(value))
      ? undefined
      : 'must be an object',
  /** One of `allowed`. */
  oneOf:
    <T>(...allowed: readonly T[]) =>
    (value: T | undefined) =>
      value === undefined || allowed.includes(value)
        ? undefined
        : `must be one of ${allowed.map(String).join(', ')}`,
});
