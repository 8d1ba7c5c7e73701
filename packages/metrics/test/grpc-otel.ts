/** An in-memory OpenTelemetry MeterProvider for the gRFC A66 tests, and lookups on what it collected. */
import type { MeterProvider as ApiMeterProvider, Attributes, Meter, MetricOptions } from '@opentelemetry/api';
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
  readonly meterProvider: ApiMeterProvider;
  /**
   * Every instrument created, with its options: the SDK exports an instrument only once it has a
   * data point, and some (A96's hedges) never get one.
   */
  readonly created: Map<string, { kind: 'counter' | 'histogram'; options: MetricOptions | undefined }>;
  /** Every metric collected now, by name. */
  collect(): Promise<Map<string, MetricData>>;
}

export function testMeters(): TestMeters {
  const reader = new TestReader();
  const sdk = new MeterProvider({ readers: [reader] });
  const created: TestMeters['created'] = new Map();
  const meterProvider: ApiMeterProvider = {
    getMeter(name, version, options) {
      const meter = sdk.getMeter(name, version, options);
      const watched: Meter = Object.create(meter);
      watched.createHistogram = (n, o) => {
        created.set(n, { kind: 'histogram', options: o });
        return meter.createHistogram(n, o);
      };
      watched.createCounter = (n, o) => {
        created.set(n, { kind: 'counter', options: o });
        return meter.createCounter(n, o);
      };
      return watched;
    },
  };
  return {
    meterProvider,
    created,
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
