import * as grpc from '@grpc/grpc-js';
import {
  type BreakerRejection,
  type BreakerTransition,
  LOCAL_STATUS_KEY,
  localReason,
  OptionError,
  type RetryAttempt,
  signals,
} from '@weft/core';
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, type HarnessOptions, serverStream, startHarness, unary } from '../../../test/harness';
import { type CircuitBreakerOptions, circuitBreaker, rateLimit, retry } from '../src/index';

const UNARY = 'weft.test.TestService/Unary';
const FAIL = 'weft.test.TestService/Fail';

describe('circuitBreaker', () => {
  let harness: Harness | undefined;
  let now = 0;
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
    now = 0;
  });

  async function withBreaker(options: CircuitBreakerOptions = {}, handlers: HarnessOptions['handlers'] = {}) {
    const breaker = circuitBreaker({
      minimumCalls: 4,
      failureRatio: 0.5,
      cooldownMs: 1000,
      now: () => now,
      ...options,
    });
    harness = await startHarness({ clientInterceptors: [breaker], handlers });
    const fail = (code = grpc.status.UNAVAILABLE) => unary(harness!.client, { failCode: code });
    const ok = (sleepMs = 0) => unary(harness!.client, { message: 'ok', sleepMs });
    return { breaker, fail, ok };
  }

  it('opens once the failure ratio is reached with enough calls, then fails fast without calling', async () => {
    const { breaker, fail } = await withBreaker();
    for (let i = 0; i < 3; i++) expect((await fail()).status.code).toBe(grpc.status.UNAVAILABLE);
    expect(breaker.state(UNARY)).toBe('closed'); // 3 calls: below minimumCalls
    await fail();
    expect(breaker.state(UNARY)).toBe('open');
    const rejected = await unary(harness!.client, { message: 'would succeed' });
    expect(rejected.status).toMatchObject({
      code: grpc.status.UNAVAILABLE,
      details: `circuit open for ${UNARY}`,
    });
    expect(harness!.handled.get('Unary')).toBe(4);
  });

  it('stays closed while failures are under the ratio', async () => {
    const { breaker, fail, ok } = await withBreaker();
    for (let i = 0; i < 10; i++) {
      await ok();
      await ok();
      await fail();
    }
    expect(breaker.state(UNARY)).toBe('closed');
  });

  it.each([grpc.status.INVALID_ARGUMENT, grpc.status.NOT_FOUND, grpc.status.PERMISSION_DENIED])(
    'does not count code %i as a failure',
    async (code) => {
      const { breaker, fail } = await withBreaker();
      for (let i = 0; i < 10; i++) await fail(code);
      expect(breaker.state(UNARY)).toBe('closed');
    },
  );

  it.each([
    grpc.status.UNAVAILABLE,
    grpc.status.DEADLINE_EXCEEDED,
    grpc.status.INTERNAL,
    grpc.status.UNKNOWN,
  ])('counts code %i as a failure by default', async (code) => {
    const { breaker, fail } = await withBreaker();
    for (let i = 0; i < 4; i++) await fail(code);
    expect(breaker.state(UNARY)).toBe('open');
  });

  it('is not opened by a flood of RESOURCE_EXHAUSTED from a rate limit (a caller over its quota)', async () => {
    const breaker = circuitBreaker({ minimumCalls: 4, now: () => now });
    harness = await startHarness({
      serverInterceptors: [rateLimit({ rules: [{ name: 'quota', rate: 0.001, burst: 1 }] })],
      clientInterceptors: [breaker],
    });
    const codes: grpc.status[] = [];
    for (let i = 0; i < 30; i++) codes.push((await unary(harness.client, {})).status.code);
    expect(codes[0]).toBe(grpc.status.OK);
    // Every refusal came from the server's limit, none from an open circuit.
    expect(codes.slice(1)).toEqual(new Array(29).fill(grpc.status.RESOURCE_EXHAUSTED));
    expect(breaker.state(UNARY)).toBe('closed');
  });

  it('marks its fast failures as local (x-weft-local: circuit-breaker)', async () => {
    const { breaker, fail } = await withBreaker();
    for (let i = 0; i < 4; i++) {
      const failed = await fail();
      expect(localReason(failed.status.metadata)).toBeUndefined();
    }
    expect(breaker.state(UNARY)).toBe('open');
    const rejected = await unary(harness!.client, {});
    expect(rejected.status.metadata.get(LOCAL_STATUS_KEY)).toEqual(['circuit-breaker']);
  });

  it('takes failure codes from the options', async () => {
    const { breaker, fail } = await withBreaker({ failureCodes: [grpc.status.NOT_FOUND] });
    for (let i = 0; i < 4; i++) await fail(grpc.status.UNAVAILABLE);
    expect(breaker.state(UNARY)).toBe('closed');
    for (let i = 0; i < 4; i++) await fail(grpc.status.NOT_FOUND);
    expect(breaker.state(UNARY)).toBe('open');
  });

  it('forgets failures that left the rolling window', async () => {
    const { breaker, fail, ok } = await withBreaker({ windowMs: 10_000, buckets: 10 });
    for (let i = 0; i < 3; i++) await fail();
    now = 10_500;
    await ok();
    await fail(); // 1 failure of 2 calls in the window: under minimumCalls
    expect(breaker.state(UNARY)).toBe('closed');
    await fail();
    await fail(); // 3 of 4
    expect(breaker.state(UNARY)).toBe('open');
  });

  it('half-opens after the cooldown and closes when the probe succeeds', async () => {
    const { breaker, fail, ok } = await withBreaker();
    for (let i = 0; i < 4; i++) await fail();
    now = 999;
    expect((await ok()).status.code).toBe(grpc.status.UNAVAILABLE);
    expect(harness!.handled.get('Unary')).toBe(4);
    now = 1000;
    expect((await ok()).status.code).toBe(grpc.status.OK);
    expect(breaker.state(UNARY)).toBe('closed');
    expect((await ok()).status.code).toBe(grpc.status.OK);
    // The window starts afresh after closing: one failure does not reopen it.
    await fail();
    expect(breaker.state(UNARY)).toBe('closed');
  });

  it('opens again when the probe fails', async () => {
    const { breaker, fail, ok } = await withBreaker();
    for (let i = 0; i < 4; i++) await fail();
    now = 1000;
    await fail();
    expect(breaker.state(UNARY)).toBe('open');
    now = 1500;
    expect((await ok()).status.details).toBe(`circuit open for ${UNARY}`);
    now = 2000;
    expect((await ok()).status.code).toBe(grpc.status.OK);
  });

  it('lets only halfOpenProbes probes through at once', async () => {
    // Probes are held at the server until the test lets them answer: they overlap for sure.
    let held = 0;
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let twoHeld: () => void = () => {};
    const bothArrived = new Promise<void>((resolve) => {
      twoHeld = resolve;
    });
    const { breaker, fail } = await withBreaker(
      { halfOpenProbes: 2 },
      {
        async Unary(call, callback) {
          if (call.request.failCode) return callback({ code: call.request.failCode, details: 'planned' });
          if (++held === 2) twoHeld();
          await released;
          callback(null, { message: 'probe' });
        },
      },
    );
    for (let i = 0; i < 4; i++) await fail();
    now = 1000;
    const probes = [0, 1, 2, 3].map(() => unary(harness!.client, { message: 'probe' }));
    await bothArrived;
    release();
    const results = await Promise.all(probes);
    expect(results.map((r) => r.status.code).sort()).toEqual([0, 0, 14, 14]);
    expect(held).toBe(2); // the two others were refused without reaching the server
    expect(breaker.state(UNARY)).toBe('closed');
  });

  it('keeps one breaker per method', async () => {
    const { breaker, fail, ok } = await withBreaker();
    for (let i = 0; i < 4; i++) await fail();
    expect(breaker.state(UNARY)).toBe('open');
    expect(breaker.state(FAIL)).toBe('closed');
    expect((await unary(harness!.client, { failCode: grpc.status.NOT_FOUND }, {}, 'Fail')).status.code).toBe(
      grpc.status.NOT_FOUND,
    );
    expect((await ok()).status.code).toBe(grpc.status.UNAVAILABLE);
  });

  it('fails server streams fast too', async () => {
    const { breaker } = await withBreaker();
    for (let i = 0; i < 4; i++)
      await serverStream(harness!.client, { failCode: grpc.status.UNAVAILABLE, count: 1 });
    expect(breaker.state('weft.test.TestService/ServerStream')).toBe('open');
    const result = await serverStream(harness!.client, {});
    expect(result.status.details).toBe('circuit open for weft.test.TestService/ServerStream');
    expect(result.responses).toEqual([]);
    expect(harness!.handled.get('ServerStream')).toBe(4);
  });

  it('answers with the fallback while open', async () => {
    const { fail } = await withBreaker({
      fallback: ({ method, request }) => ({
        message: `cached for ${method.method}: ${(request as { message: string }).message}`,
      }),
    });
    for (let i = 0; i < 4; i++) await fail();
    const result = await unary(harness!.client, { message: 'hello' });
    expect(result.status.code).toBe(grpc.status.OK);
    expect(result.responses[0]?.message).toBe('cached for Unary: hello');
    expect(harness!.handled.get('Unary')).toBe(4);
  });

  it('fails as usual when the fallback returns undefined', async () => {
    const { fail, ok } = await withBreaker({ fallback: () => undefined });
    for (let i = 0; i < 4; i++) await fail();
    expect((await ok()).status.code).toBe(grpc.status.UNAVAILABLE);
  });

  it('counts calls the caller cancelled neither as failures nor as successes', async () => {
    // Each call is cancelled once its handler ran: it reached the server and would have counted.
    let arrived: () => void = () => {};
    const { breaker, fail } = await withBreaker(
      {},
      {
        Unary(call, callback) {
          if (call.request.failCode) callback({ code: call.request.failCode, details: 'planned' });
          else arrived(); // and never answers: the caller cancels
        },
      },
    );
    const cancelOnArrival = async () => {
      const reached = new Promise<void>((resolve) => {
        arrived = resolve;
      });
      const call = harness!.client.Unary({ message: 'hang' }, () => {});
      const code = new Promise<number>((resolve) => call.on('status', (s) => resolve(s.code)));
      await reached;
      call.cancel();
      return code;
    };
    await fail();
    await fail();
    for (let i = 0; i < 6; i++) expect(await cancelOnArrival()).toBe(grpc.status.CANCELLED);
    // Cancels as failures: 8 of 8 failed, open. As neither: 2 calls, under minimumCalls.
    expect(breaker.state(UNARY)).toBe('closed');
    await fail();
    await fail();
    // Cancels as successes: 4 failures of 10 calls, under the ratio. As neither: 4 of 4, open.
    expect(breaker.state(UNARY)).toBe('open');
  });

  it('publishes transitions and rejections', async () => {
    const transitions: BreakerTransition[] = [];
    const rejections: BreakerRejection[] = [];
    const onTransition = (m: BreakerTransition) => transitions.push(m);
    const onRejection = (m: BreakerRejection) => rejections.push(m);
    signals.breakerTransition.subscribe(onTransition);
    signals.breakerRejection.subscribe(onRejection);
    try {
      const { fail, ok } = await withBreaker({ target: 'users' });
      for (let i = 0; i < 4; i++) await fail();
      await ok();
      now = 1000;
      await ok();
    } finally {
      signals.breakerTransition.unsubscribe(onTransition);
      signals.breakerRejection.unsubscribe(onRejection);
    }
    expect(transitions.map((t) => [t.from, t.to])).toEqual([
      ['closed', 'open'],
      ['open', 'half_open'],
      ['half_open', 'closed'],
    ]);
    expect(transitions[0]).toMatchObject({ target: 'users', method: UNARY });
    expect(rejections).toHaveLength(1);
    expect(rejections[0]?.target).toBe('users');
    expect(rejections[0]?.method.fullMethod).toBe(UNARY);
  });

  it('tells a retry layer above not to retry its fast failures', async () => {
    const breaker = circuitBreaker({ minimumCalls: 2, cooldownMs: 60_000, now: () => now });
    harness = await startHarness({
      clientInterceptors: [retry({ maxAttempts: 5, initialBackoff: 1 }), breaker],
    });
    // Two failing calls of up to 5 attempts: the breaker opens during the first one's retries.
    const first = await unary(harness.client, { failCode: grpc.status.UNAVAILABLE });
    expect(first.status.details).toBe(`circuit open for ${UNARY}`);
    expect(harness.handled.get('Unary')).toBe(2);
    // No retry of the rejection: counted, not timed (a busy machine stretches any time bound).
    const retries: RetryAttempt[] = [];
    const onRetry = (attempt: RetryAttempt) => retries.push(attempt);
    signals.retryAttempt.subscribe(onRetry);
    try {
      const second = await unary(harness.client, {});
      expect(second.status.details).toBe(`circuit open for ${UNARY}`);
      expect(second.status.metadata.get('grpc-retry-pushback-ms')).toEqual(['-1']);
    } finally {
      signals.retryAttempt.unsubscribe(onRetry);
    }
    expect(retries).toEqual([]);
    expect(harness.handled.get('Unary')).toBe(2);
  });

  // Callers' `while (...) await call()` loops must not starve timers and I/O while the circuit is
  // open: failed-fast calls that completed on process.nextTick kept the loops in the microtask
  // queues, so no timer fired and, while one loop awaited the half-open probe, the others spun
  // on so its response was never read: the breaker stayed half-open for as long as they ran
  // (issue 15, item 2: the demo's load generator). Real clock, real calls, four loops.
  it.each([
    ['fails fast', undefined],
    ['answers with the fallback', () => ({ message: 'cached' })],
  ] as const)(
    'lets timers fire and the breaker recover during tight await loops while it %s',
    async (_, fallback) => {
      let healthy = false;
      const breaker = circuitBreaker({ minimumCalls: 4, cooldownMs: 100, fallback });
      harness = await startHarness({
        clientInterceptors: [breaker],
        handlers: {
          Unary(call, callback) {
            if (healthy) callback(null, { message: call.request.message, context: {} });
            else callback({ code: grpc.status.UNAVAILABLE, details: 'down' });
          },
        },
      });
      const client = harness.client;
      for (let i = 0; i < 4; i++) await unary(client, {});
      expect(breaker.state(UNARY)).toBe('open');
      healthy = true; // the server recovers; only a probe after the cooldown can tell

      let ticks = 0;
      const interval = setInterval(() => ticks++, 5);
      const transitions: string[] = [];
      let ticksAtClose = -1;
      let calls = 0;
      let started = 0;
      let closedWhileLooping = false;
      const onTransition = (t: BreakerTransition) => {
        transitions.push(t.to);
        if (t.to !== 'closed') return;
        ticksAtClose = ticks;
        closedWhileLooping = withinBounds();
      };
      signals.breakerTransition.subscribe(onTransition);
      started = performance.now();
      // Bounded by count and wall time, so starving code fails this test rather than hanging it.
      const withinBounds = () => calls < 100_000 && performance.now() - started < 3000;
      const loop = async () => {
        while (ticksAtClose < 0 && withinBounds()) {
          await unary(client, { message: 'm' });
          calls++;
        }
      };
      try {
        await Promise.all([loop(), loop(), loop(), loop()]);
      } finally {
        clearInterval(interval);
        signals.breakerTransition.unsubscribe(onTransition);
      }
      expect(transitions).toEqual(['half_open', 'closed']);
      // Closed by the probe within the loops' bounds, not once they gave up and let its answer in.
      expect(closedWhileLooping).toBe(true);
      // The interval ran while the loops spun: about once per 5 ms of the >= 100 ms cooldown,
      // give or take a busy machine.
      expect(ticksAtClose).toBeGreaterThanOrEqual(3);
      expect((await unary(client, { message: 'after' })).status.code).toBe(grpc.status.OK);
    },
  );

  it('rejects bad options at setup', () => {
    expect(() => circuitBreaker({ failureRatio: 0 })).toThrow(OptionError);
    expect(() => circuitBreaker({ halfOpenProbes: 0 })).toThrow(OptionError);
  });
});
