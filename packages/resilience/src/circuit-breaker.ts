import { type Interceptor, Metadata, type StatusObject, status } from '@grpc/grpc-js';
import {
  type BreakerState,
  type ClientCall,
  type ClientCallListener,
  check,
  defineClientInterceptor,
  ForwardingClientCall,
  LocalClientCall,
  localReason,
  localStatusMetadata,
  type MethodInfo,
  resolveOptions,
  signals,
} from '@weft/core';
import type { OptionDefaults } from './option-defaults';
import { RollingCounts } from './rolling-counts';
import { PerTarget, type TargetOption, targetOf } from './targets';

/** What a fallback is told about the call it stands in for. */
export interface FallbackCall {
  readonly method: MethodInfo;
  readonly target: string;
  /** The request message (unary calls). */
  readonly request: unknown;
}

export interface CircuitBreakerOptions {
  /** Share of failed calls in the window that opens the circuit. Default `0.5`. */
  failureRatio?: number;
  /** Calls the window must hold before the ratio counts (so two failures of two calls do not open it). Default `20`. */
  minimumCalls?: number;
  /** Length of the rolling window (ms). Default `10_000`. */
  windowMs?: number;
  /** Buckets the window is counted in; outcomes leave the window one bucket at a time. Default `10`. */
  buckets?: number;
  /** How long the circuit stays open before letting probes through (ms). Default `5_000`. */
  cooldownMs?: number;
  /**
   * Probe calls let through at once while half-open; the circuit closes once that many succeed,
   * and opens again on the first that fails. Default `1`.
   */
  halfOpenProbes?: number;
  /**
   * Status codes that count as failures. Default: UNAVAILABLE, DEADLINE_EXCEEDED, INTERNAL,
   * UNKNOWN: the server or the path to it is in trouble. Caller mistakes (INVALID_ARGUMENT,
   * NOT_FOUND, PERMISSION_DENIED...) count as successes: the server answered. RESOURCE_EXHAUSTED
   * counts as a success too: it is how a rate limit refuses a caller over its quota, and a caller
   * over its quota is not an unhealthy server (Envoy's outlier detection likewise counts only 5xx,
   * and quota refusals are 429; pair the breaker with `clientThrottle()` to back off from them).
   * Add it back for servers that answer RESOURCE_EXHAUSTED when they are themselves overloaded.
   * CANCELLED (the caller gave up) and statuses made locally by a layer below (`x-weft-local`,
   * e.g. `clientThrottle()`) count as neither.
   */
  failureCodes?: readonly status[];
  /**
   * Names the target a call goes to; breakers are per target and method. grpc-js does not show
   * interceptors the channel's target, so by default every call through this `circuitBreaker()`
   * is one target, `'default'`: make one per client, or name targets here.
   */
  target?: TargetOption;
  /**
   * Answers a unary call the open circuit rejects: return a response message to send instead of
   * failing, or `undefined` to fail as usual. Other call shapes always fail fast. Default: none.
   */
  fallback?: (call: FallbackCall) => unknown;
  /** Clock in ms. Default `performance.now`. */
  now?: () => number;
}

/** The status codes `circuitBreaker()` counts as failures by default (see `failureCodes`). */
export const BREAKER_FAILURE_CODES: readonly status[] = Object.freeze([
  status.UNAVAILABLE,
  status.DEADLINE_EXCEEDED,
  status.INTERNAL,
  status.UNKNOWN,
]);

/** `circuitBreaker()`'s defaults (see `CircuitBreakerOptions`). */
export const CIRCUIT_BREAKER_DEFAULTS: OptionDefaults<CircuitBreakerOptions, 'fallback'> = Object.freeze({
  failureRatio: 0.5,
  minimumCalls: 20,
  windowMs: 10_000,
  buckets: 10,
  cooldownMs: 5_000,
  halfOpenProbes: 1,
  failureCodes: BREAKER_FAILURE_CODES,
  target: 'default',
  fallback: undefined,
  now: () => performance.now(),
});

