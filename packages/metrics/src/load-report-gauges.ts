import { check, resolveOptions } from '@weft/core';
import { Registry, type RegistryContentType } from 'prom-client';
import { ComputedFamily } from './computed-family';

/**
 * What `loadReportGauges` reads from a load report: the fields of `@weft/balancing`'s `LoadReport`,
 * typed here by shape so that @weft/metrics needs no @weft/balancing and @weft/balancing no
 * prom-client (either package works alone; the two meet only where `onReport` is passed).
 */
export interface LoadReportLike {
  /** Process CPU over the update period, a share of the `cpuCores` budget, 0..1. */
  readonly cpuUtilization: number;
  /** What the server reports as ORCA `application_utilization` (>= 0; above 1 is over capacity). */
  readonly applicationUtilization: number;
  /** Node's event-loop utilization over the period, 0..1. */
  readonly eventLoopUtilization: number;
  /** Calls in flight when the period ended. */
  readonly inFlight: number;
  /** Calls that ended during the period, per second (ORCA `rps_fractional`). */
  readonly qps: number;
  /** Calls that ended with an error code during the period, per second (ORCA `eps`). */
  readonly eps: number;
}

export interface LoadReportGaugesOptions {
  /** Registry to register on. Default: a new one, read it from `.registry`. */
  registry?: Registry<RegistryContentType>;
  /** Prepended to every metric name. Default `''`. */
  prefix?: string;
}

/** `loadReporting({ onReport })`'s callback, with the registry its gauges are on. */
export interface LoadReportGauges {
  (report: LoadReportLike): void;
  readonly registry: Registry<RegistryContentType>;
}

/** `loadReportGauges()` defaults. */
export const LOAD_REPORT_GAUGES_DEFAULTS: Readonly<LoadReportGaugesOptions> = Object.freeze({
  /** A new `Registry` per call. */
  registry: undefined,
  prefix: '',
});

/** The gauges: name (after the prefix), HELP, and the report field each one shows. */
export const LOAD_REPORT_GAUGES: readonly (readonly [string, string, keyof LoadReportLike])[] = Object.freeze(
  [
    [
      'weft_load_cpu_utilization',
      'CPU utilization in the last load report (ORCA cpu_utilization): process CPU time over the update period, as a share of the cpuCores budget, 0..1.',
      'cpuUtilization',
    ],
    [
      'weft_load_application_utilization',
      'Application utilization in the last load report (ORCA application_utilization, what weighted_round_robin divides QPS by); above 1 means over capacity.',
      'applicationUtilization',
    ],
    [
      'weft_load_event_loop_utilization',
      'Event-loop utilization of the process over the last load report period, 0..1.',
      'eventLoopUtilization',
    ],
    [
      'weft_load_in_flight_calls',
      'Calls in flight through loadReporting when the last load report was measured.',
      'inFlight',
    ],
    [
      'weft_load_calls_per_second',
      'Calls ended per second over the last load report period (ORCA rps_fractional).',
      'qps',
    ],
    [
      'weft_load_errors_per_second',
      "Calls ended per second with one of loadReporting's errorCodes over the last load report period (ORCA eps).",
      'eps',
    ],
  ],
);

/**
 * Prometheus gauges of a server's load reports: pass the result as `loadReporting`'s `onReport`
 * (`loadReporting({ onReport: loadReportGauges({ registry }) })`). Each report replaces the last;
 * the gauges read it when Prometheus scrapes, and have no sample before the first report (a
 * utilization of 0 would read as "idle", not "not measured yet"). No labels: Prometheus's
 * `instance` tells replicas apart.
 */
export function loadReportGauges(options?: LoadReportGaugesOptions): LoadReportGauges {
  const o = resolveOptions('loadReportGauges', LOAD_REPORT_GAUGES_DEFAULTS, options, {
    registry: check.object,
    prefix: check.string,
  });
  const registry = o.registry ?? new Registry();
  let last: LoadReportLike | undefined;
  for (const [name, help, field] of LOAD_REPORT_GAUGES) {
    new ComputedFamily(registry, `${o.prefix as string}${name}`, help, 'gauge', () =>
      last === undefined ? [] : [{ labels: {}, value: last[field] }],
    );
  }
  // The report is kept, not copied: @weft/balancing freezes each one and makes a new one per update.
  const onReport = (report: LoadReportLike): void => {
    last = report;
  };
  return Object.assign(onReport, { registry });
}
