import * as grpc from '@grpc/grpc-js';
import { type LimitEvent, signals } from '@weft/core';
import Redis from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness, unary } from '../../../test/harness';
import { MemoryStore, type RateLimitOptions, type RateLimitStore, rateLimit, redisStore } from '../src/index';
import { type RedisProcess, redisMode, startRedis } from './redis-server';

/** Collects what a signal publishes while `fn` runs. */
async function collect<T>(
  signal: { subscribe(l: (m: T) => void): void; unsubscribe(l: (m: T) => void): boolean },
  fn: () => Promise<void>,
) {
  const seen: T[] = [];
  const listener = (m: T) => seen.push(m);
  signal.subscribe(listener);
  try {
    await fn();
  } finally {
    signal.unsubscribe(listener);
  }
  return seen;
}

/** The RateLimit trailers of a call, `[limit, remaining, reset]`, or `undefined` when absent. */
function rateLimitFields(trailers: grpc.Metadata): string[] | undefined {
  const fields = ['ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset'].map((k) => trailers.get(k)[0]);
  return fields.every((f) => f === undefined) ? undefined : (fields as string[]);
}

describe('rateLimit shadow mode, near-limit signal and RateLimit trailers', () => {
  let harness: Harness | undefined;
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
  });

  const start = async (options: RateLimitOptions) => {
    harness = await startHarness({ serverInterceptors: [rateLimit(options)] });
    return harness.client;
  };

  it('a shadow rule refuses nothing and counts what it would have refused', async () => {
    const client = await start({ rules: [{ name: 'trial', rate: 0.001, burst: 2, shadow: true }] });
    const codes: grpc.status[] = [];
    let rejected: LimitEvent[] = [];
    const shadowed = await collect(signals.limitShadowed, async () => {
      rejected = await collect(signals.limitRejection, async () => {
        for (let i = 0; i < 5; i++) codes.push((await unary(client, {})).status.code);
      });
    });
    expect(codes).toEqual(new Array(5).fill(grpc.status.OK));
    expect(harness!.handled.get('Unary')).toBe(5);
    expect(rejected).toEqual([]);
    // Burst 2: the last 3 would have been refused.
    expect(shadowed.map((e) => `${e.rule} ${e.keyClass} ${e.method.method}`)).toEqual(
      new Array(3).fill('trial global Unary'),
    );
  });

  it('an enforced rule after a shadow rule still refuses', async () => {
    const client = await start({
      rules: [
        { name: 'trial', rate: 0.001, burst: 1, shadow: true },
        { name: 'real', rate: 0.001, burst: 2 },
      ],
    });
    const results = [];
    for (let i = 0; i < 3; i++) results.push((await unary(client, {})).status);
    expect(results.map((s) => s.code)).toEqual([
      grpc.status.OK,
      grpc.status.OK,
      grpc.status.RESOURCE_EXHAUSTED,
    ]);
    expect(results[2]?.details).toMatch(/^rate limit "real" exceeded/);
  });

  it('publishes near_limit for admissions that leave the bucket under 20% full', async () => {
    const client = await start({ rules: [{ name: 'per-method', rate: 0.001, burst: 10, key: 'method' }] });
    const order: string[] = [];
    const near = await collect(signals.limitNearLimit, async () => {
      for (let i = 1; i <= 11; i++) {
        const { status } = await unary(client, {});
        order.push(`${i}:${grpc.status[status.code]}`);
      }
    });
    // Tokens left after call n: 10 - n. Under 2 (20% of 10) after calls 9 and 10; 11 is refused.
    expect(order.at(-1)).toBe('11:RESOURCE_EXHAUSTED');
    expect(near).toHaveLength(2);
    expect(near[0]).toMatchObject({ limiter: 'rate', rule: 'per-method', keyClass: 'method' });
  });

  it('sends ratelimit-limit / -remaining / -reset trailers with headers: true', async () => {
    let now = 0;
    const store = new MemoryStore({ now: () => now });
    const client = await start({ headers: true, rules: [{ name: 'quota', rate: 0.5, burst: 3, store }] });
    const trailers: (string[] | undefined)[] = [];
    for (let i = 0; i < 4; i++) trailers.push(rateLimitFields((await unary(client, {})).status.metadata));
    // 0.5 tokens/s: full again in 2 s per token taken; refused, the next token comes in 2 s.
    expect(trailers).toEqual([
      ['3', '2', '2'],
      ['3', '1', '4'],
      ['3', '0', '6'],
      ['3', '0', '2'],
    ]);
    now = 1000; // half a token back: still refused, the next token in 1 s
    expect(rateLimitFields((await unary(client, {})).status.metadata)).toEqual(['3', '0', '1']);
    now = 10_000;
    expect(rateLimitFields((await unary(client, {})).status.metadata)).toEqual(['3', '2', '2']);
  });

  it('works with a store that only has take (no trailers, no near-limit signal)', async () => {
    const answers = [0, 0, 1500];
    const store: RateLimitStore = { take: () => answers.shift() ?? 0 };
    const client = await start({ headers: true, rules: [{ name: 'custom', rate: 1, burst: 1, store }] });
    const results: grpc.StatusObject[] = [];
    const near = await collect(signals.limitNearLimit, async () => {
      for (let i = 0; i < 3; i++) results.push((await unary(client, {})).status);
    });
    expect(results.map((r) => r.code)).toEqual([
      grpc.status.OK,
      grpc.status.OK,
      grpc.status.RESOURCE_EXHAUSTED,
    ]);
    expect(results[2]?.metadata.get('grpc-retry-pushback-ms')).toEqual(['1500']);
    expect(results.map((r) => rateLimitFields(r.metadata))).toEqual([undefined, undefined, undefined]);
    expect(near).toEqual([]);
  });

  it('reports the tightest enforced rule, never a shadow rule, and nothing without headers', async () => {
    let client = await start({
      headers: true,
      rules: [
        { name: 'wide', rate: 100, burst: 100 },
        { name: 'narrow', rate: 1, burst: 5 },
        { name: 'trial', rate: 0.001, burst: 1, shadow: true },
      ],
    });
    const fields = rateLimitFields((await unary(client, {})).status.metadata);
    expect(fields?.slice(0, 2)).toEqual(['5', '4']);
    await harness?.close();
    client = await start({ rules: [{ name: 'quota', rate: 1, burst: 3 }] });
    expect(rateLimitFields((await unary(client, {})).status.metadata)).toBeUndefined();
  });
});

