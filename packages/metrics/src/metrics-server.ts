import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { check, resolveOptions } from '@weft/core';
import { collectDefaultMetrics, type Registry, type RegistryContentType } from 'prom-client';
import { metricsHandler } from './metrics-handler';

export interface MetricsServerOptions {
  /** Registry to serve. Required: weft never serves prom-client's global registry by surprise. */
  registry: Registry<RegistryContentType>;
  /** Port; 0 picks a free one. Default 9464 (the OpenTelemetry Prometheus exporter's port). */
  port?: number;
  /** Address to bind. Default `127.0.0.1`; use `0.0.0.0` for Prometheus on another host. */
  host?: string;
  /** Path of the metrics. Default `/metrics`. */
  path?: string;
  /** Also register prom-client's process and Node.js metrics on the registry. Default `false`. */
  collectDefaultMetrics?: boolean;
}

export interface MetricsServer {
  readonly port: number;
  readonly url: string;
  readonly server: Server;
  close(): Promise<void>;
}

/** Serves `/metrics` (text or OpenMetrics by `Accept`) and `/healthz` on a small HTTP server of its own. */
/** `startMetricsServer()` defaults; `registry` is required. */
export const METRICS_SERVER_DEFAULTS: Readonly<MetricsServerOptions> = Object.freeze({
  registry: undefined as unknown as Registry<RegistryContentType>,
  /** The OpenTelemetry Prometheus exporter's port. */
  port: 9464,
  /** Loopback only, until asked. */
  host: '127.0.0.1',
  path: '/metrics',
  collectDefaultMetrics: false,
});

export async function startMetricsServer(given: MetricsServerOptions): Promise<MetricsServer> {
  const options = resolveOptions('startMetricsServer', METRICS_SERVER_DEFAULTS, given, {
    registry: (value) =>
      typeof value?.metrics === 'function' ? undefined : 'is required: a prom-client Registry',
    port: (value) =>
      Number.isInteger(value) && (value as number) >= 0 ? undefined : 'must be a port number',
    host: check.nonEmptyString,
    path: (value) => (typeof value === 'string' && value.startsWith('/') ? undefined : 'must start with /'),
    collectDefaultMetrics: check.boolean,
  });
  const host = options.host as string;
  const path = options.path as string;
  if (options.collectDefaultMetrics === true) collectDefaultMetrics({ register: options.registry });
  const serveMetrics = metricsHandler(options.registry);
  const server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (url === path) {
      serveMetrics(req, res);
    } else if (url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`try ${path}\n`);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}${path}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
