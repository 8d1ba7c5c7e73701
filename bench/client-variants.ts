/** Client-side variants: interceptors on the load process's client, measured on that process. */
import type * as grpcTypes from '@grpc/grpc-js';

export const clientVariants: Record<string, () => grpcTypes.Interceptor[]> = {
  bare: () => [],
  /** Bare grpc-js with a 10 s deadline on every unary call (`referenceCallOptions`): what a deadline costs grpc-js itself. */
  'ref:grpc-deadline': () => [],
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
  deadline: () => {
    const { clientDeadline } = require('@weft/resilience') as typeof import('@weft/resilience');
    return [clientDeadline({ default: 10_000 })];
  },
  /** Timeouts from measured latency: the deadline plus a latency window per method (issue 20). */
  'deadline-latency': () => {
    const { clientDeadline } = require('@weft/resilience') as typeof import('@weft/resilience');
    return [clientDeadline({ default: 10_000, fromLatency: true })];
  },
  retry: () => {
    const { retry } = require('@weft/resilience') as typeof import('@weft/resilience');
    return [retry()];
  },
  'circuit-breaker': () => {
    const { circuitBreaker } = require('@weft/resilience') as typeof import('@weft/resilience');
    return [circuitBreaker()];
  },
  /** Adaptive throttling against a target that accepts everything: the cost of counting. */
  'client-throttle': () => {
    const { clientThrottle } = require('@weft/resilience') as typeof import('@weft/resilience');
    return [clientThrottle()];
  },
  /** The client preset: tracing, metrics, deadline, retry, circuit breaker. */
  preset: () => {
    const { registerTracingSdk } = require('./otel-sdk') as typeof import('./otel-sdk');
    registerTracingSdk();
    const core = require('@weft/core') as typeof import('@weft/core');
    const { clientTracing } = require('@weft/tracing') as typeof import('@weft/tracing');
    const { clientMetrics } = require('@weft/metrics') as typeof import('@weft/metrics');
    const { circuitBreaker, clientDeadline, retry } =
      require('@weft/resilience') as typeof import('@weft/resilience');
    return core.clientInterceptors({
      tracing: clientTracing(),
      metrics: clientMetrics(),
      deadline: clientDeadline({ default: 10_000 }),
      retry: retry(),
      circuitBreaker: circuitBreaker(),
    });
  },
};

/**
 * Call options a reference variant passes on every call, without an interceptor. A deadline is
 * the one worth a reference: grpc-js then sends `grpc-timeout` and runs a timer per call, work
 * that `clientDeadline` causes but does not do.
 */
export const referenceCallOptions: Record<string, () => grpcTypes.CallOptions> = {
  'ref:grpc-deadline': () => ({ deadline: Date.now() + 10_000 }),
};
