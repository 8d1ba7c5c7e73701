import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { loadReporting } from '@weft/balancing';
import { selector } from '@weft/core';
import {
  InvalidConfigError,
  type LeaderElection,
  leaderElection,
  leaderOnly,
  registerService,
  type ServiceRegistration,
  watchConfig,
} from '@weft/etcd';
import {
  loadReportGauges,
  type MetricsServer,
  serverMetrics,
  signalMetrics,
  startMetricsServer,
} from '@weft/metrics';
import { Etcd3 } from 'etcd3';
import {
  HealthImplementation,
  protoPath as healthProtoPath,
  service as healthService,
} from 'grpc-health-check';
import pino from 'pino';
import { Registry } from 'prom-client';
import { startA66Metrics } from './a66-metrics';
import type { DemoConfig } from './config';
import type { ProtoGrpcType } from './generated/user';
import { demoServerInterceptors } from './interceptors';
import { LiveRateLimit, parseLiveLimits } from './live-limits';
import { serverTls } from './tls';
import { userServiceHandlers } from './user-service';
import { UserStore } from './user-store';

export const PROTO_PATH = join(__dirname, '..', '..', '..', 'proto', 'user.proto');
export const SERVICE_NAME = 'weft.demo.v1.UserService';
/** With the public development secret, anyone can mint tokens: serve only this machine then. */
const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export const SEED_USERS = [
  { name: 'Alice Liddell', email: 'alice@example.com', roles: ['admin'] },
  { name: 'Bob Builder', email: 'bob@example.com', roles: ['member'] },
  { name: 'Carol Danvers', email: 'carol@example.com', roles: ['member'] },
];

export function loadUserProto() {
  const definition = protoLoader.loadSync(PROTO_PATH, {
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
  });
  return { definition, proto: grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType };
}

export interface RunningDemo {
  readonly grpcPort: number;
  readonly address: string;
  /** Where Prometheus scrapes the demo (`http://host:port/metrics`). */
  readonly metricsUrl: string;
  /** Where Prometheus scrapes gRFC A66's instruments (OTel Prometheus exporter, OTEL_METRICS_PORT). */
  readonly otelMetricsUrl: string;
  readonly registry: Registry;
  readonly health: HealthImplementation;
  /** Stops taking calls, waits up to the grace period for in-flight ones, then cancels the rest. */
  shutdown(): Promise<void>;
}

