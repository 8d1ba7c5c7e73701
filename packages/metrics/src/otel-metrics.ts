import { type Attributes, type Histogram, type MeterProvider, metrics } from '@opentelemetry/api';
import {
  type CallReporter,
  check,
  EMIT_NEW,
  EMIT_OLD,
  type Emit,
  type FinishedStatus,
  MethodCache,
  type MethodInfo,
  type ObservingClientInterceptor,
  type ObservingServerInterceptor,
  observeClient,
  observeServer,
  resolveOptions,
  resolveSemconv,
  rpcStatusCode,
  type SemconvMode,
} from '@weft/core';

export interface OtelMetricsOptions {
  /** Meter provider. Default: the global one from `@opentelemetry/api` (a no-op until an SDK registers). */
  meterProvider?: MeterProvider;
  /** Explicit bucket boundaries advice, in seconds. Default the semantic conventions' RPC buckets. */
  buckets?: readonly number[];
  /**
   * Which RPC semantic conventions the attributes follow: `'old'` (`rpc.system`, `rpc.service`,
   * `rpc.method` = `Method`, numeric `rpc.grpc.status_code`), `'new'` (`rpc.system.name`,
   * `rpc.method` = `package.Service/Method`, string `rpc.status_code`, `error.type` on failures)
   * or `'dup'` (both on the one histogram). Default: what `OTEL_SEMCONV_STABILITY_OPT_IN` says
   * (`rpc` → `'new'`, `rpc/dup` → `'dup'`), read once when the interceptor is made; else `'old'`.
   */
  semconv?: SemconvMode;
}

// Attribute names of the OpenTelemetry RPC conventions, typed here: this package does not depend
// on @opentelemetry/semantic-conventions (whose stable entry has the new names, the incubating one
// the old). Old: semconv v1.37. New: the release candidates (docs/rpc/rpc-metrics.md).
const RPC_SYSTEM = 'rpc.system';
const RPC_SERVICE = 'rpc.service';
const RPC_GRPC_STATUS_CODE = 'rpc.grpc.status_code';
const RPC_SYSTEM_NAME = 'rpc.system.name';
const RPC_METHOD = 'rpc.method';
const RPC_STATUS_CODE = 'rpc.status_code';
const ERROR_TYPE = 'error.type';

/** Codes that are the server's own faults (the gRPC conventions' server error list); for the client every non-OK code is an error. */
const SERVER_ERRORS = new Set([2, 4, 12, 13, 14, 15]);

/** Bucket advice from the OpenTelemetry RPC semantic conventions (seconds). */
const RPC_BUCKETS: readonly number[] = Object.freeze([
  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
]);

/**
 * Records one duration per call with attributes built once per method and status code, so a
 * call costs one map lookup and one `record`.
 */
class DurationReporter implements CallReporter {
  private readonly byCode: (Attributes | undefined)[] = new Array(17);
  constructor(
    private readonly histogram: Histogram,
    private readonly method: MethodInfo,
    private readonly side: 'server' | 'client',
    private readonly emit: Emit,
  ) {}
  onFinish(status: FinishedStatus, seconds: number): void {
    const code = status.code >= 0 && status.code <= 16 ? status.code : 2;
    let attributes = this.byCode[code];
    if (attributes === undefined) {
      attributes = durationAttributes(this.method, this.side, this.emit, code);
      this.byCode[code] = attributes;
    }
    this.histogram.record(seconds, attributes);
  }
}

/**
 * One method's and code's attributes, built once. In `dup` both sets go on the one histogram
 * (the name is the same in both conventions); `rpc.method`, in both, keeps the old value `Method`,
 * as on `@weft/tracing`'s spans.
 */
function durationAttributes(
  method: MethodInfo,
  side: 'server' | 'client',
  emit: Emit,
  code: number,
): Attributes {
  const attributes: Attributes = {};
  if (emit & EMIT_NEW) {
    attributes[RPC_SYSTEM_NAME] = 'grpc';
    attributes[RPC_METHOD] = method.fullMethod;
    attributes[RPC_STATUS_CODE] = rpcStatusCode(code);
    if (side === 'client' ? code !== 0 : SERVER_ERRORS.has(code))
      attributes[ERROR_TYPE] = rpcStatusCode(code);
  }
  if (emit & EMIT_OLD) {
    attributes[RPC_SYSTEM] = 'grpc';
    attributes[RPC_SERVICE] = method.service;
    attributes[RPC_METHOD] = method.method;
    attributes[RPC_GRPC_STATUS_CODE] = code;
  }
  return Object.freeze(attributes);
}

/** `otelServerMetrics()` / `otelClientMetrics()` defaults. */
export const OTEL_METRICS_DEFAULTS: Readonly<OtelMetricsOptions> = Object.freeze({
  /** The global provider (a no-op until an SDK registers). */
  meterProvider: undefined,
  /** The semantic conventions' RPC buckets. */
  buckets: RPC_BUCKETS,
  /** `OTEL_SEMCONV_STABILITY_OPT_IN`, else `'old'` (checked by core's `resolveSemconv`). */
  semconv: undefined,
});

function observer(side: 'server' | 'client', options: OtelMetricsOptions | undefined) {
  const o = resolveOptions(
    side === 'server' ? 'otelServerMetrics' : 'otelClientMetrics',
    OTEL_METRICS_DEFAULTS,
    options,
    {
      meterProvider: check.object,
      buckets: check.list,
    },
  );
  const emit = resolveSemconv(o.semconv);
  const provider = o.meterProvider ?? metrics.getMeterProvider();
  const histogram = provider.getMeter('@weft/metrics').createHistogram(`rpc.${side}.call.duration`, {
    description: `Measures the duration of ${side === 'server' ? 'inbound' : 'outbound'} RPC.`,
    unit: 's',
    advice: { explicitBucketBoundaries: [...(o.buckets as readonly number[])] },
  });
  // One reporter per method (it holds the method's attribute sets): core's bounded MethodCache.
  const reporters = new MethodCache((method) => new DurationReporter(histogram, method, side, emit));
  return {
    start(call: { method: MethodInfo }): CallReporter {
      return reporters.get(call.method);
    },
  };
}

/**
 * OpenTelemetry RPC metrics (`rpc.server.call.duration`, seconds) through `@opentelemetry/api`,
 * for applications whose metrics go through an OpenTelemetry SDK (OTLP, or
 * `@opentelemetry/exporter-prometheus`) rather than prom-client.
 */
export function otelServerMetrics(options?: OtelMetricsOptions): ObservingServerInterceptor {
  return observeServer(observer('server', options));
}

/** `rpc.client.call.duration` (seconds), the client twin of `otelServerMetrics`. */
export function otelClientMetrics(options?: OtelMetricsOptions): ObservingClientInterceptor {
  return observeClient(observer('client', options));
}
