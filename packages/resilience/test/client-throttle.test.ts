import * as grpc from '@grpc/grpc-js';
import {
  clientInterceptors,
  LOCAL_STATUS_KEY,
  OptionError,
  signals,
  type ThrottleRejection,
} from '@weft/core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type CallOptions,
  type Harness,
  startHarness,
  type TestServiceHandlers,
  unary,
} from '../../../test/harness';
import {
  type ClientThrottleOptions,
  circuitBreaker,
  clientThrottle,
  rateLimit,
  retry,
  THROTTLE_REJECT_CODES,
} from '../src/index';

const UNARY = 'weft.test.TestService/Unary';
const QUOTA = grpc.status.RESOURCE_EXHAUSTED;

/** SRE adaptive throttling's refusal probability. */
const sre = (requests: number, accepts: number) => Math.max(0, (requests - 2 * accepts) / (requests + 1));

describe('clientThrottle', () => {
  let harness: Harness | undefined;
  let now = 0;
  /** What the injected random source answers next. */
  let roll = 0.999_999;
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
    now = 0;
    roll = 0.999_999;
  });

  async function withThrottle(options: ClientThrottleOptions = {}, more: grpc.Interceptor[] = []) {
    const throttle = clientThrottle({ minRequests: 0, now: () => now, random: () => roll, ...options });
    harness = await startHarness({ clientInterceptors: [...more, throttle] });
    const refused = () => unary(harness!.client, { failCode: QUOTA });
    const ok = () => unary(harness!.client, { message: 'ok' });
    return { throttle, refused, ok };
  }

  it('refuses calls locally with probability max(0, (requests - 2 accepts) / (requests + 1))', async () => {
    const { throttle, refused, ok } = await withThrottle();
    for (let i = 0; i < 4; i++) await ok();
    for (let i = 0; i < 10; i++) expect((await refused()).status.code).toBe(QUOTA);
    // 14 requests, 4 accepted: p = (14 - 8) / 15 = 0.4.
    expect(throttle.stats()).toEqual({ probability: sre(14, 4), requests: 14, accepts: 4, inFlight: 0 });
    expect(sre(14, 4)).toBeCloseTo(0.4, 12);
    // A roll just above p goes out; one just under is refused without the network.
    roll = 0.4001;
    expect((await ok()).status.code).toBe(grpc.status.OK);
    expect(harness!.handled.get('Unary')).toBe(15);
    // 15 requests, 5 accepts: p = 5 / 16.
    roll = 5 / 16 - 0.0001;
    const throttled = await ok();
    expect(throttled.status).toMatchObject({ code: grpc.status.UNAVAILABLE });
    expect(throttled.status.details).toBe(
      `throttled on the client: default refuses too many calls (${UNARY})`,
    );
    expect(throttled.status.metadata.get(LOCAL_STATUS_KEY)).toEqual(['throttle']);
    expect(throttled.status.metadata.get('grpc-retry-pushback-ms')).toEqual(['-1']);
    expect(harness!.handled.get('Unary')).toBe(15);
    // The refused call counted as a request the target did not accept.
    expect(throttle.stats()).toEqual({ probability: sre(16, 5), requests: 16, accepts: 5, inFlight: 0 });
  });

  it('counts a call sent as a request when it is answered, and keeps it out of the formula until then', async () => {
    const { throttle } = await withThrottle();
    const inFlight = unary(harness!.client, { sleepMs: 200 }, {}, 'Sleep');
    // In flight: neither a request nor an accept yet, so it cannot raise the probability.
    // (Counted at send, it was 1 request and 0 accepts here: p = 1/2 against a healthy target.)
    expect(throttle.stats()).toEqual({ probability: 0, requests: 0, accepts: 0, inFlight: 1 });
    expect((await inFlight).status.code).toBe(grpc.status.OK);
    expect(throttle.stats()).toEqual({ probability: 0, requests: 1, accepts: 1, inFlight: 0 });
  });

  it('backs off under a flood of quota refusals and recovers as accepts return', async () => {
    roll = 0.5;
    const { throttle, refused, ok } = await withThrottle();
    let sent = 0;
    for (let i = 0; i < 200; i++) {
      const before = harness!.handled.get('Unary') ?? 0;
      await refused();
      sent += (harness!.handled.get('Unary') ?? 0) - before;
    }
    // p is 0, then 1/2 (not above the roll), then 2/3 and up: the target saw 2 calls of 200.
    expect(sent).toBe(2);
    expect(throttle.stats().probability).toBeCloseTo(sre(200, 0), 12);
    // The target accepts again. Refusals leave the window one second at a time; accepts push p down.
    now = 60_000;
    roll = 0;
    const probabilities: number[] = [];
    for (let step = 0; step < 8; step++) {
      now += 10_000;
      roll = 0.999_999;
      await ok();
      probabilities.push(throttle.stats().probability);
    }
    expect(probabilities.at(-1)).toBe(0);
    for (let i = 1; i < probabilities.length; i++) {
      expect(probabilities[i]).toBeLessThanOrEqual(probabilities[i - 1] as number);
    }
    // Two minutes after the flood its requests left the window.
    now += 120_000;
    expect(throttle.stats()).toEqual({ probability: 0, requests: 0, accepts: 0, inFlight: 0 });
  });

  it('refuses nothing while the window holds fewer than minRequests requests', async () => {
    roll = 0;
    const { throttle, refused } = await withThrottle({ minRequests: 5 });
    for (let i = 0; i < 5; i++) await refused();
    expect(harness!.handled.get('Unary')).toBe(5);
    expect(throttle.stats().probability).toBeCloseTo(sre(5, 0), 12);
    await refused();
    expect(harness!.handled.get('Unary')).toBe(5);
  });

  it('takes the codes that mean "not accepted" from the options', async () => {
    const { throttle, refused } = await withThrottle({ rejectCodes: [grpc.status.NOT_FOUND] });
    for (let i = 0; i < 5; i++) await refused();
    expect(throttle.stats()).toMatchObject({ requests: 5, accepts: 5, probability: 0 });
  });

  it('publishes throttleRejection', async () => {
    roll = 0;
    const seen: ThrottleRejection[] = [];
    const listener = (r: ThrottleRejection) => seen.push(r);
    signals.throttleRejection.subscribe(listener);
    try {
      const { refused } = await withThrottle({ target: 'users' });
      await refused();
      await refused();
    } finally {
      signals.throttleRejection.unsubscribe(listener);
    }
    expect(seen).toHaveLength(1);
    expect(seen[0]?.target).toBe('users');
    expect(seen[0]?.method.fullMethod).toBe(UNARY);
  });

  it('under a circuit breaker and retry (the preset order), its refusals neither open the breaker nor get retried', async () => {
    roll = 0;
    const breaker = circuitBreaker({ minimumCalls: 4, now: () => now });
    const throttle = clientThrottle({ minRequests: 0, now: () => now, random: () => roll });
    harness = await startHarness({
      serverInterceptors: [rateLimit({ rules: [{ name: 'quota', rate: 0.001, burst: 1 }] })],
      clientInterceptors: clientInterceptors({
        retry: retry({ maxAttempts: 3, initialBackoff: 1 }),
        circuitBreaker: breaker,
        throttle,
      }),
    });
    const codes: string[] = [];
    for (let i = 0; i < 30; i++) {
      const { status } = await unary(harness.client, {});
      codes.push(`${grpc.status[status.code]} ${status.metadata.get(LOCAL_STATUS_KEY)[0] ?? 'server'}`);
    }
    // 1 accept covers 2 requests (K = 2): the third call is the last sent (p = 0), then p = 1/4 and
    // up, above the roll: refused here, once each, not retried.
    expect(codes.slice(0, 3)).toEqual([
      'OK server',
      'RESOURCE_EXHAUSTED server',
      'RESOURCE_EXHAUSTED server',
    ]);
    expect(codes.slice(3)).toEqual(new Array(27).fill('UNAVAILABLE throttle'));
    expect(harness.handled.get('Unary')).toBe(1); // the limit refused the other two before the handler
    expect(breaker.state(UNARY)).toBe('closed');
    expect(throttle.stats().requests).toBe(30);
  });

  it("does not spend retry's throttling tokens on its refusals (they are not the server's failures)", async () => {
    roll = 0;
    const { refused } = await withThrottle({}, [
      retry({ maxAttempts: 3, initialBackoff: 1, throttling: { maxTokens: 10, tokenRatio: 0.1 } }),
    ]);
    await refused(); // sent: p was 0
    for (let i = 0; i < 10; i++) {
      const { status } = await refused();
      expect(status.metadata.get(LOCAL_STATUS_KEY)).toEqual(['throttle']);
    }
    // The throttle lets calls through again; a server UNAVAILABLE is retried as usual.
    roll = 0.999_999;
    const before = harness!.handled.get('Unary') ?? 0;
    expect((await unary(harness!.client, { failCode: grpc.status.UNAVAILABLE })).status.code).toBe(
      grpc.status.UNAVAILABLE,
    );
    expect((harness!.handled.get('Unary') ?? 0) - before).toBe(3);
  });

  it('keeps one window per target, and per method with perMethod', async () => {
    roll = 0;
    const { throttle, refused, ok } = await withThrottle({ perMethod: true });
    await refused();
    expect((await unary(harness!.client, { sleepMs: 1 }, {}, 'Sleep')).status.code).toBe(grpc.status.OK);
    expect(throttle.stats('default', UNARY)).toMatchObject({ requests: 1, accepts: 0 });
    expect(throttle.stats('default', 'weft.test.TestService/Sleep')).toMatchObject({
      requests: 1,
      accepts: 1,
    });
    expect((await ok()).status.metadata.get(LOCAL_STATUS_KEY)).toEqual(['throttle']);
  });

  it('fails its refusals on a macrotask: a tight loop of refused calls still lets timers run', async () => {
    roll = 0;
    const { refused } = await withThrottle();
    await refused(); // p > 0 from here on, and the roll of 0 is under it: every call is refused
    let ticks = 0;
    const interval = setInterval(() => ticks++, 5);
    let calls = 0;
    const started = performance.now();
    // Bounded by count and wall time, so starving code fails this test rather than hanging it.
    const loop = async () => {
      while (ticks < 3 && calls < 20_000 && performance.now() - started < 1500) {
        await refused();
        calls++;
      }
    };
    await Promise.all([loop(), loop()]).finally(() => clearInterval(interval));
    expect(ticks).toBeGreaterThanOrEqual(3);
    expect(harness!.handled.get('Unary')).toBe(1);
  });

  it('takes a call whose start throws below it out of flight, uncounted (no status will come)', async () => {
    const throttle = clientThrottle({ now: () => now, random: () => roll });
    // A layer below the throttle that fails to start the call.
    const broken: grpc.Interceptor = (options, nextCall) =>
      new grpc.InterceptingCall(nextCall(options), {
        start() {
          throw new Error('cannot start');
        },
      });
    harness = await startHarness({ clientInterceptors: [throttle, broken] });
    expect(() => harness!.client.Unary({ message: 'x' }, () => {})).toThrow('cannot start');
    expect(throttle.stats()).toEqual({ probability: 0, requests: 0, accepts: 0, inFlight: 0 });
  });

  it('rejects bad options at setup', () => {
    expect(() => clientThrottle({ k: 0.5 })).toThrow(OptionError);
    expect(() => clientThrottle({ buckets: 0 })).toThrow(OptionError);
    expect(() => clientThrottle({ minRequests: -1 })).toThrow(OptionError);
  });
});

