import { AsyncResource } from 'node:async_hooks';
import {
  type Interceptor,
  type InterceptorOptions,
  Metadata,
  type NextCall,
  type StatusObject,
  status,
} from '@grpc/grpc-js';
import {
  type ClientCallListener,
  type ClientMessageContext,
  check,
  defineClientInterceptor,
  ForwardingClientCall,
  localReason,
  lookupByMethod,
  MethodCache,
  type MethodInfo,
  type MethodKey,
  type MethodMatcher,
  methodInfo,
  type OptionChecks,
  type RetryAttempt,
  resolveOptions,
  signals,
  toPredicate,
} from '@weft/core';
import { deadlineMs, MAX_TIMER_MS } from './deadline';
import type { OptionDefaults } from './option-defaults';
import { RetryThrottle } from './retry-throttle';
import { type TargetOption, targetOf } from './targets';

/** How one method is retried (gRFC A6 `retryPolicy`). */
export interface RetryPolicy {
  /** Attempts in all, the first included. Default `3`; values above `5` are capped at 5 (as A6 does). */
  maxAttempts?: number;
  /** Upper bound (ms) of the first retry's random delay. Default `100`. */
  initialBackoff?: number;
  /** Largest upper bound (ms) of a retry's random delay. Default `1000`. */
  maxBackoff?: number;
  /** Growth of the delay bound per retry. Default `2`. */
  multiplier?: number;
  /** Status codes worth another attempt. Default `[UNAVAILABLE]`. */
  retryableCodes?: readonly status[];
  /**
   * Deadline (ms) of each attempt, within the call's overall deadline. An attempt that runs out of
   * it (DEADLINE_EXCEEDED before the overall deadline, nothing received yet) is retried. Default: none.
   */
  perAttemptTimeout?: number;
}

export interface RetryThrottling {
  /** Bucket size. Default `10`. */
  maxTokens?: number;
  /** Tokens a success gives back. Default `0.1`. */
  tokenRatio?: number;
}

export interface RetryOptions extends RetryPolicy {
  /**
   * Policies for some methods, keyed by method (`package.Service/Method`, its path,
   * `package.Service` for every method of it, or `*`); `false` turns retries off for them. The most
   * specific key wins; its fields fill in over the policy above. Default: none.
   */
  methods?: Readonly<Record<MethodKey, RetryPolicy | false>>;
  /**
   * Methods that must never be retried, because running them twice does harm (a payment, an
   * append): any `MethodMatcher` of `@weft/core` (method keys, a `{ service, type }` match, a
   * predicate). Default: none.
   */
  nonIdempotent?: MethodMatcher;
  /**
   * Retry throttling per target (gRFC A6); `false` turns it off. Default `{ maxTokens: 10,
   * tokenRatio: 0.1 }`.
   */
  throttling?: RetryThrottling | false;
  /**
   * Names the target whose throttling bucket a call uses. grpc-js does not show interceptors the
   * channel's target, so by default every call through this `retry()` shares one bucket named
   * `'default'`: make one `retry()` per client, or name targets here.
   */
  target?: TargetOption;
  /** Random numbers in [0, 1) for the jitter. Default `Math.random`. */
  random?: () => number;
}

/** The status codes `retry()` retries by default (see the codes table in the README). */
export const RETRYABLE_CODES: readonly status[] = Object.freeze([status.UNAVAILABLE]);

/** The most attempts gRFC A6 allows; larger configured values are capped to it. */
export const MAX_ATTEMPTS_CAP = 5;

/** A retry policy with every field filled in. */
type PolicySettings = OptionDefaults<RetryPolicy, 'perAttemptTimeout'>;

/** The default retry policy (see `RetryPolicy`). */
export const RETRY_POLICY_DEFAULTS: PolicySettings = Object.freeze({
  maxAttempts: 3,
  initialBackoff: 100,
  maxBackoff: 1000,
  multiplier: 2,
  retryableCodes: RETRYABLE_CODES,
  perAttemptTimeout: undefined,
});

/** The default retry throttling (see `RetryThrottling`). */
export const RETRY_THROTTLING_DEFAULTS: OptionDefaults<RetryThrottling> = Object.freeze({
  maxTokens: 10,
  tokenRatio: 0.1,
});

/** `retry()`'s defaults: the default policy and the options around it. */
export const RETRY_DEFAULTS: OptionDefaults<RetryOptions, 'methods' | 'nonIdempotent' | 'perAttemptTimeout'> =
  Object.freeze({
    ...RETRY_POLICY_DEFAULTS,
    methods: undefined,
    nonIdempotent: undefined,
    throttling: RETRY_THROTTLING_DEFAULTS,
    target: 'default',
    random: Math.random,
  });

