/**
 * The dashboards and rules against real data: the demo and a client with metrics are scraped by
 * a real Prometheus (Debian) running the repo's rules, while the load generator runs a mix with
 * errors, auth failures, limits and injected faults. Every PromQL expression of every dashboard
 * panel and every recording rule must return data: a query that returns nothing fails the build.
 * The demo's gRFC A66 endpoint and the client's (through `@opentelemetry/exporter-prometheus`) are
 * scraped too; after the load the test makes a known number of calls of a method the load never
 * calls, and the A66 dashboard's rate, latency, retry and size panels must show those calls.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { clientMetrics, type MetricsServer, signalMetrics, startMetricsServer } from '@weft/metrics';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type A66ClientMetrics, startA66ClientMetrics } from '../examples/user-service/src/a66-metrics';
import { demoClientInterceptors } from '../examples/user-service/src/client-interceptors';
import { loadConfig } from '../examples/user-service/src/config';
import { call, userClient } from '../examples/user-service/src/demo-client';
import { loadUserProto, type RunningDemo, startDemo } from '../examples/user-service/src/demo-server';
import { type LoadReport, runLoad } from '../examples/user-service/src/load-generator';
import { mintToken } from '../examples/user-service/src/tokens';
import { binary, type Prometheus, startPrometheus, waitUntil } from './harness/servers';

const root = join(__dirname, '..');
const prometheusBin = binary('prometheus', 'prometheus');

interface PanelQuery {
  dashboard: string;
  panel: string;
  expr: string;
}

interface DashboardJson {
  title: string;
  uid: string;
  panels: { title: string; targets?: { expr: string }[] }[];
  templating: { list: { name: string; type: string; query?: string }[] };
}

const dashboards = (): DashboardJson[] => {
  const dir = join(root, 'grafana', 'dashboards');
  return readdirSync(dir).map((file) => JSON.parse(readFileSync(join(dir, file), 'utf8')) as DashboardJson);
};

/** A query with the dashboard variables set to "All" and Grafana's rate interval to 1m. */
const allValues = (expr: string) =>
  expr.replaceAll('$__rate_interval', '1m').replace(/\$(job|instance|service|method|slo|target)\b/g, '.*');

/** Every target expression of every generated dashboard, with the variables set to "All". */
function dashboardQueries(): PanelQuery[] {
  const out: PanelQuery[] = [];
  for (const dashboard of dashboards()) {
    for (const panel of dashboard.panels) {
      for (const target of panel.targets ?? []) {
        out.push({ dashboard: dashboard.title, panel: panel.title, expr: allValues(target.expr) });
      }
    }
  }
  return out;
}

/** The A66 dashboard's queries of one panel, by title, as Prometheus runs them with "All" selected. */
function a66Panel(title: string): string[] {
  const dashboard = dashboards().find((d) => d.uid === 'weft-grpc-a66');
  const panel = dashboard?.panels.find((p) => p.title === title);
  expect(panel, `panel "${title}" of the A66 dashboard`).toBeDefined();
  return (panel?.targets ?? []).map((t) => allValues(t.expr));
}

/** The smallest of A66's latency bucket bounds at or above `seconds`. */
function bucketAbove(seconds: number): number {
  const bounds = [
    0.00001, 0.00005, 0.0001, 0.0003, 0.0006, 0.0008, 0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.008, 0.01,
    0.013, 0.016, 0.02, 0.025, 0.03, 0.04, 0.05, 0.065, 0.08, 0.1, 0.13, 0.16, 0.2, 0.25, 0.3, 0.4, 0.5, 0.65,
    0.8, 1, 2, 5, 10, 20, 50, 100,
  ];
  return bounds.find((b) => b >= seconds) ?? Number.POSITIVE_INFINITY;
}

const RETRIES_PANEL = 'Retries / s by method (A96 grpc.client.call.retries)';

/** The probe: calls of UpdateUser (never made by the load), all answered OK, all the same size. */
const PROBE_CALLS = 20;
const PROBE_METHOD = 'weft.demo.v1.UserService/UpdateUser';
/** Every field set, so the server's re-encoding of the decoded request has the client's bytes. */
const probeRequest = (id: string) => ({
  id,
  name: 'Probe User',
  email: 'probe@example.com',
  roles: ['reader'],
});