/**
 * A server whose `Unary` calls with message `hold` wait until the test answers them, and whose
 * other `Unary` calls are answered at once: OK, or `failCode`, or by `answer` when the test sets it.
 * `served` counts the calls that reached it.
 */
async function heldServer(throttle: grpc.Interceptor, more: grpc.Interceptor[] = []) {
  const held: Array<(code?: grpc.status) => void> = [];
  const counts = { served: 0, started: 0, arrived: 0, finished: 0, refusedHere: 0 };
  const waiters = new Set<{ done: () => boolean; resolve: () => void }>();
  const check = () => {
    for (const w of waiters) {
      if (w.done()) {
        waiters.delete(w);
        w.resolve();
      }
    }
  };
  const until = (done: () => boolean) =>
    new Promise<void>((resolve) => {
      waiters.add({ done, resolve });
      check();
    });
  const server = {
    harness: undefined as unknown as Harness,
    held,
    counts,
    /** The status code (0: OK) the server answers a call that is not held with; default `failCode`. */
    answer: undefined as ((request: { failCode: number }) => grpc.status) | undefined,
    /** Starts a call the server holds (unless it is refused on the client); resolves when it ends. */
    hold(options?: CallOptions) {
      counts.started++;
      return unary(server.harness.client, { message: 'hold' }, options).then((result) => {
        counts.finished++;
        if (local(result)) counts.refusedHere++;
        check();
        return result;
      });
    },
    until,
    /** Resolves once every call started with `hold` is held at the server or was refused here. */
    settled: () => until(() => counts.arrived + counts.refusedHere >= counts.started),
    /** Resolves once `n` calls started with `hold` have ended. */
    finished: (n: number) => until(() => counts.finished >= n),
    /** Answers every held call (OK, or `code`). */
    release(code?: grpc.status) {
      for (const answer of held.splice(0)) answer(code);
    },
  };
  const handlers: Partial<TestServiceHandlers> = {
    Unary(call, callback) {
      counts.served++;
      const answer = (code: grpc.status = server.answer?.(call.request) ?? call.request.failCode) =>
        code ? callback({ code, details: 'refused by the test server' }) : callback(null, { message: 'ok' });
      if (call.request.message !== 'hold') return answer();
      counts.arrived++;
      held.push(answer);
      check();
    },
  };
  server.harness = await startHarness({ clientInterceptors: [...more, throttle], handlers });
  return server;
}

