import * as grpc from '@grpc/grpc-js';
import { type LimitRejection, signals } from '@weft/core';
import Redis from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, metadata, startHarness, type TestServiceClient, unary } from '../../../test/harness';
import { MemoryStore, peerHost, type RateLimitRule, rateLimit, redisStore } from '../src/index';
import { REDIS_SERVER, type RedisProcess, redisMode, startRedis } from './redis-server';

const redis = redisMode();

/**
 * Fires calls from every client (`perClient` loops each, `pauseMs` between a loop's calls) for `ms`.
 * Paced so the offered load is many times the limits under test without starving tests that run
 * alongside in the other worker.
 */
async function flood(
  clients: TestServiceClient[],
  ms: number,
  perClient = 1,
  pauseMs = 5,
): Promise<{ elapsed: number; codes: number[] }> {
  const codes: number[] = [];
  const start = performance.now();
  const end = start + ms;
  const worker = async (client: TestServiceClient) => {
    while (performance.now() < end) {
      const result = await unary(client, { message: 'x' });
      codes.push(result.status.code);
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  };
  await Promise.all(clients.flatMap((client) => Array.from({ length: perClient }, () => worker(client))));
  return { elapsed: performance.now() - start, codes };
}

describe('MemoryStore', () => {
  it('gives a burst, then one token per 1/rate seconds', () => {
    let now = 0;
    const store = new MemoryStore({ now: () => now });
    expect([1, 2, 3].map(() => store.take('k', 10, 3))).toEqual([0, 0, 0]);
    expect(store.take('k', 10, 3)).toBe(100);
    now = 50;
    expect(store.take('k', 10, 3)).toBe(50);
    now = 100;
    expect(store.take('k', 10, 3)).toBe(0);
    expect(store.take('k', 10, 3)).toBe(100);
  });

  it('keeps at most maxKeys buckets and drops refilled ones first', () => {
    let now = 0;
    const store = new MemoryStore({ now: () => now, maxKeys: 100 });
    for (let i = 0; i < 1000; i++) store.take(`key-${i}`, 1, 5);
    expect(store.size).toBeLessThanOrEqual(100);
    now = 10_000; // every bucket has refilled
    store.take('fresh', 1, 5);
    store.sweep();
    expect(store.size).toBe(1);
  });

  it('sweeps idle buckets as it goes', () => {
    let now = 0;
    const store = new MemoryStore({ now: () => now, sweepIntervalMs: 1000 });
    for (let i = 0; i < 50; i++) store.take(`key-${i}`, 100, 2);
    now = 5000;
    store.take('other', 100, 2);
    expect(store.size).toBe(1);
  });
});

describe('peerHost', () => {
  it.each([
    ['ipv4:10.0.0.1:5555', 'ipv4:10.0.0.1'],
    ['127.0.0.1:5555', '127.0.0.1'],
    ['[::1]:5555', '[::1]'],
    ['unix:/tmp/sock', 'unix:/tmp/sock'],
    ['local', 'local'],
  ])('%s -> %s', (peer, host) => expect(peerHost(peer)).toBe(host));
});

describe('rateLimit', () => {
  let harness: Harness | undefined;
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
  });

  it('rejects before the handler with RESOURCE_EXHAUSTED, naming the limit, with retry trailers', async () => {
    harness = await startHarness({
      serverInterceptors: [rateLimit({ rules: [{ name: 'per-method', rate: 1, burst: 1, key: 'method' }] })],
    });
    const first = await unary(harness.client, {});
    const second = await unary(harness.client, {});
    expect(first.status.code).toBe(grpc.status.OK);
    expect(second.status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(second.status.details).toMatch(/^rate limit "per-method" exceeded; retry in \d+ ms$/);
    const pushback = Number(second.status.metadata.get('grpc-retry-pushback-ms')[0]);
    expect(pushback).toBeGreaterThan(800);
    expect(pushback).toBeLessThanOrEqual(1000);
    expect(second.status.metadata.get('retry-after')).toEqual(['1']);
    expect(harness.handled.get('Unary')).toBe(1);
    // Another method has its own bucket.
    expect((await unary(harness.client, { sleepMs: 1 }, {}, 'Sleep')).status.code).toBe(grpc.status.OK);
  });

  it('admits no more than rate * time + burst under a flood from many clients', async () => {
    const rate = 50;
    const burst = 10;
    harness = await startHarness({
      serverInterceptors: [rateLimit({ rules: [{ name: 'global', rate, burst }] })],
    });
    const clients = Array.from({ length: 6 }, () => harness!.newClient());
    // Three callers per client: the offered load stays well above the rate even when a busy
    // machine makes each call slow (one caller per client offered ~2x the rate under load).
    const { elapsed, codes } = await flood(clients, 1500, 3);
    const admitted = harness.handled.get('Unary') ?? 0;
    const bound = (rate * elapsed) / 1000 + burst;
    expect(codes.filter((c) => c === grpc.status.OK).length).toBe(admitted);
    // The flood went over the limit (else the bounds below would prove nothing).
    expect(codes.filter((c) => c === grpc.status.RESOURCE_EXHAUSTED).length).toBeGreaterThan(admitted / 2);
    expect(admitted).toBeLessThanOrEqual(Math.ceil(bound));
    expect(admitted).toBeGreaterThanOrEqual(Math.floor(bound * 0.85));
  });

  it('keys on the subject when there is one, on the peer otherwise', async () => {
    harness = await startHarness({
      serverInterceptors: [
        rateLimit({
          rules: [{ name: 'per-subject', rate: 0.001, burst: 2, key: 'subject' }],
          subject: (ctx) => ctx.metadata?.get('x-test-subject')[0]?.toString(),
        }),
      ],
    });
    const as = (who: string) => ({ metadata: metadata({ 'x-test-subject': who }) });
    const codes = async (options: { metadata?: grpc.Metadata }) =>
      (await unary(harness!.client, {}, options)).status.code;
    expect([await codes(as('alice')), await codes(as('alice')), await codes(as('alice'))]).toEqual([0, 0, 8]);
    expect([await codes(as('bob')), await codes(as('bob'))]).toEqual([0, 0]);
    expect([await codes({}), await codes({}), await codes({})]).toEqual([0, 0, 8]);
  });

  it('checks rules in order, and a custom key function', async () => {
    harness = await startHarness({
      serverInterceptors: [
        rateLimit({
          rules: [
            {
              name: 'per-tenant',
              rate: 0.001,
              burst: 1,
              key: (ctx) => String(ctx.metadata?.get('x-tenant')[0]),
            },
            { name: 'global', rate: 0.001, burst: 2 },
          ],
        }),
      ],
    });
    const call = async (tenant: string) =>
      (await unary(harness!.client, {}, { metadata: metadata({ 'x-tenant': tenant }) })).status;
    expect((await call('a')).code).toBe(0);
    expect((await call('a')).details).toContain('"per-tenant"');
    expect((await call('b')).code).toBe(0);
    expect((await call('c')).details).toContain('"global"');
  });

  it('publishes limitRejection', async () => {
    const seen: LimitRejection[] = [];
    const listener = (message: LimitRejection) => seen.push(message);
    signals.limitRejection.subscribe(listener);
    try {
      harness = await startHarness({
        serverInterceptors: [
          rateLimit({ rules: [{ name: 'per-peer', rate: 0.001, burst: 1, key: 'peer' }] }),
        ],
      });
      await unary(harness.client, {});
      await unary(harness.client, {});
    } finally {
      signals.limitRejection.unsubscribe(listener);
    }
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ limiter: 'rate', rule: 'per-peer', keyClass: 'peer' });
    expect(seen[0]?.method.method).toBe('Unary');
  });

  it('rejects bad rules at setup', () => {
    expect(() => rateLimit({ rules: [] })).toThrow(/at least one rule/);
    expect(() => rateLimit({ rules: [{ name: 'x', rate: 0 }] })).toThrow(/rate/);
    expect(() => rateLimit({ rules: [{ name: 'x', rate: 1, burst: 0 }] })).toThrow(/burst/);
  });
});

