/** Client-side variants: interceptors on the load process's client, measured on that process. */
import type * as grpcTypes from '@grpc/grpc-js';

export const clientVariants: Record<string, () => grpcTypes.Interceptor[]> = {
  bare: () => [],
  logging: () => {
    const { clientLogging } = require('@weft/core') as typeof import('@weft/core');
    const nullLogger = { debug() {}, info() {}, warn() {}, error() {} };
    return [clientLogging({ logger: nullLogger })];
  },
  tracing: () => {
    const { registerTracingSdk } = require('./otel-sdk') as typeof import('./otel-sdk');
    registerTracingSdk();
    const { clientTracing } = require('@weft/tracing') as typeof import('@weft/tracing');
    return [clientTracing()];
  },
  metrics: () => {
    const { clientMetrics } = require('@weft/metrics') as typeof import('@weft/metrics');
    return [clientMetrics()];
  },
};