/** Whether `clientThrottle()` refused the call on the client. */
const local = (r: { status: grpc.StatusObject }) => r.status.metadata.get(LOCAL_STATUS_KEY)[0] === 'throttle';

/**
 * The reference accounting (grpc-go's adaptive throttler, with the book's `+ 1` and weft's
 * `minRequests`): a request counts with its outcome, a local refusal at once, a call in flight not
 * at all; outcomes leave the window with their 1 s bucket after 120 s.
 */
class Reference {
  now = 0;
  private readonly events: Array<{ bucket: number; accepted: boolean }> = [];
  constructor(private readonly minRequests = 20) {}
  private live() {
    const head = Math.floor(this.now / 1000);
    return this.events.filter((e) => e.bucket > head - 120);
  }
  get requests(): number {
    return this.live().length;
  }
  get accepts(): number {
    return this.live().filter((e) => e.accepted).length;
  }
  get probability(): number {
    const requests = this.requests;
    return requests < this.minRequests ? 0 : sre(requests, this.accepts);
  }
  /** Which of `n` calls started together (decided before any outcome) are sent, not refused here. */
  decide(n: number, rolls: () => number): boolean[] {
    const sent: boolean[] = [];
    for (let i = 0; i < n; i++) {
      const p = this.probability;
      const go = !(p > 0 && rolls() < p);
      if (!go) this.outcome(false);
      sent.push(go);
    }
    return sent;
  }
  outcome(accepted: boolean): void {
    this.events.push({ bucket: Math.floor(this.now / 1000), accepted });
  }
}

