import { describe, expect, it } from 'vitest';
import { check, OptionError, resolveOptions } from '../src/options';

interface Opts {
  max: number;
  name: string;
  hook: ((x: number) => void) | undefined;
}
const DEFAULTS: Readonly<Opts> = Object.freeze({ max: 10, name: 'a', hook: undefined });

describe('resolveOptions', () => {
  it('keeps every default when an option is explicitly undefined', () => {
    expect(resolveOptions('demo', DEFAULTS, { max: undefined, name: undefined, hook: undefined })).toEqual(
      DEFAULTS,
    );
  });

  it('takes given values and drops keys that have no default', () => {
    const hook = () => {};
    const resolved = resolveOptions('demo', DEFAULTS, { max: 3, hook, extra: 1 } as Partial<Opts>);
    expect(resolved).toEqual({ max: 3, name: 'a', hook });
    expect(Object.isFrozen(resolved)).toBe(true);
  });

  it('treats missing options as all defaults', () => {
    expect(resolveOptions('demo', DEFAULTS, undefined)).toEqual(DEFAULTS);
  });

  it('names the interceptor, the option and the value in its error', () => {
    const run = () => resolveOptions('demo', DEFAULTS, { max: -1 }, { max: check.positive });
    expect(run).toThrow(OptionError);
    expect(run).toThrow('demo: option "max" must be a positive number (got -1)');
  });

  it('checks defaults too, and lets an optional option stay undefined', () => {
    expect(() =>
      resolveOptions('demo', DEFAULTS, {}, { hook: check.function, max: check.positiveInteger }),
    ).not.toThrow();
    expect(() => resolveOptions('demo', DEFAULTS, { hook: 5 as never }, { hook: check.function })).toThrow(
      'demo: option "hook" must be a function (got 5)',
    );
  });

  it('refuses options that are not an object', () => {
    expect(() => resolveOptions('demo', DEFAULTS, 7 as never)).toThrow(
      'demo: option "options" must be an object',
    );
  });

  it.each([
    ['positive', check.positive, [1, 0.5], [0, -1, Number.NaN, Number.POSITIVE_INFINITY]],
    ['nonNegative', check.nonNegative, [0, 2], [-1, Number.NaN]],
    ['positiveInteger', check.positiveInteger, [1, 7], [0, 1.5, -2]],
    ['fraction', check.fraction, [0, 0.5, 1], [-0.1, 1.1, Number.NaN]],
  ] as const)('check.%s accepts and refuses what it says', (_name, fn, good, bad) => {
    for (const v of good) expect(fn(v)).toBeUndefined();
    for (const v of bad) expect(fn(v)).toMatch(/must be/);
    expect(fn(undefined)).toBeUndefined();
  });

  it.each([
    ['boolean', check.boolean, [true, false], [0, 'yes', null]],
    ['string', check.string, ['', 'a'], [1, null, {}]],
    ['nonEmptyString', check.nonEmptyString, ['a'], ['', 1, null]],
    ['list', check.list, [[], ['a']], ['a', {}, null]],
    ['object', check.object, [{}, { a: 1 }], [[], null, 'a']],
  ] as const)('check.%s accepts and refuses what it says', (_name, fn, good, bad) => {
    for (const v of good) expect(fn(v)).toBeUndefined();
    for (const v of bad) expect(fn(v)).toMatch(/must be/);
    expect(fn(undefined)).toBeUndefined();
  });

  it('check.oneOf lists the allowed values', () => {
    const mode = check.oneOf('a', 'b');
    expect(mode('a')).toBeUndefined();
    expect(mode('c' as 'a')).toBe('must be one of a, b');
  });
});
