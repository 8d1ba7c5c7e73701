import { type Attributes, type Histogram, type MeterProvider, metrics } from '@opentelemetry/api';
import {
  type CallReporter,
  type FinishedStatus,
  type MethodInfo,
  type ObservingClientInterceptor,
  type ObservingServerInterceptor,
  observeClient,
  observeServer,
} from '@weft/core';

export interface OtelMetricsOptions {
  /** Meter provider. Default: the global one from `@opentelemetry/api` (a no-op until an SDK registers). */
  meterProvider?: MeterProvider;
  /** Explicit bucket boundaries advice, in seconds. Default the semantic conventions' RPC buckets. */
  buckets?: readonly number[];
}

/** Bucket advice from the OpenTelemetry RPC semantic conventions (seconds). */
const RPC_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

/**
 * Records one duration per call with attributes built once per method and status code, so a
 * call costs one map lookup and one `record`.
 */
class DurationReporter implements CallReporter {
  private readonly byCode: (Attributes | undefined)[] = new Array(17);
  constructor(
    private readonly histogram: Histogram,
    private readonly method: MethodInfo,
  ) {}
  onFinish(status: FinishedStatus, seconds: number): void {
    const code = status.code >= 0 && status.code <= 16 ? status.code : 2;
    let attributes = this.byCode[code];
    if (attributes === undefined) {
      attributes = Object.freeze({
        'rpc.system': 'grpc',
        'rpc.service': this.method.service,
        'rpc.method': this.method.method,
        'rpc.grpc.status_code': code,
      });
      this.byCode[code] = attributes;
    }
    this.histogram.record(seconds, attributes);
  }
}

function observer(side: 'server' | 'client', options: OtelMetricsOptions) {
  const provider = options.meterProvider ?? metrics.getMeterProvider();
  const histogram = provider.getMeter('@weft/metrics').createHistogram(`rpc.${side}.call.duration`, {
    description: `Measures the duration of ${side === 'server' ? 'inbound' : 'outbound'} RPC.`,
    unit: 's',
    advice: { explicitBucketBoundaries: [...(options.buckets ?? RPC_BUCKETS)] },
  });
  const reporters = new Map<string, DurationReporter>();
  return {
    start(call: { method: MethodInfo }): CallReporter {
      let reporter = reporters.get(call.method.path);
      if (reporter === undefined) {
        reporter = new DurationReporter(histogram, call.method);
        if (reporters.size < 1000) reporters.set(call.method.path, reporter);
      }
      return reporter;
    },
  };
}

/**
 * OpenTelemetry RPC metrics (`rpc.server.call.duration`, seconds) through `@opentelemetry/api`,
 * for applications whose metrics go through an OpenTelemetry SDK (OTLP, or
 * `@opentelemetry/exporter-prometheus`) rather than prom-client.
 */
export function otelServerMetrics(options: OtelMetricsOptions = {}): ObservingServerInterceptor {
  return observeServer(observer('server', options));
}

/** `rpc.client.call.duration` (seconds), the client twin of `otelServerMetrics`. */
export function otelClientMetrics(options: OtelMetricsOptions = {}): ObservingClientInterceptor {
  return observeClient(observer('client', options));
}
