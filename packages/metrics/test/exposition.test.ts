import { request } from 'node:http';
import { signals } from '@weft/core';
import { serverTracing } from '@weft/tracing';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness, unary } from '../../../test/harness';
import { setupOtel } from '../../tracing/test/otel';
import { type MetricsServer, serverMetrics, signalMetrics, startMetricsServer } from '../src/index';
import { parse, value } from './exposition';

function get(url: string, accept?: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: accept ? { accept } : {} }, (res) => {
      let body = '';
      res.on('data', (chunk) => {
        body += chunk;
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

const OPENMETRICS = 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5';

describe('metrics endpoint', () => {
  const registry = new Registry();
  let harness: Harness;
  let server: MetricsServer;
  let traceIds: string[];

  beforeAll(async () => {
    const otel = setupOtel();
    harness = await startHarness({
      serverInterceptors: [serverTracing({ tracerProvider: otel.provider }), serverMetrics({ registry })],
    });
    server = await startMetricsServer({ registry, port: 0, collectDefaultMetrics: true });
    for (let i = 0; i < 3; i++) await unary(harness.client, {});
    traceIds = otel.spans().map((s) => s.spanContext().traceId);
  });
  afterAll(async () => {
    await harness.close();
    await server.close();
  });

  it('serves Prometheus text by default, without exemplars', async () => {
    const res = await get(server.url);
    expect(res.status).toBe(200);
    expect(res.type).toContain('text/plain');
    expect(value(parse(res.body), 'grpc_server_started_total', { grpc_method: 'Unary' })).toBe(3);
    expect(res.body).not.toContain('trace_id');
    expect(res.body).toContain('process_cpu_seconds_total');
  });

  it('serves OpenMetrics with trace exemplars on latency buckets when asked', async () => {
    const res = await get(server.url, OPENMETRICS);
    expect(res.type).toContain('application/openmetrics-text');
    expect(res.body.endsWith('# EOF\n')).toBe(true);
    const samples = parse(res.body.replace('# EOF\n', ''));
    const exemplars = samples.filter((s) => s.name === 'grpc_server_handling_seconds_bucket' && s.exemplar);
    expect(exemplars.length).toBeGreaterThan(0);
    const id = /trace_id="([0-9a-f]{32})"/.exec(exemplars[0]?.exemplar ?? '')?.[1];
    expect(traceIds).toContain(id);
    expect(value(samples, 'grpc_server_started_total', { grpc_method: 'Unary' })).toBe(3);
  });

  it('keeps the _total names in text after an OpenMetrics scrape', async () => {
    await get(server.url, OPENMETRICS);
    const text = (await get(server.url)).body;
    expect(text).toContain('grpc_server_handled_total{');
    expect(text).toContain('process_cpu_seconds_total ');
  });

  it('answers /healthz and 404 elsewhere', async () => {
    const base = server.url.replace('/metrics', '');
    expect((await get(`${base}/healthz`)).status).toBe(200);
    expect((await get(`${base}/nope`)).status).toBe(404);
  });
});

describe('signalMetrics', () => {
  it("counts weft's own signals with bounded labels", async () => {
    const metrics = signalMetrics({ maxSeries: 2 });
    const method = {
      path: '/p.S/M',
      fullMethod: 'p.S/M',
      service: 'p.S',
      method: 'M',
      type: 'unary',
    } as const;
    try {
      signals.authFailure.publish({ method, reason: 'expired', code: 16 });
      signals.authFailure.publish({ method, reason: 'expired', code: 16 });
      signals.limitRejection.publish({ method, limiter: 'rate', rule: 'per-subject', keyClass: 'subject' });
      signals.retryAttempt.publish({ method, attempt: 2, code: 14 });
      signals.retryThrottled.publish({ method, target: 'dns:///users' });
      signals.breakerTransition.publish({
        target: 'dns:///users',
        method: 'p.S/M',
        from: 'closed',
        to: 'open',
      });
      signals.breakerRejection.publish({ target: 'dns:///users', method });
      signals.limitShadowed.publish({ method, limiter: 'rate', rule: 'trial', keyClass: 'subject' });
      signals.limitNearLimit.publish({ method, limiter: 'rate', rule: 'per-subject', keyClass: 'subject' });
      signals.throttleRejection.publish({ target: 'dns:///users', method });
      for (let i = 0; i < 5; i++) signals.retryThrottled.publish({ method, target: `t${i}` });
    } finally {
      metrics.close();
    }
    signals.authFailure.publish({ method, reason: 'expired', code: 16 }); // after close: not counted
    const s = parse(await metrics.registry.metrics());
    expect(
      value(s, 'weft_auth_failures_total', {
        reason: 'expired',
        grpc_code: 'Unauthenticated',
        grpc_method: 'M',
      }),
    ).toBe(2);
    expect(
      value(s, 'weft_limit_rejections_total', { limiter: 'rate', rule: 'per-subject', key_class: 'subject' }),
    ).toBe(1);
    expect(value(s, 'weft_retry_attempts_total', { grpc_code: 'Unavailable' })).toBe(1);
    expect(value(s, 'weft_circuit_breaker_state', { state: 'open' })).toBe(1);
    expect(value(s, 'weft_circuit_breaker_state', { state: 'closed' })).toBe(0);
    expect(value(s, 'weft_circuit_breaker_transitions_total', { from: 'closed', to: 'open' })).toBe(1);
    expect(value(s, 'weft_circuit_breaker_rejections_total', { target: 'dns:///users' })).toBe(1);
    expect(value(s, 'weft_limit_shadow_rejections_total', { rule: 'trial', key_class: 'subject' })).toBe(1);
    expect(value(s, 'weft_limit_near_limit_total', { rule: 'per-subject', grpc_method: 'M' })).toBe(1);
    expect(
      value(s, 'weft_client_throttle_rejections_total', { target: 'dns:///users', grpc_method: 'M' }),
    ).toBe(1);
    // maxSeries 2: the first two targets keep their names, the rest are `other`.
    const throttled = s.filter((x) => x.name === 'weft_retry_throttled_total');
    expect(throttled.map((x) => x.labels.target)).toEqual(['dns:///users', 't0', 'other']);
    expect(value(s, 'weft_retry_throttled_total', { target: 'other' })).toBe(4);
  });
});