const redis = redisMode();

describe.runIf(redis === 'run')('rateLimit RateLimit trailers and near-limit with a Redis store', () => {
  let server: RedisProcess;
  let client: Redis;
  let harness: Harness | undefined;
  beforeAll(async () => {
    server = await startRedis();
    client = new Redis({ port: server.port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
    client.on('error', () => {});
    // The store refuses to wait for a connection (it fails open instead): connect first.
    if (client.status !== 'ready')
      await new Promise<void>((resolve) => client.once('ready', () => resolve()));
  });
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
  });
  afterAll(async () => {
    client?.disconnect();
    await server?.stop();
  });

  it('answers the same fields as the memory store', async () => {
    const store = redisStore({ client, keyPrefix: 'ratelimit-fields' });
    harness = await startHarness({
      serverInterceptors: [
        rateLimit({ headers: true, rules: [{ name: 'quota', rate: 0.01, burst: 5, store }] }),
      ],
    });
    const seen: (string[] | undefined)[] = [];
    const near = await collect(signals.limitNearLimit, async () => {
      for (let i = 0; i < 6; i++)
        seen.push(rateLimitFields((await unary(harness!.client, {})).status.metadata));
    });
    // 0.01 tokens/s: 100 s per token. Remaining 4..0, then refused.
    expect(seen.map((f) => f?.slice(0, 2))).toEqual([
      ['5', '4'],
      ['5', '3'],
      ['5', '2'],
      ['5', '1'],
      ['5', '0'],
      ['5', '0'],
    ]);
    expect(seen.slice(0, 5).map((f) => Number(f?.[2]))).toEqual([100, 200, 300, 400, 500]);
    expect(Number(seen[5]?.[2])).toBeGreaterThan(95);
    expect(Number(seen[5]?.[2])).toBeLessThanOrEqual(100);
    // Under 1 token (20% of 5) left after the 5th admission only.
    expect(near).toHaveLength(1);
  });
});
