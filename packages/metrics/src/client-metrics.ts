import {
  type CallReporter,
  type FinishedStatus,
  type ObservingClientInterceptor,
  observeClient,
} from '@weft/core';
import type { Registry, RegistryContentType } from 'prom-client';
import { activeTraceId } from './exemplar';
import { GrpcFamilies } from './families';
import { type GrpcMetricsOptions, resolveMetricsOptions } from './options';
import { reporterCache, type SeriesReporter } from './server-metrics';

export interface ClientMetricsInterceptor extends ObservingClientInterceptor {
  readonly registry: Registry<RegistryContentType>;
}

/**
 * The client reporter of a call made inside a trace: grpc-js delivers the end of a client call
 * outside the caller's async context, so the trace id is taken when the call starts.
 */
class TracedClientReporter implements CallReporter {
  constructor(
    private readonly inner: SeriesReporter,
    private readonly traceId: string,
  ) {}
  onReceiveMessage(): void {
    this.inner.onReceiveMessage();
  }
  onSendMessage(): void {
    this.inner.onSendMessage();
  }
  onFinish(status: FinishedStatus, seconds: number): void {
    this.inner.record(status.code, seconds, this.traceId);
  }
}

/**
 * Client metrics named and labelled as go-grpc-prometheus: `grpc_client_started_total`,
 * `grpc_client_handled_total{grpc_code}`, `grpc_client_msg_received_total`,
 * `grpc_client_msg_sent_total`, `grpc_client_handling_seconds`. Methods past `maxMethods` are
 * recorded as `other` (a client can call any path). `contextLabels` is ignored on the client.
 */
export function clientMetrics(options?: GrpcMetricsOptions): ClientMetricsInterceptor {
  const o = { ...resolveMetricsOptions('clientMetrics', options), contextLabels: [], extraLabelNames: [] };
  const families = new GrpcFamilies('client', o);
  const reporterFor = reporterCache(families, { ...o, exemplars: false });
  const interceptor = observeClient({
    start(call) {
      const reporter = reporterFor(call.method);
      reporter.series.started++;
      if (!o.exemplars) return reporter;
      const traceId = activeTraceId();
      return traceId === undefined ? reporter : new TracedClientReporter(reporter, traceId);
    },
  });
  return Object.assign(interceptor, { registry: o.registry });
}
