import { Metadata, status } from '@grpc/grpc-js';
import {
  type CallContext,
  check,
  type LimitEvent,
  type PartialStatus,
  resolveOptions,
  type StagedServerInterceptor,
  type StageHooks,
  signals,
  stagedInterceptor,
  type WeftServerCall,
} from '@weft/core';
import { type CallKey, callKey, contextSubject, keyFunction, type SubjectLookup } from './call-key';
import type { OptionDefaults } from './option-defaults';
import { type BucketState, MemoryStore, type RateLimitStore } from './token-bucket';

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
  /**
   * Shadow mode: the rule counts the calls it would refuse (`signals.limitShadowed`,
   * `weft_limit_shadow_rejections_total`) and refuses none: the safe way to roll out a limit (watch
   * what it would do, then turn it on). Like Envoy's local rate limit with `filter_enforced` at
   * 0%. Its tokens are taken as if it were enforced, so the count is what the enforced rule would
   * refuse. Never in the RateLimit trailers. Default `false`.
   */
  shadow?: boolean;
}

export interface RateLimitOptions {
  /**
   * The limits, checked in order; the first one out of tokens rejects the call (tokens already
   * taken from earlier rules are not given back, as in Envoy's local rate limit).
   */
  rules: RateLimitRule[];
  /**
   * Reads the subject of a call, for rules keyed on `'subject'`. Default `contextSubject`: the
   * subject the authentication layer put on the call's context (`subjectKey` of `@weft/core`, which
   * `@weft/auth`'s `jwtAuth` sets; the auth layer must run before, outside, this one, as
   * `serverInterceptors()` orders them). A call without a subject is keyed on its peer's host.
   */
  subject?: SubjectLookup;
  /**
   * Send the IETF RateLimit fields (draft-ietf-httpapi-ratelimit-headers, the three-field form) as
   * trailers on every call the limit checked: `ratelimit-limit` (the bucket size, `burst`),
   * `ratelimit-remaining` (whole tokens left) and `ratelimit-reset` (seconds, rounded up, until the
   * bucket is full again; on a refused call, until the next token, like `retry-after`). With
   * several enforced rules, the one with the fewest tokens left speaks. Needs a store with
   * `takeState` (both weft stores have it). Default `false`: they tell callers about your limits.
   */
  headers?: boolean;
}

/**
 * A call admitted with fewer than this share of its bucket's tokens left publishes
 * `signals.limitNearLimit`: Envoy's NEAR_LIMIT_RATIO 0.8, counted from the other end.
 */
export const NEAR_LIMIT_SHARE = 0.2;

interface ResolvedRule {
  readonly name: string;
  readonly rate: number;
  readonly burst: number;
  readonly keyClass: string;
  readonly keyOf: (context: CallContext) => string;
  readonly store: RateLimitStore;
  readonly shadow: boolean;
  /** Below this many whole tokens left, an admitted call is near the limit. */
  readonly nearLimit: number;
}

/** `rateLimit()`'s defaults (`rules` has none: it is required). */
export const RATE_LIMIT_DEFAULTS: OptionDefaults<RateLimitOptions, 'rules'> = Object.freeze({
  rules: undefined,
  subject: contextSubject,
  headers: false,
});

/** A rule's defaults (`name` and `rate` are required; `burst` defaults to `max(1, ceil(rate))`, `store` to a new `MemoryStore`). */
export const RATE_LIMIT_RULE_DEFAULTS: OptionDefaults<RateLimitRule, 'name' | 'rate' | 'burst' | 'store'> =
  Object.freeze({
    name: undefined,
    rate: undefined,
    burst: undefined,
    key: 'global',
    store: undefined,
    shadow: false,
  });