const POLICY_CHECKS: OptionChecks<PolicySettings> = {
  maxAttempts: (v) => (v >= 1 ? undefined : 'must be a number >= 1'),
  initialBackoff: check.nonNegative,
  maxBackoff: check.nonNegative,
  multiplier: (v) => (v >= 1 && Number.isFinite(v) ? undefined : 'must be a number >= 1'),
  retryableCodes: (v) => (Array.isArray(v) ? undefined : 'must be a list of status codes'),
  perAttemptTimeout: check.positive,
};

/** A policy ready for calls: its settings and what is derived from them once. */
interface ResolvedPolicy {
  readonly settings: PolicySettings;
  readonly maxAttempts: number;
  readonly retryable: ReadonlySet<status>;
}

/** `override` filled in over `base`, checked; `name` says where it came from in errors. */
function resolvePolicy(
  name: string,
  base: PolicySettings,
  override: RetryPolicy | undefined,
): ResolvedPolicy {
  const settings = override === undefined ? base : resolveOptions(name, base, override, POLICY_CHECKS);
  return {
    settings,
    maxAttempts: Math.min(Math.floor(settings.maxAttempts), MAX_ATTEMPTS_CAP),
    retryable: new Set(settings.retryableCodes),
  };
}

/**
 * What `grpc-retry-pushback-ms` says: `undefined` when absent, `-1` when present but negative or
 * malformed (gRFC A6: do not retry; grpc-js's own retry treats that as "retry now"), else the delay.
 */
export function parsePushback(metadata: Metadata | undefined): number | undefined {
  const values = metadata?.get('grpc-retry-pushback-ms');
  if (values === undefined || values.length === 0) return undefined;
  if (values.length > 1) return -1;
  const text = String(values[0]).trim();
  if (!/^\d{1,10}$/.test(text)) return -1;
  const ms = Number(text);
  // Longer than a Node timer can wait (~24.8 days): the server means "not now", so do not retry.
  return ms > MAX_TIMER_MS ? -1 : ms;
}

/**
 * A client interceptor that retries failed unary and server-streaming calls with gRFC A6
 * semantics: a random delay in [0, backoff] with the backoff growing by `multiplier` up to
 * `maxBackoff`; only `retryableCodes`; never once response headers or a message arrived; never
 * past the call's overall deadline; a server's `grpc-retry-pushback-ms` is obeyed exactly, and a
 * negative or malformed one stops retrying; retries are throttled per target. Each attempt is a
 * fresh call through the next interceptors (so they see every attempt) and carries
 * `grpc-previous-rpc-attempts` from the second on. Client-streaming and bidi calls pass through.
 * Publishes `signals.retryAttempt` for each retry and `signals.retryThrottled` for each retry the
 * throttle refused. A call may bring its own policy, or `false`, in the `weftRetry` call option.
 */
export function retry(options?: RetryOptions): Interceptor {
  const resolved = resolveOptions('retry', RETRY_DEFAULTS, options, {
    ...(POLICY_CHECKS as OptionChecks<typeof RETRY_DEFAULTS>),
    target: (v) =>
      typeof v === 'string' || typeof v === 'function' ? undefined : 'must be a string or a function',
    random: check.function,
  });
  const { methods, target, random } = resolved;
  const base = resolveOptions('retry', RETRY_POLICY_DEFAULTS, resolved);
  const basePolicy = resolvePolicy('retry', base, undefined);
  // Checked at setup, not on a method's first call.
  for (const [key, policy] of Object.entries(methods ?? {}))
    if (policy !== false) resolvePolicy(`retry (methods["${key}"])`, base, policy);
  const neverRetry = resolved.nonIdempotent === undefined ? undefined : toPredicate(resolved.nonIdempotent);
  const throttling =
    resolved.throttling === false
      ? undefined
      : resolveOptions('retry throttling', RETRY_THROTTLING_DEFAULTS, resolved.throttling, {
          maxTokens: check.positive,
          tokenRatio: check.positive,
        });
  const throttles = new Map<string, RetryThrottle>();
  const throttleFor = (name: string) => {
    if (throttling === undefined) return undefined;
    let throttle = throttles.get(name);
    if (throttle === undefined) {
      throttle = new RetryThrottle(throttling.maxTokens, throttling.tokenRatio);
      throttles.set(name, throttle);
    }
    return throttle;
  };
  // The policy of each method, resolved once; `undefined` means "pass through".
  const policies = new MethodCache<ResolvedPolicy | undefined>((method) => {
    if (method.type === 'client_stream' || method.type === 'bidi_stream') return undefined;
    const override = methods === undefined ? undefined : lookupByMethod(methods, method);
    if (override === false || neverRetry?.(method)) return undefined;
    const policy = override === undefined ? basePolicy : resolvePolicy('retry', base, override);
    return policy.maxAttempts < 2 ? undefined : policy;
  });
  /** The policy of a call with `weftRetry`, over its method's (or the base) policy; per call. */
  const callPolicy = (callOptions: InterceptorOptions, perCall: RetryPolicy): ResolvedPolicy | undefined => {
    const definition = callOptions.method_definition;
    if (definition.requestStream) return undefined;
    const own = policies.get(definition)?.settings ?? base;
    const policy = resolvePolicy('weftRetry', own, perCall);
    return policy.maxAttempts < 2 ? undefined : policy;
  };

  return defineClientInterceptor((callOptions, nextCall) => {
    const perCall = callOptions.weftRetry;
    const policy =
      perCall === undefined
        ? policies.get(callOptions.method_definition)
        : perCall === false
          ? undefined
          : callPolicy(callOptions, perCall);
    // No policy: the next call itself, no layer of its own.
    if (policy === undefined) return nextCall(callOptions);
    const targetName = targetOf(target, callOptions);
    return new RetryingCall(
      callOptions,
      nextCall,
      policy,
      methodInfo(callOptions.method_definition),
      targetName,
      throttleFor(targetName),
      random,
    );
  });
}

