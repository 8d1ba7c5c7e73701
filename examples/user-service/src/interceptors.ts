import * as grpc from '@grpc/grpc-js';
import { type CertificateFiles, jwtAuth, type MethodPolicy, peerIdentity } from '@weft/auth';
import {
  type Logger,
  not,
  type ObservingServerInterceptor,
  observeServer,
  recovery,
  selector,
  serverInterceptors,
  serverLogging,
  stagedInterceptor,
} from '@weft/core';
import type { MetricsInterceptor } from '@weft/metrics';
import { adaptiveConcurrency, concurrencyLimit, serverDeadline } from '@weft/resilience';
import { serverTracing } from '@weft/tracing';
import type { DemoConfig } from './config';
import { READ_SCOPE, WRITE_SCOPE } from './tokens';

/** Everything but health checks and reflection, which never need credentials or limits. */
export const applicationMethods = not(
  (m) => m.service.startsWith('grpc.health.') || m.service.startsWith('grpc.reflection.'),
);

const SERVICE = 'weft.demo.v1.UserService';
const read: MethodPolicy = { scopes: [READ_SCOPE] };
const write: MethodPolicy = { scopes: [WRITE_SCOPE] };

/** Reading needs `users:read`, writing `users:write`; health and reflection are public (jwtAuth's default). */
export const demoAuthPolicy: Record<string, MethodPolicy> = {
  [`/${SERVICE}/GetUser`]: read,
  [`/${SERVICE}/ListUsers`]: read,
  [`/${SERVICE}/CreateUser`]: write,
  [`/${SERVICE}/UpdateUser`]: write,
  [`/${SERVICE}/DeleteUser`]: write,
  [`/${SERVICE}/ImportUsers`]: write,
  // A method added to the proto without a line here is closed, not open.
  [SERVICE]: { scopes: ['users:admin'] },
};

export interface DemoServerDeps {
  config: DemoConfig;
  logger: Logger;
  /** Server metrics, created by the caller because the metrics server needs their registry. */
  metrics: MetricsInterceptor;
  /** gRFC A66's instruments (`grpcOtelServerMetrics`), recorded next to `metrics`, in the same stage. */
  a66Metrics?: ObservingServerInterceptor | undefined;
  /** The per-subject rate limit (replaced live when etcd config changes). */
  rateLimit: grpc.ServerInterceptor;
  /** Refuses LEADER_ONLY_METHODS on replicas that do not lead (`@weft/etcd`'s `leaderOnly`). */
  leaderOnly?: grpc.ServerInterceptor | undefined;
  /** With mTLS (TLS_CA): the server's certificate files; client certificates must chain to their CA. */
  trust?: CertificateFiles | undefined;
}

/** The demo's server interceptors, every weft piece on, ordered by the preset. */
export function demoServerInterceptors({
  config,
  logger,
  metrics,
  a66Metrics,
  rateLimit,
  leaderOnly,
  trust,
}: DemoServerDeps): grpc.ServerInterceptor[] {
  return serverInterceptors({
    tracing: serverTracing({ echoTraceId: true }),
    // Both metric sets in the preset's metrics slot: their observers merge into one, so each sees
    // every call (rejections included) with its final code.
    metrics:
      a66Metrics === undefined ? metrics : observeServer(...metrics.observers, ...a66Metrics.observers),
    logging: serverLogging({ logger }),
    deadline: serverDeadline({ default: config.limits.defaultDeadlineMs, max: config.limits.maxDeadlineMs }),
    // mTLS: the calling workload (peer.identity in logs) and, below, the end user's token: both required.
    peerIdentity: config.tls?.caFile === undefined ? undefined : peerIdentity({ trust }),
    auth: jwtAuth({
      keys: { secret: config.jwt.secret },
      algorithms: ['HS256'],
      issuer: config.jwt.issuer,
      audience: config.jwt.audience,
      policy: demoAuthPolicy,
    }),
    rateLimit: selector(rateLimit, applicationMethods),
    concurrencyLimit: selector(concurrencyLimit({ max: config.limits.maxInFlight }), applicationMethods),
    // Leader-only refusals first (a follower does no other work), then the adaptive limit, then
    // the demo's fault injection.
    extra: [
      ...(leaderOnly === undefined ? [] : [leaderOnly]),
      ...(config.limits.adaptiveConcurrency ? [adaptiveLimit()] : []),
      faultInjection,
    ],
    recovery: recovery({
      onError: (error, { method }) =>
        logger.error({ err: error, method: method.fullMethod }, 'handler failed'),
    }),
  });
}

/** Request metadata marking a call as batch work (`x-priority: batch`), shed first under overload. */
export const PRIORITY_HEADER = 'x-priority';

/**
 * `ADAPTIVE_CONCURRENCY=1`: one Gradient2 limit over every application call (after auth, so a
 * refused caller costs no slot), with batch calls guaranteed 10% of it and everything else 90%.
 * Calls without the header count as live.
 */
function adaptiveLimit(): grpc.ServerInterceptor {
  return selector(
    adaptiveConcurrency({
      name: 'user-service',
      partitions: { live: 0.9, batch: 0.1 },
      partitionBy: (_context, metadata) => (metadata.get(PRIORITY_HEADER)[0] === 'batch' ? 'batch' : 'live'),
    }),
    applicationMethods,
  );
}

/** Request metadata that asks the demo to fail a call, so retries and breakers have work to do. */
export const FAULT_HEADER = 'x-demo-fault';

/**
 * Demo only: a call carrying `x-demo-fault: unavailable` is answered UNAVAILABLE before the
 * handler runs (the load generator's `--faults` share), to light up retry and breaker panels.
 */
const faultInjection = stagedInterceptor({
  // A stage (not a grpc-js layer of its own) so the preset keeps all of weft in one layer.
  start: (call, stage) => ({
    onReceiveMetadata(metadata) {
      if (metadata.get(FAULT_HEADER)[0] !== 'unavailable') return;
      call.sendStatusFrom(stage, {
        code: grpc.status.UNAVAILABLE,
        details: 'injected fault (x-demo-fault)',
        metadata: null,
      });
    },
  }),
});