function resolveRule(rule: RateLimitRule, subject: SubjectLookup): ResolvedRule {
  const o = resolveOptions(`rate limit "${rule?.name}"`, RATE_LIMIT_RULE_DEFAULTS, rule, {
    name: (v) => (typeof v === 'string' ? undefined : 'is required (a string)'),
    rate: (v) => (v !== undefined && v > 0 && Number.isFinite(v) ? undefined : 'must be a positive number'),
    burst: (v) => (v === undefined || (v >= 1 && Number.isFinite(v)) ? undefined : 'must be at least 1'),
    key: callKey,
  });
  const name = o.name as string; // required: checked above
  const rate = o.rate as number;
  const burst = o.burst ?? Math.max(1, Math.ceil(rate));
  const { keyClass, keyOf } = keyFunction(name, o.key, subject);
  return {
    name,
    rate,
    burst,
    keyClass,
    keyOf,
    store: o.store ?? new MemoryStore(),
    shadow: o.shadow,
    nearLimit: burst * NEAR_LIMIT_SHARE,
  };
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
 * UNAVAILABLE. Every rejection publishes `signals.limitRejection`; a shadow rule's would-be
 * rejection `signals.limitShadowed`; an admission that leaves a bucket under 20% full
 * `signals.limitNearLimit`. With `headers`, the RateLimit trailers go out on every checked call.
 */
export function rateLimit(options: RateLimitOptions): StagedServerInterceptor {
  const resolved = resolveOptions('rateLimit', RATE_LIMIT_DEFAULTS, options, {
    rules: (v) => (Array.isArray(v) && v.length > 0 ? undefined : 'must hold at least one rule'),
    subject: check.function,
  });
  const { subject, headers } = resolved;
  const rules = (resolved.rules as RateLimitRule[]).map((rule) => resolveRule(rule, subject));

  const reject = (call: WeftServerCall, stage: number, rule: ResolvedRule, waitMs: number): void => {
    if (signals.limitRejection.hasSubscribers) signals.limitRejection.publish(limitEvent(call, rule));
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
  /** Acts on a store's answer; `true` when the call was refused (no more rules to check). */
  const judge = (limited: LimitedCall, rule: ResolvedRule, answer: number | BucketState): boolean => {
    const { call, stage } = limited;
    const waitMs = typeof answer === 'number' ? answer : answer.waitMs;
    if (waitMs > 0 && rule.shadow) {
      if (signals.limitShadowed.hasSubscribers) signals.limitShadowed.publish(limitEvent(call, rule));
      return false;
    }
    if (typeof answer !== 'number') {
      if (waitMs === 0 && answer.remaining < rule.nearLimit && signals.limitNearLimit.hasSubscribers)
        signals.limitNearLimit.publish(limitEvent(call, rule));
      if (headers && !rule.shadow) limited.note(rule, answer);
    }
    if (waitMs === 0) return false;
    reject(call, stage, rule, waitMs);
    return true;
  };
  // Checks rules from `index` on; synchronous stores stay synchronous (no promise per call).
  const checkRules = (limited: LimitedCall, index: number): void | Promise<void> => {
    const { call, stage } = limited;
    const context = call.context;
    for (let i = index; i < rules.length; i++) {
      const rule = rules[i] as ResolvedRule;
      const store = rule.store;
      let answer: number | BucketState | Promise<number | BucketState>;
      try {
        const key = rule.keyOf(context);
        answer =
          store.takeState !== undefined
            ? store.takeState(key, rule.rate, rule.burst)
            : store.take(key, rule.rate, rule.burst);
      } catch {
        storeFailed(call, stage, rule);
        return;
      }
      if (typeof answer === 'object' && 'then' in answer) {
        return answer.then(
          (settled) => {
            // A call cancelled meanwhile takes no tokens from the remaining rules.
            if (context.cancelled) return;
            if (!judge(limited, rule, settled)) return checkRules(limited, i + 1);
          },
          () => storeFailed(call, stage, rule),
        );
      }
      if (judge(limited, rule, answer)) return;
    }
  };

  return stagedInterceptor({
    start: headers
      ? (call, stage) => new TrailingLimitedCall(call, stage, checkRules)
      : (call, stage) => new LimitedCall(call, stage, checkRules),
  });
}

function limitEvent(call: WeftServerCall, rule: ResolvedRule): LimitEvent {
  return { method: call.context.method, limiter: 'rate', rule: rule.name, keyClass: rule.keyClass };
}

/** One call under `rateLimit` (a class: one object per call instead of hooks and closures). */
class LimitedCall implements StageHooks {
  constructor(
    readonly call: WeftServerCall,
    readonly stage: number,
    private readonly check: (limited: LimitedCall, index: number) => void | Promise<void>,
  ) {}

  onReceiveMetadata(): void | Promise<void> {
    return this.check(this, 0);
  }

  /** Told what an enforced rule's bucket holds (only with `headers`). */
  note(_rule: ResolvedRule, _state: BucketState): void {}
}

/** A call under `rateLimit({ headers: true })`: sends the RateLimit fields of its tightest rule. */
class TrailingLimitedCall extends LimitedCall {
  private limit = -1;
  private remaining = 0;
  private resetSeconds = 0;

  override note(rule: ResolvedRule, state: BucketState): void {
    // The store's answer may be reused: copy what the trailers need.
    if (this.limit >= 0 && state.waitMs === 0 && state.remaining >= this.remaining) return;
    this.limit = rule.burst;
    this.remaining = state.remaining;
    const resetMs = state.waitMs > 0 ? state.waitMs : state.fullInMs;
    this.resetSeconds = Math.max(0, Math.ceil(resetMs / 1000));
  }

  onSendStatus(sent: PartialStatus): PartialStatus {
    if (this.limit < 0) return sent;
    let trailers = sent.metadata;
    if (trailers === null || trailers === undefined) {
      trailers = new Metadata();
      sent = { ...sent, metadata: trailers };
    }
    trailers.set('ratelimit-limit', String(this.limit));
    trailers.set('ratelimit-remaining', String(this.remaining));
    trailers.set('ratelimit-reset', String(this.resetSeconds));
    return sent;
  }
}
