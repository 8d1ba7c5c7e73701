import { request } from 'node:http';
import { Registry, type RegistryContentType } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Harness, startHarness, unary } from '../../../test/harness';
import {
  clientMetrics,
  type MetricsServer,
  serverMetrics,
  signalMetrics,
  startMetricsServer,
} from '../src/index';

const TEXT = Registry.PROMETHEUS_CONTENT_TYPE;
const OPENMETRICS = Registry.OPENMETRICS_CONTENT_TYPE;
const ACCEPT_OPENMETRICS = 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5';

/** weft's counters, by their text (go-grpc-prometheus) names. */
const COUNTERS = [
  'grpc_server_started_total',
  'grpc_server_handled_total',
  'grpc_server_msg_received_total',
  'grpc_server_msg_sent_total',
  'grpc_client_started_total',
  'grpc_client_handled_total',
  'grpc_client_msg_received_total',
  'grpc_client_msg_sent_total',
];

/** `# TYPE` lines (family name -> type) and the set of sample names of an exposition. */
function families(body: string): { types: Map<string, string>; samples: Set<string> } {
  const types = new Map<string, string>();
  const samples = new Set<string>();
  for (const line of body.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type !== null) types.set(type[1] as string, type[2] as string);
    else if (line !== '' && !line.startsWith('#')) samples.add(/^[^{ ]+/.exec(line)?.[0] as string);
  }
  return { types, samples };
}

/** Prometheus text: the family and its samples are both named `x_total`; no `x` anywhere. */
function expectText(body: string): void {
  expect(body.endsWith('# EOF\n')).toBe(false);
  const { types, samples } = families(body);
  for (const name of COUNTERS) {
    expect(types.get(name), name).toBe('counter');
    expect(samples.has(name), name).toBe(true);
    const bare = name.replace(/_total$/, '');
    expect(types.has(bare), bare).toBe(false);
    expect(samples.has(bare), bare).toBe(false);
  }
  expect(types.get('grpc_server_handling_seconds')).toBe('histogram');
  expect(body).toMatch(/^grpc_server_started_total\{[^}]*grpc_method="Unary"[^}]*\} 1$/m);
}

/** OpenMetrics: the counter family is `x`, its samples `x_total` (never `x_total_total`). */
function expectOpenMetrics(body: string): void {
  expect(body.endsWith('# EOF\n')).toBe(true);
  const { types, samples } = families(body);
  for (const name of COUNTERS) {
    const bare = name.replace(/_total$/, '');
    expect(types.get(bare), bare).toBe('counter');
    expect(types.has(name), name).toBe(false);
    expect(samples.has(name), name).toBe(true);
    expect(samples.has(bare), bare).toBe(false);
  }
  expect(body).not.toContain('_total_total');
  expect(types.get('grpc_server_handling_seconds')).toBe('histogram');
  expect(body).toMatch(/^grpc_server_started_total\{[^}]*grpc_method="Unary"[^}]*\} 1$/m);
}

function get(url: string, accept?: string): Promise<{ type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: accept ? { accept } : {} }, (res) => {
      let body = '';
      res.on('data', (chunk) => {
        body += chunk;
      });
      res.on('end', () => resolve({ type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A registry of the given content type with weft's server and client families and one call counted. */
async function setup(contentType: RegistryContentType) {
  const registry = new Registry<RegistryContentType>();
  registry.setContentType(contentType);
  const harness = await startHarness({
    serverInterceptors: [serverMetrics({ registry })],
    clientInterceptors: [clientMetrics({ registry })],
  });
  await unary(harness.client, {});
  const server = await startMetricsServer({ registry, port: 0 });
  return { registry, harness, server };
}

describe.each([
  ['an OpenMetrics registry', OPENMETRICS],
  ['a text registry', TEXT],
] as const)("weft's counters rendered by %s", (_, contentType) => {
  let registry: Registry<RegistryContentType>;
  let harness: Harness;
  let server: MetricsServer;
  beforeEach(async () => {
    ({ registry, harness, server } = await setup(contentType));
  });
  afterEach(async () => {
    await harness.close();
    await server.close();
  });

  /** Renders through the user's own `registry.metrics()`, in the given format. */
  const render = (type: RegistryContentType) => {
    registry.setContentType(type);
    return registry.metrics();
  };

  it("keep their names through the user's registry.metrics(): OpenMetrics, then text, then OpenMetrics", async () => {
    expectOpenMetrics(await render(OPENMETRICS));
    expectText(await render(TEXT));
    expectOpenMetrics(await render(OPENMETRICS));
    expectText(await render(TEXT));
  });

  it("keep their names through the user's registry.metrics(): text, then OpenMetrics, then text", async () => {
    expectText(await render(TEXT));
    expectOpenMetrics(await render(OPENMETRICS));
    expectText(await render(TEXT));
  });

  it("keep their names through weft's /metrics, negotiated by Accept, in both orders", async () => {
    registry.setContentType(contentType);
    const om = await get(server.url, ACCEPT_OPENMETRICS);
    expect(om.type).toBe(OPENMETRICS);
    expectOpenMetrics(om.body);
    const text = await get(server.url);
    expect(text.type).toBe(TEXT);
    expectText(text.body);
    expectOpenMetrics((await get(server.url, ACCEPT_OPENMETRICS)).body);
    // The handler leaves the registry's own format as it found it.
    expect(registry.contentType).toBe(contentType);
  });

  it("keep their names when weft's /metrics and the user's registry.metrics() alternate", async () => {
    registry.setContentType(contentType);
    expectText((await get(server.url)).body);
    expectOpenMetrics(await render(OPENMETRICS));
    expectText((await get(server.url)).body);
    expectOpenMetrics((await get(server.url, ACCEPT_OPENMETRICS)).body);
    expectText(await render(TEXT));
  });

  it('keep their names through getSingleMetricAsString in either format', async () => {
    registry.setContentType(OPENMETRICS);
    const om = await registry.getSingleMetricAsString('grpc_server_started_total');
    expect(om).toMatch(/^# TYPE grpc_server_started counter$/m);
    expect(om).toMatch(/^grpc_server_started_total\{/m);
    registry.setContentType(TEXT);
    const text = await registry.getSingleMetricAsString('grpc_server_started_total');
    expect(text).toMatch(/^# TYPE grpc_server_started_total counter$/m);
    expect(text).toMatch(/^grpc_server_started_total\{/m);
  });
});

describe("signalMetrics' counters", () => {
  it("keep their names through the user's registry.metrics() in OpenMetrics, then text", async () => {
    const registry = new Registry<RegistryContentType>();
    registry.setContentType(OPENMETRICS);
    const metrics = signalMetrics({ registry });
    metrics.close();
    const om = await registry.metrics();
    expect(om).toMatch(/^# TYPE weft_auth_failures counter$/m);
    registry.setContentType(TEXT);
    const text = await registry.metrics();
    expect(text).toMatch(/^# TYPE weft_auth_failures_total counter$/m);
    expect(text).toMatch(/^# TYPE weft_retry_attempts_total counter$/m);
    expect(text).not.toMatch(/^# TYPE weft_auth_failures counter$/m);
  });
});
