import { OptionError } from '@weft/core';
import { Registry, type RegistryContentType } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { clientMetrics, loadReportGauges, serverMetrics, signalMetrics } from '../src/index';
import { parse, value } from './exposition';

const REPORT = Object.freeze({
  cpuUtilization: 0.42,
  applicationUtilization: 1.25,
  eventLoopUtilization: 0.375,
  inFlight: 7,
  qps: 123.5,
  eps: 2.25,
});

/** Every gauge, the report field it shows, and its HELP line as Prometheus reads it. */
const GAUGES: readonly [string, keyof typeof REPORT, string][] = [
  [
    'weft_load_cpu_utilization',
    'cpuUtilization',
    'CPU utilization in the last load report (ORCA cpu_utilization): process CPU time over the update period, as a share of the cpuCores budget, 0..1.',
  ],
  [
    'weft_load_application_utilization',
    'applicationUtilization',
    'Application utilization in the last load report (ORCA application_utilization, what weighted_round_robin divides QPS by); above 1 means over capacity.',
  ],
  [
    'weft_load_event_loop_utilization',
    'eventLoopUtilization',
    'Event-loop utilization of the process over the last load report period, 0..1.',
  ],
  [
    'weft_load_in_flight_calls',
    'inFlight',
    'Calls in flight through loadReporting when the last load report was measured.',
  ],
  [
    'weft_load_calls_per_second',
    'qps',
    'Calls ended per second over the last load report period (ORCA rps_fractional).',
  ],
  [
    'weft_load_errors_per_second',
    'eps',
    "Calls ended per second with one of loadReporting's errorCodes over the last load report period (ORCA eps).",
  ],
];

describe('loadReportGauges', () => {
  it('exports each field of the last report as an unlabelled gauge, with HELP and TYPE', async () => {
    const onReport = loadReportGauges();
    onReport(REPORT);
    const text = await onReport.registry.metrics();
    const samples = parse(text);
    for (const [name, field, help] of GAUGES) {
      expect(text, name).toContain(`# HELP ${name} ${help}\n# TYPE ${name} gauge\n`);
      expect(samples.filter((s) => s.name === name).map((s) => s.labels)).toEqual([{}]);
      expect(value(samples, name), name).toBe(REPORT[field]);
    }
    expect(samples).toHaveLength(GAUGES.length);
  });

  it('shows no sample before the first report, then always the latest one', async () => {
    const onReport = loadReportGauges();
    const before = await onReport.registry.metrics();
    expect(parse(before)).toEqual([]);
    for (const [name] of GAUGES) expect(before).toContain(`# TYPE ${name} gauge\n`);

    onReport(REPORT);
    onReport({ ...REPORT, qps: 0, cpuUtilization: 0.05, inFlight: 0 });
    const after = parse(await onReport.registry.metrics());
    expect(value(after, 'weft_load_calls_per_second')).toBe(0);
    expect(value(after, 'weft_load_cpu_utilization')).toBe(0.05);
    expect(value(after, 'weft_load_in_flight_calls')).toBe(0);
    expect(value(after, 'weft_load_errors_per_second')).toBe(REPORT.eps);
  });

  it('registers beside serverMetrics, clientMetrics and signalMetrics on one registry without a clash', async () => {
    const registry = new Registry();
    serverMetrics({ registry });
    clientMetrics({ registry });
    signalMetrics({ registry }).close();
    const onReport = loadReportGauges({ registry });
    expect(onReport.registry).toBe(registry);
    onReport(REPORT);
    const samples = parse(await registry.metrics());
    expect(value(samples, 'weft_load_application_utilization')).toBe(1.25);
    // None of them is in go-grpc-prometheus's namespace (grpc_server_*, grpc_client_*).
    for (const [name] of GAUGES) expect(name).toMatch(/^weft_load_/);
  });

  it('renders the same gauges in OpenMetrics', async () => {
    const registry = new Registry<RegistryContentType>();
    registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    loadReportGauges({ registry })(REPORT);
    const text = await registry.metrics();
    expect(text).toContain('# TYPE weft_load_calls_per_second gauge\nweft_load_calls_per_second 123.5\n');
    expect(text.trimEnd().endsWith('# EOF')).toBe(true);
  });

  it('puts the prefix in front of every name', async () => {
    const onReport = loadReportGauges({ prefix: 'shop_' });
    onReport(REPORT);
    const names = parse(await onReport.registry.metrics()).map((s) => s.name);
    expect(names.sort()).toEqual(GAUGES.map(([name]) => `shop_${name}`).sort());
  });

  it('refuses options that cannot work at setup', () => {
    expect(() => loadReportGauges({ prefix: 3 as unknown as string })).toThrow(OptionError);
    expect(() => loadReportGauges({ registry: 'default' as unknown as Registry })).toThrow(OptionError);
    // A second set on one registry would be a duplicate family: prom-client refuses it.
    const registry = new Registry();
    loadReportGauges({ registry });
    expect(() => loadReportGauges({ registry })).toThrow(/already been registered/);
  });
});
