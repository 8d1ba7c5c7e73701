/**
 * Every interceptor factory of core, auth, tracing, metrics and balancing, called with every option given as
 * `undefined` (required ones filled in), then a real call through the harness. `undefined` must
 * mean "the default" everywhere: `{ ...defaults, ...options }` would let it replace a default, as
 * `recovery({ message: undefined })` once did (it sent `details: undefined` and leaked UNKNOWN's
 * text). Options are read from each factory's DEFAULTS constant, and `optionNames<O>()` checks at
 * compile time that the listed names are every key of the options type, so an option added to a
 * type without a default fails typecheck here, and one added without being listed fails below.
 * (Resilience has its own file.)
 */
import * as grpc from '@grpc/grpc-js';
import {
  type BearerTokenOptions,
  bearerToken,
  type JwtAuthOptions,
  jwtAuth,
  type PeerIdentityOptions,
  peerIdentity,
} from '@weft/auth';
import { type LoadReportingOptions, loadReporting } from '@weft/balancing';
import {
  clientLogging,
  type Logger,
  type LoggingOptions,
  type LogLevel,
  type RecoveryOptions,
  recovery,
  serverLogging,
} from '@weft/core';
import {
  clientMetrics,
  type GrpcMetricsOptions,
  type GrpcOtelClientOptions,
  type GrpcOtelServerOptions,
  grpcOtelClientMetrics,
  grpcOtelServerMetrics,
  type LoadReportGaugesOptions,
  loadReportGauges,
  type OtelMetricsOptions,
  otelClientMetrics,
  otelServerMetrics,
  type SignalMetricsOptions,
  serverMetrics,
  signalMetrics,
} from '@weft/metrics';
import {
  type ClientTracingOptions,
  clientTracing,
  type ServerTracingOptions,
  serverTracing,
} from '@weft/tracing';
import { afterEach, describe, expect, it } from 'vitest';
import { BEARER_TOKEN_DEFAULTS } from '../packages/auth/src/bearer-token';
import { JWT_AUTH_DEFAULTS, PEER_IDENTITY_DEFAULTS } from '../packages/auth/src/options';
import { hs256, SECRET } from '../packages/auth/test/keys';
import { LOAD_REPORTING_DEFAULTS } from '../packages/balancing/src/load-reporting';
import { CLIENT_LOGGING_DEFAULTS, SERVER_LOGGING_DEFAULTS } from '../packages/core/src/logging';
import { RECOVERY_DEFAULTS } from '../packages/core/src/recovery';
import {
  GRPC_OTEL_CLIENT_DEFAULTS,
  GRPC_OTEL_SERVER_DEFAULTS,
} from '../packages/metrics/src/grpc-otel-metrics';
import { LOAD_REPORT_GAUGES_DEFAULTS } from '../packages/metrics/src/load-report-gauges';
import { GRPC_METRICS_DEFAULTS } from '../packages/metrics/src/options';
import { OTEL_METRICS_DEFAULTS } from '../packages/metrics/src/otel-metrics';
import { SIGNAL_METRICS_DEFAULTS } from '../packages/metrics/src/signal-metrics';
import { testMeters } from '../packages/metrics/test/grpc-otel';
import { CLIENT_TRACING_DEFAULTS, SERVER_TRACING_DEFAULTS } from '../packages/tracing/src/options';
import { type CallResult, type Harness, type HarnessOptions, startHarness, unary } from './harness';

/**
 * The option names of `O`, complete: the call compiles only when every key of `O` is listed
 * (`Exclude<keyof O, listed>` must be `never`).
 */
const optionNames =
  <O>() =>
  <const K extends readonly (keyof O & string)[]>(
    ...names: K & (Exclude<keyof O, K[number]> extends never ? unknown : never)
  ): K =>
    names;

/** Every key of `defaults` set to `undefined`. */
function allUndefined(defaults: object): Record<string, undefined> {
  return Object.fromEntries(Object.keys(defaults).map((key) => [key, undefined]));
}

