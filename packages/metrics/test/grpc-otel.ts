/** An in-memory OpenTelemetry MeterProvider for the gRFC A66 tests, and lookups on what it collected. */
import type { Attributes } from '@opentelemetry/api';
import {
  AggregationTemporality,
  type Histogram,
  MeterProvider,
  type MetricData,
  MetricReader,
} from '@opentelemetry/sdk-metrics';

class TestReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

export interface TestMeters {
  readonly meterProvider: MeterProvider;
  /** Every metric collected now, by name. */
  collect(): Promise<Map<string, MetricData>>;
}

export function testMeters(): TestMeters {
  const reader = new TestReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  return {
    meterProvider,
    async collect() {
      const { resourceMetrics } = await reader.collect();
      const out = new Map<string, MetricData>();
      for (const scope of resourceMetrics.scopeMetrics)
        for (const m of scope.metrics) out.set(m.descriptor.name, m);
      return out;
    },
  };
}

const sameAttributes = (a: Attributes, b: Attributes) =>
  Object.keys(a).length === Object.keys(b).length && Object.entries(b).every(([k, v]) => a[k] === v);

/** The data point with exactly these attributes, or undefined. */
export function point(metric: MetricData | undefined, attributes: Attributes) {
  return metric?.dataPoints.find((p) => sameAttributes(p.attributes, attributes));
}

/** A histogram point's value (count, sum, boundaries), or undefined. */
export function histogramAt(metric: MetricData | undefined, attributes: Attributes): Histogram | undefined {
  return point(metric, attributes)?.value as Histogram | undefined;
}

/** A counter point's value, or undefined. */
export function counterAt(metric: MetricData | undefined, attributes: Attributes): number | undefined {
  return point(metric, attributes)?.value as number | undefined;
}
