import { type Interceptor, type Metadata, type StatusObject, status } from '@grpc/grpc-js';
import {
  type ClientCall,
  type ClientCallListener,
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
   * No call is refused while the window holds fewer requests than this. Requests are outcomes
   * (answered calls and local refusals; calls in flight are not in the formula), so this is only
   * the low-volume guard: on a handful of outcomes the formula is noise (3 refusals of 3 give
   * p = 3/4), and a client that makes few calls wastes little of the target's work. Set `0` for the
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
 * Requests (first) and accepts (second) of one target over the window, the calls in flight, and the
 * chance that the next call is refused.
 *
 * A request counts when its outcome is known: at once for a call refused here, when the status
 * arrives for a call sent (grpc-go's adaptive throttler counts the same way). A call in flight is
 * in neither count: counted as a request from the moment it is sent, it would be a request not
 * accepted until it is answered, and a burst of calls (or a few long streams) would be refused
 * against a healthy target.
 */
export class ThrottleWindow extends RollingCounts {
  /** Calls sent whose outcome is not known yet (`stats().inFlight`); not in the formula. */
  inFlight = 0;

  constructor(
    windowMs: number,
    buckets: number,
    private readonly k: number,
    private readonly minRequests: number,
  ) {
    super(windowMs, buckets);
  }

  /** The chance a call started at `now` is refused: `max(0, (requests - K * accepts) / (requests + 1))`. */
  probability(now: number): number {
    this.advance(now);
    const requests = this.first;
    if (requests < this.minRequests) return 0;
    const p = (requests - this.k * this.second) / (requests + 1);
    return Math.max(p, 0);
  }

  /** Counts a call refused here: a request the target did not accept, known at once. */
  refused(now: number): void {
    this.addFirst(now);
  }

  /** A call sent: in flight until `answered` or `abandoned`. */
  sent(): void {
    this.inFlight++;
  }

  /** A call sent came back: one request, accepted or not. */
  answered(now: number, accepted: boolean): void {
    this.inFlight--;
    this.addFirst(now);
    if (accepted) this.addSecond(now);
  }

  /** A call sent that will report no outcome (its start threw): out of flight, not counted. */
  abandoned(): void {
    this.inFlight--;
  }

  /** `[requests, accepts]` in the window ending `now`. */
  counts(now: number): [number, number] {
    this.advance(now);
    return [this.first, this.second];
  }
}

/** One throttle window now (`ClientThrottleInterceptor.stats`). */
export interface ThrottleStats {
  /** The chance the next call is refused. */
  probability: number;
  /** Outcomes in the window: calls answered, and calls refused here. */
  requests: number;
  /** Calls in the window the target accepted (answered with a code outside `rejectCodes`). */
  accepts: number;
  /** Calls sent and not answered yet: not in `requests` (nor the probability) until they are. */
  inFlight: number;
}

/** A client throttle interceptor, with a look at its throttles. */
export type ClientThrottleInterceptor = Interceptor & {
  /**
   * The probability the next call to `target` (and `method`, with `perMethod`) is refused, the
   * window's counts, and the calls in flight; zeros for a target that never saw a call.
   */
  stats(target?: string, method?: string): ThrottleStats;
};

/**
 * A client interceptor doing Google SRE adaptive throttling ("Handling Overload", Site Reliability
 * Engineering, ch. 21): each client counts, per target over the last 2 minutes, the requests it
 * made and the ones the target accepted, and refuses new calls locally with probability
 * `max(0, (requests - K * accepts) / (requests + 1))`. A target refusing most calls (a quota, an
 * overload) then sees about K times its accepted rate instead of everything the caller tries,
 * and the refusals cost the caller nothing. Calls it refuses count as requests too, so as the
 * target accepts again the probability falls back to 0 on its own. A request counts with its
 * outcome (see `ThrottleWindow`): calls in flight never make it refuse a healthy target.
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
    // Decided from the outcomes known now; a refusal is one at once, a call sent counts when answered.
    const at = now();
    const p = window.probability(at);
    if (p > 0 && random() < p) {
      window.refused(at);
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
      if (window === undefined) return { probability: 0, requests: 0, accepts: 0, inFlight: 0 };
      const at = now();
      const [requests, accepts] = window.counts(at);
      return { probability: window.probability(at), requests, accepts, inFlight: window.inFlight };
    },
  });
}

/**
 * A call sent: in flight from `start` until its status, which counts it as a request, accepted
 * unless the code is a reject code. grpc-js ends every started call with exactly one status to its
 * listener (cancelled by the caller, deadline passed, connection lost included), so every call
 * leaves flight; `state` makes sure it counts once.
 */
class CountedCall extends ForwardingClientCall {
  private state: 'created' | 'in-flight' | 'ended' = 'created';

  constructor(
    call: ClientCall,
    private readonly window: ThrottleWindow,
    private readonly rejects: ReadonlySet<status>,
    private readonly now: () => number,
  ) {
    super(call);
  }

  override start(metadata: Metadata, listener?: ClientCallListener): void {
    this.state = 'in-flight';
    this.window.sent();
    try {
      super.start(metadata, listener);
    } catch (error) {
      // No status will come for a call that failed to start: out of flight, not a request.
      if (this.state === 'in-flight') {
        this.state = 'ended';
        this.window.abandoned();
      }
      throw error;
    }
  }

  override onReceiveStatus(received: StatusObject): void {
    if (this.state === 'in-flight') {
      this.state = 'ended';
      this.window.answered(this.now(), !this.rejects.has(received.code));
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