/** Starts the demo user service with every weft interceptor on. */
export async function startDemo(
  config: DemoConfig,
  logger: pino.Logger = pino({ level: config.logLevel }),
): Promise<RunningDemo> {
  if (config.jwt.insecureDevSecret && !LOOPBACK.has(config.host)) {
    throw new Error(`JWT_SECRET must be set when HOST (${config.host}) is not a loopback address`);
  }
  const { definition, proto } = loadUserProto();
  const registry = new Registry();
  const metrics = serverMetrics({ registry });
  const signals = signalMetrics({ registry });
  const userService = proto.weft.demo.v1.UserService.service;
  // Zero series for every method of every service served, as go-grpc-prometheus's
  // InitializeMetrics(server): the health service's too.
  metrics.initialize(userService);
  metrics.initialize(healthService);
  const a66 = await startA66Metrics({
    host: config.host,
    port: config.otelMetricsPort,
    services: [userService, healthService],
  });
  const limits = new LiveRateLimit(config.limits);
  // This replica's load (CPU, QPS, EPS...), measured every second: out of band for clients with
  // LB_POLICY=weighted_round_robin, and as the weft_load_* gauges on METRICS_PORT.
  const load = loadReporting({ onReport: loadReportGauges({ registry }) });
  // LEADER_ONLY_METHODS: served by the replica elected in etcd only. The election starts once the
  // address is bound; until then (and without a leader) those methods answer UNAVAILABLE.
  let election: LeaderElection | undefined;
  const leaderOnlyMethods = config.etcd?.leaderOnlyMethods ?? [];
  const leaderGate =
    leaderOnlyMethods.length === 0
      ? undefined
      : selector(
          leaderOnly({
            name: DISCOVERY_NAME,
            isLeader: () => election?.isLeader() ?? false,
            leader: () => election?.leader(),
          }),
          { fullMethod: leaderOnlyMethods },
        );
  // TLS_CERT/TLS_KEY: TLS, with TLS_CA mTLS; the files are read again so rotation needs no restart.
  const tls =
    config.tls &&
    serverTls(config.tls, (error) =>
      logger.warn({ err: error }, 'TLS files not reloaded; keeping the current ones'),
    );
  const server = new grpc.Server({
    // The largest valid UserService request is under 8 KB (see request-bounds.ts); refusing bigger
    // messages in grpc-js (RESOURCE_EXHAUSTED) keeps a flood of 4 MiB ones from reaching a handler.
    'grpc.max_receive_message_length': 1024 * 1024,
    interceptors: demoServerInterceptors({
      config,
      logger,
      metrics,
      a66Metrics: a66.interceptor,
      rateLimit: limits.interceptor,
      leaderOnly: leaderGate,
      trust: tls?.files,
      load,
    }),
  });
  server.addService(userService, userServiceHandlers(new UserStore(SEED_USERS)));
  load.addToServer(server); // the ORCA service (xds.service.orca.v3.OpenRcaService)

  const health = new HealthImplementation({ '': 'SERVING', [SERVICE_NAME]: 'SERVING' });
  health.addToServer(server);
  // Reflection describes every service served: the user proto and the health proto.
  const healthDefinition = protoLoader.loadSync(healthProtoPath, {
    keepCase: true,
    enums: String,
    defaults: true,
  });
  new ReflectionService({ ...definition, ...healthDefinition }).addToServer(server);

  const grpcPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      `${config.host}:${config.grpcPort}`,
      tls?.credentials ?? grpc.ServerCredentials.createInsecure(),
      (error, port) => (error ? reject(error) : resolve(port)),
    ),
  ).catch(async (error: unknown) => {
    load.close();
    await a66.close();
    throw error;
  });
  const address = `${config.host}:${grpcPort}`;
  let metricsServer: MetricsServer;
  try {
    metricsServer = await startMetricsServer({
      registry,
      host: config.host,
      port: config.metricsPort,
      collectDefaultMetrics: true,
    });
  } catch (error) {
    server.forceShutdown();
    load.close();
    await a66.close();
    throw error;
  }
  const transport = config.tls === undefined ? 'plaintext' : config.tls.caFile === undefined ? 'tls' : 'mtls';
  logger.info(
    { address, metrics: metricsServer.url, otelMetrics: a66.url, transport },
    `user service listening on ${address}`,
  );
  if (config.jwt.insecureDevSecret) {
    logger.warn(
      'JWT_SECRET is unset: tokens are checked with the public development secret (npm run token mints them)',
    );
  }

  const discovery = config.etcd && startDiscovery(config, address, limits, logger);
  election = discovery?.election;

  let stopping: Promise<void> | undefined;
  const drain = () =>
    new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        logger.warn('grace period over: cancelling in-flight calls');
        server.forceShutdown();
        resolve();
      }, config.shutdownGraceSeconds * 1000);
      server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
      // No new calls from here on: end the load balancers' ORCA subscriptions (UNAVAILABLE: they
      // subscribe again wherever they go next), which would otherwise hold the drain for the
      // whole grace period. This also stops the load measurements.
      load.close();
    });
  const shutdown = () => {
    stopping ??= (async () => {
      // Hand the leadership over first: a follower takes it now, not after the lease TTL. Not
      // awaited: an unreachable etcd must not hold the drain (the lease expires on its own).
      void discovery?.election?.resign().catch((error) => logger.warn({ err: error }, 'could not resign'));
      // Health checkers first, then etcd, so clients stop picking this instance; then drain.
      health.setStatus('', 'NOT_SERVING');
      health.setStatus(SERVICE_NAME, 'NOT_SERVING');
      // deregister() settles within its own bound (2 s) even when etcd hangs. A failure is only
      // logged: the key expires with its lease, and the calls in flight still deserve the drain.
      await discovery?.registration.deregister().then(
        () => logger.info({ key: discovery.registration.key }, 'deregistered from etcd'),
        (error: unknown) =>
          logger.warn(
            { err: error },
            'etcd deregistration failed; draining anyway (the key expires with its lease)',
          ),
      );
      await drain();
      signals.close();
      await metricsServer.close();
      await a66.close();
      await discovery?.close();
      tls?.files.close();
    })();
    return stopping;
  };
  return {
    grpcPort,
    address,
    metricsUrl: metricsServer.url,
    otelMetricsUrl: a66.url,
    registry,
    health,
    shutdown,
  };
}