type Resolved = typeof CIRCUIT_BREAKER_DEFAULTS;

function resolve(options: CircuitBreakerOptions | undefined): Resolved {
  return resolveOptions('circuitBreaker', CIRCUIT_BREAKER_DEFAULTS, options, {
    failureRatio: (v) => (v > 0 && v <= 1 ? undefined : 'must be a number in (0, 1]'),
    minimumCalls: check.positive,
    windowMs: check.positive,
    buckets: check.positiveInteger,
    cooldownMs: check.nonNegative,
    halfOpenProbes: check.positiveInteger,
    fallback: check.function,
    now: check.function,
  });
}

/** The breaker of one target and method. */
class Breaker {
  state: BreakerState = 'closed';
  /** Calls (first) and failures (second) in the window. */
  private readonly window: RollingCounts;
  private openedAt = 0;
  private probes = 0;
  private probeSuccesses = 0;
  /** Bumped on every transition: outcomes of calls admitted in an earlier state are ignored. */
  epoch = 0;

  constructor(
    private readonly options: Resolved,
    readonly target: string,
    readonly method: MethodInfo,
  ) {
    this.window = new RollingCounts(options.windowMs, options.buckets);
  }

  /** Whether a call may go out now; `'probe'` when it is a half-open probe. */
  admit(): 'yes' | 'probe' | 'no' {
    if (this.state === 'closed') return 'yes';
    const now = this.options.now();
    if (this.state === 'open') {
      if (now - this.openedAt < this.options.cooldownMs) return 'no';
      this.transition('half_open');
    }
    if (this.probes >= this.options.halfOpenProbes) return 'no';
    this.probes++;
    return 'probe';
  }

  /** A call admitted at `epoch` ended; `failed` is `undefined` when it counts as neither (cancelled). */
  record(epoch: number, probe: boolean, failed: boolean | undefined): void {
    if (epoch !== this.epoch) return;
    if (probe) {
      this.probes--;
      if (failed === undefined) return;
      if (failed) {
        this.open();
        return;
      }
      this.probeSuccesses++;
      if (this.probeSuccesses >= this.options.halfOpenProbes) {
        this.window.reset();
        this.transition('closed');
      }
      return;
    }
    if (failed === undefined || this.state !== 'closed') return;
    const window = this.window;
    const now = this.options.now();
    window.addFirst(now);
    if (!failed) return;
    window.addSecond(now);
    const total = window.first;
    if (total >= this.options.minimumCalls && window.second / total >= this.options.failureRatio) this.open();
  }

  private open(): void {
    this.openedAt = this.options.now();
    this.transition('open');
  }

  private transition(to: BreakerState): void {
    const from = this.state;
    this.state = to;
    this.epoch++;
    this.probes = 0;
    this.probeSuccesses = 0;
    if (from !== to && signals.breakerTransition.hasSubscribers) {
      signals.breakerTransition.publish({ target: this.target, method: this.method.fullMethod, from, to });
    }
  }
}

/** A circuit breaker interceptor, with a look at its breakers' states. */
export type CircuitBreakerInterceptor = Interceptor & {
  /** State of the breaker of `method` (`package.Service/Method` or its path) on `target`; `closed` if it never saw a call. */
  state(method: string, target?: string): BreakerState;
};

/**
 * A client interceptor with one circuit breaker per target and method. Closed, it lets calls
 * through and counts their outcomes in a rolling window; when at least `minimumCalls` calls in
 * the window failed at `failureRatio` or more, it opens: calls fail at once with UNAVAILABLE
 * (`circuit open for <method>`, or get the `fallback`'s answer) without reaching the network.
 * After `cooldownMs` it lets `halfOpenProbes` probe calls through: success closes it, failure
 * opens it again. Publishes `signals.breakerTransition` and `signals.breakerRejection`. A call with
 * the call option `weftCircuitBreaker: false` bypasses it (neither rejected nor counted).
 */
