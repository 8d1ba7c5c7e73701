import {
  type BreakerState,
  check,
  codeName,
  type MethodInfo,
  resolveOptions,
  type Signal,
  signals,
} from '@weft/core';
import { Gauge, Registry, type RegistryContentType } from 'prom-client';
import { adaptiveConcurrencyMetrics } from './adaptive-metrics';
import { LabelledCounter } from './computed-family';

export interface SignalMetricsOptions {
  /** Registry to register on. Default: a new one, read it from `.registry`. */
  registry?: Registry<RegistryContentType>;
  /** Prepended to every metric name. Default `''`. */
  prefix?: string;
  /** Distinct label sets per metric; later ones are recorded with `other` values. Default 1000. */
  maxSeries?: number;
}

export interface SignalMetrics {
  readonly registry: Registry<RegistryContentType>;
  /** Stops listening to weft's signals (the metrics stay registered). */
  close(): void;
}

const OTHER = 'other';
const STATES: readonly BreakerState[] = ['closed', 'half_open', 'open'];

/** Label sets of one metric, capped: past the cap every label value becomes `other`. */
class Bound {
  private readonly seen = new Set<string>();
  constructor(private readonly max: number) {}
  labels<L extends Record<string, string>>(labels: L): L {
    const key = Object.values(labels).join('\u0000');
    if (this.seen.has(key)) return labels;
    if (this.seen.size < this.max) {
      this.seen.add(key);
      return labels;
    }
    const other = { ...labels };
    for (const name of Object.keys(other)) (other as Record<string, string>)[name] = OTHER;
    return other;
  }
}

const methodLabels = (m: MethodInfo) => ({ grpc_service: m.service, grpc_method: m.method });

/**
 * Counts what weft's other packages publish on `@weft/core`'s signals: auth failures, limit
 * rejections (and what shadow rules would have refused, and near-limit admissions), retries, retry
 * throttling, client throttling, and circuit breaker state, transitions and fail-fasts.
 * Subscribing costs nothing on the publishers' side until this is created.
 */
/** `signalMetrics()` defaults. */
export const SIGNAL_METRICS_DEFAULTS: Readonly<SignalMetricsOptions> = Object.freeze({
  /** A new `Registry` per call. */
  registry: undefined,
  prefix: '',
  maxSeries: 1000,
});

export function signalMetrics(options?: SignalMetricsOptions): SignalMetrics {
  const o = resolveOptions('signalMetrics', SIGNAL_METRICS_DEFAULTS, options, {
    registry: check.object,
    prefix: check.string,
    maxSeries: check.positiveInteger,
  });
  const registry = o.registry ?? new Registry();
  const p = o.prefix as string;
  const max = o.maxSeries as number;
  const registers = [registry];

  const authFailures = new LabelledCounter(
    registry,
    `${p}weft_auth_failures_total`,
    'Calls refused by jwtAuth or peerIdentity, by reason (missing, expired, insufficient_scope, missing_client_cert, peer_not_allowed, ...).',
  );
  const limitRejections = new LabelledCounter(
    registry,
    `${p}weft_limit_rejections_total`,
    'Calls refused by rateLimit or concurrencyLimit, by limiter, rule and key class.',
  );
  const retries = new LabelledCounter(
    registry,
    `${p}weft_retry_attempts_total`,
    'Retry attempts started by the retry interceptor, by the code that caused them.',
  );
  const throttled = new LabelledCounter(
    registry,
    `${p}weft_retry_throttled_total`,
    'Retries refused because the target retry budget (throttling) was spent.',
  );
  const breakerState = new Gauge({
    name: `${p}weft_circuit_breaker_state`,
    help: 'Circuit breaker state: 1 for the current state of each target and method, 0 for the others.',
    labelNames: ['target', 'method', 'state'],
    registers,
  });
  const transitions = new LabelledCounter(
    registry,
    `${p}weft_circuit_breaker_transitions_total`,
    'Circuit breaker state changes.',
  );
  const breakerRejections = new LabelledCounter(
    registry,
    `${p}weft_circuit_breaker_rejections_total`,
    'Calls failed fast because their circuit breaker was open.',
  );

  const limitShadowed = new LabelledCounter(
    registry,
    `${p}weft_limit_shadow_rejections_total`,
    'Calls a rate limit rule in shadow mode would have refused and let through, by rule and key class.',
  );
  const limitNearLimit = new LabelledCounter(
    registry,
    `${p}weft_limit_near_limit_total`,
    'Calls a rate limit admitted leaving its bucket under 20% full (Envoy NEAR_LIMIT), by rule and key class.',
  );
  const throttleRejections = new LabelledCounter(
    registry,
    `${p}weft_client_throttle_rejections_total`,
    'Calls refused on the client by clientThrottle (adaptive throttling), by target and method.',
  );

  const bounds = Array.from({ length: 7 }, () => new Bound(max));
  const [b0, b1, b2, b3, b4, b5, b6] = bounds as [Bound, Bound, Bound, Bound, Bound, Bound, Bound];
  const [b7, b8, b9] = [new Bound(max), new Bound(max), new Bound(max)];
  const subscriptions: [Signal<never>, (message: never) => void][] = [];
  const on = <T>(signal: Signal<T>, listener: (message: T) => void) => {
    signal.subscribe(listener);
    subscriptions.push([signal as Signal<never>, listener as (message: never) => void]);
  };

  on(signals.authFailure, (f) =>
    authFailures.inc(b0.labels({ ...methodLabels(f.method), reason: f.reason, grpc_code: codeName(f.code) })),
  );
  on(signals.limitRejection, (r) =>
    limitRejections.inc(
      b1.labels({ ...methodLabels(r.method), limiter: r.limiter, rule: r.rule, key_class: r.keyClass }),
    ),
  );
  on(signals.limitShadowed, (r) =>
    limitShadowed.inc(
      b7.labels({ ...methodLabels(r.method), limiter: r.limiter, rule: r.rule, key_class: r.keyClass }),
    ),
  );
  on(signals.limitNearLimit, (r) =>
    limitNearLimit.inc(
      b8.labels({ ...methodLabels(r.method), limiter: r.limiter, rule: r.rule, key_class: r.keyClass }),
    ),
  );
  on(signals.throttleRejection, (r) =>
    throttleRejections.inc(b9.labels({ target: r.target, ...methodLabels(r.method) })),
  );
  on(signals.retryAttempt, (r) =>
    retries.inc(b2.labels({ ...methodLabels(r.method), grpc_code: codeName(r.code) })),
  );
  on(signals.retryThrottled, (r) =>
    throttled.inc(b3.labels({ ...methodLabels(r.method), target: r.target })),
  );
  on(signals.breakerTransition, (t) => {
    const labels = b4.labels({ target: t.target, method: t.method });
    for (const state of STATES) breakerState.set({ ...labels, state }, state === t.to ? 1 : 0);
    transitions.inc(b5.labels({ target: t.target, method: t.method, from: t.from, to: t.to }));
  });
  on(signals.breakerRejection, (r) =>
    breakerRejections.inc(b6.labels({ target: r.target, ...methodLabels(r.method) })),
  );

  const closeAdaptive = adaptiveConcurrencyMetrics(registry, p);

  return {
    registry,
    close() {
      closeAdaptive();
      for (const [signal, listener] of subscriptions) signal.unsubscribe(listener);
      subscriptions.length = 0;
    },
  };
}
