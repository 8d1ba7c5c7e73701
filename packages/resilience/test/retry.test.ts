import * as grpc from '@grpc/grpc-js';
import { type RetryAttempt, type RetryThrottled, signals } from '@weft/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  clientStream,
  type Harness,
  type HarnessOptions,
  metadata,
  serverStream,
  startHarness,
  unary,
} from '../../../test/harness';
import { parsePushback, type RetryOptions, RetryThrottle, retry } from '../src/index';

/** What the server saw of each attempt. */
interface AttemptLog {
  at: number;
  previous: string | undefined;
}

function failure(code: grpc.status, trailers: Record<string, string> = {}): grpc.ServiceError {
  return Object.assign(new Error('planned failure'), {
    code,
    details: 'planned failure',
    metadata: metadata(trailers),
  });
}

describe('retry', () => {
  let harness: Harness | undefined;
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
  });

  /**
   * A server whose Unary fails with `code` (and `trailers`) for the first `failures` calls, then
   * answers; `attempts` records each call's arrival and its `grpc-previous-rpc-attempts`.
   */
  async function flaky(
    failures: number,
    code: grpc.status,
    options: RetryOptions = {},
    trailers: Record<string, string> = {},
    handlers: HarnessOptions['handlers'] = {},
  ) {
    const attempts: AttemptLog[] = [];
    harness = await startHarness({
      clientInterceptors: [retry({ random: () => 1, initialBackoff: 10, ...options })],
      handlers: {
        Unary(call, callback) {
          attempts.push({
            at: performance.now(),
            previous: call.metadata.get('grpc-previous-rpc-attempts')[0]?.toString(),
          });
          if (attempts.length <= failures) callback(failure(code, trailers));
          else callback(null, { message: call.request.message });
        },
        ...handlers,
      },
    });
    return attempts;
  }

  /**
   * The delay (ms) before each retry of one call, read on a fake clock: the server fails the call
   * `failures` times with UNAVAILABLE (and `trailers`), then answers. The channel connects first, on
   * the real clock; from then on only `setTimeout` and `Date` are fake, so the retry's timer is the
   * next one and advancing to it measures its delay exactly, whatever the machine's load.
   */
  async function retryDelays(
    options: RetryOptions,
    failures: number,
    trailers: Record<string, string> = {},
  ): Promise<{ delays: number[]; code: grpc.status; attempts: number }> {
    let attempts = 0;
    harness = await startHarness({
      clientInterceptors: [retry(options)],
      handlers: {
        Unary(call, callback) {
          if (call.request.message === 'warm') return callback(null, {});
          attempts++;
          if (attempts <= failures) callback(failure(grpc.status.UNAVAILABLE, trailers));
          else callback(null, {});
        },
      },
    });
    await unary(harness.client, { message: 'warm' });
    let retries = 0;
    let wake: () => void = () => {};
    const onRetry = () => {
      retries++;
      wake();
    };
    const retried = (n: number) =>
      new Promise<void>((resolve) => {
        wake = () => {
          if (retries >= n) resolve();
        };
        wake();
      });
    signals.retryAttempt.subscribe(onRetry);
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    try {
      const result = unary(harness.client, {});
      const delays: number[] = [];
      for (let n = 1; n <= failures; n++) {
        await retried(n); // attempt n failed and its retry is scheduled
        const from = Date.now();
        await vi.advanceTimersToNextTimerAsync();
        delays.push(Date.now() - from);
      }
      return { delays, code: (await result).status.code, attempts };
    } finally {
      vi.useRealTimers();
      signals.retryAttempt.unsubscribe(onRetry);
    }
  }

  it('retries UNAVAILABLE until it succeeds, with grpc-previous-rpc-attempts on retries', async () => {
    const attempts = await flaky(2, grpc.status.UNAVAILABLE);
    const result = await unary(harness!.client, { message: 'hi' });
    expect(result.status.code).toBe(grpc.status.OK);
    expect(result.responses[0]?.message).toBe('hi');
    expect(attempts.map((a) => a.previous)).toEqual([undefined, '1', '2']);
  });

  it('stops after maxAttempts and returns the last failure', async () => {
    const attempts = await flaky(100, grpc.status.UNAVAILABLE, { maxAttempts: 4 });
    const result = await unary(harness!.client, {});
    expect(result.status.code).toBe(grpc.status.UNAVAILABLE);
    expect(result.status.details).toBe('planned failure');
    expect(attempts).toHaveLength(4);
  });

  it('caps maxAttempts at 5', async () => {
    const attempts = await flaky(100, grpc.status.UNAVAILABLE, { maxAttempts: 10, initialBackoff: 1 });
    await unary(harness!.client, {});
    expect(attempts).toHaveLength(5);
  });

  it.each([
    grpc.status.INVALID_ARGUMENT,
    grpc.status.NOT_FOUND,
    grpc.status.RESOURCE_EXHAUSTED,
    grpc.status.INTERNAL,
  ])('does not retry code %i by default', async (code) => {
    const attempts = await flaky(1, code);
    expect((await unary(harness!.client, {})).status.code).toBe(code);
    expect(attempts).toHaveLength(1);
  });

  it('retries the codes it is told to', async () => {
    const attempts = await flaky(1, grpc.status.INTERNAL, { retryableCodes: [grpc.status.INTERNAL] });
    expect((await unary(harness!.client, {})).status.code).toBe(grpc.status.OK);
    expect(attempts).toHaveLength(2);
  });

  it('waits a random delay in [0, backoff], the backoff growing by the multiplier up to maxBackoff', async () => {
    const { delays, code, attempts } = await retryDelays(
      { maxAttempts: 5, initialBackoff: 40, multiplier: 2, maxBackoff: 100, random: () => 1 },
      4,
    );
    // random() = 1: the full bound each time: 40, 80, 100 (capped), 100.
    expect(delays).toEqual([40, 80, 100, 100]);
    expect([code, attempts]).toEqual([grpc.status.OK, 5]);
  });

  it('draws the delay as random() times the bound', async () => {
    const { delays } = await retryDelays({ maxAttempts: 3, initialBackoff: 40, random: () => 0.25 }, 2);
    expect(delays).toEqual([10, 20]);
  });

  it('draws the jitter from [0, backoff]', async () => {
    const attempts = await flaky(2, grpc.status.UNAVAILABLE, { initialBackoff: 1000, random: () => 0 });
    const started = performance.now();
    expect((await unary(harness!.client, {})).status.code).toBe(grpc.status.OK);
    expect(attempts).toHaveLength(3);
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('never retries once a response message arrived on a server stream', async () => {
    let calls = 0;
    harness = await startHarness({
      clientInterceptors: [retry({ initialBackoff: 1 })],
      handlers: {
        ServerStream(call) {
          calls++;
          call.write({ message: 'first', index: 0 });
          call.emit('error', failure(grpc.status.UNAVAILABLE));
        },
      },
    });
    const result = await serverStream(harness.client, {});
    expect(result.status.code).toBe(grpc.status.UNAVAILABLE);
    expect(result.responses.map((r) => r.message)).toEqual(['first']);
    expect(calls).toBe(1);
  });

  it('retries a server stream that failed before sending anything, and streams the retry', async () => {
    let calls = 0;
    harness = await startHarness({
      clientInterceptors: [retry({ initialBackoff: 1 })],
      handlers: {
        ServerStream(call) {
          calls++;
          if (calls === 1) {
            call.emit('error', failure(grpc.status.UNAVAILABLE));
            return;
          }
          for (let i = 0; i < 3; i++) call.write({ message: 'm', index: i });
          call.end();
        },
      },
    });
    const result = await serverStream(harness.client, {});
    expect(result.status.code).toBe(grpc.status.OK);
    expect(result.responses.map((r) => r.index)).toEqual([0, 1, 2]);
    expect(calls).toBe(2);
  });

  it('never retries once response headers arrived', async () => {
    let calls = 0;
    harness = await startHarness({
      clientInterceptors: [retry({ initialBackoff: 1 })],
      handlers: {
        Unary(call, callback) {
          calls++;
          call.sendMetadata(metadata({ 'x-started': 'yes' }));
          // Fails a turn later, so the headers go out first (not folded into a trailers-only answer).
          setImmediate(() => callback(failure(grpc.status.UNAVAILABLE)));
        },
      },
    });
    const result = await unary(harness.client, {});
    expect(result.status.code).toBe(grpc.status.UNAVAILABLE);
    expect(result.headers?.get('x-started')).toEqual(['yes']);
    expect(calls).toBe(1);
  });

  it('waits exactly the pushback the server asks for', async () => {
    const { delays, code } = await retryDelays({ random: () => 0 }, 1, { 'grpc-retry-pushback-ms': '250' });
    expect(delays).toEqual([250]);
    expect(code).toBe(grpc.status.OK);
  });

  it.each(['-1', 'soon', '1.5', ''])(
    'stops retrying on a negative or malformed pushback (%j)',
    async (value) => {
      const attempts = await flaky(1, grpc.status.UNAVAILABLE, {}, { 'grpc-retry-pushback-ms': value });
      expect((await unary(harness!.client, {})).status.code).toBe(grpc.status.UNAVAILABLE);
      expect(attempts).toHaveLength(1);
    },
  );

  it('never retries past the overall deadline', async () => {
    const attempts = await flaky(100, grpc.status.UNAVAILABLE, { initialBackoff: 1000, random: () => 1 });
    const started = performance.now();
    const result = await unary(harness!.client, {}, { deadline: Date.now() + 300 });
    expect(result.status.code).toBe(grpc.status.UNAVAILABLE);
    expect(attempts).toHaveLength(1);
    expect(performance.now() - started).toBeLessThan(250);
  });

  it('keeps all attempts within one deadline', async () => {
    const attempts = await flaky(100, grpc.status.UNAVAILABLE, {
      maxAttempts: 5,
      initialBackoff: 120,
      multiplier: 1,
    });
    const started = performance.now();
    const result = await unary(harness!.client, {}, { deadline: Date.now() + 300 });
    const took = performance.now() - started;
    expect(result.status.code).toBe(grpc.status.UNAVAILABLE);
    expect(attempts.length).toBeGreaterThanOrEqual(2);
    expect(attempts.length).toBeLessThanOrEqual(3);
    expect(took).toBeLessThan(350);
  });

  it('retries an attempt that ran out of its perAttemptTimeout', async () => {
    let calls = 0;
    harness = await startHarness({
      clientInterceptors: [retry({ perAttemptTimeout: 100, initialBackoff: 1 })],
      handlers: {
        async Unary(call, callback) {
          calls++;
          // The first attempt holds on until its perAttemptTimeout cancels it.
          if (calls === 1) await new Promise((r) => call.on('cancelled', r));
          if (!call.cancelled) callback(null, { message: `attempt ${calls}` });
        },
      },
    });
    const started = performance.now();
    const result = await unary(harness.client, {}, { deadline: Date.now() + 2000 });
    expect(result.status.code).toBe(grpc.status.OK);
    expect(result.responses[0]?.message).toBe('attempt 2');
    expect(performance.now() - started).toBeLessThan(600);
  });

  it('never retries nonIdempotent methods, and takes per-method policies', async () => {
    const attempts = await flaky(100, grpc.status.UNAVAILABLE, {
      nonIdempotent: ['weft.test.TestService/Fail'],
      methods: { 'weft.test.TestService/Unary': { maxAttempts: 2 } },
    });
    expect((await unary(harness!.client, {})).status.code).toBe(grpc.status.UNAVAILABLE);
    expect(attempts).toHaveLength(2);
    await unary(harness!.client, { failCode: grpc.status.UNAVAILABLE }, {}, 'Fail');
    expect(harness!.handled.get('Fail')).toBe(1);
  });

  it('turns retries off for a method with `false`', async () => {
    const attempts = await flaky(100, grpc.status.UNAVAILABLE, {
      methods: { 'weft.test.TestService': false },
    });
    await unary(harness!.client, {});
    expect(attempts).toHaveLength(1);
  });

  it('passes client streams through untouched', async () => {
    harness = await startHarness({ clientInterceptors: [retry({ initialBackoff: 1 })] });
    const result = await clientStream(harness.client, [{ message: 'a', failCode: grpc.status.UNAVAILABLE }]);
    expect(result.status.code).toBe(grpc.status.UNAVAILABLE);
    expect(harness.handled.get('ClientStream')).toBe(1);
  });

  it('publishes retryAttempt for each retry', async () => {
    const seen: RetryAttempt[] = [];
    const listener = (message: RetryAttempt) => seen.push(message);
    signals.retryAttempt.subscribe(listener);
    try {
      await flaky(2, grpc.status.UNAVAILABLE);
      await unary(harness!.client, {});
    } finally {
      signals.retryAttempt.unsubscribe(listener);
    }
    expect(seen.map((s) => [s.attempt, s.code, s.method.method])).toEqual([
      [2, grpc.status.UNAVAILABLE, 'Unary'],
      [3, grpc.status.UNAVAILABLE, 'Unary'],
    ]);
  });

  it('throttles a retry storm against a failing server', async () => {
    const calls = 50;
    const run = async (options: RetryOptions) => {
      const attempts = await flaky(1_000_000, grpc.status.UNAVAILABLE, { initialBackoff: 1, ...options });
      for (let i = 0; i < calls; i++) await unary(harness!.client, {});
      await harness!.close();
      harness = undefined;
      return attempts.length / calls;
    };
    const throttled: RetryThrottled[] = [];
    const listener = (message: RetryThrottled) => throttled.push(message);
    signals.retryThrottled.subscribe(listener);
    let unthrottledAmplification: number;
    let throttledAmplification: number;
    try {
      unthrottledAmplification = await run({ throttling: false });
      throttledAmplification = await run({ target: 'backend' });
    } finally {
      signals.retryThrottled.unsubscribe(listener);
    }
    expect(unthrottledAmplification).toBe(3);
    // 10 tokens, retries only above 5: a handful of retries, then first attempts only.
    expect(throttledAmplification).toBeLessThan(1.15);
    expect(throttled.length).toBeGreaterThan(0);
    expect(throttled[0]).toMatchObject({ target: 'backend' });
  });

  // Counted at the server: a marker call made after the backoff passed arrives after any attempt
  // the retry timer started (same connection, streams opened in order), so "no second attempt
  // before the marker" means none started. The run without a cancel shows the count would see one.
  it.each([
    [
      'starts the next attempt once the backoff passed',
      false,
      grpc.status.UNAVAILABLE,
      ['retried', 'retried', 'marker'],
    ],
    ['starts no attempt after a cancel between attempts', true, grpc.status.CANCELLED, ['retried', 'marker']],
  ] as const)('%s', async (_, cancel, code, arrivals) => {
    const seen: string[] = [];
    harness = await startHarness({
      clientInterceptors: [retry({ maxAttempts: 2, initialBackoff: 1000, random: () => 1 })],
      handlers: {
        Unary(call, callback) {
          seen.push(call.request.message);
          if (call.request.message === 'marker') callback(null, {});
          else callback(failure(grpc.status.UNAVAILABLE));
        },
      },
    });
    await unary(harness.client, { message: 'marker' }); // connected before the clock is faked
    seen.length = 0;
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const retrying = new Promise<void>((resolve) => {
        const listener = () => {
          signals.retryAttempt.unsubscribe(listener);
          resolve();
        };
        signals.retryAttempt.subscribe(listener);
      });
      const call = harness.client.Unary({ message: 'retried' }, () => {});
      const status = new Promise<number>((resolve) => call.on('status', (s) => resolve(s.code)));
      await retrying; // the first attempt failed; the retry waits its 1000 ms backoff
      expect(seen).toEqual(['retried']);
      if (cancel) call.cancel();
      await vi.advanceTimersByTimeAsync(1000);
      expect(await status).toBe(code);
      expect((await unary(harness.client, { message: 'marker' })).status.code).toBe(grpc.status.OK);
      expect(seen).toEqual(arrivals);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('parsePushback', () => {
  it.each([
    [undefined, undefined],
    ['0', 0],
    ['250', 250],
    [' 250 ', 250],
    ['-5', -1],
    ['1e3', -1],
    ['abc', -1],
  ])('%j -> %j', (value, expected) => {
    expect(
      parsePushback(
        value === undefined ? new grpc.Metadata() : metadata({ 'grpc-retry-pushback-ms': value }),
      ),
    ).toBe(expected);
  });
});

describe('RetryThrottle', () => {
  it('allows retries only while more than half the tokens remain, and refills by tokenRatio', () => {
    const throttle = new RetryThrottle(10, 0.5);
    for (let i = 0; i < 4; i++) throttle.failure();
    expect(throttle.allowsRetry).toBe(true);
    throttle.failure();
    expect(throttle.allowsRetry).toBe(false);
    throttle.success();
    expect(throttle.allowsRetry).toBe(true);
    for (let i = 0; i < 100; i++) throttle.success();
    expect(throttle.tokenCount).toBe(10);
  });
});
