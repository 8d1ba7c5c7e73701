import * as grpc from '@grpc/grpc-js';
import {
  clientInterceptors,
  LOCAL_STATUS_KEY,
  OptionError,
  signals,
  type ThrottleRejection,
} from '@weft/core';
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, startHarness, unary } from '../../../test/harness';
import { type ClientThrottleOptions, circuitBreaker, clientThrottle, rateLimit, retry } from '../src/index';

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
    expect(throttle.stats()).toEqual({ probability: sre(14, 4), requests: 14, accepts: 4 });
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
    expect(throttle.stats()).toEqual({ probability: sre(16, 5), requests: 16, accepts: 5 });
  });

  it('counts a request before it is sent, and the accept when it is answered', async () => {
    const { throttle } = await withThrottle();
    const inFlight = unary(harness!.client, { sleepMs: 200 }, {}, 'Sleep');
    // Counted at once, before any answer: 1 request, 0 accepts.
    expect(throttle.stats()).toEqual({ probability: sre(1, 0), requests: 1, accepts: 0 });
    expect((await inFlight).status.code).toBe(grpc.status.OK);
    expect(throttle.stats()).toEqual({ probability: 0, requests: 1, accepts: 1 });
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
    expect(throttle.stats()).toEqual({ probability: 0, requests: 0, accepts: 0 });
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

  it('rejects bad options at setup', () => {
    expect(() => clientThrottle({ k: 0.5 })).toThrow(OptionError);
    expect(() => clientThrottle({ buckets: 0 })).toThrow(OptionError);
    expect(() => clientThrottle({ minRequests: -1 })).toThrow(OptionError);
  });
});
