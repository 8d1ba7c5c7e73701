import * as grpc from '@grpc/grpc-js';
import { OptionError } from '@weft/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type Harness, startHarness, unary } from '../../../test/harness';
import { encodeOrcaReport, type LoadReport, type LoadReporting, loadReporting } from '../src/index';
import { decodeReport, orcaClient, trailerReport } from './orca';

/** A clock and a CPU counter the test moves by hand. */
function fakeProcess() {
  const state = { now: 10_000, cpuMicros: 0 };
  return {
    state,
    now: () => state.now,
    cpuUsage: () => ({ user: state.cpuMicros, system: 0 }),
  };
}

// The reporter and the server of the running test, stopped after it.
let harness: Harness | undefined;
let load: LoadReporting | undefined;
afterEach(async () => {
  load?.close();
  await harness?.close();
  harness = undefined;
});

describe('loadReporting measures', () => {
  it('CPU utilization: process CPU time over the period, per core of the budget, at most 1', () => {
    const p = fakeProcess();
    load = loadReporting({ now: p.now, cpuUsage: p.cpuUsage, cpuCores: 2 });
    p.state.now += 1000;
    p.state.cpuMicros += 500_000; // half a core for a second, of a two-core budget
    expect(load.update().cpuUtilization).toBeCloseTo(0.25, 10);
    p.state.now += 500;
    p.state.cpuMicros += 2_000_000; // more CPU than the budget can give: GC threads, a wrong budget
    expect(load.update().cpuUtilization).toBe(1);
    // A clock that did not move measured nothing: the report stays.
    expect(load.update().cpuUtilization).toBe(1);
  });

  it('QPS and EPS of the calls through it; EPS counts only the server-fault codes', async () => {
    const p = fakeProcess();
    load = loadReporting({ now: p.now, cpuUsage: p.cpuUsage });
    harness = await startHarness({ serverInterceptors: [load] });
    const h = harness;
    await Promise.all([
      ...Array.from({ length: 30 }, () => unary(h.client, { message: 'ok' })),
      ...Array.from({ length: 10 }, () => unary(h.client, { failCode: grpc.status.UNAVAILABLE }, {}, 'Fail')),
      ...Array.from({ length: 4 }, () => unary(h.client, { failCode: grpc.status.INTERNAL }, {}, 'Fail')),
      // A caller's mistake is no fault of the replica's.
      ...Array.from({ length: 6 }, () => unary(h.client, { failCode: grpc.status.NOT_FOUND }, {}, 'Fail')),
    ]);
    p.state.now += 2000;
    const report = load.update();
    expect(report.qps).toBe(50 / 2);
    expect(report.eps).toBe(14 / 2);
    expect(report.inFlight).toBe(0);
    // A new period starts from zero.
    p.state.now += 1000;
    expect(load.update()).toMatchObject({ qps: 0, eps: 0 });
  });

  it('counts a call the client cancelled as a call, not as an error', async () => {
    const p = fakeProcess();
    load = loadReporting({
      now: p.now,
      cpuUsage: p.cpuUsage,
      maxInFlight: 4,
      applicationUtilization: 'inFlight',
    });
    harness = await startHarness({ serverInterceptors: [load] });
    const h = harness;
    const calls = Array.from({ length: 3 }, () => h.client.Sleep({ sleepMs: 30_000 }, () => {}));
    await vi.waitFor(() => expect(h.handled.get('Sleep')).toBe(3));
    p.state.now += 1000;
    const busy = load.update();
    expect(busy.inFlight).toBe(3);
    expect(busy.applicationUtilization).toBe(3 / 4);
    const ended = calls.map((call) => new Promise((resolve) => call.on('status', resolve)));
    for (const call of calls) call.cancel();
    await Promise.all(ended);
    // The server learns of the cancels a little later: periods of 1 s (fake) until it has.
    let calls1s = 0;
    let errors1s = 0;
    await vi.waitFor(() => {
      p.state.now += 1000;
      const report = load?.update();
      calls1s += report?.qps ?? 0;
      errors1s += report?.eps ?? 0;
      expect(report?.inFlight).toBe(0);
    });
    expect(calls1s).toBe(3);
    expect(errors1s).toBe(0);
    p.state.now += 1000;
    expect(load.update()).toMatchObject({ qps: 0, eps: 0, inFlight: 0 });
  });

  it('application utilization: CPU by default, the event loop, or a function of the sample', () => {
    const p = fakeProcess();
    load = loadReporting({ now: p.now, cpuUsage: p.cpuUsage });
    p.state.now += 1000;
    p.state.cpuMicros += 300_000;
    expect(load.update().applicationUtilization).toBeCloseTo(0.3, 10);
    load.close();

    load = loadReporting({ now: p.now, cpuUsage: p.cpuUsage, applicationUtilization: 'eventLoop' });
    // The event loop busy for ~100 ms of real time with nothing else to do: utilization near 1.
    const until = performance.now() + 100;
    while (performance.now() < until) {
      // burn
    }
    p.state.now += 100;
    const loop = load.update();
    expect(loop.eventLoopUtilization).toBeGreaterThan(0.5);
    expect(loop.applicationUtilization).toBe(loop.eventLoopUtilization);
    load.close();

    const seen: number[] = [];
    load = loadReporting({
      now: p.now,
      cpuUsage: p.cpuUsage,
      applicationUtilization: (sample) => {
        seen.push(sample.cpuUtilization);
        return sample.cpuUtilization * 3;
      },
    });
    p.state.now += 1000;
    p.state.cpuMicros += 500_000;
    expect(load.update().applicationUtilization).toBeCloseTo(1.5, 10); // above 1: over capacity
    expect(seen).toEqual([0.5]);
    load.close();

    load = loadReporting({ now: p.now, cpuUsage: p.cpuUsage, applicationUtilization: () => Number.NaN });
    p.state.now += 1000;
    expect(load.update().applicationUtilization).toBe(0);
  });

  it('CPU utilization on the real clocks: what the process used of the wall time', () => {
    load = loadReporting();
    const wallStart = performance.now();
    const start = process.cpuUsage();
    // Burn 150 ms of CPU time (not of wall time: on a busy machine the wall time is longer).
    while (true) {
      const used = process.cpuUsage(start);
      if (used.user + used.system >= 150_000) break;
    }
    const used = process.cpuUsage(start);
    const truth = (used.user + used.system) / 1000 / (performance.now() - wallStart);
    const report = load.update();
    // The reporter's window is a little wider than the test's: the same share, give or take.
    expect(report.cpuUtilization).toBeGreaterThan(0.1);
    expect(Math.abs(report.cpuUtilization - Math.min(truth, 1))).toBeLessThan(0.1);
  });

  it('updates every updatePeriodMs and hands each report to onReport', () => {
    vi.useFakeTimers();
    try {
      const reports: LoadReport[] = [];
      const p = fakeProcess();
      load = loadReporting({
        now: p.now,
        cpuUsage: p.cpuUsage,
        updatePeriodMs: 250,
        onReport: (r) => reports.push(r),
      });
      p.state.cpuMicros += 100_000;
      p.state.now += 250;
      vi.advanceTimersByTime(249);
      expect(reports).toHaveLength(0);
      vi.advanceTimersByTime(1);
      expect(reports).toHaveLength(1);
      expect(reports[0]?.cpuUtilization).toBeCloseTo(0.4, 10);
      expect(load.current()).toBe(reports[0]);
      load.close();
      p.state.now += 1000;
      vi.advanceTimersByTime(1000);
      expect(reports).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('checks its options at setup', () => {
    expect(() => loadReporting({ updatePeriodMs: 0 })).toThrow(OptionError);
    expect(() => loadReporting({ applicationUtilization: 'memory' as 'cpu' })).toThrow(
      /applicationUtilization/,
    );
    expect(() => loadReporting({ applicationUtilization: 'inFlight' })).toThrow(/needs maxInFlight/);
    expect(() => loadReporting({ errorCodes: [99 as grpc.status] })).toThrow(/errorCodes/);
    expect(() => loadReporting({ minReportIntervalMs: 0 })).toThrow(/minReportIntervalMs/);
  });
});

describe('loadReporting sends', () => {
  /** A reporter whose next update reports cpu 0.5, QPS 20 and EPS 5 (over 2 s of fake time). */
  async function busyServer(options: { perCallReports?: boolean; serverOptions?: grpc.ServerOptions } = {}) {
    const p = fakeProcess();
    load = loadReporting({ now: p.now, cpuUsage: p.cpuUsage, perCallReports: options.perCallReports });
    const l = load;
    harness = await startHarness({
      serverInterceptors: [l],
      ...(options.serverOptions === undefined ? {} : { serverOptions: options.serverOptions }),
    });
    const h = harness;
    await Promise.all([
      ...Array.from({ length: 30 }, () => unary(h.client, { message: 'ok' })),
      ...Array.from({ length: 10 }, () => unary(h.client, { failCode: grpc.status.INTERNAL }, {}, 'Fail')),
    ]);
    p.state.now += 2000;
    p.state.cpuMicros += 1_000_000;
    l.update();
    return { harness: h, load: l };
  }

  it('the report in every call trailer (endpoint-load-metrics-bin), as protobuf decodes it', async () => {
    const { harness: h } = await busyServer({ perCallReports: true });
    const ok = await unary(h.client, { message: 'hi' });
    expect(trailerReport(ok.status.metadata)).toMatchObject({
      cpu_utilization: 0.5,
      application_utilization: 0.5,
      rps_fractional: 20,
      eps: 5,
    });
    // Failed calls carry it too (a replica failing fast must look loaded to weighted round robin).
    const failed = await unary(h.client, { failCode: grpc.status.UNAVAILABLE }, {}, 'Fail');
    expect(failed.status.code).toBe(grpc.status.UNAVAILABLE);
    expect(trailerReport(failed.status.metadata)?.rps_fractional).toBe(20);
  });

  it("merges with what a handler records when the server has grpc-js's per-call recording on", async () => {
    const p = fakeProcess();
    load = loadReporting({ now: p.now, cpuUsage: p.cpuUsage, perCallReports: true });
    const l = load;
    harness = await startHarness({
      serverInterceptors: [l],
      serverOptions: { 'grpc.server_call_metric_recording': 1 },
      handlers: {
        Unary(call, callback) {
          call.getMetricsRecorder().recordNamedMetric('cache_hits', 7);
          callback(null, { message: call.request.message });
        },
      },
    });
    p.state.now += 1000;
    p.state.cpuMicros += 250_000;
    l.update();
    const ok = await unary(harness.client, { message: 'hi' });
    expect(trailerReport(ok.status.metadata)).toMatchObject({
      cpu_utilization: 0.25,
      application_utilization: 0.25,
      named_metrics: { cache_hits: 7 },
    });
  });

  it('no trailer by default (perCallReports: false)', async () => {
    const { harness: h } = await busyServer();
    const ok = await unary(h.client, { message: 'hi' });
    expect(ok.status.code).toBe(grpc.status.OK);
    expect(ok.status.metadata.get('endpoint-load-metrics-bin')).toEqual([]);
  });

  it('the same report through the ORCA service, the first at once, then no faster than minReportIntervalMs', async () => {
    const p = fakeProcess();
    load = loadReporting({ now: p.now, cpuUsage: p.cpuUsage, minReportIntervalMs: 300 });
    const l = load;
    // addToServer must run before the server starts: a harness of its own with the service added.
    const server = new grpc.Server({ interceptors: [l] });
    l.addToServer(server);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, bound) =>
        e ? reject(e) : resolve(bound),
      ),
    );
    const client = orcaClient(`127.0.0.1:${port}`);
    try {
      p.state.now += 1000;
      p.state.cpuMicros += 600_000;
      l.update();
      // Asks for a report every millisecond.
      const asked = performance.now();
      const stream = client.StreamCoreMetrics({ report_interval: { seconds: 0, nanos: 1_000_000 } });
      const arrivals: { at: number; cpu: number }[] = [];
      await new Promise<void>((resolve, reject) => {
        stream.on('data', (report) => {
          arrivals.push({ at: performance.now(), cpu: report.cpu_utilization });
          if (arrivals.length === 2) resolve();
        });
        stream.on('error', reject);
      });
      // The ORCA stream, open now, is not a call in flight.
      p.state.now += 1000;
      expect(l.update().inFlight).toBe(0);
      stream.cancel();
      expect(arrivals.map((a) => a.cpu)).toEqual([0.6, 0.6]);
      // grpc-js alone would send the first one only after an interval (here the 300 ms floor).
      expect((arrivals[0]?.at ?? 0) - asked).toBeLessThan(250);
      const gap = (arrivals[1]?.at ?? 0) - (arrivals[0]?.at ?? 0);
      expect(gap).toBeGreaterThan(250); // a timer may fire a little early, never 300 times early
    } finally {
      client.close();
      server.forceShutdown();
    }
  });

  it('encodes reports as protobuf does (zero fields left out)', () => {
    const report = { cpu_utilization: 0.125, application_utilization: 1.5, rps_fractional: 1234.5, eps: 0 };
    expect(decodeReport(encodeOrcaReport(report))).toMatchObject(report);
    expect(
      encodeOrcaReport({ cpu_utilization: 0, application_utilization: 0, rps_fractional: 0, eps: 0 }),
    ).toHaveLength(0);
  });
});