describe.runIf(prometheusBin.run)('dashboards and rules against a real Prometheus', () => {
  let demo: RunningDemo;
  let clientServer: MetricsServer;
  let a66Client: A66ClientMetrics;
  let prometheus: Prometheus;
  const reports: LoadReport[] = [];
  /** Wall time of each probe call as the test saw it, in seconds. */
  const probeSeconds: number[] = [];
  let probeUser = '';

  beforeAll(async () => {
    demo = await startDemo(
      // The burst lets the first calls in together, one in flight per method (concurrency
      // rejections); then 10/s is the limit (rate-limit rejections), however slow the machine.
      loadConfig({
        GRPC_PORT: '0',
        METRICS_PORT: '0',
        OTEL_METRICS_PORT: '0',
        RATE_LIMIT_RPS: '10',
        RATE_LIMIT_BURST: '30',
        MAX_IN_FLIGHT: '1',
        // The adaptive limit's panels (its limit, in flight, RTTs and rejections per partition).
        ADAPTIVE_CONCURRENCY: '1',
      }),
      pino({ level: 'silent' }),
    );
    const registry = new Registry();
    signalMetrics({ registry });
    const metrics = clientMetrics({ registry });
    clientServer = await startMetricsServer({ registry, port: 0 });
    const userService = loadUserProto().proto.weft.demo.v1.UserService.service;
    a66Client = await startA66ClientMetrics({
      host: '127.0.0.1',
      port: 0,
      target: demo.address,
      services: [userService],
    });

    const rules = (name: string) => readFileSync(join(root, 'prometheus', 'rules', name), 'utf8');
    prometheus = await startPrometheus(
      prometheusBin,
      `global: { scrape_interval: 1s, evaluation_interval: 1s }
rule_files: [recording.yml, alerts.yml, slo.yml]
scrape_configs:
  - job_name: user-service
    static_configs: [{ targets: ['${new URL(demo.metricsUrl).host}'] }]
  - job_name: user-service-client
    static_configs: [{ targets: ['${new URL(clientServer.url).host}'] }]
  - job_name: user-service-a66
    static_configs: [{ targets: ['${new URL(demo.otelMetricsUrl).host}'] }]
  - job_name: user-service-client-a66
    static_configs: [{ targets: ['${new URL(a66Client.url).host}'] }]
`,
      {
        'recording.yml': rules('recording.yml'),
        'alerts.yml': rules('alerts.yml'),
        'slo.yml': rules('slo.yml'),
      },
    );
    await waitUntil('all four targets to be scraped', async () => {
      const up = await prometheus.query('sum(up)');
      return up[0]?.value[1] === '4';
    });

    const a66 = a66Client.interceptor;
    const client = userClient({
      address: demo.address,
      interceptors: demoClientInterceptors({ metrics, a66 }),
    });
    // A mix with every kind of failure the dashboards show...
    const mix = await runLoad(client, {
      concurrency: 8,
      durationSeconds: 4,
      errorRate: 0.2,
      authFailureRate: 0.1,
      faultRate: 0.05,
    });
    reports.push(mix);
    client.close();
    // ...then a storm of faults from another subject (its own, full bucket): retries, throttled
    // retries, and the breaker opens.
    const token = mintToken(loadConfig({}).jwt, { subject: 'storm', scope: 'users:read', ttlSeconds: 60 });
    const storm = userClient({
      address: demo.address,
      interceptors: demoClientInterceptors({ metrics, a66, env: { TOKEN: token } }),
    });
    reports.push(await runLoad(storm, { concurrency: 4, durationSeconds: 1.5, errorRate: 0, faultRate: 1 }));
    storm.close();

    // The probe, from a client of its own (its own breaker and throttle, fresh after the storm). One
    // call first, scraped on both sides, so the A66 series exist before the counted calls: a
    // counter's first sample is where rate() starts, and the exporter adds a series at its first call.
    // Its own subject, so its own full token bucket: 22 calls fit in the burst of 30.
    const probeToken = mintToken(loadConfig({}).jwt, {
      subject: 'probe',
      scope: 'users:read users:write',
      ttlSeconds: 60,
    });
    const probe = userClient({
      address: demo.address,
      interceptors: demoClientInterceptors({ a66, env: { TOKEN: probeToken } }),
    });
    const created = await call<object, { id: string }>(probe, 'CreateUser', {
      name: 'Probe',
      email: `probe-${Date.now()}@example.com`,
    });
    probeUser = created.id;
    const probeCall = async () => {
      const started = performance.now();
      await call(probe, 'UpdateUser', probeRequest(probeUser));
      probeSeconds.push((performance.now() - started) / 1000);
    };
    const probeCounts = async (count: number) => {
      const [server, client] = await Promise.all([
        prometheus.query(`grpc_server_call_duration_count{grpc_method="${PROBE_METHOD}"}`),
        prometheus.query(`grpc_client_call_duration_count{grpc_method="${PROBE_METHOD}"}`),
      ]);
      return server[0]?.value[1] === String(count) && client[0]?.value[1] === String(count);
    };
    await probeCall();
    await waitUntil('the first probe call to be scraped on both sides', () => probeCounts(1));
    for (let i = 0; i < PROBE_CALLS; i++) await probeCall();
    probe.close();
    await waitUntil('the probe calls to be scraped on both sides', () => probeCounts(PROBE_CALLS + 1));
    // Scrapes and rule evaluations after the load. rate() extrapolates a series to the ends of its
    // window by up to half a scrape interval: over 5 s of samples that is at most ~30% more.
    await waitUntil('5 s of probe samples', async () => {
      const samples = await prometheus.query(
        `count_over_time(grpc_server_call_duration_count{grpc_method="${PROBE_METHOD}"}[1m])`,
      );
      return Number(samples[0]?.value[1]) >= 6;
    });
  }, 90_000);

  afterAll(async () => {
    await prometheus?.stop();
    await clientServer?.close();
    await a66Client?.close();
    await demo?.shutdown();
  });

  interface RuleGroup {
    name: string;
    rules: { type: string; name: string; query: string; health: string; lastError?: string }[];
  }
  const ruleGroups = async (): Promise<RuleGroup[]> => {
    const res = await fetch(`${prometheus.url}/api/v1/rules`);
    return ((await res.json()) as { data: { groups: RuleGroup[] } }).data.groups;
  };

  it('evaluates every SLO recording rule to data for the demo service, every window, and every SLO rule is healthy', async () => {
    const slo = (await ruleGroups()).filter((g) => g.name.startsWith('weft-slo')).flatMap((g) => g.rules);
    expect(slo.filter((r) => r.type === 'alerting').map((r) => r.name)).toEqual([
      'GrpcSLOErrorBudgetBurnFast',
      'GrpcSLOErrorBudgetBurnSlow',
    ]);
    expect(slo.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.lastError}`)).toEqual([]);
    const empty: string[] = [];
    for (const name of new Set(slo.filter((r) => r.type === 'recording').map((r) => r.name))) {
      for (const objective of ['availability', 'latency']) {
        const q = `${name}{slo="${objective}", grpc_service="weft.demo.v1.UserService"}`;
        if ((await prometheus.query(q)).length === 0) empty.push(q);
      }
    }
    expect(empty).toEqual([]);
  });

  it('returns data for every dashboard panel query', async () => {
    const queries = dashboardQueries();
    expect(queries.length).toBeGreaterThan(20);
    expect(queries.filter((q) => q.dashboard.includes('A66')).length).toBeGreaterThanOrEqual(19);
    expect(queries.filter((q) => q.expr.includes('$')).map((q) => q.expr)).toEqual([]);
    const empty: string[] = [];
    for (const q of queries) {
      const result = await prometheus.query(q.expr);
      if (result.length === 0) empty.push(`${q.dashboard} / ${q.panel}`);
    }
    expect(empty).toEqual([]);
  });

  it("balancing row: the demo's one replica has the whole call share, and its load reports saw the load", async () => {
    const server = dashboards().find((d) => d.uid === 'weft-grpc-server');
    const panel = (title: string) => {
      const found = server?.panels.find((p) => p.title === title);
      expect(found, title).toBeDefined();
      return (found?.targets ?? []).map((t) => allValues(t.expr));
    };
    const [share] = panel('Call share by replica');
    const shares = await prometheus.query(share as string);
    expect(shares.map((r) => Number(r.value[1]))).toEqual([1]);
    // The reports come every second from loadReporting; the load ran for seconds at many calls/s.
    const [calls] = panel('Reported calls and errors / s by replica');
    const busiest = await prometheus.query(`max_over_time((${calls})[2m:1s])`);
    expect(Number(busiest[0]?.value[1])).toBeGreaterThan(1);
  });

  it('finds values for every template variable of every dashboard', async () => {
    const empty: string[] = [];
    for (const dashboard of dashboards()) {
      for (const variable of dashboard.templating.list.filter((v) => v.type === 'query')) {
        // label_values(selector, label) is what Grafana asks the series API; count by (label) the same.
        const m = /^label_values\((.*), (\w+)\)$/.exec(variable.query ?? '');
        expect(m, `${dashboard.title} $${variable.name}: ${variable.query}`).not.toBeNull();
        const [, selector, label] = m as RegExpExecArray;
        const values = await prometheus.query(`count by (${label}) (${allValues(selector as string)})`);
        if (values.filter((v) => v.metric[label as string] !== undefined).length === 0)
          empty.push(`${dashboard.title} $${variable.name}: ${variable.query}`);
      }
    }
    expect(empty).toEqual([]);
  });

  describe('the A66 dashboard against the calls the test made', () => {
    interface Row {
      grpc_method?: string;
      grpc_status?: string;
      value: number;
    }
    const series = async (expr: string): Promise<Row[]> =>
      (await prometheus.query(expr)).map((r) => ({
        grpc_method: r.metric.grpc_method,
        grpc_status: r.metric.grpc_status,
        value: Number(r.value[1]),
      }));
    const probeOf = (rows: Row[]): Row => {
      const found = rows.filter((r) => r.grpc_method === PROBE_METHOD);
      expect(found.length, PROBE_METHOD).toBe(1);
      return found[0] as Row;
    };
    /** rate() over 1m of the probe's increase of PROBE_CALLS, extrapolated by at most ~30%. */
    const expectProbeRate = (perSecond: number) => {
      expect(perSecond * 60).toBeGreaterThanOrEqual(PROBE_CALLS * 0.99);
      expect(perSecond * 60).toBeLessThanOrEqual(PROBE_CALLS * 1.35);
    };

    it('rate panels: the probe calls, OK, on both sides; every status the load saw on the client', async () => {
      const [server] = a66Panel('Server call rate by method and status');
      const serverRows = await series(server as string);
      expectProbeRate(probeOf(serverRows.filter((r) => r.grpc_status === 'OK')).value);
      expect(serverRows.filter((r) => r.grpc_method === PROBE_METHOD).map((r) => r.grpc_status)).toEqual([
        'OK',
      ]);
      // Every status the server answered a load call with, as A66 names it (the load reports the
      // same names; a series even at rate 0 when all its calls came before its first scrape).
      // Deadlines and cancellations can be the transport's, unseen by the server: not counted.
      const serverStatuses = new Set(serverRows.map((r) => r.grpc_status));
      const answered = new Set(reports.flatMap((report) => Object.keys(report.codes)));
      for (const code of ['DEADLINE_EXCEEDED', 'CANCELLED']) answered.delete(code);
      expect(answered.size).toBeGreaterThanOrEqual(4);
      for (const code of answered) expect(serverStatuses, code).toContain(code);

      const [client] = a66Panel('Client call rate by method and status');
      const clientRows = await series(client as string);
      expectProbeRate(probeOf(clientRows.filter((r) => r.grpc_status === 'OK')).value);
      // Every status a load call ended with reached the call-level instrument (outside retry).
      const statuses = new Set(clientRows.map((r) => r.grpc_status));
      for (const report of reports)
        for (const code of Object.keys(report.codes)) expect(statuses).toContain(code);
      const [started] = a66Panel('Server calls started / s by method');
      expectProbeRate(probeOf(await series(started as string)).value);
    });

    it('latency panels: the probe quantiles within the slowest probe call the test timed', async () => {
      const ceiling = bucketAbove(Math.max(...probeSeconds));
      const quantiles = async (title: string) => {
        const out: number[] = [];
        for (const expr of a66Panel(title)) out.push(probeOf(await series(expr)).value);
        return out;
      };
      const [serverP50, serverP99] = await quantiles('Server latency p50 / p99 (grpc.server.call.duration)');
      const [callP50, callP99, attemptP50, attemptP99] = await quantiles(
        'Client call vs attempt duration p50 / p99',
      );
      for (const [p50, p99] of [
        [serverP50, serverP99],
        [callP50, callP99],
        [attemptP50, attemptP99],
      ] as [number, number][]) {
        expect(p50).toBeGreaterThan(0);
        expect(p50).toBeLessThanOrEqual(p99);
        // No probe call took longer than the test's own timing of it, which encloses both sides.
        expect(p99).toBeLessThanOrEqual(ceiling);
      }
    });

    // clientDeadline copies the call options before the attempt level runs: attempts must still be
    // linked to their call (they were not, once: 2 attempts per call, and no A96 retries).
    it('attempts and retries: exactly 1 attempt per probe call; A96 retries only for the retried calls', async () => {
      const [perMethod] = a66Panel('Attempts per call by method');
      const rows = await series(perMethod as string);
      expect(probeOf(rows).value).toBe(1);
      // GetUser: attempts per call near 1, not exactly. Its retries (the load's injected faults,
      // asserted through A96 below) add attempts, while calls the load's breaker or throttle refuse
      // locally are calls without one, and the two counters are read at different moments of a
      // call: one CI run read 0.997.
      const getUser = rows.find((r) => r.grpc_method === 'weft.demo.v1.UserService/GetUser');
      expect(getUser?.value).toBeGreaterThan(0.9);
      expect(getUser?.value).toBeLessThan(2);
      const [retries] = a66Panel(RETRIES_PANEL);
      const retried = await series(retries as string);
      // The panel shows GetUser (its rate may already be 0: the load's retries can fall outside the
      // rate window by now), and the load's injected faults were retried: A96 counted them.
      expect(retried.find((r) => r.grpc_method === 'weft.demo.v1.UserService/GetUser')).toBeDefined();
      const total = await series('sum by (grpc_method) (grpc_client_call_retries_sum)');
      expect(total.find((r) => r.grpc_method === 'weft.demo.v1.UserService/GetUser')?.value).toBeGreaterThan(
        0,
      );
      // A96 records retries only for calls that had some.
      expect(retried.filter((r) => r.grpc_method === PROBE_METHOD)).toEqual([]);
    });

    it('size panels: the probe request, byte for byte, received by the server and sent by the client', async () => {
      const service = loadUserProto().proto.weft.demo.v1.UserService.service;
      const requestBytes = service.UpdateUser.requestSerialize(probeRequest(probeUser)).length;
      const [serverRcvd, serverSent] = a66Panel('Server bytes per call: received and sent');
      const [clientSent, clientRcvd] = a66Panel('Client bytes per attempt: sent and received');
      expect(probeOf(await series(serverRcvd as string)).value).toBeCloseTo(requestBytes, 6);
      expect(probeOf(await series(clientSent as string)).value).toBeCloseTo(requestBytes, 6);
      // Every field of the answer is set, so the server's bytes and the client's re-encoding agree.
      const sent = probeOf(await series(serverSent as string)).value;
      expect(sent).toBeGreaterThan(requestBytes);
      expect(probeOf(await series(clientRcvd as string)).value).toBeCloseTo(sent, 6);
    });
  });

  it('evaluates every recording rule to data, and every rule is healthy', async () => {
    // The SLO groups (slo.yml) have their own test below.
    const rules = (await ruleGroups()).filter((g) => !g.name.startsWith('weft-slo')).flatMap((g) => g.rules);
    expect(rules.filter((r) => r.type === 'recording').length).toBe(6);
    expect(rules.filter((r) => r.type === 'alerting').length).toBe(4);
    expect(rules.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.lastError}`)).toEqual([]);
    const empty: string[] = [];
    for (const rule of rules.filter((r) => r.type === 'recording')) {
      if ((await prometheus.query(rule.query)).length === 0) empty.push(`${rule.name}: ${rule.query}`);
      if ((await prometheus.query(rule.name)).length === 0) empty.push(`${rule.name} (recorded series)`);
    }
    expect(empty).toEqual([]);
  });
});