function publishRetry(attempt: RetryAttempt): void {
  signals.retryAttempt.publish(attempt);
}

/** The options of an attempt: the call's, with `perAttemptTimeout` as the deadline if it is earlier. */
function attemptOptions(
  options: InterceptorOptions,
  policy: ResolvedPolicy,
  deadline: number,
): InterceptorOptions {
  const timeout = policy.settings.perAttemptTimeout;
  if (timeout === undefined) return options;
  const attemptDeadline = Date.now() + timeout;
  return attemptDeadline < deadline ? { ...options, deadline: attemptDeadline } : options;
}

/**
 * One logical call made of attempts: a `ForwardingClientCall` whose next call (`call`) is the
 * attempt in flight, and the listener of every attempt. The layer above talks to it as to one call;
 * each attempt is a fresh `nextCall(...)` replaying the buffered request.
 */
class RetryingCall extends ForwardingClientCall {
  /** `attempt`: `call` is in flight; `waiting`: between attempts (a retry timer runs); `done`: ended. */
  private state: 'attempt' | 'waiting' | 'done' = 'attempt';
  private metadata: Metadata | undefined;
  private message: { context: ClientMessageContext; message: unknown } | undefined;
  private halfClosed = false;
  private readRequested = false;
  private attempts = 1;
  /** Headers or a message arrived: the response has started and is never retried. */
  private committed = false;
  private timer: NodeJS.Timeout | undefined;
  private retriesSincePushback = 0;
  private readonly deadline: number;
  /** Unary: the response is one message, held until the attempt's status. */
  private readonly unaryResponse: boolean;
  private response: { message: unknown } | undefined;
  /** The caller's async context, kept to publish retry signals in it. */
  private scope: AsyncResource | undefined;

  constructor(
    private readonly options: InterceptorOptions,
    private readonly nextCall: NextCall,
    private readonly policy: ResolvedPolicy,
    private readonly method: MethodInfo,
    private readonly target: string,
    private readonly throttle: RetryThrottle | undefined,
    private readonly random: () => number,
  ) {
    const deadline = deadlineMs(options.deadline);
    super(nextCall(attemptOptions(options, policy, deadline)));
    this.deadline = deadline;
    this.unaryResponse = !options.method_definition.responseStream;
  }

  override start(metadata: Metadata, listener?: ClientCallListener): void {
    this.metadata = metadata;
    // Attempts end in grpc-js callbacks outside the caller's async context; retry signals are
    // published back inside it, so a tracing listener finds the call's span active.
    // An AsyncResource rather than AsyncLocalStorage.snapshot(): on Node 20 each snapshot also
    // defines deprecated accessors on a bound function, which showed as 8% of a client's CPU.
    if (signals.retryAttempt.hasSubscribers)
      this.scope = new AsyncResource('WeftRetry', { requireManualDestroy: true });
    super.start(metadata, listener);
  }

  override sendMessageWithContext(context: ClientMessageContext, message: unknown): void {
    this.message = { context, message };
    if (this.state === 'attempt') super.sendMessageWithContext(context, message);
  }

  override halfClose(): void {
    this.halfClosed = true;
    if (this.state === 'attempt') super.halfClose();
  }

