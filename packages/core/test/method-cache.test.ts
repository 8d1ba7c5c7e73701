import { describe, expect, it } from 'vitest';
import { MethodCache } from '../src/method-cache';

const shape = (path: string) => ({ path, requestStream: false, responseStream: false });

describe('MethodCache', () => {
  it('computes once per method, also when the value is undefined', () => {
    let computed = 0;
    const cache = new MethodCache(() => {
      computed++;
      return undefined;
    });
    for (let i = 0; i < 3; i++) expect(cache.get(shape('/a.S/M'))).toBeUndefined();
    expect(computed).toBe(1);
  });

  it('hands the parsed method to compute', () => {
    const cache = new MethodCache((m) => `${m.service}|${m.method}|${m.type}`);
    expect(cache.get({ path: '/pkg.S/M', requestStream: true, responseStream: true })).toBe(
      'pkg.S|M|bidi_stream',
    );
  });

  it('holds at most maxSize methods, dropping the oldest first', () => {
    let computed = 0;
    const cache = new MethodCache((m) => {
      computed++;
      return m.method;
    }, 2);
    cache.get(shape('/s.S/A'));
    cache.get(shape('/s.S/B'));
    cache.get(shape('/s.S/C'));
    expect(cache.size).toBe(2);
    expect(cache.peek('/s.S/A')).toBeUndefined();
    expect(cache.peek('/s.S/C')).toBe('C');
    cache.get(shape('/s.S/A'));
    expect(computed).toBe(4);
  });

  it('stays bounded under a flood of distinct paths', () => {
    const cache = new MethodCache((m) => m.path, 100);
    for (let i = 0; i < 10_000; i++) cache.get(shape(`/s.S/M${i}`));
    expect(cache.size).toBe(100);
  });

  it('refuses a size that is not a whole number >= 1', () => {
    expect(() => new MethodCache(() => 1, 0)).toThrow(RangeError);
  });
});
