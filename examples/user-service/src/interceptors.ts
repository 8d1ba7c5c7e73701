import * as grpc from '@grpc/grpc-js';
import {
  type CertificateFiles,
  DEFAULT_PUBLIC_SERVICES,
  jwtAuth,
  type MethodPolicy,
  peerIdentity,
} from '@weft/auth';
import type { LoadReporting } from '@weft/balancing';
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
import type { DemoConfig, SlowdownConfig } from './config';
import { READ_SCOPE, WRITE_SCOPE } from './tokens';

/**
 * Everything but health checks, reflection and load reports (ORCA): the services jwtAuth leaves
 * public by default. They never need limits: a load balancer or an operator asks for them, not a user.
 */
export const applicationMethods = not(DEFAULT_PUBLIC_SERVICES);

const SERVICE = 'weft.demo.v1.UserService';
const read: MethodPolicy = { scopes: [READ_SCOPE] };
const write: MethodPolicy = { scopes: [WRITE_SCOPE] };

/** Reading needs `users:read`, writing `users:write`; health, reflection and ORCA are public (jwtAuth's default). */
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
  /** Load reports (`loadReporting()` from @weft/balancing), outermost so refused calls count too. */
  load?: LoadReporting | undefined;
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
  load,
}: DemoServerDeps): grpc.ServerInterceptor[] {
  const preset = serverInterceptors({
    tracing: serverTracing({ echoTraceId: true }),
    // Both metric sets in the preset's metrics slot: their observers merge into one, so each sees
    // every call (rejections included) with its final code.
    metrics:
      a66Metrics === undefined ? metrics : observeServer(...metrics.observers, ...a66Metrics.observers),
    logging: serverLogging({ logger }),
    // Health's Watch and the ORCA stream stay open without a deadline (serverDeadline's `exempt` default).
    deadline: serverDeadline({ default: config.limits.defaultDeadlineMs, max: config.limits.maxDeadlineMs }),
    // mTLS: the calling workload (peer.identity in logs) and, below, the end user's token: both required.
    peerIdentity: config.tls?.caFile === undefined ? undefined : peerIdentity({ trust }),
    auth: jwtAuth({
      keys: { secret: config.jwt.secret },
      algorithms: ['HS256'],
      issuer: config.jwt.issuer,
      audience: config.jwt.audience,
      policy: demoAuthPolicy,
      // publicMethods: jwtAuth's default, health, reflection and the ORCA load reports (grpc-js's
      // weighted_round_robin opens that stream without the channel's interceptors: no token).
    }),
    rateLimit: selector(rateLimit, applicationMethods),
    concurrencyLimit: selector(concurrencyLimit({ max: config.limits.maxInFlight }), applicationMethods),
    // Leader-only refusals first (a follower does no other work), then the adaptive limit, then
    // the demo's fault injection.
    extra: [
      ...(leaderOnly === undefined ? [] : [leaderOnly]),
      ...(config.limits.adaptiveConcurrency ? [adaptiveLimit()] : []),
      faultInjection,
      ...slowdownStage(config.slowdown),
    ],
    recovery: recovery({
      onError: (error, { method }) =>
        logger.error({ err: error, method: method.fullMethod }, 'handler failed'),
    }),
  });
  // Outermost, before tracing: calls refused by auth or limits are load too. Its own grpc-js layer
  // (the preset has no slot before tracing); it only counts calls.
  return load === undefined ? preset : [load, ...preset];
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

/**
 * Demo only (HANDLER_DELAY_MS, HANDLER_CPU_MS): makes this replica slow, innermost, so the time is
 * spent where a handler's would be (in flight, inside every limit, in the handling-time histogram).
 * UserService calls only. Nothing at all when both are 0.
 */
function slowdownStage({ delayMs, cpuMs }: SlowdownConfig): grpc.ServerInterceptor[] {
  if (delayMs === 0 && cpuMs === 0) return [];
  const slow = stagedInterceptor({
    start: () => ({
      // Returning a promise holds the call (its messages wait) until it resolves.
      onReceiveMetadata(): Promise<void> | undefined {
        if (cpuMs > 0) burnCpu(cpuMs);
        return delayMs > 0 ? new Promise((resolve) => setTimeout(resolve, delayMs)) : undefined;
      },
    }),
  });
  return [selector(slow, applicationMethods)];
}

/**
 * Keeps the one JavaScript thread busy until it has spent `ms` more of CPU time: the CPU a slower
 * machine would spend. Counted in CPU time, not wall time, so a replica sharing a busy machine
 * takes longer rather than spending less; and in this thread's CPU time where Node has it (22 and
 * later), so the collector's helper threads (or other threads of the process, such as a test
 * runner's) do not end the burn early.
 */
function burnCpu(ms: number): void {
  const start = threadCpuMicros();
  const micros = ms * 1000;
  while (threadCpuMicros() - start < micros) {
    // busy
  }
}

/**
 * This thread's CPU time: `process.threadCpuUsage` (Node 22.19+, 23.9+; not in the Node 20 types
 * this project builds with). Node 20 has none: the process's is the closest.
 */
const cpuUsage: () => NodeJS.CpuUsage =
  (process as NodeJS.Process & { threadCpuUsage?: () => NodeJS.CpuUsage }).threadCpuUsage?.bind(process) ??
  (() => process.cpuUsage());

function threadCpuMicros(): number {
  const { user, system } = cpuUsage();
  return user + system;
}
