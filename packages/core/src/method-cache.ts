import { type MethodInfo, type MethodShape, methodInfo } from './method-info';

/** How many methods a `MethodCache` remembers by default. */
export const DEFAULT_METHOD_CACHE_SIZE = 1024;

/**
 * Per-method state computed once (a policy, a breaker, a label set), bounded: a server only sees
 * its registered methods, but a client (a proxy, a generic client) may call any path, so past
 * `maxSize` methods the oldest entry is dropped (first in, first out: a hit costs one map lookup,
 * nothing more). Every per-method cache in weft is one of these.
 */
export class MethodCache<V> {
  private readonly entries = new Map<string, V>();

  constructor(
    private readonly compute: (method: MethodInfo) => V,
    readonly maxSize = DEFAULT_METHOD_CACHE_SIZE,
  ) {
    if (!Number.isInteger(maxSize) || maxSize < 1)
      throw new RangeError(`MethodCache: maxSize must be an integer >= 1 (got ${maxSize})`);
  }

  /** The value for `method`, computed on first use. */
  get(method: MethodInfo | MethodShape): V {
    const entries = this.entries;
    const path = method.path;
    // One lookup on a hit; `has` only on a miss, since a computed value may be `undefined`.
    const hit = entries.get(path);
    if (hit !== undefined || entries.has(path)) return hit as V;
    const value = this.compute('type' in method ? method : methodInfo(method));
    if (entries.size >= this.maxSize) entries.delete(entries.keys().next().value as string);
    entries.set(path, value);
    return value;
  }

  /** The value for `path` if one was computed and is still held. */
  peek(path: string): V | undefined {
    return this.entries.get(path);
  }

  get size(): number {
    return this.entries.size;
  }

  /** The cached values (e.g. to read every breaker's state). */
  values(): IterableIterator<V> {
    return this.entries.values();
  }
}
