/**
 * `clientDeadline({ fromLatency })`: a call's timeout from the measured latency of its method
 * (issue 20, part 4). Real servers over sockets; where the exact latency matters, the handlers
 * advance a fake clock (the interceptor's `now`) by the request's `sleepMs` instead of sleeping, so
 * every measured latency is exact and no test waits for time to pass. The deadlines are real, so a
 * call that must succeed after warm-up gets a fake latency that makes its timeout >= ~200 ms of real
 * time, which the (fast) real call never reaches.
 */
import * as grpc from '@grpc/grpc-js';
import { clientInterceptors, DEFAULT_METHOD_CACHE_SIZE, defineClientInterceptor } from '@weft/core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Harness,
  type HarnessOptions,
  serverStream,
  startHarness,
  type TestServiceHandlers,
  unary,
} from '../../../test/harness';
import {
  type ClientDeadlineOptions,
  clientDeadline,
  deadlineMs,
  type LatencyTimeoutOptions,
  retry,
  serverDeadline,
} from '../src/index';

/** The top of a latency's histogram bucket is at most this much above it (8 buckets per doubling). */
const BUCKET = 2 ** (1 / 8);
/**
 * ms that may pass between `clientDeadline` setting a deadline and the recorder below it reading
 * the clock (the same synchronous call setup, so 0 or 1 ms; more only if a GC pause hits).
 */
const SLACK = 5;

/** One call as a layer below `clientDeadline` saw it: the deadline it carries and when. */
interface Seen {
  deadline: number;
  timeout: number;
}

/** A client interceptor that records the deadline each call (or attempt) leaves with. */
function recordDeadlines(into: Seen[]): grpc.Interceptor {
  return defineClientInterceptor((options, nextCall) => {
    const deadline = deadlineMs(options.deadline);
    into.push({ deadline, timeout: deadline - Date.now() });
    return nextCall(options);
  });
}

/** A client of `h` with `clientDeadline(options)` above a recorder of the deadlines it sets. */
function measuredClient(h: Harness, options: ClientDeadlineOptions) {
  const seen: Seen[] = [];
  const client = h.newClient({ interceptors: [clientDeadline(options), recordDeadlines(seen)] });
  return { client, seen };
}

/** Expects a recorded timeout of `ms`, rounded up by at most `rounding` (the histogram's bucket). */
function expectTimeout(actual: number | undefined, ms: number, rounding = BUCKET): void {
  expect(actual).toBeGreaterThanOrEqual(ms - SLACK);
  expect(actual).toBeLessThanOrEqual(ms * rounding + 1);
}

/** A fake clock, and handlers that take `request.sleepMs` of it (then fail with `failCode` if set). */
function fakeLatency() {
  const clock = { now: 0 };
  const handler: TestServiceHandlers['Unary'] = (call, callback) => {
    clock.now += call.request.sleepMs;
    if (call.request.failCode) callback({ code: call.request.failCode, details: 'failed on request' });
    else callback(null, { message: 'ok' });
  };
  return { clock, now: () => clock.now, handlers: { Unary: handler, Sleep: handler, Fail: handler } };
}

type Method = 'Unary' | 'Fail' | 'Sleep';

