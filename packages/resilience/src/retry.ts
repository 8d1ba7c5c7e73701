import { AsyncResource } from 'node:async_hooks';
import {
  type InterceptingCall,
  type Interceptor,
  type InterceptorOptions,
  Metadata,
  type NextCall,
  type StatusObject,
  status,
} from '@grpc/grpc-js';
import { localReason, type MethodInfo, methodInfo, type RetryAttempt, signals } from '@weft/core';
import { deadlineMs, MAX_TIMER_MS } from './deadline';
import { RetryThrottle } from './retry-throttle';

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
   * Policies for some methods, keyed by `package.Service/Method`, `/package.Service/Method` or
   * `package.Service` (every method of it); `false` turns retries off for them. The most specific
   * key wins; its fields fill in over the defaults above. Default: none.
   */
  methods?: Readonly<Record<string, RetryPolicy | false>>;
  /**
   * Methods that must never be retried, because running them twice does harm (a payment, an
   * append): `package.Service/Method` names, or a predicate. Default: none.
   */
  nonIdempotent?: readonly string[] | ((method: MethodInfo) => boolean);
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
  target?: string | ((options: InterceptorOptions) => string);
  /** Random numbers in [0, 1) for the jitter. Default `Math.random`. */
  random?: () => number;
}

interface ResolvedPolicy {
  readonly maxAttempts: number;
  readonly initialBackoff: number;
  readonly maxBackoff: number;
  readonly multiplier: number;
  readonly retryable: ReadonlySet<status>;
  readonly perAttemptTimeout: number | undefined;
}

/** The status codes `retry()` retries by default (see the codes table in the README). */
export const RETRYABLE_CODES: readonly status[] = Object.freeze([status.UNAVAILABLE]);

const policyDefaults = {
  maxAttempts: 3,
  initialBackoff: 100,
  maxBackoff: 1000,
  multiplier: 2,
  retryableCodes: RETRYABLE_CODES,
  perAttemptTimeout: undefined as number | undefined,
};

/** The most attempts gRFC A6 allows; larger configured values are capped to it. */
export const MAX_ATTEMPTS_CAP = 5;

const throttlingDefaults: Required<RetryThrottling> = { maxTokens: 10, tokenRatio: 0.1 };

function resolvePolicy(base: RetryPolicy, override: RetryPolicy = {}): ResolvedPolicy {
  const merged = { ...policyDefaults, ...stripUndefined(base), ...stripUndefined(override) };
  if (!(merged.maxAttempts >= 1)) throw new RangeError('retry: maxAttempts must be at least 1');
  if (!(merged.initialBackoff >= 0) || !(merged.maxBackoff >= 0) || !(merged.multiplier >= 1)) {
    throw new RangeError('retry: backoffs must be >= 0 and multiplier >= 1');
  }
  return {
    maxAttempts: Math.min(Math.floor(merged.maxAttempts), MAX_ATTEMPTS_CAP),
    initialBackoff: merged.initialBackoff,
    maxBackoff: merged.maxBackoff,
    multiplier: merged.multiplier,
    retryable: new Set(merged.retryableCodes),
    perAttemptTimeout: merged.perAttemptTimeout,
  };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [key, v] of Object.entries(value)) if (v !== undefined) out[key as keyof T] = v as T[keyof T];
  return out;
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
 * throttle refused.
 */
