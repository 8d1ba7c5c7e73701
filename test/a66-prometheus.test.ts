/**
 * gRFC A66 through `@opentelemetry/exporter-prometheus`: a real Prometheus (Debian package) scrapes
 * the demo's OTEL_METRICS_PORT while the load generator runs, and its HTTP API must show the
 * instrument names as the exporter renders them, A66's attributes (`grpc.method` → `grpc_method`,
 * `grpc.status` → `grpc_status`) and A66's bucket boundaries. The go-grpc-prometheus families are
 * scraped next to them and must count the same calls.
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

// Copied from the gRFC text (grpc/proposal A66-otel-stats.md), not from @weft/metrics.
const A66_LATENCY_BUCKETS = [
  0, 0.00001, 0.00005, 0.0001, 0.0003, 0.0006, 0.0008, 0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.008, 0.01,
  0.013, 0.016, 0.02, 0.025, 0.03, 0.04, 0.05, 0.065, 0.08, 0.1, 0.13, 0.16, 0.2, 0.25, 0.3, 0.4, 0.5, 0.65,
  0.8, 1, 2, 5, 10, 20, 50, 100,
];
const A66_SIZE_BUCKETS = [
  0, 1024, 2048, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864, 268435456, 1073741824,
  4294967296,
];

const DURATION = 'grpc_server_call_duration';
const STARTED = 'grpc_server_call_started_total';
const RCVD = 'grpc_server_call_rcvd_total_compressed_message_size';
const SENT = 'grpc_server_call_sent_total_compressed_message_size';
const LIST_USERS = 'weft.demo.v1.UserService/ListUsers';
/** Labels Prometheus or the exporter add to every series: not A66 attributes. */
const NOT_ATTRIBUTES = new Set([
  '__name__',
  'job',
  'instance',
  'le',
  'otel_scope_name',
  'otel_scope_version',
]);

const attributesOf = (metric: Record<string, string>) =>
  Object.keys(metric)
    .filter((k) => !NOT_ATTRIBUTES.has(k))
    .sort();

