import type { CallContext } from '@weft/core';
import { Registry, type RegistryContentType } from 'prom-client';
import type { FamilyOptions } from './families';

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const RESERVED_LABELS = new Set(['grpc_type', 'grpc_service', 'grpc_method', 'grpc_code', 'le']);

/** go-grpc-prometheus's buckets (Prometheus' DefBuckets), in seconds. */
export const DEFAULT_BUCKETS: readonly number[] = Object.freeze([
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
]);

/** A label whose value comes from the per-call context (server side), e.g. a tenant. */
export interface ContextLabel {
  /** Label name, e.g. `tenant`. */
  name: string;
  /** Reads the value; `undefined` becomes an empty value. */
  value: (context: CallContext) => string | undefined;
  /** Distinct values kept; later ones are recorded as `other`. Default 50. */
  maxValues?: number;
}

export interface GrpcMetricsOptions {
  /** Registry to register on. Default: a new `Registry` (never prom-client's global one); read it from `.registry`. */
  registry?: Registry<RegistryContentType>;
  /** Histogram buckets of `grpc_*_handling_seconds`, in seconds. Default `DEFAULT_BUCKETS`. */
  buckets?: readonly number[];
  /** Prepended to every metric name. Default `''` (names exactly as go-grpc-prometheus). */
  prefix?: string;
  /** Labels added to every series. Default `{}`. */
  constLabels?: Readonly<Record<string, string>>;
  /** Server only: extra labels read from the per-call context, each with a bound on its values. Default `[]`. */
  contextLabels?: readonly ContextLabel[];
  /** Distinct methods tracked; further methods are recorded as service and method `other`. Default 1000. */
  maxMethods?: number;
  /** Attach the active trace's id as an exemplar to histogram observations (OpenMetrics). Default `true`. */
  exemplars?: boolean;
  /** Also export `weft_<side>_in_flight_calls`. Default `true`. */
  inFlight?: boolean;
  /**
   * Adds `grpc_code` to `grpc_<side>_handling_seconds`, so latency of successful calls alone can
   * be read (`{grpc_code="OK"}`, go-grpc-middleware #606). Multiplies the histogram's series by
   * the codes seen. Default `false`, the histogram go-grpc-prometheus exports.
   */
  handlingTimeByCode?: boolean;
}

export interface ResolvedMetricsOptions extends FamilyOptions {
  readonly contextLabels: readonly Required<ContextLabel>[];
  readonly exemplars: boolean;
}

export function resolveOptions(options: GrpcMetricsOptions): ResolvedMetricsOptions {
  const buckets = [...new Set(options.buckets ?? DEFAULT_BUCKETS)].sort((a, b) => a - b);
  if (buckets.length === 0 || buckets.some((b) => !Number.isFinite(b))) {
    throw new Error('weft/metrics: `buckets` must be finite numbers');
  }
  const contextLabels = (options.contextLabels ?? []).map((label) => ({ maxValues: 50, ...label }));
  const constNames = Object.keys(options.constLabels ?? {});
  const names = [...constNames, ...contextLabels.map((label) => label.name)];
  for (const name of names) {
    if (!LABEL_NAME.test(name) || RESERVED_LABELS.has(name) || name.startsWith('__')) {
      throw new Error(`weft/metrics: "${name}" cannot be a label name (invalid, or one weft sets itself)`);
    }
  }
  if (new Set(names).size !== names.length) throw new Error('weft/metrics: label names must be unique');
  return {
    registry: options.registry ?? new Registry(),
    prefix: options.prefix ?? '',
    buckets,
    constLabels: options.constLabels ?? {},
    extraLabelNames: contextLabels.map((label) => label.name),
    contextLabels,
    maxMethods: options.maxMethods ?? 1000,
    exemplars: options.exemplars ?? true,
    inFlight: options.inFlight ?? true,
    handlingTimeByCode: options.handlingTimeByCode ?? false,
  };
}
