import * as grpc from '@grpc/grpc-js';
import { jwtAuth } from '@weft/auth';
import {
  type AdaptiveConcurrencyState,
  type AdaptivePartitionState,
  type LimitRejection,
  OptionError,
  serverInterceptors,
  signals,
} from '@weft/core';
import jwt from 'jsonwebtoken';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type CallResult,
  type Harness,
  metadata,
  startHarness,
  type TestServiceHandlers,
  unary,
} from '../../../test/harness';
import { type AdaptiveConcurrencyOptions, adaptiveConcurrency } from '../src/index';

/**
 * A server whose Unary handler parks every call until the test releases it, and a fake clock the
 * limiter reads: a call's RTT is exactly what the test advanced the clock by while it was parked.
 */
class Rig {
  now = 0;
  readonly parked: (() => void)[] = [];
  private waiters: (() => void)[] = [];
  harness!: Harness;
  state!: AdaptiveConcurrencyState;

  async start(options: AdaptiveConcurrencyOptions, auth?: grpc.ServerInterceptor): Promise<this> {
    let announced: AdaptiveConcurrencyState | undefined;
    const capture = (s: AdaptiveConcurrencyState) => {
      announced = s;
    };
    signals.adaptiveConcurrency.subscribe(capture);
    const interceptor = adaptiveConcurrency({ ...options, now: () => this.now });
    signals.adaptiveConcurrency.unsubscribe(capture);
    this.state = announced as AdaptiveConcurrencyState;
    const handlers: Partial<TestServiceHandlers> = {
      Unary: (call, callback) => {
        this.parked.push(() => callback(null, { message: call.request.message, context: {} }));
        for (const w of this.waiters.splice(0)) w();
      },
    };
    this.harness = await startHarness({
      serverInterceptors:
        auth === undefined ? [interceptor] : serverInterceptors({ auth, concurrencyLimit: interceptor }),
      handlers,
    });
    return this;
  }

  /** Resolves once `n` calls are parked in the handler. */
  async parkedAtLeast(n: number): Promise<void> {
    while (this.parked.length < n) await new Promise<void>((r) => this.waiters.push(r));
  }

  /** Starts `n` calls (with `header` as their `x-priority`). */
  calls(n: number, priority?: string): Promise<CallResult>[] {
    const md = priority === undefined ? undefined : metadata({ 'x-priority': priority });
    return Array.from({ length: n }, () =>
      unary(this.harness.client, { message: 'x' }, md === undefined ? {} : { metadata: md }),
    );
  }

  /** Lets `ms` pass on the fake clock, then releases every parked call. */
  releaseAfter(ms: number): void {
    this.now += ms;
    for (const release of this.parked.splice(0)) release();
  }

  /** One round at full load: exactly `limit` calls in flight, each taking `rttMs`. */
  async round(rttMs: number): Promise<void> {
    const limit = this.state.limit;
    const calls = this.calls(limit);
    await this.parkedAtLeast(limit);
    this.releaseAfter(rttMs);
    const codes = (await Promise.all(calls)).map((r) => r.status.code);
    expect(codes).toEqual(codes.map(() => grpc.status.OK));
  }

  partition(name: string): AdaptivePartitionState {
    return this.state.partitions.find((p) => p.name === name) as AdaptivePartitionState;
  }
}

