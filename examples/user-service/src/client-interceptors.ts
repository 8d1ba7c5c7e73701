import type * as grpc from '@grpc/grpc-js';
import { bearerToken } from '@weft/auth';
import { clientInterceptors, type ObservingClientInterceptor, observeClient } from '@weft/core';
import type { GrpcOtelClientInterceptor } from '@weft/metrics';
import { circuitBreaker, clientDeadline, clientThrottle, retry } from '@weft/resilience';
import { clientTracing } from '@weft/tracing';
import { loadConfig } from './config';
import { mintToken, READ_SCOPE, WRITE_SCOPE } from './tokens';

export interface DemoClientSettings {
  /** Environment the demo client reads its settings from (TOKEN, JWT_*...). */
  env?: NodeJS.ProcessEnv;
  /** Client metrics (`clientMetrics`), when the caller serves them (the load generator does). */
  metrics?: ObservingClientInterceptor;
  /**
   * gRFC A66's client instruments (`grpcOtelClientMetrics`), recorded next to `metrics` in the same
   * observer stage; their `.attempt` interceptor goes inside retry, so each attempt is seen.
   */
  a66?: GrpcOtelClientInterceptor;
}

/**
 * The interceptors the demo client, the load generator and the tests use against the demo: tracing,
 * metrics and gRFC A66 metrics (when given), a 5 s default deadline, retries of UNAVAILABLE, a circuit breaker, adaptive
 * client-side throttling (so a client over its per-subject quota backs off instead of sending calls
 * the server can only refuse) and the token: TOKEN when set, else one minted for `demo-client` with both scopes and refreshed by
 * `bearerToken` before it expires.
 */
export function demoClientInterceptors({
  env = process.env,
  metrics,
  a66,
}: DemoClientSettings = {}): grpc.Interceptor[] {
  const jwt = loadConfig(env).jwt;
  const auth = env.TOKEN
    ? bearerToken(env.TOKEN)
    : bearerToken(() =>
        mintToken(jwt, { subject: 'demo-client', scope: `${READ_SCOPE} ${WRITE_SCOPE}`, ttlSeconds: 600 }),
      );
  return clientInterceptors({
    tracing: clientTracing(),
    metrics:
      metrics !== undefined && a66 !== undefined
        ? observeClient(...metrics.observers, ...a66.observers)
        : (metrics ?? a66),
    attemptMetrics: a66?.attempt,
    deadline: clientDeadline({ default: 5000 }),
    // Creating a user twice is not harmless: never retried. Everything else is.
    retry: retry({ target: 'user-service', nonIdempotent: ['weft.demo.v1.UserService/CreateUser'] }),
    circuitBreaker: circuitBreaker({ target: 'user-service' }),
    throttle: clientThrottle({ target: 'user-service' }),
    auth,
  });
}
