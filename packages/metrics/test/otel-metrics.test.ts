import { AggregationTemporality, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Harness, startHarness, unary } from '../../../test/harness';
import { otelClientMetrics, otelServerMetrics } from '../src/index';

class TestReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

describe('OpenTelemetry RPC metrics', () => {
  const reader = new TestReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness({
      serverInterceptors: [otelServerMetrics({ meterProvider })],
      clientInterceptors: [otelClientMetrics({ meterProvider })],
    });
    await unary(harness.client, {});
    await unary(harness.client, {});
    await unary(harness.client, { failCode: 5 }, {}, 'Fail');
  });
  afterAll(() => harness.close());

  it('records rpc.server.call.duration and rpc.client.call.duration in seconds by method and code', async () => {
    const { resourceMetrics } = await reader.collect();
    const metrics = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
    for (const side of ['server', 'client']) {
      const metric = metrics.find((m) => m.descriptor.name === `rpc.${side}.call.duration`);
      expect(metric?.descriptor.unit).toBe('s');
      const points = metric?.dataPoints ?? [];
      const ok = points.find((p) => p.attributes['rpc.method'] === 'Unary');
      expect(ok?.attributes).toEqual({
        'rpc.system': 'grpc',
        'rpc.service': 'weft.test.TestService',
        'rpc.method': 'Unary',
        'rpc.grpc.status_code': 0,
      });
      expect((ok?.value as { count: number } | undefined)?.count).toBe(2);
      const failed = points.find((p) => p.attributes['rpc.method'] === 'Fail');
      expect(failed?.attributes['rpc.grpc.status_code']).toBe(5);
    }
  });
});

describe('OpenTelemetry RPC metrics: semantic-convention modes', () => {
  const OLD_OK = {
    'rpc.system': 'grpc',
    'rpc.service': 'weft.test.TestService',
    'rpc.method': 'Unary',
    'rpc.grpc.status_code': 0,
  };
  const NEW_OK = {
    'rpc.system.name': 'grpc',
    'rpc.method': 'weft.test.TestService/Unary',
    'rpc.status_code': 'OK',
  };
  const OLD_UNAVAILABLE = { ...OLD_OK, 'rpc.grpc.status_code': 14 };
  const NEW_UNAVAILABLE = { ...NEW_OK, 'rpc.status_code': 'UNAVAILABLE', 'error.type': 'UNAVAILABLE' };
  // NOT_FOUND is the caller's mistake: an error for the client, not for the server.
  const OLD_NOT_FOUND = { ...OLD_OK, 'rpc.grpc.status_code': 5 };
  const NEW_NOT_FOUND = { ...NEW_OK, 'rpc.status_code': 'NOT_FOUND' };
  const modes = {
    old: {
      ok: OLD_OK,
      unavailable: OLD_UNAVAILABLE,
      notFound: { server: OLD_NOT_FOUND, client: OLD_NOT_FOUND },
    },
    new: {
      ok: NEW_OK,
      unavailable: NEW_UNAVAILABLE,
      notFound: { server: NEW_NOT_FOUND, client: { ...NEW_NOT_FOUND, 'error.type': 'NOT_FOUND' } },
    },
    // Both sets; the old `rpc.method` value wins where the names collide.
    dup: {
      ok: { ...NEW_OK, ...OLD_OK },
      unavailable: { ...NEW_UNAVAILABLE, ...OLD_UNAVAILABLE },
      notFound: {
        server: { ...NEW_NOT_FOUND, ...OLD_NOT_FOUND },
        client: { ...NEW_NOT_FOUND, 'error.type': 'NOT_FOUND', ...OLD_NOT_FOUND },
      },
    },
  } as const;
  const cases = [
    { name: 'env unset', env: undefined, option: undefined, expected: 'old' },
    { name: 'env rpc', env: 'rpc', option: undefined, expected: 'new' },
    { name: 'env rpc/dup', env: 'rpc/dup', option: undefined, expected: 'dup' },
    { name: 'option new over env rpc/dup', env: 'rpc/dup', option: 'new', expected: 'new' },
    { name: 'option old over env rpc', env: 'rpc', option: 'old', expected: 'old' },
  ] as const;

  afterEach(() => vi.unstubAllEnvs());

  it.each(cases)('$name: one rpc.{side}.call.duration histogram in s with the mode attributes', async (c) => {
    vi.stubEnv('OTEL_SEMCONV_STABILITY_OPT_IN', c.env);
    const reader = new TestReader();
    const meterProvider = new MeterProvider({ readers: [reader] });
    const harness = await startHarness({
      serverInterceptors: [otelServerMetrics({ meterProvider, semconv: c.option })],
      clientInterceptors: [otelClientMetrics({ meterProvider, semconv: c.option })],
    });
    try {
      for (const failCode of [0, 14, 5]) await unary(harness.client, { failCode });
    } finally {
      await harness.close();
    }
    const { resourceMetrics } = await reader.collect();
    const metrics = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
    expect(metrics.map((m) => [m.descriptor.name, m.descriptor.unit]).sort()).toEqual([
      ['rpc.client.call.duration', 's'],
      ['rpc.server.call.duration', 's'],
    ]);
    const expected = modes[c.expected];
    for (const side of ['server', 'client'] as const) {
      const points = metrics.find((m) => m.descriptor.name === `rpc.${side}.call.duration`)?.dataPoints ?? [];
      expect(points.map((p) => p.attributes)).toEqual([
        expected.ok,
        expected.unavailable,
        expected.notFound[side],
      ]);
    }
  });
});
