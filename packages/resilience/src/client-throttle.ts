import { type Interceptor, type StatusObject, status } from '@grpc/grpc-js';
import {
  type ClientCall,
  check,
  defineClientInterceptor,
  ForwardingClientCall,
  LocalClientCall,
  localStatusMetadata,
  type MethodInfo,
  methodInfo,
  resolveOptions,
  signals,
} from '@weft/core';
import type { OptionDefaults } from './option-defaults';
import { RollingCounts } from './rolling-counts';
import { PerTarget, type TargetOption, targetOf } from './targets';

export interface ClientThrottleOptions {
  /**
   * The multiplier K of Google SRE's adaptive throttling: the client sends up to K times as many
   * requests as the target accepts, and refuses the rest locally with probability
   * `max(0, (requests - K * accepts) / (requests + 1))`. Lower is more aggressive (less wasted work
   * on the target, slower to notice it recovered). Default `2`, the book's value.
   */
  k?: number;
  /** The window `requests` and `accepts` are counted over (ms). Default `120_000` (the book's 2 minutes). */
  windowMs?: number;
  /** Buckets the window is counted in (outcomes leave it one bucket at a time). Default `120` (one per second). */
  buckets?: number;
  /**
   * Status codes that mean the target did not accept the request. Default RESOURCE_EXHAUSTED (a
   * quota or rate limit refused it) and UNAVAILABLE (overloaded, shedding, or unreachable). Every
   * other status, errors of the caller's own making and CANCELLED included, counts as accepted:
   * the target took the request. Add DEADLINE_EXCEEDED for targets that answer overload by
   * slowing down, if your deadlines are not shorter than their normal latency.
   */
  rejectCodes?: readonly status[];
  /**
   * No call is refused while the window holds fewer requests than this. Requests count when they
   * are sent and accepts when they are answered, so a fresh client that starts many calls at once
   * has more requests than twice its accepts for a moment and the formula alone would refuse
   * healthy calls; likewise, refusing anything on a handful of calls is noise. Set `0` for the
   * book's formula exactly. Default `20`.
   */
  minRequests?: number;
  /**
   * Names the target a call goes to; throttling is per target (and method, with `perMethod`).
   * grpc-js does not show interceptors the channel's target: by default every call through this
   * `clientThrottle()` is one target, `'default'`, so make one per client or name targets here.
   */
  target?: TargetOption;
  /** Throttle each method of a target on its own. Default `false`: a target's quota is usually shared. */
  perMethod?: boolean;
  /** Clock in ms. Default `performance.now`. */
  now?: () => number;
  /** Uniform random numbers in [0, 1), drawn once per call while throttling. Default `Math.random`. */
  random?: () => number;
}

/** `clientThrottle()`'s defaults (see `ClientThrottleOptions`). */
export const CLIENT_THROTTLE_DEFAULTS: OptionDefaults<ClientThrottleOptions> = Object.freeze({
  k: 2,
  windowMs: 120_000,
  buckets: 120,
  rejectCodes: Object.freeze([status.RESOURCE_EXHAUSTED, status.UNAVAILABLE]),
  minRequests: 20,
  target: 'default',
  perMethod: false,
  now: () => performance.now(),
  random: Math.random,
});

/** The status codes `clientThrottle()` counts as "not accepted" by default (see `rejectCodes`). */
export const THROTTLE_REJECT_CODES: readonly status[] = CLIENT_THROTTLE_DEFAULTS.rejectCodes;

/**
 * Requests (first) and accepts (second) of one target over the window, and the chance that the
 * next request is refused.
 */
export class ThrottleWindow extends RollingCounts {
  constructor(
    windowMs: number,
    buckets: number,
    private readonly k: number,
    private readonly minRequests: number,
  ) {
    super(windowMs, buckets);
  }

  /** The chance a request sent at `now` is refused: `max(0, (requests - K * accepts) / (requests + 1))`. */
  probability(now: number): number {
    this.advance(now);
    return this.refusal(this.first);
  }

  /**
   * Counts a request (sent or refused here) before it is sent, and answers the probability it is
   * refused: `probability(now)` from the counts before it.
   */
  request(now: number): number {
    this.addFirst(now);
    return this.refusal(this.first - 1);
  }

  /** Counts a request the target accepted. */
  accept(now: number): void {
    this.addSecond(now);
  }

  /** `[requests, accepts]` in the window ending `now`. */
  counts(now: number): [number, number] {
    this.advance(now);
    return [this.first, this.second];
  }

  private refusal(requests: number): number {
    if (requests < this.minRequests) return 0;
    const p = (requests - this.k * this.second) / (requests + 1);
    return Math.max(p, 0);
  }
}

