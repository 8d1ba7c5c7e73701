import type { InterceptorOptions } from '@grpc/grpc-js';
import { MethodCache, type MethodInfo, type MethodShape } from '@weft/core';

/**
 * Names the target a call goes to: a name, or a function of the call's options. grpc-js does not
 * show interceptors the channel's target, so by default every call through one interceptor is one
 * target, `'default'`: make one interceptor per client, or name targets here.
 */
export type TargetOption = string | ((options: InterceptorOptions) => string);

/** The target name of a call. */
export function targetOf(target: TargetOption, options: InterceptorOptions): string {
  return typeof target === 'function' ? target(options) : target;
}

/**
 * Per-target, per-method state (a breaker, a throttle window): one bounded `MethodCache` per target
 * name. Two lookups per call instead of a key string built (and hashed) per call.
 */
export class PerTarget<V> {
  private readonly targets = new Map<string, MethodCache<V>>();

  constructor(private readonly make: (target: string, method: MethodInfo) => V) {}

  /** The value of `method` on `target`, made on first use. */
  get(target: string, method: MethodShape): V {
    let methods = this.targets.get(target);
    if (methods === undefined) {
      const make = this.make;
      methods = new MethodCache((m) => make(target, m));
      this.targets.set(target, methods);
    }
    return methods.get(method);
  }

  /** The value of `method` (`package.Service/Method` or its path) on `target`, if made. */
  peek(target: string, method: string): V | undefined {
    return this.targets.get(target)?.peek(method.startsWith('/') ? method : `/${method}`);
  }
}