export function retry(options: RetryOptions = {}): Interceptor {
  const {
    methods = {},
    nonIdempotent,
    throttling,
    target = 'default',
    random = Math.random,
    ...base
  } = options;
  resolvePolicy(base); // validates the options at setup, not on the first call
  const overrides = new Map<string, RetryPolicy | false>(Object.entries(methods));
  const neverRetry =
    typeof nonIdempotent === 'function'
      ? nonIdempotent
      : (
          (names: Set<string>) => (m: MethodInfo) =>
            names.has(m.fullMethod) || names.has(m.path)
        )(new Set(nonIdempotent ?? []));
  const throttleSettings = throttling === false ? undefined : { ...throttlingDefaults, ...throttling };
  const throttles = new Map<string, RetryThrottle>();
  const throttleFor = (name: string) => {
    if (throttleSettings === undefined) return undefined;
    let throttle = throttles.get(name);
    if (throttle === undefined) {
      throttle = new RetryThrottle(throttleSettings.maxTokens, throttleSettings.tokenRatio);
      throttles.set(name, throttle);
    }
    return throttle;
  };
  // Resolved once per method: `undefined` means "pass through".
  const policies = new Map<string, ResolvedPolicy | undefined>();
  const policyFor = (method: MethodInfo): ResolvedPolicy | undefined => {
    if (policies.has(method.path)) return policies.get(method.path);
    let policy: ResolvedPolicy | undefined;
    const override =
      overrides.get(method.fullMethod) ?? overrides.get(method.path) ?? overrides.get(method.service);
    const streaming = method.type === 'client_stream' || method.type === 'bidi_stream';
    if (!streaming && override !== false && !neverRetry(method)) {
      policy = resolvePolicy(base, override);
      if (policy.maxAttempts < 2) policy = undefined;
    }
    policies.set(method.path, policy);
    return policy;
  };

  return (callOptions: InterceptorOptions, nextCall: NextCall) => {
    const method = methodInfo(callOptions.method_definition);
    const policy = policyFor(method);
    // grpc-js types interceptors as returning its InterceptingCall class but only uses the
    // interface: the next call itself (no policy) or the RetryingCall is returned without a
    // wrapping layer, each of which costs a share of a call.
    if (policy === undefined) return nextCall(callOptions) as InterceptingCall;
    const targetName = typeof target === 'function' ? target(callOptions) : target;
    return new RetryingCall(
      callOptions,
      nextCall,
      policy,
      method,
      targetName,
      throttleFor(targetName),
      random,
    ) as unknown as InterceptingCall;
  };
}

function publishRetry(attempt: RetryAttempt): void {
  signals.retryAttempt.publish(attempt);
}

type Attempt = ReturnType<NextCall>;
/** grpc-js's `MessageContext` (not exported from its index). */
type MessageContext = Parameters<Attempt['sendMessageWithContext']>[0];
type UpstreamListener = Partial<{
  onReceiveMetadata(metadata: Metadata): void;
  onReceiveMessage(message: unknown): void;
  onReceiveStatus(status: StatusObject): void;
}>;

/**
 * One logical call made of attempts. It stands where grpc-js expects the next call
 * (`InterceptingCallInterface`): the layer above talks to it as to one call; each attempt is a
 * fresh `nextCall(...)` replaying the buffered request.
 */
