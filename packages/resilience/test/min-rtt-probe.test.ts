import { OptionError } from '@weft/core';
import { describe, expect, it } from 'vitest';
import { Gradient2, MIN_RTT_PROBE_DEFAULTS, MinRttProbe } from '../src/index';

const UNBOUNDED = Number.POSITIVE_INFINITY;

/** Ends `n` calls, each admitted at `at` and taking `rtt`; returns the time after the last. */
function feed(probe: MinRttProbe, at: number, n: number, rtt: number | ((i: number) => number)): number {
  for (let i = 0; i < n; i++) probe.onSample(at, at + (typeof rtt === 'number' ? rtt : rtt(i)));
  return at + (typeof rtt === 'number' ? rtt : 0);
}

describe('MinRttProbe', () => {
  it("has Envoy's min_rtt_calc_params (interval and jitter as in Envoy's documented example, half its request_count)", () => {
    expect(MIN_RTT_PROBE_DEFAULTS).toEqual({
      interval: 60_000,
      jitter: 0.1,
      requestCount: 25,
      concurrency: 3,
      buffer: 0.25,
      window: 25,
      throughputFloor: 1,
      throughputCeiling: 2,
      pacing: 1.25,
    });
  });

  it('measures from the start: the limit is held at `concurrency` until `requestCount` calls ended', () => {
    const probe = new MinRttProbe({}, 0, () => 0);
    expect(probe.state).toBe('measuring');
    expect(probe.limitCap(0)).toBe(3);
    expect(probe.maxGradient).toBe(UNBOUNDED);
    for (let i = 0; i < 24; i++) expect(probe.onSample(i, i + 100)).toBe(false);
    expect(probe.limitCap(200)).toBe(3);
    expect(probe.onSample(60, 160)).toBe(true);
    expect(probe.state).toBe('waiting');
    expect(probe.limitCap(160)).toBe(UNBOUNDED);
    expect(probe.baseline).toBe(100);
    expect(probe.maxGradient).toBe(UNBOUNDED);
    expect(probe.measurements).toBe(1);
  });

  it('takes the median of the window, so a few slow calls do not move the baseline', () => {
    const probe = new MinRttProbe({ requestCount: 5 }, 0);
    feed(probe, 0, 5, (i) => [30, 10, 900, 20, 11][i] as number);
    expect(probe.baseline).toBe(20);
    const even = new MinRttProbe({ requestCount: 4 }, 0);
    feed(even, 0, 4, (i) => [10, 40, 20, 30][i] as number);
    expect(even.baseline).toBe(25);
  });

  it('ignores calls admitted before the measurement started (they ran at the old concurrency)', () => {
    const probe = new MinRttProbe({ requestCount: 2, interval: 1000, jitter: 0 }, 0);
    feed(probe, 0, 2, 10); // first measurement ends at 10; the next is due at 1010
    expect(probe.limitCap(1010)).toBe(3);
    expect(probe.onSample(900, 1200)).toBe(false); // admitted at 900, before the window opened
    expect(probe.onSample(1005, 1300)).toBe(false);
    expect(probe.state).toBe('measuring');
    expect(probe.onSample(1010, 1050)).toBe(false);
    expect(probe.onSample(1020, 1060)).toBe(true);
    expect(probe.baseline).toBe(40);
  });

  it('measures again after `interval` plus a random jitter of up to `jitter * interval`', () => {
    for (const [draw, due] of [
      [0, 60_100],
      [0.5, 63_100],
      [0.999, 66_094],
    ] as const) {
      const probe = new MinRttProbe({}, 0, () => draw);
      const ended = feed(probe, 0, 50, 100); // ends at 100
      expect(ended).toBe(100);
      expect(probe.limitCap(due - 1)).toBe(UNBOUNDED);
      expect(probe.state).toBe('waiting');
      expect(probe.limitCap(Math.ceil(due))).toBe(3);
      expect(probe.state).toBe('measuring');
      // The new measurement replaces the old baseline.
      feed(probe, Math.ceil(due), 50, 300);
      expect(probe.baseline).toBe(300);
      expect(probe.measurements).toBe(2);
    }
  });

  it("gives Envoy's gradient, baseline * 1.25 / the median of each window of 25 calls", () => {
    const probe = new MinRttProbe({}, 0);
    feed(probe, 0, 25, 100);
    // 24 calls of a window: no verdict yet.
    feed(probe, 1000, 24, 250);
    expect(probe.maxGradient).toBe(UNBOUNDED);
    feed(probe, 1000, 1, 250);
    expect(probe.sampleRtt).toBe(250);
    expect(probe.maxGradient).toBe(0.5);
    // A median: 12 very slow calls in a window of 25 do not count against the limit.
    feed(probe, 2000, 12, 5000);
    feed(probe, 2000, 13, 110);
    expect(probe.sampleRtt).toBe(110);
    expect(probe.maxGradient).toBeCloseTo(125 / 110, 12);
  });

  it('bounds Gradient2 so that a steady queue keeps the limit down', () => {
    // Gradient2 saturated at 300 ms after a baseline of 100 ms: alone it lets its long-term average
    // catch up and climbs to maxLimit; bounded by the probe (100 ms + 25%) it stays at minLimit.
    const alone = new Gradient2();
    const bounded = new Gradient2();
    const probe = new MinRttProbe({}, 0);
    for (let i = 0; i < 50; i++) {
      alone.onSample(100, 1);
      bounded.onSample(100, 1);
      probe.onSample(0, 100);
    }
    for (let i = 0; i < 2000; i++) {
      alone.onSample(300, alone.limit);
      probe.onSample(0, 300);
      bounded.onSample(300, bounded.limit, probe.maxGradient);
    }
    expect(alone.limit).toBe(200);
    expect(bounded.limit).toBe(20);
    // Within the buffer the limit grows again.
    for (let i = 0; i < 300; i++) {
      probe.onSample(0, 120);
      bounded.onSample(120, bounded.limit, probe.maxGradient);
    }
    expect(bounded.limit).toBe(200);
  });

  describe("its floor from Little's law (BBR's bandwidth-delay product)", () => {
    /**
     * A steady stream: a call admitted every `every` ms from `from`, each taking `rtt`, in time
     * order (each admission notes `delivered`, as the limiter does). Returns the time of the last end.
     */
    const steady = (probe: MinRttProbe, from: number, n: number, every: number, rtt: number): number => {
      const noted: number[] = [];
      let ended = 0;
      for (let i = 0; i < n; i++) {
        const at = from + i * every;
        while (ended < i && from + ended * every + rtt <= at) {
          probe.onSample(from + ended * every, from + ended * every + rtt, noted[ended]);
          ended++;
        }
        noted.push(probe.delivered);
      }
      for (; ended < n; ended++)
        probe.onSample(from + ended * every, from + ended * every + rtt, noted[ended]);
      return from + (n - 1) * every + rtt;
    };

    it('keeps the limit at or above the calls completed per baseline: rate x baseline', () => {
      const probe = new MinRttProbe({}, 0);
      feed(probe, 0, 25, 100); // baseline 100 ms
      expect(probe.limitFloor).toBe(0); // no rate before there is a baseline to multiply it with
      // One call every 2.5 ms, 100 ms each: 40 in flight, 0.4 calls per ms.
      steady(probe, 1000, 400, 2.5, 100);
      expect(probe.limitFloor).toBeCloseTo(40, 0);
      // Queued (150 ms each) at the same rate: still 40 needed to complete them without a queue.
      steady(probe, 3000, 400, 2.5, 150);
      expect(probe.limitFloor).toBeCloseTo(40, 0);
    });

    it('feeds Gradient2 the floor: the limit does not fall below it while latency is high', () => {
      const probe = new MinRttProbe({}, 0);
      const bounded = new Gradient2();
      feed(probe, 0, 25, 100);
      steady(probe, 1000, 400, 2.5, 100);
      for (let i = 0; i < 200; i++) {
        probe.onSample(2000, 2300, probe.delivered - 120); // 300 ms calls, 0.4 per ms still ending
        bounded.onSample(300, bounded.limit, probe.maxGradient, probe.limitFloor);
      }
      expect(probe.maxGradient).toBeCloseTo(125 / 300, 12);
      expect(bounded.limit).toBe(40);
      // The same without the floor: minLimit.
      const alone = new Gradient2();
      for (let i = 0; i < 200; i++) alone.onSample(300, alone.limit, probe.maxGradient);
      expect(alone.limit).toBe(20);
    });

    it('does not take a burst of completions for a rate: no interval shorter than the baseline', () => {
      const probe = new MinRttProbe({}, 0);
      feed(probe, 0, 25, 100);
      // A 2 ms call during which 9 others ended: 10 / 100 ms, not 10 / 2 ms (a floor of 500).
      probe.onSample(5000, 5002, probe.delivered - 9);
      expect(probe.limitFloor).toBe(10);
    });

    it('forgets a rate after 10 to 20 baselines, so a server that got slower lowers it', () => {
      const probe = new MinRttProbe({}, 0);
      feed(probe, 0, 25, 100);
      const end = steady(probe, 1000, 400, 2.5, 100); // 0.4 per ms until ~2100
      expect(probe.limitFloor).toBeCloseTo(40, 0);
      // Then one call every 10 ms: 0.1 per ms. Within 10 baselines (1 s) the old rate still counts...
      steady(probe, end, 80, 10, 100);
      expect(probe.limitFloor).toBeCloseTo(40, 0);
      // ...after 20 (2 s) only the new one does.
      steady(probe, end + 800, 200, 10, 100);
      expect(probe.limitFloor).toBeCloseTo(10, 0);
    });

    it("counts a call's rate from the last end its admission had seen (BBR's delivered_time), not from its admission", () => {
      const probe = new MinRttProbe({}, 0, () => 0);
      feed(probe, 0, 25, 100); // baseline 100 ms
      const noted = probe.delivered;
      // Admitted at 1100, the last call having ended at 1000; 39 others, admitted long before,
      // end as a batch at 1190 (grpc-js ends a batch of unary calls together, at their write)...
      for (let i = 0; i < 39; i++) probe.onSample(0, 1190, probe.delivered - 1, 0);
      // ...and it ends at 1200: 40 ends in the 200 ms since 1000 (0.2 per ms), where counting
      // from its admission would read 40 in 100 ms, twice the rate the server has.
      probe.onSample(1100, 1200, noted, 1000);
      expect(probe.maxRate).toBeCloseTo(0.2, 3);
      expect(probe.limitFloor).toBeCloseTo(20, 1);
    });

    it('keeps the rate through idle time and through a baseline measurement: its window counts round trips, not time', () => {
      const probe = new MinRttProbe({}, 0, () => 0);
      feed(probe, 0, 25, 100);
      const end = steady(probe, 1000, 400, 2.5, 100);
      expect(probe.maxRate).toBeCloseTo(0.4, 2);
      // 30 s without a call: no round trip passed, no evidence that the server changed.
      const after = end + 30_000;
      steady(probe, after, 3, 50, 100);
      expect(probe.maxRate).toBeCloseTo(0.4, 2);
      // A measurement due (60 s after the first, at most 66 s): 25 calls 3 at a time, about 9
      // round trips of 100 ms at a rate the limiter held down; the window (10 to 20 round trips)
      // outlasts it, as BBR's outlasts its ProbeRTT.
      expect(probe.limitCap(after + 70_000)).toBe(3);
      let at = after + 70_000;
      for (let i = 0; i < 25; i += 1) {
        probe.onSample(at, at + 100, probe.delivered - 2);
        if (i % 3 === 2) at += 100;
      }
      expect(probe.state).toBe('waiting');
      expect(probe.measurements).toBe(2);
      expect(probe.maxRate).toBeCloseTo(0.4, 2);
      expect(probe.limitFloor).toBeCloseTo(40, 0);
    });

    it("keeps the limit at or below twice that (BBR's cwnd_gain), however fast the calls are", () => {
      const probe = new MinRttProbe({}, 0);
      feed(probe, 0, 25, 100);
      steady(probe, 1000, 400, 2.5, 100);
      expect(probe.limitCeiling).toBeCloseTo(80, 0);
      // Calls at the baseline: the gradient is 1 and Gradient2 alone would grow to maxLimit.
      const bounded = new Gradient2();
      const alone = new Gradient2();
      for (let i = 0; i < 500; i++) {
        bounded.onSample(100, bounded.limit, probe.maxGradient, probe.limitFloor, probe.limitCeiling);
        alone.onSample(100, alone.limit, probe.maxGradient, probe.limitFloor);
      }
      expect(bounded.limit).toBe(80);
      expect(alone.limit).toBe(200);
      // Never below minLimit, and the floor wins over a ceiling set below it.
      const slow = new Gradient2();
      for (let i = 0; i < 100; i++) slow.onSample(100, slow.limit, 1, 0, 5);
      expect(slow.limit).toBe(20);
      const crossed = new Gradient2();
      for (let i = 0; i < 100; i++) crossed.onSample(100, crossed.limit, 1, 50, 30);
      expect(crossed.limit).toBe(50);
    });

    it('is scaled by throughputFloor and throughputCeiling, each off at 0', () => {
      const probe = new MinRttProbe({ throughputFloor: 0.5, throughputCeiling: 3 }, 0);
      feed(probe, 0, 25, 100);
      steady(probe, 1000, 400, 2.5, 100);
      expect(probe.limitFloor).toBeCloseTo(20, 0);
      expect(probe.limitCeiling).toBeCloseTo(120, 0);
      const off = new MinRttProbe({ throughputFloor: 0, throughputCeiling: 0 }, 0);
      feed(off, 0, 25, 100);
      steady(off, 1000, 400, 2.5, 100);
      expect(off.limitFloor).toBe(0);
      expect(off.limitCeiling).toBe(Number.POSITIVE_INFINITY);
    });

    it('is scaled by throughputFloor, and off at 0', () => {
      for (const [factor, floor] of [
        [0.5, 20],
        [0, 0],
      ] as const) {
        const probe = new MinRttProbe({ throughputFloor: factor }, 0);
        feed(probe, 0, 25, 100);
        steady(probe, 1000, 400, 2.5, 100);
        expect(probe.limitFloor).toBeCloseTo(floor, 0);
      }
    });
  });

  it('rejects settings it cannot use, naming the option', () => {
    expect(() => new MinRttProbe({ requestCount: 0 }, 0)).toThrow(OptionError);
    expect(() => new MinRttProbe({ concurrency: 1.5 }, 0)).toThrow(/concurrency/);
    expect(() => new MinRttProbe({ jitter: 2 }, 0)).toThrow(/jitter/);
    expect(() => new MinRttProbe({ interval: 0 }, 0)).toThrow(/interval/);
    expect(() => new MinRttProbe({ buffer: -0.1 }, 0)).toThrow(/buffer/);
    expect(() => new MinRttProbe({ window: 0 }, 0)).toThrow(/window/);
    expect(() => new MinRttProbe({ throughputFloor: -1 }, 0)).toThrow(/throughputFloor/);
    expect(() => new MinRttProbe({ throughputCeiling: 0.5 }, 0)).toThrow(/throughputCeiling/);
    expect(() => new MinRttProbe({ throughputCeiling: 0, throughputFloor: 3 }, 0)).not.toThrow();
    expect(() => new MinRttProbe({ pacing: -1 }, 0)).toThrow(/pacing/);
  });
});
