/**
 * A real Prometheus (Debian package) scrapes the demo while the load generator runs; queries
 * through its HTTP API must return the go-grpc-prometheus series and weft's own.
 */
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoClientInterceptors } from '../examples/user-service/src/client-interceptors';
import { loadConfig } from '../examples/user-service/src/config';
import { userClient } from '../examples/user-service/src/demo-client';
import { type RunningDemo, startDemo } from '../examples/user-service/src/demo-server';
import { runLoad } from '../examples/user-service/src/load-generator';
import { binary, type Prometheus, startPrometheus, waitUntil } from './harness/servers';

const prometheusBin = binary('prometheus', 'prometheus');

describe.runIf(prometheusBin.run)('Prometheus scraping the demo', () => {
  let demo: RunningDemo;
  let prometheus: Prometheus;

  beforeAll(async () => {
    demo = await startDemo(
      loadConfig({ GRPC_PORT: '0', METRICS_PORT: '0', OTEL_METRICS_PORT: '0' }),
      pino({ level: 'silent' }),
    );
    const target = new URL(demo.metricsUrl).host;
    prometheus = await startPrometheus(
      prometheusBin,
      `global: { scrape_interval: 1s, evaluation_interval: 1s }
scrape_configs:
  - job_name: user-service
    static_configs: [{ targets: ['${target}'] }]
`,
    );
    // Prometheus syncs its targets a few seconds after start: load only once it scrapes.
    await waitUntil('the first scrape', async () => {
      const up = await prometheus.query('up{job="user-service"}');
      return up[0]?.value[1] === '1';
    });
    const client = userClient({ address: demo.address, interceptors: demoClientInterceptors() });
    await runLoad(client, { concurrency: 4, durationSeconds: 3, errorRate: 0.2, authFailureRate: 0.1 });
    client.close();
    await new Promise((resolve) => setTimeout(resolve, 2500)); // two more scrapes, so rate() sees the load
  }, 60_000);
  afterAll(async () => {
    await prometheus?.stop();
    await demo?.shutdown();
  });

  it('scrapes handled calls by method and Go-style code', async () => {
    const handled = await prometheus.query(
      'sum by (grpc_method, grpc_code) (grpc_server_handled_total{job="user-service"})',
    );
    const codes = new Set(handled.filter((r) => Number(r.value[1]) > 0).map((r) => r.metric.grpc_code));
    expect(codes).toContain('OK');
    expect(codes).toContain('NotFound');
    expect(codes).toContain('InvalidArgument');
    expect(codes).toContain('Unauthenticated');
    const methods = new Set(handled.map((r) => r.metric.grpc_method));
    for (const m of ['GetUser', 'ListUsers', 'CreateUser', 'DeleteUser']) expect(methods).toContain(m);
  });

  it('computes latency quantiles from the histogram', async () => {
    const p99 = await prometheus.query(
      'histogram_quantile(0.99, sum by (le) (rate(grpc_server_handling_seconds_bucket{job="user-service"}[1m])))',
    );
    expect(Number(p99[0]?.value[1])).toBeGreaterThan(0);
  });

  it("has weft's own series: auth failures by reason, in-flight calls, stream messages", async () => {
    const auth = await prometheus.query('sum by (reason) (weft_auth_failures_total)');
    expect(auth.map((r) => r.metric.reason)).toContain('bad_signature');
    expect(await prometheus.query('weft_server_in_flight_calls')).not.toEqual([]);
    const sent = await prometheus.query('grpc_server_msg_sent_total{grpc_method="ListUsers"}');
    expect(Number(sent[0]?.value[1])).toBeGreaterThan(0);
  });
});