describe.runIf(redis === 'fail')('rateLimit with a Redis store (CI)', () => {
  it('needs redis-server', () => {
    throw new Error(
      `redis-server not found at ${REDIS_SERVER}: CI must install it (apt-get install redis-server)`,
    );
  });
});

describe.runIf(redis === 'run')('rateLimit with a Redis store', () => {
  let server: RedisProcess;
  const clients: Redis[] = [];
  const harnesses: Harness[] = [];
  const connect = (port: number) => {
    const client = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1, lazyConnect: false });
    client.on('error', () => {});
    clients.push(client);
    return client;
  };
  const ready = (client: Redis) =>
    client.status === 'ready'
      ? Promise.resolve()
      : new Promise<void>((resolve) => client.once('ready', () => resolve()));

  beforeAll(async () => {
    server = await startRedis();
  });
  afterEach(async () => {
    for (const h of harnesses.splice(0)) await h.close();
    for (const c of clients.splice(0)) c.disconnect();
  });
  afterAll(async () => server?.stop());

  it('two servers sharing one Redis enforce one global limit', async () => {
    const rate = 40;
    const burst = 10;
    const rule = (client: Redis): RateLimitRule => ({
      name: 'shared',
      rate,
      burst,
      store: redisStore({ client, keyPrefix: 'two-servers' }),
    });
    const a = connect(server.port);
    const b = connect(server.port);
    await Promise.all([ready(a), ready(b)]);
    harnesses.push(await startHarness({ serverInterceptors: [rateLimit({ rules: [rule(a)] })] }));
    harnesses.push(await startHarness({ serverInterceptors: [rateLimit({ rules: [rule(b)] })] }));
    const callers = harnesses.flatMap((h) => [h.client, h.newClient(), h.newClient()]);
    const { elapsed, codes } = await flood(callers, 1500);
    const admitted = harnesses.reduce((sum, h) => sum + (h.handled.get('Unary') ?? 0), 0);
    const bound = (rate * elapsed) / 1000 + burst;
    expect(codes.filter((c) => c === grpc.status.OK).length).toBe(admitted);
    expect(harnesses.every((h) => (h.handled.get('Unary') ?? 0) > 0)).toBe(true);
    expect(admitted).toBeLessThanOrEqual(Math.ceil(bound));
    expect(admitted).toBeGreaterThanOrEqual(Math.floor(bound * 0.8));
    const limited = await unary(harnesses[0]!.client, {});
    if (limited.status.code === grpc.status.RESOURCE_EXHAUSTED) {
      expect(Number(limited.status.metadata.get('grpc-retry-pushback-ms')[0])).toBeGreaterThan(0);
    }
  });

  it('sends retry trailers for a Redis-backed limit', async () => {
    const client = connect(server.port);
    await ready(client);
    const store = redisStore({ client, keyPrefix: 'trailers' });
    const h = await startHarness({
      serverInterceptors: [rateLimit({ rules: [{ name: 'slow', rate: 0.5, burst: 1, store }] })],
    });
    harnesses.push(h);
    expect((await unary(h.client, {})).status.code).toBe(grpc.status.OK);
    const limited = await unary(h.client, {});
    expect(limited.status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(limited.status.details).toMatch(/^rate limit "slow" exceeded; retry in \d+ ms$/);
    expect(limited.status.metadata.get('retry-after')).toEqual(['2']);
    const pushback = Number(limited.status.metadata.get('grpc-retry-pushback-ms')[0]);
    expect(pushback).toBeGreaterThan(1500);
    expect(pushback).toBeLessThanOrEqual(2000);
  });

  it.each([
    [true, grpc.status.OK],
    [false, grpc.status.UNAVAILABLE],
  ])('with Redis down, failOpen=%s answers %i', async (failOpen, code) => {
    const down = await startRedis();
    const client = connect(down.port);
    await ready(client);
    await down.stop();
    const errors: unknown[] = [];
    const store = redisStore({ client, failOpen, onError: (e) => errors.push(e) });
    const h = await startHarness({
      serverInterceptors: [rateLimit({ rules: [{ name: 'guard', rate: 0.001, burst: 1, store }] })],
    });
    harnesses.push(h);
    const results = [await unary(h.client, {}), await unary(h.client, {})];
    expect(results.map((r) => r.status.code)).toEqual([code, code]);
    if (!failOpen) expect(results[0]?.status.details).toBe('rate limit "guard" could not be checked');
    expect(errors.length).toBe(2);
  });
});
