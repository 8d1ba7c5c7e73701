export { type ClientMetricsInterceptor, clientMetrics } from './client-metrics';
export {
  CLIENT_INSTRUMENTS,
  GRPC_LATENCY_BUCKETS,
  GRPC_SIZE_BUCKETS,
  type InstrumentSpec,
  RETRY_INSTRUMENTS,
  SERVER_INSTRUMENTS,
} from './grpc-otel-instruments';
export {
  canonicalTarget,
  type GrpcOtelClientInterceptor,
  type GrpcOtelClientOptions,
  type GrpcOtelServerOptions,
  grpcOtelClientMetrics,
  grpcOtelServerMetrics,
} from './grpc-otel-metrics';
export {
  LOAD_REPORT_GAUGES,
  type LoadReportGauges,
  type LoadReportGaugesOptions,
  type LoadReportLike,
  loadReportGauges,
} from './load-report-gauges';
export { metricsHandler, wantsOpenMetrics } from './metrics-handler';
export { type MetricsServer, type MetricsServerOptions, startMetricsServer } from './metrics-server';
export { type ContextLabel, DEFAULT_BUCKETS, type GrpcMetricsOptions } from './options';
export { type OtelMetricsOptions, otelClientMetrics, otelServerMetrics } from './otel-metrics';
export { type MetricsInterceptor, serverMetrics } from './server-metrics';
export { type SignalMetrics, type SignalMetricsOptions, signalMetrics } from './signal-metrics';
