import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ServiceDefinition } from '@grpc/grpc-js';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import type { ObservingServerInterceptor } from '@weft/core';
import { type GrpcOtelClientInterceptor, grpcOtelClientMetrics, grpcOtelServerMetrics } from '@weft/metrics';

export interface A66MetricsOptions {
  /** Address to bind, as the prom-client metrics server. */
  host: string;
  /** Server: `OTEL_METRICS_PORT`, default 9466; load generator: `LOAD_OTEL_METRICS_PORT`. 0 picks a free one. */
  port: number;
  /** Served (or called) services: their serializers measure the received message sizes. */
  services: readonly ServiceDefinition[];
}

export interface A66Metrics {
  /** `grpcOtelServerMetrics`: gRFC A66's `grpc.server.call.*` instruments on the provider below. */
  readonly interceptor: ObservingServerInterceptor;
  /** Where Prometheus scrapes the A66 set (`http://host:port/metrics`). */
  readonly url: string;
  close(): Promise<void>;
}

export interface A66ClientMetricsOptions extends A66MetricsOptions {
  /** The channel target the client dials (`grpc.target`, recorded canonical). */
  target: string;
}

export interface A66ClientMetrics {
  /**
   * `grpcOtelClientMetrics` with A96's retry instruments on: the call-level interceptor (goes in the
   * preset's `metrics` slot) and `.attempt` (its `attemptMetrics` slot, inside retry).
   */
  readonly interceptor: GrpcOtelClientInterceptor;
  /** Where Prometheus scrapes the client's A66 set (`http://host:port/metrics`). */
  readonly url: string;
  close(): Promise<void>;
}

interface ExporterEndpoint {
  readonly meterProvider: MeterProvider;
  readonly url: string;
  close(): Promise<void>;
}

/**
 * An SDK MeterProvider of its own (not the global one: A66 says a stats plugin must be given its
 * provider) read by `@opentelemetry/exporter-prometheus`. The exporter does not start its own
 * server (`preventServerStart`): its handler is served here so port 0 works and the bound port is
 * known.
 */
async function serveExporter(host: string, port: number): Promise<ExporterEndpoint> {
  const exporter = new PrometheusExporter({ preventServerStart: true });
  const meterProvider = new MeterProvider({ readers: [exporter] });
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') res.writeHead(405, { allow: 'GET, HEAD' }).end();
    else if (path === '/metrics') exporter.getMetricsRequestHandler(req, res);
    else res.writeHead(404, { 'content-type': 'text/plain' }).end('try /metrics\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    meterProvider,
    url: `http://${urlHost}:${bound}/metrics`,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
      await meterProvider.shutdown();
    },
  };
}

/**
 * gRFC A66's server instruments through `@opentelemetry/exporter-prometheus`, next to the
 * go-grpc-prometheus families prom-client serves on METRICS_PORT.
 */
export async function startA66Metrics(options: A66MetricsOptions): Promise<A66Metrics> {
  const endpoint = await serveExporter(options.host, options.port);
  const interceptor = grpcOtelServerMetrics({
    meterProvider: endpoint.meterProvider,
    services: options.services,
  });
  return { interceptor, url: endpoint.url, close: endpoint.close };
}

/**
 * gRFC A66's client instruments (per call and per attempt) and A96's retry instruments, served the
 * same way: the load generator's side of the "weft / gRPC A66" dashboard.
 */
export async function startA66ClientMetrics(options: A66ClientMetricsOptions): Promise<A66ClientMetrics> {
  const endpoint = await serveExporter(options.host, options.port);
  const interceptor = grpcOtelClientMetrics({
    meterProvider: endpoint.meterProvider,
    target: options.target,
    services: options.services,
    // The dashboard's retries panel reads grpc.client.call.retries (off by default in gRPC and weft).
    retryMetrics: true,
  });
  return { interceptor, url: endpoint.url, close: endpoint.close };
}
