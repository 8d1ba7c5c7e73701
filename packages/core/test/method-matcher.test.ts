import { describe, expect, it } from 'vitest';
import { methodInfo } from '../src/method-info';
import { keyMatches, lookupByMethod, not, toPredicate } from '../src/method-matcher';

const get = methodInfo({ path: '/pkg.Users/Get', requestStream: false, responseStream: false });
const list = methodInfo({ path: '/pkg.Users/List', requestStream: false, responseStream: true });
const health = methodInfo({
  path: '/grpc.health.v1.Health/Check',
  requestStream: false,
  responseStream: false,
});

describe('method keys and matchers', () => {
  it.each([
    ['pkg.Users/Get', true],
    ['/pkg.Users/Get', true],
    ['pkg.Users', true],
    ['*', true],
    ['pkg.Users/List', false],
    ['pkg.User', false],
    ['pkg', false],
  ])('key %s matches pkg.Users/Get: %s', (key, expected) => {
    expect(keyMatches(key, get)).toBe(expected);
  });

  it('accepts a key, a list of keys, an object and a predicate', () => {
    expect([get, list, health].map(toPredicate('pkg.Users'))).toEqual([true, true, false]);
    expect([get, list, health].map(toPredicate(['pkg.Users/List', '/grpc.health.v1.Health/Check']))).toEqual([
      false,
      true,
      true,
    ]);
    expect([get, list, health].map(toPredicate({ service: 'pkg.Users', type: 'server_stream' }))).toEqual([
      false,
      true,
      false,
    ]);
    expect([get, list, health].map(not({ fullMethod: '/pkg.Users/Get' }))).toEqual([false, true, true]);
    expect([get, list].map(toPredicate((m) => m.method === 'Get'))).toEqual([true, false]);
  });

  it('refuses what is not a matcher, at setup', () => {
    expect(() => toPredicate(5 as never)).toThrow(TypeError);
    expect(() => toPredicate([5] as never)).toThrow(TypeError);
  });

  it('looks up the most specific key in a table', () => {
    const table = { '*': 'any', 'pkg.Users': 'service', '/pkg.Users/Get': 'path' };
    expect(lookupByMethod(table, get)).toBe('path');
    expect(lookupByMethod(table, list)).toBe('service');
    expect(lookupByMethod(table, health)).toBe('any');
    expect(lookupByMethod({ 'pkg.Users/List': 1 }, get)).toBeUndefined();
    expect(lookupByMethod({ toString: 1 } as Record<string, number>, get)).toBeUndefined();
  });
});
