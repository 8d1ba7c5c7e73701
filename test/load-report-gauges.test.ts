/**
 * @weft/balancing's load reports as @weft/metrics's gauges, the one-line way the README shows
 * (`loadReporting({ onReport: loadReportGauges({ registry }) })`): real calls through a real server,
 * then the gauges as Prometheus scrapes them from `startMetricsServer` over HTTP. The two packages
 * know nothing of each other; this test is where their types and values must agree.
 */
import * as grpc from '@grpc/grpc-js';
import { type LoadReporting, loadReporting } from '@weft/balancing';
import { loadReportGauges, type MetricsServer, startMetricsServer } from '@weft/metrics';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { parse, value } from '../packages/metrics/test/exposition';
import { type Harness, startHarness, unary } from './harness';

let harness: Harness | undefined;
let load: LoadReporting | undefined;
let metricsServer: MetricsServer | undefined;
afterEach(async () => {
  load?.close();
  await harness?.close();
  await metricsServer?.close();
});

describe('loadReporting({ onReport: loadReportGauges({ registry }) })', () => {
  it('serves each report the server makes as gauges on /metrics', async () => {
    const clock = { now: 0, cpuMicros: 0 };
    const registry = new Registry();
    load = loadReporting({
      onReport: loadReportGauges({ registry }),
      now: () => clock.now,
      cpuUsage: () => ({ user: clock.cpuMicros, system: 0 }),
      applicationUtilization: 'inFlight',
      maxInFlight: 8,
    });
    harness = await startHarness({ serverInterceptors: [load] });
    metricsServer = await startMetricsServer({ registry, port: 0 });
    const scrape = async () => parse(await (await fetch(metricsServer?.url as string)).text());

    // Before the first report the families are there without samples.
    expect((await scrape()).filter((s) => s.name.startsWith('weft_load_'))).toEqual([]);

    const h = harness;
    await Promise.all([
      ...Array.from({ length: 12 }, () => unary(h.client, { message: 'ok' })),
      ...Array.from({ length: 4 }, () => unary(h.client, { failCode: grpc.status.UNAVAILABLE }, {}, 'Fail')),
    ]);
    clock.now += 2000;
    clock.cpuMicros += 500_000; // a quarter of a core over the two seconds
    const report = load.update();
    const samples = await scrape();
    expect(value(samples, 'weft_load_calls_per_second')).toBe(8);
    expect(value(samples, 'weft_load_errors_per_second')).toBe(2);
    expect(value(samples, 'weft_load_cpu_utilization')).toBe(0.25);
    expect(value(samples, 'weft_load_in_flight_calls')).toBe(0);
    expect(value(samples, 'weft_load_application_utilization')).toBe(0);
    expect(value(samples, 'weft_load_event_loop_utilization')).toBe(report.eventLoopUtilization);

    // The next report replaces the values: an idle period reads 0 calls per second.
    clock.now += 1000;
    load.update();
    expect(value(await scrape(), 'weft_load_calls_per_second')).toBe(0);
  });
});
