import { Metadata, status } from '@grpc/grpc-js';
import {
  type CallContext,
  type StagedServerInterceptor,
  signals,
  stagedInterceptor,
  type WeftServerCall,
} from '@weft/core';
import { type CallKey, contextSubject, keyFunction, type SubjectLookup } from './call-key';
import { MemoryStore, type RateLimitStore } from './token-bucket';

/** What a rule's buckets are keyed on; see `CallKey`. */
export type RateLimitKey = CallKey;

export interface RateLimitRule {
  /** Names the limit in the status message, the `limitRejection` signal and the store key. */
  name: string;
  /** Tokens added per second (the sustained rate of calls). Must be > 0. */
  rate: number;
  /** Bucket size: how many calls may arrive at once after a quiet spell. Default `max(1, ceil(rate))`. */
  burst?: number;
  /** What the buckets are keyed on. Default `'global'`. */
  key?: RateLimitKey;
  /**
   * Where the buckets live. Default: a `MemoryStore` of this rule (per process). Use
   * `redisStore(...)` to share one limit between server instances.
   */
  store?: RateLimitStore;
}

export interface RateLimitOptions {
  /**
   * The limits, checked in order; the first one out of tokens rejects the call (tokens already
   * taken from earlier rules are not given back, as in Envoy's local rate limit).
   */
  rules: RateLimitRule[];
  /**
   * The authenticated subject of a call, for rules keyed on `'subject'`. Default: none, so
   * `'subject'` rules key on the peer. With `@weft/auth`, pass
   * `subject: (ctx) => authIdentity(ctx)?.subject`; the auth layer must run before (outside) this
   * one, as `serverInterceptors()` orders them. (No default lookup: this package does not depend
   * on `@weft/auth`.)
   */
  subject?: SubjectLookup;
}

interface ResolvedRule {
  readonly name: string;
  readonly rate: number;
  readonly burst: number;
  readonly keyClass: string;
  readonly keyOf: (context: CallContext) => string;
  readonly store: RateLimitStore;
}

function resolveRule(rule: RateLimitRule, subject: SubjectLookup): ResolvedRule {
  if (!(rule.rate > 0) || !Number.isFinite(rule.rate)) {
    throw new RangeError(`rate limit "${rule.name}": rate must be a positive number`);
  }
  const burst = rule.burst ?? Math.max(1, Math.ceil(rule.rate));
  if (!(burst >= 1) || !Number.isFinite(burst)) {
    throw new RangeError(`rate limit "${rule.name}": burst must be at least 1`);
  }
  const { keyClass, keyOf } = keyFunction(rule.name, rule.key ?? 'global', subject);
  return {
    name: rule.name,
    rate: rule.rate,
    burst,
    keyClass,
    keyOf,
    store: rule.store ?? new MemoryStore(),
  };
}

function resolveOptions(options: RateLimitOptions): ResolvedRule[] {
  if (!Array.isArray(options?.rules) || options.rules.length === 0) {
    throw new TypeError('rateLimit: at least one rule is required');
  }
  const subject = options.subject ?? contextSubject;
  return options.rules.map((rule) => resolveRule(rule, subject));
}

/** The trailers of a limited call: `retry-after` (seconds, rounded up) and `grpc-retry-pushback-ms`. */
export function retryHint(waitMs: number): Metadata {
  const ms = Math.max(1, Math.ceil(waitMs));
  const trailers = new Metadata();
  trailers.set('retry-after', String(Math.ceil(ms / 1000)));
  trailers.set('grpc-retry-pushback-ms', String(ms));
  return trailers;
}

/**
 * A server interceptor that admits calls through token buckets and answers the rest with
 * RESOURCE_EXHAUSTED before the handler runs, with the wait in `retry-after` and
 * `grpc-retry-pushback-ms` trailers. RESOURCE_EXHAUSTED, not UNAVAILABLE: clients do not retry it
 * by default. A store that fails (a shared store down and configured to fail closed) answers
 * UNAVAILABLE. Every rejection publishes `signals.limitRejection`.
 */
export function rateLimit(options: RateLimitOptions): StagedServerInterceptor {
  const rules = resolveOptions(options);

  const reject = (call: WeftServerCall, stage: number, rule: ResolvedRule, waitMs: number): void => {
    if (signals.limitRejection.hasSubscribers) {
      signals.limitRejection.publish({
        method: call.context.method,
        limiter: 'rate',
        rule: rule.name,
        keyClass: rule.keyClass,
      });
    }
    const ms = Math.max(1, Math.ceil(waitMs));
    call.sendStatusFrom(stage, {
      code: status.RESOURCE_EXHAUSTED,
      details: `rate limit "${rule.name}" exceeded; retry in ${ms} ms`,
      metadata: retryHint(ms),
    });
  };
  const storeFailed = (call: WeftServerCall, stage: number, rule: ResolvedRule): void => {
    call.sendStatusFrom(stage, {
      code: status.UNAVAILABLE,
      details: `rate limit "${rule.name}" could not be checked`,
      metadata: null,
    });
  };
  // Checks rules from `index` on; synchronous stores stay synchronous (no promise per call).
  const check = (call: WeftServerCall, stage: number, index: number): void | Promise<void> => {
    const context = call.context;
    for (let i = index; i < rules.length; i++) {
      const rule = rules[i] as ResolvedRule;
      let wait: number | Promise<number>;
      try {
        wait = rule.store.take(rule.keyOf(context), rule.rate, rule.burst);
      } catch {
        storeFailed(call, stage, rule);
        return;
      }
      if (typeof wait !== 'number') {
        return wait.then(
          (ms) => {
            // A call cancelled meanwhile takes no tokens from the remaining rules.
            if (context.cancelled) return;
            return ms > 0 ? reject(call, stage, rule, ms) : check(call, stage, i + 1);
          },
          () => storeFailed(call, stage, rule),
        );
      }
      if (wait > 0) {
        reject(call, stage, rule, wait);
        return;
      }
    }
  };

  return stagedInterceptor({
    start: (call, stage) => ({ onReceiveMetadata: () => check(call, stage, 0) }),
  });
}
