/**
 * Per-call options (nice-grpc style): grpc-js copies every field of a call's `CallOptions` into the
 * `InterceptorOptions` its client interceptors get (`getInterceptingCall` in grpc-js's
 * client-interceptors.ts), so a caller can tune weft's client interceptors for one call:
 *
 *     client.Get(request, metadata, { weftRetry: { maxAttempts: 5 } }, callback);
 *
 * The fields are typed by augmenting grpc-js's `CallOptions` (importing `@weft/resilience` is
 * enough); the `weft` prefix keeps them clear of grpc-js's own options.
 */
import type { RetryPolicy } from './retry';

/** `weftDeadline`: `clientDeadline()`'s options for one call. */
export interface DeadlineCallOptions {
  /** The timeout (ms) of this call when the caller set no `deadline`, instead of `default`. */
  timeout?: number;
  /** Whether this call inherits (and is cancelled with) the incoming call, instead of `propagate`. */
  propagate?: boolean;
  /** Taken off an inherited deadline (ms) for this call, instead of `margin`. */
  margin?: number;
  /**
   * `false`: this call neither gets a timeout from measured latency (`default` applies instead) nor
   * is measured (`clientDeadline({ fromLatency })`): a call known to be unusually slow or fast.
   */
  fromLatency?: false;
}

declare module '@grpc/grpc-js' {
  interface CallOptions {
    /**
     * `retry()`'s policy for this call, filled in over the method's (or `retry()`'s) policy, or
     * `false` for no retries. It also applies to methods `retry()` leaves alone (`nonIdempotent`,
     * `methods: { ...: false }`): the caller knows this call. Streaming requests are never retried.
     */
    weftRetry?: RetryPolicy | false;
    /** `clientDeadline()`'s settings for this call. */
    weftDeadline?: DeadlineCallOptions;
    /**
     * `false`: this call bypasses `circuitBreaker()`: an open circuit does not reject it and its
     * outcome is not counted (a health check, an admin call that must go out).
     */
    weftCircuitBreaker?: false;
  }
}
