import { AggregationTemporality, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
