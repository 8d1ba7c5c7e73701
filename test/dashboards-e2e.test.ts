/**
 * The dashboards and rules against real data: the demo and a client with metrics are scraped by
 * a real Prometheus (Debian) running the repo's rules, while the load generator runs a mix with
 * errors, auth failures, limits and injected faults. Every PromQL expression of every dashboard
 * panel and every recording rule must return data: a query that returns nothing fails the build.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { clientMetrics, type MetricsServer, signalMetrics, startMetricsServer } from '@weft/metrics';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoClientInterceptors } from '../examples/user-service/src/client-interceptors';
import { loadConfig } from '../examples/user-service/src/config';
import { userClient } from '../examples/user-service/src/demo-client';
import { type RunningDemo, startDemo } from '../examples/user-service/src/demo-server';
import { runLoad } from '../examples/user-service/src/load-generator';
import { mintToken } from '../examples/user-service/src/tokens';
import { binary, type Prometheus, startPrometheus, waitUntil } from './harness/servers';

const root = join(__dirname, '..');
const prometheusBin = binary('prometheus', 'prometheus');

interface PanelQuery {
  dashboard: string;
  panel: string;
  expr: string;
}

/** Every target expression of every generated dashboard, with the variables set to "All". */
function dashboardQueries(): PanelQuery[] {
  const dir = join(root, 'grafana', 'dashboards');
  const out: PanelQuery[] = [];
  for (const file of readdirSync(dir)) {
    const dashboard = JSON.parse(readFileSync(join(dir, file), 'utf8')) as {
      title: string;
      panels: { title: string; targets?: { expr: string }[] }[];
    };
    for (const panel of dashboard.panels) {
      for (const target of panel.targets ?? []) {
        const expr = target.expr
          .replaceAll('$__rate_interval', '1m')
          .replace(/\$(job|instance|service|method|slo)\b/g, '.*');
        out.push({ dashboard: dashboard.title, panel: panel.title, expr });
      }
    }
  }
  return out;
}

describe.runIf(prometheusBin.run)('dashboards and rules against a real Prometheus', () => {
  let demo: RunningDemo;
  let clientServer: MetricsServer;
  let prometheus: Prometheus;

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
`,
      {
        'recording.yml': rules('recording.yml'),
        'alerts.yml': rules('alerts.yml'),
        'slo.yml': rules('slo.yml'),
      },
    );
    await waitUntil('both targets to be scraped', async () => {
      const up = await prometheus.query('sum(up)');
      return up[0]?.value[1] === '2';
    });

    const client = userClient({ address: demo.address, interceptors: demoClientInterceptors({ metrics }) });
    // A mix with every kind of failure the dashboards show...
    await runLoad(client, {
      concurrency: 8,
      durationSeconds: 4,
      errorRate: 0.2,
      authFailureRate: 0.1,
      faultRate: 0.05,
    });
    client.close();
    // ...then a storm of faults from another subject (its own, full bucket): retries, throttled
    // retries, and the breaker opens.
    const token = mintToken(loadConfig({}).jwt, { subject: 'storm', scope: 'users:read', ttlSeconds: 60 });
    const storm = userClient({
      address: demo.address,
      interceptors: demoClientInterceptors({ metrics, env: { TOKEN: token } }),
    });
    await runLoad(storm, { concurrency: 4, durationSeconds: 1.5, errorRate: 0, faultRate: 1 });
    storm.close();
    await new Promise((resolve) => setTimeout(resolve, 3000)); // scrapes and rule evaluations after the load
  }, 90_000);

  afterAll(async () => {
    await prometheus?.stop();
    await clientServer?.close();
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
    const empty: string[] = [];
    for (const q of queries) {
      const result = await prometheus.query(q.expr);
      if (result.length === 0) empty.push(`${q.dashboard} / ${q.panel}: ${q.expr}`);
    }
    expect(empty).toEqual([]);
  });

  it('evaluates every recording rule to data, and every rule is healthy', async () => {
    // The SLO groups (slo.yml) have their own test below.
    const rules = (await ruleGroups()).filter((g) => !g.name.startsWith('weft-slo')).flatMap((g) => g.rules);
    expect(rules.filter((r) => r.type === 'recording').length).toBe(6);
    expect(rules.filter((r) => r.type === 'alerting').length).toBe(5);
    expect(rules.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.lastError}`)).toEqual([]);
    const empty: string[] = [];
    for (const rule of rules.filter((r) => r.type === 'recording')) {
      if ((await prometheus.query(rule.query)).length === 0) empty.push(`${rule.name}: ${rule.query}`);
      if ((await prometheus.query(rule.name)).length === 0) empty.push(`${rule.name} (recorded series)`);
    }
    expect(empty).toEqual([]);
  });
});