/** Uniform numbers in [0, 1) from a seed (mulberry32): a random source a test can replay. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('clientThrottle with calls in flight', () => {
  let server: Awaited<ReturnType<typeof heldServer>> | undefined;
  afterEach(async () => {
    server?.release();
    await server?.harness.close();
    server = undefined;
  });
  /** Starts a `heldServer`, closed after the test. */
  async function serve(throttle: grpc.Interceptor, more?: grpc.Interceptor[]) {
    server = await heldServer(throttle, more);
    return server;
  }

  it('refuses none of a burst of 80 concurrent calls from a fresh client to a healthy server', async () => {
    // A roll of 0 refuses any call whose probability is above 0: every refusal that could happen does.
    const throttle = clientThrottle({ now: () => 0, random: () => 0 });
    const s = await serve(throttle);
    const burst = Array.from({ length: 80 }, () => s.hold());
    await s.settled();
    expect(s.counts.served).toBe(80);
    expect(throttle.stats()).toEqual({ probability: 0, requests: 0, accepts: 0, inFlight: 80 });
    s.release();
    const results = await Promise.all(burst);
    expect(results.filter(local)).toHaveLength(0);
    expect(results.map((r) => r.status.code)).toEqual(new Array(80).fill(grpc.status.OK));
    expect(throttle.stats()).toEqual({ probability: 0, requests: 80, accepts: 80, inFlight: 0 });
  });

  it('refuses nothing to a healthy server while 40 slow calls stay in flight, past the window', async () => {
    let now = 0;
    const throttle = clientThrottle({ now: () => now, random: () => 0 });
    const s = await serve(throttle);
    const slow = Array.from({ length: 40 }, () => s.hold());
    await s.settled();
    const quick = [];
    // 200 s (the window is 120 s): each second the oldest slow call ends and another starts, and a
    // quick call goes out; 40 calls are always in flight.
    for (let second = 1; second <= 200; second++) {
      now = second * 1000;
      s.held.shift()?.();
      await s.finished(second);
      slow.push(s.hold());
      await s.settled();
      quick.push(await unary(s.harness.client, { message: 'quick' }));
    }
    expect(throttle.stats()).toEqual({ probability: 0, requests: 240, accepts: 240, inFlight: 40 });
    s.release();
    const results = [...quick, ...(await Promise.all(slow))];
    expect(results.filter(local)).toHaveLength(0);
    expect(s.counts.served).toBe(440);
    // Requests counted in the last 120 s, when they ended: 120 quick calls, 120 + 40 slow ones.
    expect(throttle.stats()).toEqual({ probability: 0, requests: 280, accepts: 280, inFlight: 0 });
  });

  it('starts refusing a target that refuses everything once outcomes arrive, by the reference formula', async () => {
    let rolls: () => number = () => 0;
    const throttle = clientThrottle({ now: () => 0, random: () => rolls() });
    const s = await serve(throttle);
    const published: ThrottleRejection[] = [];
    const listener = (r: ThrottleRejection) => published.push(r);
    signals.throttleRejection.subscribe(listener);
    try {
      // A burst of 60 before any outcome is known: all sent, even with a roll of 0.
      const burst = Array.from({ length: 60 }, () => s.hold());
      await s.settled();
      expect(s.counts.served).toBe(60);
      s.release(grpc.status.UNAVAILABLE);
      expect((await Promise.all(burst)).filter(local)).toHaveLength(0);
      const reference = new Reference();
      for (let i = 0; i < 60; i++) reference.outcome(false);
      expect(throttle.stats()).toEqual({ probability: sre(60, 0), requests: 60, accepts: 0, inFlight: 0 });
      // Then calls one at a time to a quota that lets 1 in 4 through; the same rolls drive the
      // reference, call for call.
      let arrivals = 0;
      s.answer = () => (++arrivals % 4 === 0 ? grpc.status.OK : grpc.status.RESOURCE_EXHAUSTED);
      rolls = seeded(18);
      const referenceRolls = seeded(18);
      let refusedHere = 0;
      for (let i = 0; i < 300; i++) {
        const [sent] = reference.decide(1, referenceRolls);
        const { status } = await unary(s.harness.client, { message: 'quota' });
        expect(local({ status }), `call ${i}`).toBe(!sent);
        if (sent) reference.outcome(status.code === grpc.status.OK);
        else refusedHere++;
      }
      const stats = throttle.stats();
      expect(stats).toMatchObject({ requests: reference.requests, accepts: reference.accepts, inFlight: 0 });
      expect(stats.probability).toBeCloseTo(reference.probability, 12);
      // The target saw about K = 2 times what it accepted; the rest were refused here.
      expect(s.counts.served - 60).toBe(300 - refusedHere);
      expect(refusedHere).toBeGreaterThan(200);
      // Each refusal was published once (weft_client_throttle_rejections_total counts these).
      expect(published).toHaveLength(refusedHere);
    } finally {
      signals.throttleRejection.unsubscribe(listener);
    }
  });

  it('recovers as the target accepts again: concurrent bursts follow the reference until none is refused', async () => {
    const clock = { now: 0 };
    const throttle = clientThrottle({ now: () => clock.now, random: seeded(7) });
    const s = await serve(throttle);
    const reference = new Reference();
    const referenceRolls = seeded(7);
    /** 20 calls at once at `t` ms; the reference decides them with the same rolls. */
    const burst = async (t: number, accepted: boolean) => {
      clock.now = reference.now = t;
      const decided = reference.decide(20, referenceRolls);
      const results = await Promise.all(
        Array.from({ length: 20 }, () => unary(s.harness.client, { message: 'x' })),
      );
      expect(
        results.map((r) => !local(r)),
        `burst at ${t} ms`,
      ).toEqual(decided);
      for (const sent of decided) if (sent) reference.outcome(accepted);
      const stats = throttle.stats();
      expect(stats).toMatchObject({ requests: reference.requests, accepts: reference.accepts, inFlight: 0 });
      expect(stats.probability).toBeCloseTo(reference.probability, 12);
      return { probability: stats.probability, refused: decided.filter((sent) => !sent).length };
    };
    // The target refuses everything for 3 s: the first burst goes out whole (no outcome yet).
    s.answer = () => grpc.status.RESOURCE_EXHAUSTED;
    expect(await burst(0, false)).toEqual({ probability: sre(20, 0), refused: 0 });
    await burst(1000, false);
    const worst = await burst(2000, false);
    expect(worst.probability).toBeGreaterThan(0.9);
    // It accepts again: a burst every 5 s. Refusals made here while p is high count as requests not
    // accepted too, so p falls slowly (about p -> 2p - 1 per window, the book's K = 2), but it falls
    // to 0 on its own.
    s.answer = () => grpc.status.OK;
    const seen: number[] = [];
    for (let t = 5000; t <= 1_800_000 && seen.at(-1) !== 0; t += 5000)
      seen.push((await burst(t, true)).probability);
    expect(seen.at(-1)).toBe(0);
    expect(seen.length * 5).toBe(265); // seconds to recover: the README quotes it
    // Window by window (24 bursts), p only goes down.
    for (let i = 24; i < seen.length; i += 24) expect(seen[i]).toBeLessThan(seen[i - 24] as number);
    // Recovered: a burst of 60 goes out whole.
    const after = await Promise.all(
      Array.from({ length: 60 }, () => unary(s.harness.client, { message: 'x' })),
    );
    expect(after.filter(local)).toHaveLength(0);
  });

  it('takes calls cancelled by the caller out of flight exactly once', async () => {
    const throttle = clientThrottle({ now: () => 0, random: () => 0 });
    const s = await serve(throttle);
    const calls = Array.from({ length: 10 }, () => {
      const call = s.harness.client.Unary({ message: 'hold' }, () => {});
      return { call, status: new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve)) };
    });
    // Half cancelled before the server sees them, half while it holds them.
    for (const c of calls.slice(0, 5)) c.call.cancel();
    await s.until(() => s.counts.arrived >= 5);
    expect(throttle.stats().inFlight).toBe(5);
    for (const c of calls.slice(5)) c.call.cancel();
    const codes = await Promise.all(calls.map((c) => c.status.then((st) => st.code)));
    expect(codes).toEqual(new Array(10).fill(grpc.status.CANCELLED));
    // CANCELLED counts as accepted (see rejectCodes).
    expect(throttle.stats()).toEqual({ probability: 0, requests: 10, accepts: 10, inFlight: 0 });
    // The server answering them afterwards counts nothing more: one more call, answered after them.
    s.release();
    expect((await unary(s.harness.client, { message: 'after' })).status.code).toBe(grpc.status.OK);
    expect(throttle.stats()).toEqual({ probability: 0, requests: 11, accepts: 11, inFlight: 0 });
  });

  it('takes calls out of flight when their deadline passes, before or after they are sent, and per attempt', async () => {
    const throttle = clientThrottle({
      now: () => 0,
      random: () => 0,
      rejectCodes: [...THROTTLE_REJECT_CODES, grpc.status.DEADLINE_EXCEEDED],
      minRequests: 1000, // only counting here
    });
    const s = await serve(throttle, [retry({ maxAttempts: 3, initialBackoff: 1, throttling: false })]);
    const passed = Array.from({ length: 5 }, () => s.hold({ deadline: Date.now() - 1 }));
    const soon = Array.from({ length: 5 }, () => s.hold({ deadline: Date.now() + 30 }));
    // Each attempt times out after 30 ms, and is retried: 3 attempts, each a request.
    const attempts = Array.from({ length: 2 }, () =>
      s.hold({ options: { weftRetry: { perAttemptTimeout: 30 } } }),
    );
    const results = await Promise.all([...passed, ...soon, ...attempts]);
    expect(results.map((r) => r.status.code)).toEqual(new Array(12).fill(grpc.status.DEADLINE_EXCEEDED));
    expect(throttle.stats()).toEqual({ probability: 0, requests: 5 + 5 + 6, accepts: 0, inFlight: 0 });
  });
});
