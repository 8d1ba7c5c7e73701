import { CODE_NAMES, type MethodInfo } from '@weft/core';
import type { Registry, RegistryContentType } from 'prom-client';
import { ComputedFamily, type MetricValue } from './computed-family';
import { type HistogramCells, Series } from './series';

export type Side = 'server' | 'client';

export interface FamilyOptions {
  registry: Registry<RegistryContentType>;
  prefix: string;
  buckets: readonly number[];
  constLabels: Readonly<Record<string, string>>;
  extraLabelNames: readonly string[];
  maxMethods: number;
  inFlight: boolean;
  handlingTimeByCode: boolean;
}

/** Label value for methods past the `maxMethods` bound. */
export const OTHER = 'other';

/**
 * The go-grpc-prometheus families of one side (`grpc_server_*` or `grpc_client_*`): started,
 * handled (by code), messages received and sent, handling seconds, and in-flight calls.
 */
export class GrpcFamilies {
  private readonly series = new Map<string, Series>();
  private readonly methods = new Set<string>();

  constructor(
    readonly side: Side,
    private readonly o: FamilyOptions,
  ) {
    const p = `${o.prefix}grpc_${side}_`;
    // go-grpc-prometheus's wording, word for word: "started on" both sides, but "completed on
    // the server" and "completed by the client" (pinned by test/help.test.ts).
    const what = side === 'server' ? 'on the server' : 'by the client';
    const family = (
      name: string,
      help: string,
      type: 'counter' | 'gauge' | 'histogram',
      values: (s: Series) => MetricValue[],
    ) => new ComputedFamily(o.registry, name, help, type, () => this.each(values));
    const counter = (name: string, help: string, read: (s: Series) => number) =>
      family(`${p}${name}_total`, help, 'counter', (s) => [{ labels: s.labels, value: read(s) }]);
    counter('started', `Total number of RPCs started on the ${side}.`, (s) => s.started);
    family(
      `${p}handled_total`,
      `Total number of RPCs completed ${what}, regardless of success or failure.`,
      'counter',
      handledValues,
    );
    counter(
      'msg_received',
      side === 'server'
        ? 'Total number of RPC stream messages received on the server.'
        : 'Total number of RPC stream messages received by the client.',
      (s) => s.msgReceived,
    );
    counter(
      'msg_sent',
      side === 'server'
        ? 'Total number of gRPC stream messages sent by the server.'
        : 'Total number of gRPC stream messages sent by the client.',
      (s) => s.msgSent,
    );
    const histogram = `${p}handling_seconds`;
    family(
      histogram,
      side === 'server'
        ? 'Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.'
        : 'Histogram of response latency (seconds) of the gRPC until it is finished by the application.',
      'histogram',
      (s) => histogramValues(histogram, s),
    );
    if (o.inFlight) {
      family(
        `${o.prefix}weft_${side}_in_flight_calls`,
        `gRPC calls started ${what} and not finished yet.`,
        'gauge',
        (s) => [{ labels: s.labels, value: s.inFlight() }],
      );
    }
  }

  private each(values: (s: Series) => MetricValue[]): MetricValue[] {
    const out: MetricValue[] = [];
    for (const s of this.series.values()) out.push(...values(s));
    return out;
  }

  /**
   * The series of a method (and extra label values). Past `maxMethods` distinct methods, new
   * ones share one `other` series, so no caller can grow the registry without bound.
   */
  seriesFor(method: MethodInfo, extra?: readonly string[]): Series {
    const key = extra === undefined ? method.path : `${method.path}\u0000${extra.join('\u0000')}`;
    let s = this.series.get(key);
    if (s !== undefined) return s;
    if (!this.methods.has(method.path) && method.service !== OTHER) {
      if (this.methods.size >= this.o.maxMethods) return this.seriesFor(otherMethod(method), extra);
      this.methods.add(method.path);
    }
    const labels: Record<string, string> = {
      ...this.o.constLabels,
      grpc_type: method.type,
      grpc_service: method.service,
      grpc_method: method.method,
    };
    this.o.extraLabelNames.forEach((name, i) => {
      labels[name] = extra?.[i] ?? '';
    });
    s = new Series(Object.freeze(labels), this.o.buckets, this.o.handlingTimeByCode);
    this.series.set(key, s);
    return s;
  }

  /** Creates the zero series of a method for every status code, as go-grpc-prometheus's InitializeMetrics. */
  initialize(method: MethodInfo): void {
    const s = this.seriesFor(method);
    s.codesSeen.fill(1);
    s.histogramFor(0); // by code: the OK histogram, the one latency SLOs read
  }
}

const otherMethods = new Map<string, MethodInfo>();
function otherMethod(method: MethodInfo): MethodInfo {
  let other = otherMethods.get(method.type);
  if (other === undefined) {
    other = Object.freeze({
      path: `/${OTHER}/${OTHER}:${method.type}`,
      fullMethod: `${OTHER}/${OTHER}`,
      service: OTHER,
      method: OTHER,
      type: method.type,
    });
    otherMethods.set(method.type, other);
  }
  return other;
}

function handledValues(s: Series): MetricValue[] {
  const out: MetricValue[] = [];
  for (let code = 0; code < 17; code++) {
    if (s.codesSeen[code] === 1) {
      out.push({
        labels: { ...s.labels, grpc_code: CODE_NAMES[code] ?? 'Unknown' },
        value: s.handled[code] ?? 0,
      });
    }
  }
  return out;
}

function histogramValues(name: string, s: Series): MetricValue[] {
  if (s.byCode === undefined) return cellValues(name, s.labels, s);
  const out: MetricValue[] = [];
  s.byCode.forEach((cells, code) => {
    if (cells !== undefined) {
      out.push(...cellValues(name, { ...s.labels, grpc_code: CODE_NAMES[code] ?? 'Unknown' }, cells));
    }
  });
  return out;
}

function cellValues(
  name: string,
  labels: Readonly<Record<string, string>>,
  s: HistogramCells,
): MetricValue[] {
  const out: MetricValue[] = [];
  let cumulative = 0;
  s.bounds.forEach((bound, i) => {
    cumulative += s.buckets[i] ?? 0;
    out.push({
      labels: { ...labels, le: bound },
      value: cumulative,
      metricName: `${name}_bucket`,
      exemplar: s.exemplars[i] ?? null,
    });
  });
  const last = s.bounds.length;
  out.push({
    labels: { ...labels, le: '+Inf' },
    value: s.count,
    metricName: `${name}_bucket`,
    exemplar: s.exemplars[last] ?? null,
  });
  out.push({ labels, value: s.sum, metricName: `${name}_sum` });
  out.push({ labels, value: s.count, metricName: `${name}_count` });
  return out;
}
