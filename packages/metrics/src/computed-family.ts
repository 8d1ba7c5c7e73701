import { Registry, type RegistryContentType } from 'prom-client';
import type { Exemplar } from './series';

/** What prom-client's registry reads from a metric when it formats a scrape. */
export interface MetricValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
  exemplar?: Exemplar | null;
}

interface MetricData {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  values: MetricValue[];
  aggregator: 'sum';
}

/**
 * A metric family computed at scrape time and registered on a prom-client `Registry` like any
 * other metric: the registry keys it by `name` and formats what `get()` returns.
 *
 * A counter is named `x_total` (go-grpc-prometheus' name, and the family name in Prometheus
 * text), but OpenMetrics names the family `x` and only its samples `x_total`. prom-client 15
 * gets there by renaming every counter in place (`metric.name = 'x'`) when it renders
 * OpenMetrics, and never renames it back, so a text scrape after that one says `x`. So a
 * family here never changes its `name` (the setter ignores the rename) and instead chooses
 * the family name in `get()` from its registry's `contentType`, the format the registry is
 * rendering; the registry appends `_total` to counter samples itself in OpenMetrics.
 */
export class ComputedFamily {
  readonly aggregator = 'sum';
  /** The OpenMetrics family name: a counter's name without `_total`. */
  private readonly openMetricsName: string;

  constructor(
    private readonly registry: Registry<RegistryContentType>,
    private readonly textName: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
    private readonly collect: () => MetricValue[],
    private readonly onReset: () => void = () => {},
  ) {
    this.openMetricsName = type === 'counter' ? textName.replace(/_total$/, '') : textName;
    registry.registerMetric(this as never);
  }

  /** The name the family is registered (and found with `getSingleMetric`) under. */
  get name(): string {
    return this.textName;
  }

  /** Ignored: prom-client's OpenMetrics rendering assigns `x` to counters named `x_total`. */
  set name(_renamed: string) {}

  async get(): Promise<MetricData> {
    const openMetrics = this.registry.contentType === Registry.OPENMETRICS_CONTENT_TYPE;
    return {
      name: openMetrics ? this.openMetricsName : this.textName,
      help: this.help,
      type: this.type,
      values: this.collect(),
      aggregator: 'sum',
    };
  }

  /** `registry.resetMetrics()`. */
  reset(): void {
    this.onReset();
  }
}

/**
 * A counter with labels, rendered by a `ComputedFamily` (so it keeps its name in either
 * format). For weft's rare events (signals), not for per-call paths.
 */
export class LabelledCounter {
  private readonly values = new Map<string, { labels: Record<string, string>; value: number }>();

  constructor(registry: Registry<RegistryContentType>, name: string, help: string) {
    new ComputedFamily(
      registry,
      name,
      help,
      'counter',
      () => Array.from(this.values.values(), (v) => ({ labels: v.labels, value: v.value })),
      () => this.values.clear(),
    );
  }

  /** Adds one to the series of `labels` (keyed by their values, in the order given). */
  inc(labels: Record<string, string>): void {
    const key = Object.values(labels).join('\u0000');
    const series = this.values.get(key);
    if (series === undefined) this.values.set(key, { labels: { ...labels }, value: 1 });
    else series.value++;
  }
}
