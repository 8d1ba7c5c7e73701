/**
 * `npm run demo:load -- --rps 50 --concurrency 8 --duration 30 --errors 0.1 --auth-errors 0.02 --faults 0.02`: drives
 * traffic at a running demo (ADDRESS, default 127.0.0.1:50051) to light up the dashboards, then
 * prints the status mix: calls the server answered apart from calls refused on the client.
 * `--rps` paces arrivals (default 50, under the demo's per-subject limit of 100/s; `--rps 0`
 * for the old closed loop of `--concurrency` workers calling back to back).
 */
import { parseArgs } from 'node:util';
import { clientMetrics, signalMetrics, startMetricsServer } from '@weft/metrics';
import { Registry } from 'prom-client';
import { startA66ClientMetrics } from './a66-metrics';
import { demoClientInterceptors } from './client-interceptors';
import { intFromEnv } from './config';
import { demoTarget, userClient } from './demo-client';
import { loadUserProto } from './demo-server';
import { formatReport, runLoad } from './load-generator';
import { startTelemetry } from './telemetry';

const { values } = parseArgs({
  options: {
    concurrency: { type: 'string', default: '4' },
    rps: { type: 'string', default: '50' },
    duration: { type: 'string', default: '10' },
    errors: { type: 'string', default: '0.1' },
    'auth-errors': { type: 'string', default: '0.02' },
    faults: { type: 'string', default: '0.02' },
  },
});

function number(name: string, raw: string, min: number, max: number): number {
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min || value > max) {
    process.stderr.write(`--${name} must be a number from ${min} to ${max}, got "${raw}"\n`);
    process.exit(2);
  }
  return value;
}

/** With LOAD_METRICS_PORT set, the load generator serves its client-side metrics (the client dashboard). */
async function clientMetricsServer() {
  const port = process.env.LOAD_METRICS_PORT;
  if (!port) return undefined;
  const registry = new Registry();
  signalMetrics({ registry });
  const server = await startMetricsServer({
    registry,
    port: intFromEnv(process.env, 'LOAD_METRICS_PORT', 9465),
    host: process.env.LOAD_METRICS_HOST || '127.0.0.1',
    collectDefaultMetrics: true,
  });
  process.stdout.write(`client metrics on ${server.url}\n`);
  return { server, metrics: clientMetrics({ registry }) };
}

/**
 * With LOAD_OTEL_METRICS_PORT set, it also serves gRFC A66's client instruments (and A96's retry
 * ones) through the OpenTelemetry Prometheus exporter (the "weft / gRPC A66" dashboard's client rows).
 */
async function a66ClientMetrics(target: string) {
  if (!process.env.LOAD_OTEL_METRICS_PORT) return undefined;
  const a66 = await startA66ClientMetrics({
    host: process.env.LOAD_METRICS_HOST || '127.0.0.1',
    port: intFromEnv(process.env, 'LOAD_OTEL_METRICS_PORT', 9467),
    target,
    services: [loadUserProto().proto.weft.demo.v1.UserService.service],
  });
  process.stdout.write(`gRFC A66 client metrics on ${a66.url}\n`);
  return a66;
}

async function main() {
  const address = demoTarget();
  const telemetry = startTelemetry();
  const served = await clientMetricsServer();
  const a66 = await a66ClientMetrics(address);
  const client = userClient({
    address,
    interceptors: demoClientInterceptors({ metrics: served?.metrics, a66: a66?.interceptor }),
  });
  const report = await runLoad(client, {
    concurrency: number('concurrency', values.concurrency, 1, 1000),
    rps: number('rps', values.rps, 0, 100_000),
    durationSeconds: number('duration', values.duration, 0.1, 86_400),
    errorRate: number('errors', values.errors, 0, 1),
    authFailureRate: number('auth-errors', values['auth-errors'], 0, 1),
    faultRate: number('faults', values.faults, 0, 1),
  });
  process.stdout.write(formatReport(report));
  client.close();
  await served?.server.close();
  await a66?.close();
  await telemetry.shutdown();
}

main().catch((error) => {
  // A setting refused at startup (LB_POLICY, a port...) is one line, not a stack trace.
  process.stderr.write(`load generator failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(2);
});