/** A client throttle interceptor, with a look at its throttles. */
export type ClientThrottleInterceptor = Interceptor & {
  /**
   * The probability the next call to `target` (and `method`, with `perMethod`) is refused, and the
   * window's counts; zeros for a target that never saw a call.
   */
  stats(target?: string, method?: string): { probability: number; requests: number; accepts: number };
};

/**
 * A client interceptor doing Google SRE adaptive throttling ("Handling Overload", Site Reliability
 * Engineering, ch. 21): each client counts, per target over the last 2 minutes, the requests it
 * made and the ones the target accepted, and refuses new calls locally with probability
 * `max(0, (requests - K * accepts) / (requests + 1))`. A target refusing most calls (a quota, an
 * overload) then sees about K times its accepted rate instead of everything the caller tries,
 * and the refusals cost the caller nothing. Calls it refuses count as requests too, so as the
 * target accepts again the probability falls back to 0 on its own.
 *
 * A refused call fails with UNAVAILABLE, `x-weft-local: throttle` and `grpc-retry-pushback-ms: -1`
 * (a retry layer above does not retry it), without the network, on a macrotask (see
 * `LocalClientCall`). Publishes `signals.throttleRejection`. Put it below `retry()` and the circuit
 * breaker (`clientInterceptors({ throttle })` does): each attempt is a request, and the breaker
 * does not count the throttle's local refusals as the target's failures.
 */
export function clientThrottle(options?: ClientThrottleOptions): ClientThrottleInterceptor {
  const resolved = resolveOptions('clientThrottle', CLIENT_THROTTLE_DEFAULTS, options, {
    k: (v) => (v >= 1 && Number.isFinite(v) ? undefined : 'must be a number >= 1'),
    windowMs: check.positive,
    buckets: check.positiveInteger,
    minRequests: check.nonNegative,
    now: check.function,
    random: check.function,
  });
  const { k, windowMs, buckets, minRequests, target, perMethod, now, random } = resolved;
  const rejects = new Set(resolved.rejectCodes);
  const newWindow = () => new ThrottleWindow(windowMs, buckets, k, minRequests);
  // Per target and method with `perMethod`, else one window per target.
  const byMethod = new PerTarget(newWindow);
  const byTarget = new Map<string, ThrottleWindow>();
  const windowOf = (targetName: string): ThrottleWindow => {
    let window = byTarget.get(targetName);
    if (window === undefined) {
      window = newWindow();
      byTarget.set(targetName, window);
    }
    return window;
  };

  const interceptor = defineClientInterceptor((callOptions, nextCall) => {
    const targetName = targetOf(target, callOptions);
    const window = perMethod ? byMethod.get(targetName, callOptions.method_definition) : windowOf(targetName);
    // Counted before it is sent (or refused): refusals are requests the target did not accept.
    const p = window.request(now());
    if (p > 0 && random() < p) {
      const method = methodInfo(callOptions.method_definition);
      if (signals.throttleRejection.hasSubscribers)
        signals.throttleRejection.publish({ target: targetName, method });
      return new ThrottledCall(targetName, method);
    }
    return new CountedCall(nextCall(callOptions), window, rejects, now);
  });
  return Object.assign(interceptor, {
    stats(targetName = typeof target === 'string' ? target : 'default', method?: string) {
      const window =
        perMethod && method !== undefined ? byMethod.peek(targetName, method) : byTarget.get(targetName);
      if (window === undefined) return { probability: 0, requests: 0, accepts: 0 };
      const at = now();
      const [requests, accepts] = window.counts(at);
      return { probability: window.probability(at), requests, accepts };
    },
  });
}

/** A call sent: counts it accepted unless the target answered with a reject code. */
class CountedCall extends ForwardingClientCall {
  private counted = false;

  constructor(
    call: ClientCall,
    private readonly window: ThrottleWindow,
    private readonly rejects: ReadonlySet<status>,
    private readonly now: () => number,
  ) {
    super(call);
  }

  override onReceiveStatus(received: StatusObject): void {
    if (!this.counted) {
      this.counted = true;
      if (!this.rejects.has(received.code)) this.window.accept(this.now());
    }
    super.onReceiveStatus(received);
  }
}

/** A call refused on the client: UNAVAILABLE on a macrotask, marked local, not to be retried. */
class ThrottledCall extends LocalClientCall {
  constructor(
    private readonly target: string,
    private readonly method: MethodInfo,
  ) {
    super();
  }

  protected failure(): StatusObject {
    return {
      code: status.UNAVAILABLE,
      details: `throttled on the client: ${this.target} refuses too many calls (${this.method.fullMethod})`,
      metadata: localStatusMetadata('throttle', true),
    };
  }
}