  override startRead(): void {
    this.readRequested = true;
    if (this.state === 'attempt') super.startRead();
  }

  override cancelWithStatus(code: status, details: string): void {
    if (this.state === 'attempt') {
      this.committed = true; // whatever status the attempt ends with goes up as it is
      super.cancelWithStatus(code, details);
    } else if (this.state === 'waiting') {
      // Between attempts: nothing is in flight to report the cancel, and none starts again.
      clearTimeout(this.timer);
      this.finish({ code, details, metadata: new Metadata() });
    }
  }

  // The listener of each attempt; one attempt is in flight at a time and ends with its status.
  override onReceiveMetadata(received: Metadata): void {
    if (this.state !== 'attempt') return;
    this.committed = true;
    super.onReceiveMetadata(received);
  }

  override onReceiveMessage(received: unknown): void {
    if (this.state !== 'attempt') return;
    if (this.unaryResponse) {
      // grpc-js hands a unary call a `null` message just before a status that came without
      // one: hold the message until the status says whether the attempt is final.
      this.response = { message: received };
      if (received !== null) this.committed = true;
      return;
    }
    this.committed = true;
    super.onReceiveMessage(received);
  }

  override onReceiveStatus(received: StatusObject): void {
    if (this.state !== 'attempt') return;
    this.state = 'waiting';
    const delay = this.retryDelay(received);
    if (delay === undefined) {
      this.finish(received);
      return;
    }
    this.response = undefined;
    if (signals.retryAttempt.hasSubscribers) {
      const attempt = { method: this.method, attempt: this.attempts + 1, code: received.code };
      if (this.scope === undefined) signals.retryAttempt.publish(attempt);
      else this.scope.runInAsyncScope(publishRetry, undefined, attempt);
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.state === 'waiting') this.startAttempt();
    }, delay);
  }

  private startAttempt(): void {
    const n = ++this.attempts;
    const metadata = (this.metadata as Metadata).clone();
    metadata.set('grpc-previous-rpc-attempts', String(n - 1));
    this.call = this.nextCall(attemptOptions(this.options, this.policy, this.deadline));
    this.state = 'attempt';
    this.call.start(metadata, this);
    if (this.message !== undefined) {
      // The caller's write callback belongs to the first attempt; replays write silently.
      this.call.sendMessageWithContext({ flags: this.message.context.flags }, this.message.message);
    }
    if (this.halfClosed) this.call.halfClose();
    if (this.readRequested) this.call.startRead();
  }

  /** The wait before the next attempt, or `undefined` when `received` is final. */
  private retryDelay(received: StatusObject): number | undefined {
    if (received.code === status.OK) {
      this.throttle?.success();
      return undefined;
    }
    const now = Date.now();
    const settings = this.policy.settings;
    const attemptTimedOut =
      received.code === status.DEADLINE_EXCEEDED &&
      settings.perAttemptTimeout !== undefined &&
      now < this.deadline;
    if (!attemptTimedOut && !this.policy.retryable.has(received.code)) return undefined;
    // A status made on this side (an open breaker, a throttle: `x-weft-local`) is not the target
    // failing: it spends no throttling token, and it says not to retry (negative pushback) anyway.
    if (localReason(received.metadata) !== undefined) return undefined;
    this.throttle?.failure();
    if (this.committed) return undefined;
    const pushback = parsePushback(received.metadata);
    if (pushback !== undefined && pushback < 0) return undefined;
    if (this.attempts >= this.policy.maxAttempts) return undefined;
    if (this.throttle !== undefined && !this.throttle.allowsRetry) {
      if (signals.retryThrottled.hasSubscribers) {
        signals.retryThrottled.publish({ method: this.method, target: this.target });
      }
      return undefined;
    }
    let delay: number;
    if (pushback !== undefined) {
      delay = pushback;
      this.retriesSincePushback = 0;
    } else {
      const { initialBackoff, multiplier, maxBackoff } = settings;
      const bound = Math.min(initialBackoff * multiplier ** this.retriesSincePushback, maxBackoff);
      delay = this.random() * bound;
      this.retriesSincePushback++;
    }
    // One deadline covers every attempt: a retry that could only start after it is not made.
    if (now + delay >= this.deadline) return undefined;
    return delay;
  }

  private finish(final: StatusObject): void {
    if (this.state === 'done') return;
    this.state = 'done';
    this.scope?.emitDestroy(); // the call is over: destroy hooks may forget it
    if (this.response !== undefined) super.onReceiveMessage(this.response.message);
    super.onReceiveStatus(final);
  }
}