describe('adaptiveConcurrency', () => {
  // The tests of Gradient2's behaviour run it alone (`minRttProbe: false`, `updateInterval: 0`:
  // one update per call), as Netflix defines it; the probe's own tests, at the end, use the defaults.
  let rig: Rig | undefined;
  afterEach(async () => {
    rig?.releaseAfter(0);
    await rig?.harness.close();
    rig = undefined;
  });

  it('refuses calls over the limit with UNAVAILABLE and a pushback hint, before the handler runs', async () => {
    rig = await new Rig().start({
      minRttProbe: false,
      gradient2: { initialLimit: 3, minLimit: 3 },
      retryAfterMs: 250,
    });
    const admitted = rig.calls(3);
    await rig.parkedAtLeast(3);
    const refused = await Promise.all(rig.calls(2));
    for (const r of refused) {
      expect(r.status.code).toBe(grpc.status.UNAVAILABLE);
      expect(r.status.details).toBe('adaptive concurrency limit "adaptive" reached');
      expect(r.status.metadata.get('grpc-retry-pushback-ms')).toEqual(['250']);
    }
    expect(rig.parked).toHaveLength(3);
    expect(rig.state.inFlight).toBe(3);
    rig.releaseAfter(5);
    expect((await Promise.all(admitted)).map((r) => r.status.code)).toEqual([0, 0, 0]);
    expect(rig.state.inFlight).toBe(0);
    expect(rig.partition('all').rejections).toBe(2);
  });

  it('sends the long-term RTT as the pushback by default', async () => {
    rig = await new Rig().start({
      minRttProbe: false,
      gradient2: { initialLimit: 2, minLimit: 2, maxLimit: 2 },
    });
    await rig.round(140); // past the first 100 ms update interval: one update, at 140 ms
    const admitted = rig.calls(2);
    await rig.parkedAtLeast(2);
    const [refused] = await Promise.all(rig.calls(1));
    expect(refused?.status.metadata.get('grpc-retry-pushback-ms')).toEqual(['140']);
    rig.releaseAfter(40);
    await Promise.all(admitted);
  });

  it('raises the limit while latency stays low, lowers it when latency grows, and recovers', async () => {
    rig = await new Rig().start({
      minRttProbe: false,
      updateInterval: 0,
      gradient2: { initialLimit: 4, minLimit: 4, maxLimit: 40 },
    });
    const limits = [rig.state.limit];
    for (let i = 0; i < 12; i++) {
      await rig.round(10);
      limits.push(rig.state.limit);
    }
    // Each round is `limit` samples at 10 ms, the upper half of them saturated: +0.8 per sample.
    for (let i = 1; i < limits.length; i++) expect(limits[i]).toBeGreaterThanOrEqual(limits[i - 1] as number);
    const high = rig.state.limit;
    expect(high).toBeGreaterThanOrEqual(30);
    expect(rig.state.minRttSeconds).toBeCloseTo(0.01, 6);

    // Calls 100x slower: the gradient bottoms out at 0.5, so the limit falls to where
    // limit = 0.5 * limit + queueSize, i.e. 2 * queueSize = 8 (Gradient2's floor above minLimit).
    for (let i = 0; i < 8; i++) await rig.round(1000);
    expect(rig.state.sampleRttSeconds).toBeCloseTo(1, 6);
    expect(rig.state.limit).toBeLessThanOrEqual(8);

    for (let i = 0; i < 12; i++) await rig.round(10);
    expect(rig.state.limit).toBe(40);
  }, 60_000); // 32 rounds of up to 40 calls: seconds on a busy machine

  it('keeps the limit while less than half of it is in flight, however slow the calls', async () => {
    rig = await new Rig().start({
      minRttProbe: false,
      updateInterval: 0,
      gradient2: { initialLimit: 10, minLimit: 2 },
    });
    const alone = async (rttMs: number) => {
      const [call] = rig!.calls(1);
      await rig!.parkedAtLeast(1);
      rig!.releaseAfter(rttMs);
      await call;
    };
    for (let i = 0; i < 10; i++) await alone(10);
    for (let i = 0; i < 20; i++) await alone(1000);
    expect(rig.state.sampleRttSeconds).toBeCloseTo(1, 6);
    expect(rig.state.limit).toBe(10);
    // Proof that slow samples at load would have lowered it.
    await rig.round(1000);
    expect(rig.state.limit).toBeLessThan(10);
  });

  it('updates the limit once per update interval (100 ms), from the average RTT and the most calls in flight of its calls', async () => {
    const limits = async (updateInterval: number): Promise<[number, number]> => {
      rig = await new Rig().start({
        minRttProbe: false,
        updateInterval,
        gradient2: { initialLimit: 20, minLimit: 4, maxLimit: 60 },
      });
      // Ten rounds of 50 ms at full load. The calls of a round end at one instant of the fake
      // clock, and the first of them to end at or past the interval's end closes it (as in
      // Netflix's WindowedLimit): an interval closes every second round. Each update grows the
      // limit by smoothing x queueSize = 0.8.
      for (let i = 0; i < 10; i++) await rig.round(50);
      const grown = rig.state.limit;
      // Two rounds of calls 8x slower: the first closes an interval of fast calls and one slow
      // one; the second closes the interval of the slow calls, where the gradient is at its floor.
      await rig.round(400);
      await rig.round(400);
      const cut = rig.state.limit;
      await rig.harness.close();
      rig = undefined;
      return [grown, cut];
    };
    const [grown, cut] = await limits(100);
    expect(grown).toBe(24); // 5 updates: 20 + 5 x 0.8
    // 24.8 after the first slow round, then one cut: 0.8 x 24.8 + 0.2 x (0.5 x 24.8 + 4) = 23.12.
    expect(cut).toBe(23);
    // Per call (Gradient2 alone): 0.8 per call while fast, and one cut per slow call.
    const [grownPerCall, cutPerCall] = await limits(0);
    expect(grownPerCall).toBe(60);
    expect(cutPerCall).toBeLessThan(15);
  });

  it('gives each slot back exactly once, whether the call succeeds, is cancelled or times out', async () => {
    rig = await new Rig().start({
      minRttProbe: false,
      gradient2: { initialLimit: 2, minLimit: 2, maxLimit: 2 },
    });
    const { client } = rig.harness;
    for (let round = 0; round < 2; round++) {
      // Two calls the client gives up on while parked: a deadline and a cancel. The deadline is
      // long enough for both to be parked first on a busy machine (else nothing would cancel).
      const timedOut = unary(client, { message: 'x' }, { deadline: Date.now() + 1500 });
      const cancelled = new Promise<number>((resolve) => {
        const call = client.Unary({ message: 'x' }, () => {});
        call.on('status', (s) => resolve(s.code));
        void rig!.parkedAtLeast(2).then(() => call.cancel());
      });
      expect((await timedOut).status.code).toBe(grpc.status.DEADLINE_EXCEEDED);
      expect(await cancelled).toBe(grpc.status.CANCELLED);
      // The server learns of the cancels on its own schedule: wait for the slots to come back.
      while (rig.state.inFlight > 0) await new Promise((r) => setImmediate(r));
      rig.releaseAfter(1); // the parked handlers answer a closed call: no second release
      await rig.round(1);
    }
    expect(rig.state.inFlight).toBe(0);
    const admitted = rig.calls(2);
    await rig.parkedAtLeast(2);
    expect((await Promise.all(rig.calls(1)))[0]?.status.code).toBe(grpc.status.UNAVAILABLE);
    rig.releaseAfter(1);
    await Promise.all(admitted);
  });

  it('sheds the batch partition first once the limit is reached (shares guarantee, not cap)', async () => {
    const seen: LimitRejection[] = [];
    const listener = (m: LimitRejection) => seen.push(m);
    signals.limitRejection.subscribe(listener);
    try {
      rig = await new Rig().start({
        minRttProbe: false,
        gradient2: { initialLimit: 10, minLimit: 10, maxLimit: 10 },
        partitions: { live: 0.9, batch: 0.1 },
      });
      expect(rig.partition('live').limit).toBe(9);
      expect(rig.partition('batch').limit).toBe(1);
      expect(rig.partition('unknown').limit).toBe(1);
      // Batch may use the whole limit while there is room...
      const batch = rig.calls(10, 'batch');
      await rig.parkedAtLeast(10);
      // ...but once it is full, batch is refused and live still gets its 9.
      expect((await Promise.all(rig.calls(1, 'batch')))[0]?.status.code).toBe(grpc.status.UNAVAILABLE);
      const live = rig.calls(9, 'live');
      await rig.parkedAtLeast(19);
      expect((await Promise.all(rig.calls(1, 'live')))[0]?.status.code).toBe(grpc.status.UNAVAILABLE);
      // Calls without a listed partition share the `unknown` one, limit 1.
      const unknown = rig.calls(1, 'nightly');
      await rig.parkedAtLeast(20);
      expect((await Promise.all(rig.calls(1)))[0]?.status.code).toBe(grpc.status.UNAVAILABLE);
      expect(rig.state.inFlight).toBe(20);
      expect(rig.partition('batch').inFlight).toBe(10);
      rig.releaseAfter(1);
      await Promise.all([...batch, ...live, ...unknown]);
      expect(rig.partition('batch').rejections).toBe(1);
      expect(rig.partition('live').rejections).toBe(1);
      expect(rig.partition('unknown').rejections).toBe(1);
    } finally {
      signals.limitRejection.unsubscribe(listener);
    }
    expect(seen.map((s) => [s.limiter, s.rule, s.keyClass])).toEqual([
      ['concurrency', 'adaptive', 'partition'],
      ['concurrency', 'adaptive', 'partition'],
      ['concurrency', 'adaptive', 'partition'],
    ]);
  });

  it('partitions by the authenticated subject or a function', async () => {
    rig = await new Rig().start({
      minRttProbe: false,
      gradient2: { initialLimit: 2, minLimit: 2, maxLimit: 2 },
      partitions: { gold: 0.5, silver: 0.5 },
      partitionBy: (_context, md) => String(md.get('x-tier')[0]),
    });
    const tier = (t: string) =>
      unary(rig!.harness.client, { message: 'x' }, { metadata: metadata({ 'x-tier': t }) });
    const held = [tier('gold'), tier('silver')];
    await rig.parkedAtLeast(2);
    expect((await tier('gold')).status.code).toBe(grpc.status.UNAVAILABLE);
    expect(rig.partition('gold').rejections).toBe(1);
    expect(rig.partition('silver').rejections).toBe(0);
    rig.releaseAfter(1);
    await Promise.all(held);
  });

  it("partitions by jwtAuth's subject", async () => {
    const secret = 'adaptive-subject-test-secret-0123456789';
    const as = (sub: string) =>
      unary(
        rig!.harness.client,
        { message: 'x' },
        {
          metadata: metadata({
            authorization: `Bearer ${jwt.sign({ sub }, secret, { algorithm: 'HS256', expiresIn: 60 })}`,
          }),
        },
      );
    rig = await new Rig().start(
      {
        minRttProbe: false,
        gradient2: { initialLimit: 4, minLimit: 4, maxLimit: 4 },
        partitions: { checkout: 0.75, reports: 0.25 },
        partitionBy: 'subject',
      },
      jwtAuth({ keys: { secret }, algorithms: ['HS256'] }),
    );
    const held = [as('reports'), as('reports'), as('reports'), as('reports')];
    await rig.parkedAtLeast(4);
    expect((await as('reports')).status.code).toBe(grpc.status.UNAVAILABLE);
    const checkout = as('checkout');
    await rig.parkedAtLeast(5);
    expect(rig.partition('checkout').inFlight).toBe(1);
    expect(rig.partition('reports').rejections).toBe(1);
    rig.releaseAfter(1);
    await Promise.all([...held, checkout]);
  });

  describe('with its default baseline probe (Envoy-style minRTT measurement)', () => {
    /** `n` calls in rounds of at most `width` in flight, each taking `rttMs`: a light load. */
    const light = async (n: number, width: number, rttMs: number) => {
      for (let sent = 0; sent < n; sent += width) {
        const k = Math.min(width, n - sent);
        const calls = rig!.calls(k);
        await rig!.parkedAtLeast(k);
        rig!.releaseAfter(rttMs);
        expect((await Promise.all(calls)).map((r) => r.status.code)).toEqual(calls.map(() => grpc.status.OK));
      }
    };

    it('measures its baseline first, holding the limit at 3 until 25 calls have ended', async () => {
      rig = await new Rig().start({});
      expect(rig.state.limit).toBe(3);
      expect(rig.state.measuringBaseline).toBe(true);
      const held = rig.calls(3);
      await rig.parkedAtLeast(3);
      expect((await Promise.all(rig.calls(1)))[0]?.status.code).toBe(grpc.status.UNAVAILABLE);
      rig.releaseAfter(100);
      await Promise.all(held);
      await light(21, 3, 100);
      expect(rig.state.measuringBaseline).toBe(true);
      await light(1, 1, 100);
      expect(rig.state.measuringBaseline).toBe(false);
      expect(rig.state.baselineRttSeconds).toBeCloseTo(0.1, 6);
      // Gradient2's own limit again: its initial 20.
      expect(rig.state.limit).toBe(20);
    });

    it('keeps the limit down while calls stay 3x slower than the baseline, where Gradient2 alone climbs to maxLimit', async () => {
      rig = await new Rig().start({});
      await light(25, 3, 100);
      // Steady overload: every call now takes 300 ms, round after round. Gradient2 alone lets its
      // long-term average catch up (about 200 samples) and then grows the limit to 200; against
      // the measured 100 ms (+25% buffer) the gradient stays at its floor.
      const limits: number[] = [];
      for (let i = 0; i < 25; i++) {
        await rig.round(300);
        limits.push(rig.state.limit);
      }
      expect(Math.max(...limits)).toBe(20);
      expect(rig.state.baselineRttSeconds).toBeCloseTo(0.1, 6);
    }, 60_000);

    it('admits a burst up to the limit while nothing was refused, and paces admissions for one baseline after a refusal', async () => {
      for (const pacing of [1.25, 0]) {
        rig = await new Rig().start({
          gradient2: { initialLimit: 20, minLimit: 20, maxLimit: 20 },
          minRttProbe: { pacing },
        });
        await light(25, 3, 100); // baseline 100 ms
        const burst = rig.calls(20);
        await rig.parkedAtLeast(20);
        expect((await Promise.all(rig.calls(1)))[0]?.status.code).toBe(grpc.status.UNAVAILABLE);
        rig.releaseAfter(100);
        expect((await Promise.all(burst)).map((r) => r.status.code)).toEqual(burst.map(() => grpc.status.OK));
        // 100 ms after that refusal, 20 calls at once with 20 slots free: paced, the bucket (a tenth
        // of the limit) admits 2 and refuses the rest; unpaced, all 20 get in.
        const refused: number[] = [];
        const next = rig.calls(20).map((c) =>
          c.then((r) => {
            if (r.status.code !== grpc.status.OK) refused.push(r.status.code);
            return r;
          }),
        );
        // Every call either parked (admitted) or refused; then count.
        while (rig.parked.length + refused.length < 20) await new Promise((r) => setImmediate(r));
        expect(refused).toEqual(refused.map(() => grpc.status.UNAVAILABLE));
        expect(rig.parked).toHaveLength(pacing > 0 ? 2 : 20);
        if (pacing > 0) {
          // Refilled at 1.25 x 20 / 100 ms = 0.25 calls per ms: one more after 4 ms, not after 3.
          rig.now += 3;
          expect((await Promise.all(rig.calls(1)))[0]?.status.code).toBe(grpc.status.UNAVAILABLE);
          rig.now += 4;
          next.push(...rig.calls(1));
          await rig.parkedAtLeast(3);
        }
        rig.releaseAfter(100);
        await Promise.all(next);
        await rig.harness.close();
        rig = undefined;
      }
    });

    it('measures the baseline again once the interval (60 s, up to 10% jitter) has passed', async () => {
      // One update per call, so Gradient2's long-term average (600 updates) catches up in rounds.
      rig = await new Rig().start({ updateInterval: 0 });
      await light(25, 3, 100);
      rig.now += 59_000;
      await rig.round(300);
      expect(rig.state.measuringBaseline).toBe(false);
      rig.now += 7_000; // 66 s after the first measurement: due whatever the jitter drew
      await light(1, 1, 300);
      expect(rig.state.measuringBaseline).toBe(true);
      expect(rig.state.limit).toBe(3);
      await light(24, 3, 300);
      // The new normal (a dependency that stays at 300 ms) becomes the baseline, and the limit
      // grows again once Gradient2's own long-term average has caught up (about 120 samples).
      expect(rig.state.baselineRttSeconds).toBeCloseTo(0.3, 6);
      for (let i = 0; i < 12; i++) await rig.round(300);
      expect(rig.state.limit).toBeGreaterThan(30);
    }, 60_000);

    it("with one update per 100 ms, holds the limit at its floor after the new normal while Gradient2's long-term average (600 updates) catches up", async () => {
      rig = await new Rig().start({});
      await light(25, 3, 100);
      rig.now += 66_000;
      await light(25, 3, 300); // the next measurement: 300 ms is the new baseline
      expect(rig.state.baselineRttSeconds).toBeCloseTo(0.3, 6);
      // The same rounds that grow the limit past 30 with one update per call (the test above):
      // here every round is one update, and Gradient2's own gradient (1.5 x its long-term RTT,
      // still mostly 100 ms calls, over 300 ms) stays under 1.
      for (let i = 0; i < 12; i++) await rig.round(300);
      expect(rig.state.limit).toBe(20);
      expect(rig.state.minRttSeconds).toBeLessThan(0.2);
    }, 60_000);
  });

  it('rejects a negative or non-finite update interval at setup', () => {
    expect(() => adaptiveConcurrency({ updateInterval: -1 })).toThrow(OptionError);
    expect(() => adaptiveConcurrency({ updateInterval: Number.POSITIVE_INFINITY })).toThrow(OptionError);
    expect(() => adaptiveConcurrency({ updateInterval: 0 })).not.toThrow();
  });

  it('rejects bad partitions at setup', () => {
    expect(() => adaptiveConcurrency({ partitions: { live: 0.9, batch: 0.2 } })).toThrow(OptionError);
    expect(() => adaptiveConcurrency({ partitions: { live: -1 } })).toThrow(OptionError);
    expect(() => adaptiveConcurrency({ partitions: { unknown: 0.5 } })).toThrow(OptionError);
    expect(() => adaptiveConcurrency({ partitions: { a: 0.7, b: 0.2, c: 0.1 } })).not.toThrow();
  });
});