export const DISCOVERY_NAME = 'user-service';

/**
 * An outage ends when a value arrives or when no failure was seen for this long: longer than the
 * watch's retry delay cap (5 s) plus a failing attempt, so one outage is never reported twice.
 */
const OUTAGE_QUIET_MS = 30_000;

/**
 * Which failure starts an outage, so a log says it once. watchConfig's `onError` does not say
 * whether a failure repeats one before it (its default logger knows, a custom one does not), and
 * recovery is silent, so the end of an outage is a success or a quiet period.
 */
class OutageLog {
  private lastFailure = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly quietMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records a failure; true when it starts an outage. */
  failed(): boolean {
    const now = this.now();
    const first = now - this.lastFailure > this.quietMs;
    this.lastFailure = now;
    return first;
  }

  succeeded(): void {
    this.lastFailure = Number.NEGATIVE_INFINITY;
  }
}

/** ETCD_ENDPOINTS set: register this instance and follow the live limits document. */
function startDiscovery(config: DemoConfig, address: string, limits: LiveRateLimit, logger: pino.Logger) {
  const etcdConfig = config.etcd as NonNullable<DemoConfig['etcd']>;
  const client = new Etcd3({ hosts: etcdConfig.endpoints });
  const registration: ServiceRegistration = registerService({
    client,
    service: DISCOVERY_NAME,
    address: etcdConfig.advertiseAddress ?? address,
    onError: (error) => logger.warn({ err: error }, 'etcd registration failed; retrying'),
  });
  void registration.ready.then(() => logger.info({ key: registration.key }, 'registered in etcd'));
  const watchOutage = new OutageLog(OUTAGE_QUIET_MS);
  const election =
    etcdConfig.leaderOnlyMethods.length === 0
      ? undefined
      : leaderElection({
          client,
          name: DISCOVERY_NAME,
          address: etcdConfig.advertiseAddress ?? address,
          ttl: etcdConfig.leaderTtl,
          onChange: ({ leader, isLeader }) =>
            logger.info(
              { leader, methods: etcdConfig.leaderOnlyMethods },
              isLeader ? 'elected leader' : 'following',
            ),
          onError: (error) => logger.warn({ err: error }, 'leader election failed; retrying'),
        });
  const watch = watchConfig({
    client,
    key: etcdConfig.configKey,
    parse: parseLiveLimits,
    onChange: ({ value, revision }) => {
      watchOutage.succeeded();
      limits.update(value);
      logger.info({ limits: value, revision }, 'limits changed from etcd');
    },
    onError: (error) => {
      if (error instanceof InvalidConfigError) {
        logger.error({ err: error }, 'limits document refused; keeping the previous limits');
        return;
      }
      // Anything else is etcd not answering (the watch retries with backoff): warn once per outage.
      const first = watchOutage.failed();
      logger[first ? 'warn' : 'debug'](
        { err: error },
        'limits watch: etcd unreachable; keeping the current limits and retrying',
      );
    },
  });
  return {
    registration,
    election,
    close: async () => {
      await watch.close();
      client.close();
    },
  };
}