export function circuitBreaker(options?: CircuitBreakerOptions): CircuitBreakerInterceptor {
  const resolved = resolve(options);
  const { target, fallback } = resolved;
  const failures = new Set(resolved.failureCodes);
  const breakers = new PerTarget((targetName, method) => new Breaker(resolved, targetName, method));

  const interceptor = defineClientInterceptor((callOptions, nextCall) => {
    // Bypassed for this call (`weftCircuitBreaker: false`): neither rejected nor counted.
    if (callOptions.weftCircuitBreaker === false) return nextCall(callOptions);
    const targetName = targetOf(target, callOptions);
    const breaker = breakers.get(targetName, callOptions.method_definition);
    const admitted = breaker.admit();
    if (admitted === 'no') {
      const method = breaker.method;
      if (signals.breakerRejection.hasSubscribers)
        signals.breakerRejection.publish({ target: targetName, method });
      const useFallback = fallback !== undefined && method.type === 'unary';
      return new RejectedCall(method, targetName, useFallback ? fallback : undefined);
    }
    return new JudgedCall(nextCall(callOptions), breaker, admitted === 'probe', failures);
  });
  return Object.assign(interceptor, {
    state(methodName: string, targetName = typeof target === 'string' ? target : 'default'): BreakerState {
      return breakers.peek(targetName, methodName)?.state ?? 'closed';
    },
  });
}

/** An admitted call: forwards everything to the next call and tells the breaker how it ended. */
class JudgedCall extends ForwardingClientCall {
  private readonly epoch: number;
  private recorded = false;

  constructor(
    call: ClientCall,
    private readonly breaker: Breaker,
    private readonly probe: boolean,
    private readonly failures: ReadonlySet<status>,
  ) {
    super(call);
    this.epoch = breaker.epoch;
  }

  override onReceiveStatus(received: StatusObject): void {
    if (!this.recorded) {
      this.recorded = true;
      const code = received.code;
      const failed = this.failures.has(code);
      // A failure made on this side by a layer below (a throttle) says nothing about the server.
      // Only failures are checked: `get` allocates when the key is absent.
      const counts = code !== status.CANCELLED && !(failed && localReason(received.metadata) !== undefined);
      this.breaker.record(this.epoch, this.probe, counts ? failed : undefined);
    }
    super.onReceiveStatus(received);
  }
}

/**
 * The call an open circuit hands out: no network, just a status (or a fallback answer), on a
 * macrotask like every call failed fast on the client (see `LocalClientCall`): callers looping
 * over failing calls must still let timers, I/O and the half-open probe's answer in.
 */
class RejectedCall extends LocalClientCall {
  constructor(
    private readonly method: MethodInfo,
    private readonly target: string,
    private readonly fallback: ((call: FallbackCall) => unknown) | undefined,
  ) {
    super();
  }

  protected failure(): StatusObject {
    // Marked local, with a negative pushback so a retry layer above does not retry it.
    const metadata = localStatusMetadata('circuit-breaker', true);
    return { code: status.UNAVAILABLE, details: `circuit open for ${this.method.fullMethod}`, metadata };
  }

  override start(metadata: Metadata, listener?: ClientCallListener): void {
    // A fallback needs the request, which comes with the half-close; otherwise fail now.
    if (this.fallback === undefined) super.start(metadata, listener);
    else this.upstream = listener ?? {};
  }

  override halfClose(): void {
    if (this.fallback !== undefined) this.completeLater();
  }

  override complete(): void {
    const fallback = this.fallback;
    if (fallback === undefined || this.isEnded) {
      super.complete();
      return;
    }
    let answer: unknown;
    try {
      answer = fallback({ method: this.method, target: this.target, request: this.request });
    } catch {
      answer = undefined;
    }
    if (answer === undefined) super.complete();
    else
      this.finish(
        { code: status.OK, details: 'OK (circuit breaker fallback)', metadata: new Metadata() },
        answer,
      );
  }
}
