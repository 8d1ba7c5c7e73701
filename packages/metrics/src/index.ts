export { type ClientMetricsInterceptor, clientMetrics } from './client-metrics';
export { metricsHandler, wantsOpenMetrics } from './metrics-handler';
export { type MetricsServer, type MetricsServerOptions, startMetricsServer } from './metrics-server';
export { type ContextLabel, DEFAULT_BUCKETS, type GrpcMetricsOptions } from './options';
export { type OtelMetricsOptions, otelClientMetrics, otelServerMetrics } from './otel-metrics';
export { type MetricsInterceptor, serverMetrics } from './server-metrics';
export { type SignalMetrics, type SignalMetricsOptions, signalMetrics } from './signal-metrics';