describe('clientDeadline({ fromLatency })', () => {
  const harnesses: Harness[] = [];
  afterEach(async () => {
    for (const h of harnesses.splice(0).reverse()) await h.close();
  });
  const start = async (options: HarnessOptions) => {
    const h = await startHarness(options);
    harnesses.push(h);
    return h;
  };

  /**
   * A server whose handlers take fake time, and a client with `clientDeadline({ ...deadline,
   * fromLatency: { now: fake, ...fromLatency } })` above a recorder.
   */
  async function setup(fromLatency: LatencyTimeoutOptions, deadline: ClientDeadlineOptions = {}) {
    const fake = fakeLatency();
    const h = await start({ handlers: fake.handlers });
    const { client, seen } = measuredClient(h, {
      ...deadline,
      fromLatency: { now: fake.now, ...fromLatency },
    });
    /** One call of `method` that takes `latency` fake ms: its status code and the timeout it got. */
    const call = async (
      latency: number,
      options: { failCode?: grpc.status; call?: grpc.CallOptions; deadline?: number; method?: Method } = {},
    ) => {
      const before = seen.length;
      const result = await unary(
        client,
        { sleepMs: latency, failCode: options.failCode ?? 0 },
        {
          options: options.call ?? {},
          ...(options.deadline === undefined ? {} : { deadline: options.deadline }),
        },
        options.method ?? 'Unary',
      );
      return {
        code: result.status.code,
        timeout: seen.length > before ? seen[seen.length - 1]?.timeout : undefined,
      };
    };
    const calls = async (n: number, latency: number, method: Method = 'Unary') => {
      for (let i = 0; i < n; i++) {
        const { code } = await call(latency, { method });
        expect(code).toBe(grpc.status.OK);
      }
    };
    /**
     * The timeout the next call of `method` gets. The probe answers UNAVAILABLE, which is not
     * measured (see the table below), so reading the timeout leaves the estimate as it was.
     */
    const next = async (method: Method = 'Unary') =>
      (await call(0, { method, failCode: grpc.status.UNAVAILABLE })).timeout;
    return { h, client, fake, seen, call, calls, next };
  }

  it("follows a method's measured latency: factor x p99 of the real time a ~30 ms handler takes", async () => {
    // The default handler really sleeps `sleepMs`; the interceptor's clock is the default one.
    const h = await start({});
    const { client, seen } = measuredClient(h, { fromLatency: { minSamples: 10, window: 10 } });
    let longest = 0;
    for (let i = 0; i < 10; i++) {
      const started = performance.now();
      const result = await unary(client, { sleepMs: 30 });
      longest = Math.max(longest, performance.now() - started);
      expect(result.status.code).toBe(grpc.status.OK);
    }
    expect(seen.every((s) => s.deadline === Number.POSITIVE_INFINITY)).toBe(true);
    await unary(client, { sleepMs: 0 });
    // Default factor 2; p99 of 10 samples is the longest, which took >= 30 ms (a timer may fire up
    // to a ms early) and at most what the test measured around the call.
    const timeout = seen[10]?.timeout ?? Number.NaN;
    expect(timeout).toBeGreaterThanOrEqual(2 * 29 - SLACK);
    expect(timeout).toBeLessThanOrEqual(2 * longest * BUCKET + 1);
  });

  it.each([
    // [latencies, the p99 the timeout follows]: nearest rank over a window of 100.
    ['99 at 10 ms, 1 at 500 ms: the top 1% is left out', [...Array(99).fill(10), 500], 10],
    ['98 at 10 ms, 2 at 500 ms: the 99th is 500 ms', [...Array(98).fill(10), 500, 500], 500],
    ['100 at 10 ms', Array(100).fill(10), 10],
  ])('uses the p99, not the mean or the max: %s', async (_name, latencies: number[], p99) => {
    const { call, next } = await setup({ minSamples: 100, window: 100, factor: 2, min: 1 });
    for (const latency of latencies) await call(latency);
    expectTimeout(await next(), 2 * p99);
  });

  it('uses `default` until minSamples calls of the method were measured (none without a default)', async () => {
    const withDefault = await setup({ minSamples: 5, min: 1 }, { default: 5_000 });
    for (let i = 0; i < 5; i++) {
      const { timeout } = await withDefault.call(40);
      expectTimeout(timeout, 5_000, 1);
    }
    expectTimeout(await withDefault.next(), 2 * 40);

    const without = await setup({ minSamples: 5, min: 1 });
    for (let i = 0; i < 5; i++) expect((await without.call(40)).timeout).toBe(Number.POSITIVE_INFINITY);
    expectTimeout(await without.next(), 2 * 40);
  });

  it('keeps one estimate per method', async () => {
    const { calls, next } = await setup({ minSamples: 5, window: 5, min: 1 }, { default: 5_000 });
    await calls(5, 40, 'Unary');
    await calls(5, 4, 'Sleep');
    expectTimeout(await next('Unary'), 2 * 40);
    expectTimeout(await next('Sleep'), 2 * 4);
    // Never called: still warming up.
    expectTimeout(await next('Fail'), 5_000, 1);
  });

  it('clamps the timeout to min and max', async () => {
    const { calls, next } = await setup({ minSamples: 5, window: 5, min: 200, max: 3_000 });
    await calls(5, 1);
    expectTimeout(await next(), 200, 1);
    await calls(5, 10_000);
    expectTimeout(await next(), 3_000, 1);
  });

  it('never replaces a deadline the caller set, shorter or longer', async () => {
    const { calls, call } = await setup({ minSamples: 5, window: 5, min: 1 });
    await calls(5, 40);
    expectTimeout((await call(0, { deadline: Date.now() + 5_000 })).timeout, 5_000, 1);
    expectTimeout((await call(0, { deadline: Date.now() + 30 })).timeout, 30, 1);
    expectTimeout((await call(0)).timeout, 2 * 40);
  });

  it('never extends a deadline inherited from the incoming call', async () => {
    const downstream = await setup({ minSamples: 5, window: 5, min: 1 });
    await downstream.calls(5, 1_000);
    expectTimeout(await downstream.next(), 2 * 1_000);
    // A handler (a weft layer gives it its call context) calls downstream with that client.
    const middle = await start({
      serverInterceptors: [serverDeadline()],
      handlers: {
        async Unary(call, callback) {
          const result = await unary(downstream.client, { sleepMs: call.request.sleepMs });
          callback(null, { message: String(result.status.code) });
        },
      },
    });
    const sent = Date.now() + 300;
    const result = await unary(middle.client, { sleepMs: 0 }, { deadline: sent });
    expect(result.status.code).toBe(grpc.status.OK);
    const inherited = downstream.seen[downstream.seen.length - 1];
    // grpc-timeout is a duration counted from the middle server's arrival: later than `sent` by its
    // rounding at most, and far below the 2 s the estimate alone gives.
    expect(inherited?.deadline).toBeLessThanOrEqual(sent + 50);
    expect(inherited?.timeout).toBeLessThanOrEqual(305);
    expect(inherited?.timeout).toBeGreaterThan(200);
    // The estimate, when shorter than the inherited deadline, wins (the earliest deadline does).
    await downstream.calls(5, 100);
    await unary(middle.client, { sleepMs: 0 }, { deadline: Date.now() + 1_000 });
    expectTimeout(downstream.seen[downstream.seen.length - 1]?.timeout, 2 * 100);
  });

  it('weftDeadline: timeout wins over the estimate; fromLatency: false neither uses nor feeds it', async () => {
    const { calls, call, next } = await setup({ minSamples: 5, window: 5, min: 1 }, { default: 5_000 });
    await calls(5, 40);
    expectTimeout((await call(0, { call: { weftDeadline: { timeout: 700 } } })).timeout, 700, 1);
    const off = await call(1_000, { call: { weftDeadline: { fromLatency: false } } });
    expect(off.code).toBe(grpc.status.OK);
    expectTimeout(off.timeout, 5_000, 1);
    // Had that 1 s call been measured, the next timeout would be about 2 s.
    expectTimeout(await next(), 2 * 40);
  });

  it.each([
    ['OK after 10 s', grpc.status.OK, 10_000, true],
    ['an application error (NOT_FOUND) after 10 s', grpc.status.NOT_FOUND, 10_000, true],
    ['INTERNAL after 1 ms', grpc.status.INTERNAL, 1, true],
    ['DEADLINE_EXCEEDED after 10 s (longer than the estimate)', grpc.status.DEADLINE_EXCEEDED, 10_000, true],
    [
      'DEADLINE_EXCEEDED after 1 ms (a tighter cut than the estimate)',
      grpc.status.DEADLINE_EXCEEDED,
      1,
      false,
    ],
    ['UNAVAILABLE after 1 ms', grpc.status.UNAVAILABLE, 1, false],
    ['UNAVAILABLE after 10 s', grpc.status.UNAVAILABLE, 10_000, false],
    ['CANCELLED after 1 ms', grpc.status.CANCELLED, 1, false],
  ])('a call that ends with %s is measured: %s', async (_name, code, latency, measured) => {
    // The median of the last 4 calls: 4 at 1 s, then 3 of the kind under test, which move the
    // median to their latency only if they are measured (a timeout of 2 s, or 20 s, or `min`).
    const { calls, call, next } = await setup({ percentile: 0.5, minSamples: 4, window: 4, min: 200 });
    await calls(4, 1_000, 'Fail');
    for (let i = 0; i < 3; i++) {
      expect((await call(latency, { failCode: code, method: 'Fail' })).code).toBe(code);
    }
    expectTimeout(await next('Fail'), Math.max(200, 2 * (measured ? latency : 1_000)));
  });

  it('raises the timeout when the method slows down after warm-up (calls that take longer)', async () => {
    const { calls, next } = await setup({ minSamples: 20, window: 100, min: 1 });
    await calls(100, 200);
    expectTimeout(await next(), 2 * 200);
    // p99 of 100 is the 99th smallest: two slow calls are enough.
    await calls(1, 1_000);
    expectTimeout(await next(), 2 * 200);
    await calls(1, 1_000);
    expectTimeout(await next(), 2 * 1_000);
  });

  it('raises the timeout when the method slows down past it (calls that run out of time)', async () => {
    // Real time: the default handler sleeps `sleepMs` and stops when the call is cancelled.
    const h = await start({});
    const { client, seen } = measuredClient(h, { fromLatency: { minSamples: 5, window: 5, min: 100 } });
    // The first call connects, which takes longer: it is left out of the estimate.
    const connect = await unary(client, {}, { options: { weftDeadline: { fromLatency: false } } });
    expect(connect.status.code).toBe(grpc.status.OK);
    for (let i = 0; i < 5; i++) expect((await unary(client, {})).status.code).toBe(grpc.status.OK);
    // From now on the method takes 10 s: each call runs out of its timeout, which says its latency
    // is at least that long, so the next call gets about twice as long.
    const timeouts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const result = await unary(client, { sleepMs: 10_000 });
      expect(result.status.code).toBe(grpc.status.DEADLINE_EXCEEDED);
      timeouts.push(seen[seen.length - 1]?.timeout ?? Number.NaN);
    }
    // `min` (unless the machine was so busy that a fast call took over 50 ms).
    expect(timeouts[0]).toBeGreaterThanOrEqual(100 - SLACK);
    expect(timeouts[1]).toBeGreaterThanOrEqual(1.8 * (timeouts[0] ?? 0));
    expect(timeouts[2]).toBeGreaterThanOrEqual(1.8 * (timeouts[1] ?? 0));
  });

  it('forgets old calls: the estimate covers only the last `window` calls of the method', async () => {
    const { calls, next } = await setup({ minSamples: 20, window: 50, min: 1 });
    await calls(500, 1_000);
    expectTimeout(await next(), 2 * 1_000);
    await calls(49, 100);
    expectTimeout(await next(), 2 * 1_000);
    await calls(1, 100);
    expectTimeout(await next(), 2 * 100);
  });

  it(`holds estimates for at most ${DEFAULT_METHOD_CACHE_SIZE} methods (the oldest is dropped)`, async () => {
    const { client, calls, next } = await setup({ minSamples: 5, window: 5, min: 1 }, { default: 5_000 });
    await calls(5, 40);
    const other = (i: number) =>
      new Promise<void>((resolve) =>
        client.makeUnaryRequest(
          `/weft.test.Elsewhere/Method${i}`,
          (b: Buffer) => b,
          (b: Buffer) => b,
          Buffer.alloc(0),
          () => resolve(),
        ),
      );
    const callOthers = async (from: number, to: number) => {
      for (let i = from; i < to; i += 64) {
        await Promise.all(Array.from({ length: Math.min(64, to - i) }, (_, j) => other(i + j)));
      }
    };
    // Unary and 1023 other methods: all held, Unary keeps its estimate.
    await callOthers(0, DEFAULT_METHOD_CACHE_SIZE - 1);
    expectTimeout(await next(), 2 * 40);
    // One more method: Unary, the oldest, is dropped and warms up again from `default`.
    await callOthers(DEFAULT_METHOD_CACHE_SIZE - 1, DEFAULT_METHOD_CACHE_SIZE);
    expectTimeout(await next(), 5_000, 1);
  });

  it('leaves streams to `default`: how long a stream lives is up to its caller', async () => {
    const { client, seen } = await setup({ minSamples: 5, window: 5, min: 1 }, { default: 5_000 });
    for (let i = 0; i < 6; i++) {
      expect((await serverStream(client, { count: 1 })).status.code).toBe(grpc.status.OK);
      expectTimeout(seen[seen.length - 1]?.timeout, 5_000, 1);
    }
  });

  it('measures the whole call under the client preset: retries included, one deadline for all attempts', async () => {
    const fake = fakeLatency();
    let attempts = 0;
    // Every call's first attempt fails (UNAVAILABLE, retried), its second succeeds: 200 fake ms each.
    const h = await start({
      handlers: {
        Unary(_call, callback) {
          fake.clock.now += 200;
          attempts++;
          if (attempts % 2 === 1) callback({ code: grpc.status.UNAVAILABLE, details: 'first attempt' });
          else callback(null, { message: 'ok' });
        },
      },
    });
    const seen: Seen[] = [];
    const client = h.newClient({
      interceptors: clientInterceptors({
        deadline: clientDeadline({ fromLatency: { now: fake.now, minSamples: 5, window: 5, min: 1 } }),
        retry: retry({ initialBackoff: 1, maxBackoff: 1, throttling: false }),
        // Per attempt, below retry.
        extra: [recordDeadlines(seen)],
      }),
    });
    for (let i = 0; i < 6; i++) expect((await unary(client, {})).status.code).toBe(grpc.status.OK);
    expect(seen).toHaveLength(12);
    const [first, second] = seen.slice(10);
    // A call takes 400 ms (two attempts of 200): the estimate is per call, not per attempt.
    expectTimeout(first?.timeout, 2 * 400);
    expect(second?.deadline).toBe(first?.deadline);
  });

  it('rejects options that cannot work when the interceptor is made', () => {
    const bad: [LatencyTimeoutOptions, string][] = [
      [{ percentile: 0 }, 'percentile'],
      [{ percentile: 1.5 }, 'percentile'],
      [{ factor: 0.5 }, 'factor'],
      [{ min: -1 }, 'min'],
      [{ max: 0 }, 'max'],
      [{ min: 100, max: 50 }, 'max'],
      [{ window: 0 }, 'window'],
      [{ window: 100_000 }, 'window'],
      [{ minSamples: 0 }, 'minSamples'],
      [{ minSamples: 300, window: 256 }, 'minSamples'],
    ];
    for (const [options, name] of bad) {
      expect(() => clientDeadline({ fromLatency: options }), name).toThrow(`option "${name}"`);
    }
    expect(() => clientDeadline({ fromLatency: 'on' as unknown as true })).toThrow('option "fromLatency"');
    expect(() => clientDeadline({ fromLatency: true })).not.toThrow();
  });
});