/** A logger that keeps its lines. */
function memoryLogger(): Logger & { lines: [LogLevel, Record<string, unknown>, string][] } {
  const lines: [LogLevel, Record<string, unknown>, string][] = [];
  const at = (level: LogLevel) => (fields: Record<string, unknown>, message: string) => {
    lines.push([level, fields, message]);
  };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

interface Case {
  /** The factory's DEFAULTS constant. */
  readonly defaults: object;
  /** Every option name of the factory's options type (checked complete by `optionNames`). */
  readonly names: readonly string[];
  /** Builds the harness from `options` (every option `undefined`, required ones given). */
  readonly harness: (undefinedOptions: Record<string, undefined>) => HarnessOptions;
  /** What the call must show: its status, and the default behaviour where it can be seen. */
  readonly check: (result: CallResult) => void | Promise<void>;
}

const ok = (result: CallResult) => expect(result.status.code).toBe(grpc.status.OK);

const logger = memoryLogger();
const registryOf = new Map<string, { metrics(): Promise<string> }>();
const meters = testMeters();

const cases: Record<string, Case> = {
  loadReporting: {
    defaults: LOAD_REPORTING_DEFAULTS,
    names: optionNames<LoadReportingOptions>()(
      'updatePeriodMs',
      'cpuCores',
      'applicationUtilization',
      'maxInFlight',
      'errorCodes',
      'perCallReports',
      'minReportIntervalMs',
      'onReport',
      'now',
      'cpuUsage',
    ),
    harness: (u) => ({ serverInterceptors: [loadReporting(u)] }),
    check(result) {
      ok(result);
      // Per-call reports are off by default (grpc-js clients re-parse protos for each one).
      expect(result.status.metadata.get('endpoint-load-metrics-bin')).toEqual([]);
    },
  },
  serverLogging: {
    defaults: SERVER_LOGGING_DEFAULTS,
    names: optionNames<LoggingOptions>()('logger', 'codeToLevel', 'logStart', 'logPayloads'),
    harness: (u) => ({ serverInterceptors: [serverLogging({ ...u, logger })] }),
    check(result) {
      ok(result);
      // Default levels (OK is info on the server), no start line, no payloads.
      expect(logger.lines.map(([level, , message]) => `${level} ${message}`)).toEqual(['info finished call']);
    },
  },
  clientLogging: {
    defaults: CLIENT_LOGGING_DEFAULTS,
    names: optionNames<LoggingOptions>()('logger', 'codeToLevel', 'logStart', 'logPayloads'),
    harness: (u) => ({ clientInterceptors: [clientLogging({ ...u, logger })] }),
    check(result) {
      ok(result);
      expect(logger.lines.map(([level, , message]) => `${level} ${message}`)).toEqual([
        'debug finished call',
      ]);
    },
  },
  recovery: {
    defaults: RECOVERY_DEFAULTS,
    names: optionNames<RecoveryOptions>()('onError', 'message', 'maskUnknown'),
    harness: (u) => ({
      serverInterceptors: [recovery(u)],
      handlers: {
        Unary(_call, callback) {
          // grpc-js would send this text as UNKNOWN; the default masks it.
          callback(new Error('db password is hunter2'));
        },
      },
    }),
    check(result) {
      expect(result.status).toMatchObject({ code: grpc.status.INTERNAL, details: 'Internal error' });
    },
  },
  'jwtAuth + bearerToken': {
    defaults: { ...JWT_AUTH_DEFAULTS, ...BEARER_TOKEN_DEFAULTS },
    names: [
      ...optionNames<JwtAuthOptions>()(
        'keys',
        'algorithms',
        'issuer',
        'audience',
        'clockToleranceSeconds',
        'maxTokenAgeSeconds',
        'requireExpiry',
        'requiredClaims',
        'header',
        'publicMethods',
        'policy',
        'scopeClaim',
        'rolesClaim',
        'authorize',
        'cacheSize',
        'maxTokenBytes',
        'stripMetadata',
        'realm',
        'now',
      ),
      ...optionNames<BearerTokenOptions>()(
        'header',
        'refreshBeforeSeconds',
        'defaultTtlSeconds',
        'onError',
        'now',
      ),
    ],
    harness: () => ({
      serverInterceptors: [
        jwtAuth({ ...allUndefined(JWT_AUTH_DEFAULTS), keys: { secret: SECRET }, algorithms: ['HS256'] }),
      ],
      clientInterceptors: [bearerToken(hs256(), allUndefined(BEARER_TOKEN_DEFAULTS))],
    }),
    check: ok,
  },
  'jwtAuth without a token': {
    defaults: JWT_AUTH_DEFAULTS,
    names: Object.keys(JWT_AUTH_DEFAULTS),
    harness: (u) => ({
      serverInterceptors: [jwtAuth({ ...u, keys: { secret: SECRET }, algorithms: ['HS256'] })],
    }),
    check(result) {
      expect(result.status).toMatchObject({
        code: grpc.status.UNAUTHENTICATED,
        details: 'missing bearer token in "authorization" metadata',
      });
    },
  },
  peerIdentity: {
    defaults: PEER_IDENTITY_DEFAULTS,
    names: optionNames<PeerIdentityOptions>()(
      'identityFrom',
      'requireClientCertificate',
      'publicMethods',
      'policy',
      'authorize',
      'trust',
      'cacheSize',
      'now',
    ),
    // Plaintext: no client certificate, which the default `requireClientCertificate` refuses.
    harness: (u) => ({ serverInterceptors: [peerIdentity(u)] }),
    check(result) {
      expect(result.status).toMatchObject({
        code: grpc.status.UNAUTHENTICATED,
        details: 'a verified client certificate is required (mutual TLS)',
      });
    },
  },
  serverTracing: {
    defaults: SERVER_TRACING_DEFAULTS,
    names: optionNames<ServerTracingOptions>()(
      'tracerProvider',
      'propagator',
      'messageEvents',
      'metadataAttributes',
      'semconv',
      'echoTraceId',
      'logFields',
    ),
    harness: (u) => ({ serverInterceptors: [serverTracing(u)] }),
    check: ok,
  },
  clientTracing: {
    defaults: CLIENT_TRACING_DEFAULTS,
    names: optionNames<ClientTracingOptions>()(
      'tracerProvider',
      'propagator',
      'messageEvents',
      'metadataAttributes',
      'semconv',
      'target',
    ),
    harness: (u) => ({ clientInterceptors: [clientTracing(u)] }),
    check: ok,
  },
  serverMetrics: {
    defaults: GRPC_METRICS_DEFAULTS,
    names: optionNames<GrpcMetricsOptions>()(
      'registry',
      'buckets',
      'prefix',
      'constLabels',
      'contextLabels',
      'maxMethods',
      'exemplars',
      'inFlight',
      'handlingTimeByCode',
    ),
    harness(u) {
      const metrics = serverMetrics(u);
      registryOf.set('serverMetrics', metrics.registry);
      return { serverInterceptors: [metrics] };
    },
    async check(result) {
      ok(result);
      const text = await registryOf.get('serverMetrics')?.metrics();
      expect(text).toMatch(/^grpc_server_handled_total\{grpc_type="unary",.*grpc_code="OK"\} 1$/m);
      expect(text).toMatch(/grpc_server_handling_seconds_bucket\{[^}]*le="0.005"/); // DEFAULT_BUCKETS
    },
  },
  clientMetrics: {
    defaults: GRPC_METRICS_DEFAULTS,
    names: Object.keys(GRPC_METRICS_DEFAULTS),
    harness(u) {
      const metrics = clientMetrics(u);
      registryOf.set('clientMetrics', metrics.registry);
      return { clientInterceptors: [metrics] };
    },
    async check(result) {
      ok(result);
      expect(await registryOf.get('clientMetrics')?.metrics()).toMatch(
        /^grpc_client_handled_total\{grpc_type="unary",.*grpc_code="OK"\} 1$/m,
      );
    },
  },
  otelServerMetrics: {
    defaults: OTEL_METRICS_DEFAULTS,
    names: optionNames<OtelMetricsOptions>()('meterProvider', 'buckets', 'semconv'),
    harness: (u) => ({ serverInterceptors: [otelServerMetrics(u)] }),
    check: ok,
  },
  otelClientMetrics: {
    defaults: OTEL_METRICS_DEFAULTS,
    names: Object.keys(OTEL_METRICS_DEFAULTS),
    harness: (u) => ({ clientInterceptors: [otelClientMetrics(u)] }),
    check: ok,
  },
  grpcOtelServerMetrics: {
    defaults: GRPC_OTEL_SERVER_DEFAULTS,
    names: optionNames<GrpcOtelServerOptions>()('meterProvider', 'services', 'maxMethods'),
    harness: (u) => ({
      serverInterceptors: [grpcOtelServerMetrics({ ...u, meterProvider: meters.meterProvider })],
    }),
    async check(result) {
      ok(result);
      expect((await meters.collect()).has('grpc.server.call.duration')).toBe(true);
    },
  },
  grpcOtelClientMetrics: {
    defaults: GRPC_OTEL_CLIENT_DEFAULTS,
    names: optionNames<GrpcOtelClientOptions>()(
      'meterProvider',
      'services',
      'maxMethods',
      'target',
      'customLabel',
      'maxCustomLabelValues',
      'retryMetrics',
    ),
    harness(u) {
      const metrics = grpcOtelClientMetrics({ ...u, meterProvider: meters.meterProvider });
      return { clientInterceptors: [metrics, metrics.attempt] };
    },
    async check(result) {
      ok(result);
      const collected = await meters.collect();
      expect(collected.has('grpc.client.attempt.duration')).toBe(true);
      // The default target is recorded as it is, not made canonical.
      const point = collected.get('grpc.client.call.duration')?.dataPoints[0];
      expect(point?.attributes['grpc.target']).toBe('unknown:///');
    },
  },
};

describe('every interceptor factory with every option undefined', () => {
  let harness: Harness | undefined;
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
    logger.lines.length = 0;
  });

  it.each(Object.entries(cases))('%s: takes the defaults and serves a real call', async (_name, c) => {
    expect(Object.isFrozen(c.defaults) || _name.includes('+')).toBe(true);
    expect(Object.keys(c.defaults).sort()).toEqual([...new Set(c.names)].sort());
    harness = await startHarness(c.harness(allUndefined(c.defaults)));
    await c.check(await unary(harness.client, { message: 'hi' }));
  });

  it('loadReportGauges takes every option undefined', async () => {
    const names = optionNames<LoadReportGaugesOptions>()('registry', 'prefix');
    expect(Object.keys(LOAD_REPORT_GAUGES_DEFAULTS).sort()).toEqual([...names].sort());
    const onReport = loadReportGauges(allUndefined(LOAD_REPORT_GAUGES_DEFAULTS));
    expect(await onReport.registry.metrics()).toContain('# TYPE weft_load_cpu_utilization gauge');
  });

  it('signalMetrics takes every option undefined', async () => {
    const names = optionNames<SignalMetricsOptions>()('registry', 'prefix', 'maxSeries');
    expect(Object.keys(SIGNAL_METRICS_DEFAULTS).sort()).toEqual([...names].sort());
    const metrics = signalMetrics(allUndefined(SIGNAL_METRICS_DEFAULTS));
    try {
      expect(await metrics.registry.metrics()).toContain('weft_auth_failures_total');
    } finally {
      metrics.close();
    }
  });
});
