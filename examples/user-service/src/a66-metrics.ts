import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ServiceDefinition } from '@grpc/grpc-js';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import type { ObservingServerInterceptor } from '@weft/core';
import { grpcOtelServerMetrics } from '@weft/metrics';

export interface A66MetricsOptions {
  /** Address to bind, as the prom-client metrics server. */
  host: string;
  /** `OTEL_METRICS_PORT`, default 9466; 0 picks a free one. */
  port: number;
  /** Served services: their serializers measure the received message sizes. */
  services: readonly ServiceDefinition[];
}

export interface A66Metrics {
  /** `grpcOtelServerMetrics`: gRFC A66's `grpc.server.call.*` instruments on the provider below. */
  readonly interceptor: ObservingServerInterceptor;
  /** Where Prometheus scrapes the A66 set (`http://host:port/metrics`). */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * gRFC A66's server instruments through `@opentelemetry/exporter-prometheus`, next to the
 * go-grpc-prometheus families prom-client serves on METRICS_PORT. A MeterProvider of its own (not
 * the global one: A66 says a stats plugin must be given its provider). The exporter does not start
 * its own server (`preventServerStart`): its handler is served here so port 0 works and the bound
 * port is known.
 */
export async function startA66Metrics(options: A66MetricsOptions): Promise<A66Metrics> {
  const exporter = new PrometheusExporter({ preventServerStart: true });
  const meterProvider = new MeterProvider({ readers: [exporter] });
  const interceptor = grpcOtelServerMetrics({ meterProvider, services: options.services });
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') res.writeHead(405, { allow: 'GET, HEAD' }).end();
    else if (path === '/metrics') exporter.getMetricsRequestHandler(req, res);
    else res.writeHead(404, { 'content-type': 'text/plain' }).end('try /metrics\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    interceptor,
    url: `http://${host}:${port}/metrics`,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
      await meterProvider.shutdown();
    },
  };
}
