import { type CallContext, check, OptionError, resolveOptions } from '@weft/core';
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

/** `serverMetrics()` / `clientMetrics()` defaults. */
export const GRPC_METRICS_DEFAULTS: Readonly<GrpcMetricsOptions> = Object.freeze({
  /** A new `Registry`, made per interceptor (never prom-client's global one). */
  registry: undefined,
  buckets: DEFAULT_BUCKETS,
  /** Names exactly as go-grpc-prometheus. */
  prefix: '',
  constLabels: Object.freeze({}),
  contextLabels: Object.freeze([]),
  maxMethods: 1000,
  exemplars: true,
  inFlight: true,
  /** The histogram go-grpc-prometheus exports. */
  handlingTimeByCode: false,
});

/** A context label's defaults; `name` and `value` are required. */
export const CONTEXT_LABEL_DEFAULTS: Readonly<ContextLabel> = Object.freeze({
  name: undefined as unknown as string,
  value: undefined as unknown as ContextLabel['value'],
  maxValues: 50,
});

export function resolveMetricsOptions(
  interceptor: 'serverMetrics' | 'clientMetrics',
  options: GrpcMetricsOptions | undefined,
): ResolvedMetricsOptions {
  const o = resolveOptions(interceptor, GRPC_METRICS_DEFAULTS, options, {
    registry: check.object,
    buckets: (value) =>
      Array.isArray(value) && value.length > 0 && value.every((b) => Number.isFinite(b))
        ? undefined
        : 'must be finite numbers',
    prefix: check.string,
    constLabels: check.object,
    contextLabels: check.list,
    maxMethods: check.positiveInteger,
    exemplars: check.boolean,
    inFlight: check.boolean,
    handlingTimeByCode: check.boolean,
  });
  const buckets = [...new Set(o.buckets)].sort((a, b) => a - b);
  const contextLabels = (o.contextLabels as readonly ContextLabel[]).map(
    (label) =>
      resolveOptions(`${interceptor} contextLabels`, CONTEXT_LABEL_DEFAULTS, label, {
        name: check.nonEmptyString,
        value: (value) => (typeof value === 'function' ? undefined : 'is required: a function'),
        maxValues: check.positiveInteger,
      }) as Required<ContextLabel>,
  );
  const constLabels = o.constLabels as Readonly<Record<string, string>>;
  const names = [...Object.keys(constLabels), ...contextLabels.map((label) => label.name)];
  for (const name of names) {
    if (!LABEL_NAME.test(name) || RESERVED_LABELS.has(name) || name.startsWith('__')) {
      throw new OptionError(
        interceptor,
        'constLabels/contextLabels',
        'cannot use a reserved or invalid label name',
        name,
      );
    }
  }
  if (new Set(names).size !== names.length)
    throw new OptionError(
      interceptor,
      'constLabels/contextLabels',
      'must use each label name once',
      names.join(','),
    );
  return {
    registry: o.registry ?? new Registry(),
    prefix: o.prefix as string,
    buckets,
    constLabels,
    extraLabelNames: contextLabels.map((label) => label.name),
    contextLabels,
    maxMethods: o.maxMethods as number,
    exemplars: o.exemplars as boolean,
    inFlight: o.inFlight as boolean,
    handlingTimeByCode: o.handlingTimeByCode as boolean,
  };
}
