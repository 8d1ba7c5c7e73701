import { channel } from 'node:diagnostics_channel';
import type { status } from '@grpc/grpc-js';
import type { MethodInfo } from './method-info';

/**
 * weft's own signals (auth failures, limit rejections, retries, breaker transitions) travel over
 * `node:diagnostics_channel`: the package that knows publishes, `@weft/metrics` (or your code)
 * subscribes, and neither imports the other. Publishing is guarded by `hasSubscribers`, so a signal
 * nobody listens to costs one property read.
 */
export interface Signal<T> {
  readonly name: string;
  readonly hasSubscribers: boolean;
  publish(message: T): void;
  subscribe(listener: (message: T) => void): void;
  unsubscribe(listener: (message: T) => void): boolean;
}

function signal<T>(name: string): Signal<T> {
  return channel(name) as unknown as Signal<T>;
}

/**
 * A call rejected by `jwtAuth` or `peerIdentity`: `reason` is a short stable slug (`missing`,
 * `expired`, `bad_signature`, `insufficient_scope`, `missing_client_cert`, `peer_not_allowed`...).
 */
export interface AuthFailure {
  readonly method: MethodInfo;
  readonly reason: string;
  readonly code: status;
}

/** A call rejected by a rate or concurrency limit. `rule` names the limit; `keyClass` is what it keys on (`subject`, `peer`, `method`, `global`, ...). */
export interface LimitRejection {
  readonly method: MethodInfo;
  readonly limiter: 'rate' | 'concurrency';
  readonly rule: string;
  readonly keyClass: string;
}

/**
 * A call a rate limit rule in shadow mode would have refused and let through (`limitShadowed`), or
 * one it admitted leaving its bucket under 20% full (`limitNearLimit`, Envoy's NEAR_LIMIT).
 */
export type LimitEvent = LimitRejection;

/** A call `clientThrottle` refused on the client (adaptive throttling: the target refuses too many). */
export interface ThrottleRejection {
  readonly target: string;
  readonly method: MethodInfo;
}

/** A retry attempt starting (`attempt` >= 2), after a failure with `code`. */
export interface RetryAttempt {
  readonly method: MethodInfo;
  readonly attempt: number;
  readonly code: status;
}

/** A retry that throttling refused: the target's retry budget is spent. */
export interface RetryThrottled {
  readonly method: MethodInfo;
  readonly target: string;
}

export type BreakerState = 'closed' | 'open' | 'half_open';

/** A circuit breaker changing state for a target (and method, when breakers are per method). */
export interface BreakerTransition {
  readonly target: string;
  readonly method: string;
  readonly from: BreakerState;
  readonly to: BreakerState;
}

/** A call failed fast because its breaker is open. */
export interface BreakerRejection {
  readonly target: string;
  readonly method: MethodInfo;
}

/** One partition of an `adaptiveConcurrency` limiter (`all` when it has none, `unknown` for unlisted calls). */
export interface AdaptivePartitionState {
  readonly name: string;
  /** The partition's guaranteed share of the limit, in calls. */
  readonly limit: number;
  readonly inFlight: number;
  /** Calls of this partition refused since the limiter was created. */
  readonly rejections: number;
}

/**
 * The live state of an `adaptiveConcurrency` limiter. The limiter publishes itself (the same object
 * every time, read at scrape time) when created and then at most once a second while calls end.
 */
export interface AdaptiveConcurrencyState {
  readonly name: string;
  readonly limit: number;
  readonly inFlight: number;
  /** Gradient2's long-term RTT, the baseline latency (Netflix reports it as `min_rtt`). */
  readonly minRttSeconds: number;
  /** The RTT of the last limit update: the average of the calls that ended in one update interval (with `updateInterval: 0`, the last call's). */
  readonly sampleRttSeconds: number;
  /** The baseline RTT measured at low concurrency (Envoy's minRTT); 0 before the first measurement or without the probe. */
  readonly baselineRttSeconds: number;
  /** True while the limiter measures its baseline (the limit is held at the probe's concurrency). */
  readonly measuringBaseline: boolean;
  readonly partitions: readonly AdaptivePartitionState[];
}

export const signals = {
  authFailure: signal<AuthFailure>('weft:auth.failure'),
  limitRejection: signal<LimitRejection>('weft:limit.rejection'),
  limitShadowed: signal<LimitEvent>('weft:limit.shadowed'),
  limitNearLimit: signal<LimitEvent>('weft:limit.near_limit'),
  throttleRejection: signal<ThrottleRejection>('weft:throttle.rejection'),
  retryAttempt: signal<RetryAttempt>('weft:retry.attempt'),
  retryThrottled: signal<RetryThrottled>('weft:retry.throttled'),
  breakerTransition: signal<BreakerTransition>('weft:breaker.transition'),
  breakerRejection: signal<BreakerRejection>('weft:breaker.rejection'),
  adaptiveConcurrency: signal<AdaptiveConcurrencyState>('weft:adaptive-concurrency.state'),
} as const;