class RetryingCall implements Attempt {
  private listener: UpstreamListener = {};
  private metadata: Metadata | undefined;
  private message: { context: MessageContext; message: unknown } | undefined;
  private halfClosed = false;
  private readRequested = false;
  private attempt: Attempt | undefined;
  private attempts = 0;
  /** Headers or a message arrived: the response has started and is never retried. */
  private committed = false;
  private done = false;
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
    this.deadline = deadlineMs(options.deadline);
    this.unaryResponse = !options.method_definition.responseStream;
  }

  start(metadata: Metadata, listener?: UpstreamListener): void {
    this.metadata = metadata;
    this.listener = listener ?? {};
    // Attempts end in grpc-js callbacks outside the caller's async context; retry signals are
    // published back inside it, so a tracing listener finds the call's span active.
    // An AsyncResource rather than AsyncLocalStorage.snapshot(): on Node 20 each snapshot also
    // defines deprecated accessors on a bound function, which showed as 8% of a client's CPU.
    if (signals.retryAttempt.hasSubscribers)
      this.scope = new AsyncResource('WeftRetry', { requireManualDestroy: true });
    this.startAttempt();
  }

  sendMessageWithContext(context: MessageContext, message: unknown): void {
    this.message = { context, message };
    this.attempt?.sendMessageWithContext(context, message);
  }

  sendMessage(message: unknown): void {
    this.sendMessageWithContext({}, message);
  }

  halfClose(): void {
    this.halfClosed = true;
    this.attempt?.halfClose();
  }

  startRead(): void {
    this.readRequested = true;
    this.attempt?.startRead();
  }

  cancelWithStatus(code: status, details: string): void {
    if (this.done) return;
    if (this.attempt !== undefined) {
      this.committed = true; // whatever status the attempt ends with goes up as it is
      this.attempt.cancelWithStatus(code, details);
      return;
    }
    // Between attempts: nothing is in flight to report the cancel.
    clearTimeout(this.timer);
    this.finish({ code, details, metadata: new Metadata() });
  }

  getPeer(): string {
    return this.attempt?.getPeer() ?? '';
  }

  getAuthContext(): ReturnType<Attempt['getAuthContext']> {
    return this.attempt?.getAuthContext() ?? null;
  }

  private startAttempt(): void {
    this.attempts++;
    const n = this.attempts;
    let metadata = this.metadata as Metadata;
    let options = this.options;
    if (n > 1) {
      metadata = metadata.clone();
      metadata.set('grpc-previous-rpc-attempts', String(n - 1));
    }
    if (this.policy.perAttemptTimeout !== undefined) {
      const attemptDeadline = Date.now() + this.policy.perAttemptTimeout;
      if (attemptDeadline < this.deadline) options = { ...options, deadline: attemptDeadline };
    }
    const attempt = this.nextCall(options);
    this.attempt = attempt;
    const listener: UpstreamListener = {
      onReceiveMetadata: (received) => {
        if (this.attempt !== attempt) return;
        this.committed = true;
        this.listener.onReceiveMetadata?.(received);
      },
      onReceiveMessage: (received) => {
        if (this.attempt !== attempt) return;
        if (this.unaryResponse) {
          // grpc-js hands a unary call a `null` message just before a status that came without
          // one: hold the message until the status says whether the attempt is final.
          this.response = { message: received };
          if (received !== null) this.committed = true;
          return;
        }
        this.committed = true;
        this.listener.onReceiveMessage?.(received);
      },
      onReceiveStatus: (received) => {
        if (this.attempt !== attempt) return;
        this.attempt = undefined;
        this.onAttemptStatus(received);
      },
    };
    attempt.start(metadata, listener);
    if (this.message !== undefined) {
      // The caller's write callback belongs to the first attempt; replays write silently.
      const context = n === 1 ? this.message.context : { flags: this.message.context.flags };
      attempt.sendMessageWithContext(context, this.message.message);
    }
    if (this.halfClosed) attempt.halfClose();
    if (this.readRequested) attempt.startRead();
  }

  private onAttemptStatus(received: StatusObject): void {
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
      if (!this.done) this.startAttempt();
    }, delay);
  }

  /** The wait before the next attempt, or `undefined` when `received` is final. */
  private retryDelay(received: StatusObject): number | undefined {
    if (received.code === status.OK) {
      this.throttle?.success();
      return undefined;
    }
    const now = Date.now();
    const attemptTimedOut =
      received.code === status.DEADLINE_EXCEEDED &&
      this.policy.perAttemptTimeout !== undefined &&
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
      const { initialBackoff, multiplier, maxBackoff } = this.policy;
      const bound = Math.min(initialBackoff * multiplier ** this.retriesSincePushback, maxBackoff);
      delay = this.random() * bound;
      this.retriesSincePushback++;
    }
    // One deadline covers every attempt: a retry that could only start after it is not made.
    if (now + delay >= this.deadline) return undefined;
    return delay;
  }

  private finish(final: StatusObject): void {
    if (this.done) return;
    this.done = true;
    this.scope?.emitDestroy(); // the call is over: destroy hooks may forget it
    if (this.response !== undefined) this.listener.onReceiveMessage?.(this.response.message);
    this.listener.onReceiveStatus?.(final);
  }
}
