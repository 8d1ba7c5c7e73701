import type { ServiceDefinition } from '@grpc/grpc-js';
import {
  type CallReporter,
  type FinishedStatus,
  MethodCache,
  type MethodInfo,
  methodInfo,
  type ObservedServerCall,
  type ObservingServerInterceptor,
  observeServer,
} from '@weft/core';
import type { Registry, RegistryContentType } from 'prom-client';
import { activeTraceId, exemplarFor } from './exemplar';
import { GrpcFamilies, OTHER } from './families';
import { type GrpcMetricsOptions, type ResolvedMetricsOptions, resolveMetricsOptions } from './options';
import type { Series } from './series';

export interface MetricsInterceptor extends ObservingServerInterceptor {
  /** The registry the metrics live on (the one given, or the new one created). */
  readonly registry: Registry<RegistryContentType>;
  /** Creates zero series for every method (and every status code) of `service` before any call. */
  initialize(service: ServiceDefinition): void;
}

/** One reporter per series: it holds no per-call state, so calls allocate nothing for metrics. */
export class SeriesReporter implements CallReporter {
  constructor(
    readonly series: Series,
    private readonly exemplars: boolean,
  ) {}
  onReceiveMessage(): void {
    this.series.msgReceived++;
  }
  onSendMessage(): void {
    this.series.msgSent++;
  }
  onFinish(status: FinishedStatus, seconds: number): void {
    // On the server the handler's context (with its span) is active when the status goes out.
    this.record(status.code, seconds, this.exemplars ? activeTraceId() : undefined);
  }
  record(code: number, seconds: number, traceId: string | undefined): void {
    const s = this.series;
    s.handle(code);
    const histogram = s.histogramFor(code);
    const bucket = histogram.observe(seconds);
    if (traceId !== undefined) histogram.exemplars[bucket] = exemplarFor(traceId, seconds);
  }
}

/**
 * Reporters by method (and extra label values), created once per series. By method: core's
 * bounded `MethodCache` (paths past `maxMethods` share the `other` series, so the cache holds a
 * few times that many paths). By method and context-label values: a map capped at the same
 * size, since its key is not a method alone (the label values are bounded by `maxValues`).
 */
export function reporterCache(families: GrpcFamilies, o: ResolvedMetricsOptions) {
  const bySeries = new Map<Series, SeriesReporter>();
  const maxKeys = o.maxMethods * 4;
  const reporterOf = (method: MethodInfo, extra?: readonly string[]): SeriesReporter => {
    const series = families.seriesFor(method, extra);
    let reporter = bySeries.get(series);
    if (reporter === undefined) {
      reporter = new SeriesReporter(series, o.exemplars);
      bySeries.set(series, reporter);
    }
    return reporter;
  };
  const byMethod = new MethodCache((method) => reporterOf(method), maxKeys);
  const labelled = new Map<string, SeriesReporter>();
  return (method: MethodInfo, extra?: readonly string[]): SeriesReporter => {
    if (extra === undefined) return byMethod.get(method);
    const key = `${method.path}\u0000${extra.join('\u0000')}`;
    let reporter = labelled.get(key);
    if (reporter === undefined) {
      reporter = reporterOf(method, extra);
      if (labelled.size < maxKeys) labelled.set(key, reporter);
    }
    return reporter;
  };
}

/**
 * The reporter of a call whose series depends on its context (`contextLabels`): the values are
 * read when the call ends, because the layers that set them (auth, for a tenant or subject) run
 * inside metrics. Such calls are counted as started, with their messages, when they end.
 */
class ContextLabelledReporter implements CallReporter {
  private received = 0;
  private sent = 0;
  constructor(
    private readonly call: ObservedServerCall,
    private readonly resolve: (call: ObservedServerCall) => SeriesReporter,
  ) {}
  onReceiveMessage(): void {
    this.received++;
  }
  onSendMessage(): void {
    this.sent++;
  }
  onFinish(status: FinishedStatus, seconds: number): void {
    const reporter = this.resolve(this.call);
    const s = reporter.series;
    s.started++;
    s.msgReceived += this.received;
    s.msgSent += this.sent;
    reporter.onFinish(status, seconds);
  }
}

/**
 * Server metrics named and labelled as go-grpc-prometheus: `grpc_server_started_total`,
 * `grpc_server_handled_total{grpc_code}`, `grpc_server_msg_received_total`,
 * `grpc_server_msg_sent_total`, `grpc_server_handling_seconds`.
 */
export function serverMetrics(options?: GrpcMetricsOptions): MetricsInterceptor {
  const o = resolveMetricsOptions('serverMetrics', options);
  const families = new GrpcFamilies('server', o);
  const reporterFor = reporterCache(families, o);
  const labelValues = o.contextLabels.map(() => new Set<string>());

  const extraValues = (call: ObservedServerCall): string[] =>
    o.contextLabels.map((label, i) => {
      const value = label.value(call.context) ?? '';
      const seen = labelValues[i] as Set<string>;
      if (seen.has(value)) return value;
      if (seen.size >= label.maxValues) return OTHER;
      seen.add(value);
      return value;
    });

  const labelled = (call: ObservedServerCall) => reporterFor(call.method, extraValues(call));
  const interceptor = observeServer({
    start(call) {
      if (o.contextLabels.length > 0) return new ContextLabelledReporter(call, labelled);
      const reporter = reporterFor(call.method);
      reporter.series.started++;
      return reporter;
    },
  });
  return Object.assign(interceptor, {
    registry: o.registry,
    initialize(service: ServiceDefinition) {
      for (const definition of Object.values(service)) families.initialize(methodInfo(definition));
    },
  });
}