describe.runIf(prometheusBin.run)('Prometheus scraping gRFC A66 metrics from the demo', () => {
  let demo: RunningDemo;
  let prometheus: Prometheus;
  let exposition: string;

  beforeAll(async () => {
    demo = await startDemo(
      loadConfig({ GRPC_PORT: '0', METRICS_PORT: '0', OTEL_METRICS_PORT: '0' }),
      pino({ level: 'silent' }),
    );
    prometheus = await startPrometheus(
      prometheusBin,
      `global: { scrape_interval: 1s, evaluation_interval: 1s }
scrape_configs:
  - job_name: a66
    static_configs: [{ targets: ['${new URL(demo.otelMetricsUrl).host}'] }]
  - job_name: user-service
    static_configs: [{ targets: ['${new URL(demo.metricsUrl).host}'] }]
`,
    );
    await waitUntil('the first scrapes', async () => {
      const up = await prometheus.query('up');
      return up.length === 2 && up.every((r) => r.value[1] === '1');
    });
    const client = userClient({ address: demo.address, interceptors: demoClientInterceptors() });
    await runLoad(client, { concurrency: 4, durationSeconds: 3, errorRate: 0.2, authFailureRate: 0.1 });
    client.close();
    // The load is over: wait until both jobs have scraped the final counts.
    await waitUntil('both jobs to scrape the finished load', async () => {
      const [a66, go] = await Promise.all([
        prometheus.query(`sum(${DURATION}_count{job="a66"})`),
        prometheus.query('sum(grpc_server_handled_total{job="user-service"})'),
      ]);
      return a66[0] !== undefined && a66[0].value[1] === go[0]?.value[1];
    });
    exposition = await (await fetch(demo.otelMetricsUrl)).text();
  }, 60_000);
  afterAll(async () => {
    await prometheus?.stop();
    await demo?.shutdown();
  });

  it('stores exactly the families the exporter renders for A66 server instruments', async () => {
    const series = await prometheus.query('count by (__name__) ({job="a66", __name__=~"grpc_.*"})');
    expect(series.map((r) => r.metric.__name__).sort()).toEqual(
      [
        `${DURATION}_bucket`,
        `${DURATION}_count`,
        `${DURATION}_sum`,
        `${RCVD}_bucket`,
        `${RCVD}_count`,
        `${RCVD}_sum`,
        `${SENT}_bucket`,
        `${SENT}_count`,
        `${SENT}_sum`,
        STARTED,
      ].sort(),
    );
  });

  it("renders A66's units and types in the exposition", () => {
    for (const [name, unit, type] of [
      [STARTED, '{call}', 'counter'],
      [DURATION, 's', 'histogram'],
      [RCVD, 'By', 'histogram'],
      [SENT, 'By', 'histogram'],
    ]) {
      expect(exposition).toContain(`# UNIT ${name} ${unit}\n`);
      expect(exposition).toContain(`# TYPE ${name} ${type}\n`);
    }
  });

  it('labels calls with grpc_method (full name) and grpc_status (code name), and started calls by method only', async () => {
    const duration = await prometheus.query(`${DURATION}_count{job="a66"}`);
    for (const r of duration) expect(attributesOf(r.metric)).toEqual(['grpc_method', 'grpc_status']);
    const statuses = new Set(duration.map((r) => r.metric.grpc_status));
    for (const code of ['OK', 'NOT_FOUND', 'UNAUTHENTICATED']) expect(statuses).toContain(code);
    const methods = new Set(duration.map((r) => r.metric.grpc_method));
    for (const m of ['GetUser', 'ListUsers', 'CreateUser', 'DeleteUser']) {
      expect(methods).toContain(`weft.demo.v1.UserService/${m}`);
    }
    const started = await prometheus.query(`${STARTED}{job="a66"}`);
    expect(started.length).toBeGreaterThan(0);
    for (const r of started) expect(attributesOf(r.metric)).toEqual(['grpc_method']);
    for (const name of [RCVD, SENT]) {
      for (const r of await prometheus.query(`${name}_count{job="a66"}`)) {
        expect(attributesOf(r.metric)).toEqual(['grpc_method', 'grpc_status']);
      }
    }
  });

  it("uses A66's latency and size bucket boundaries", async () => {
    const les = async (family: string) => {
      const buckets = await prometheus.query(
        `${family}_bucket{job="a66", grpc_method="${LIST_USERS}", grpc_status="OK"}`,
      );
      return buckets
        .map((r) => (r.metric.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(r.metric.le)))
        .sort((a, b) => a - b);
    };
    expect(await les(DURATION)).toEqual([...A66_LATENCY_BUCKETS, Number.POSITIVE_INFINITY]);
    expect(await les(RCVD)).toEqual([...A66_SIZE_BUCKETS, Number.POSITIVE_INFINITY]);
    expect(await les(SENT)).toEqual([...A66_SIZE_BUCKETS, Number.POSITIVE_INFINITY]);
  });

  it('measures received and sent bytes and counts the calls go-grpc-prometheus counts', async () => {
    const rcvd = await prometheus.query(`sum(${RCVD}_sum{job="a66", grpc_method=~".*/CreateUser"})`);
    expect(Number(rcvd[0]?.value[1])).toBeGreaterThan(0);
    const sent = await prometheus.query(`sum(${SENT}_sum{job="a66", grpc_method=~".*/ListUsers"})`);
    expect(Number(sent[0]?.value[1])).toBeGreaterThan(0);
    const a66 = await prometheus.query(`sum(${STARTED}{job="a66"})`);
    const go = await prometheus.query('sum(grpc_server_started_total{job="user-service"})');
    expect(Number(a66[0]?.value[1])).toBeGreaterThan(0);
    expect(a66[0]?.value[1]).toBe(go[0]?.value[1]);
  });
});
