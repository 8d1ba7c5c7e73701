import * as grpc from '@grpc/grpc-js';
import { type LimitRejection, OptionError, signals } from '@weft/core';
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, metadata, startHarness, type TestServiceClient, unary } from '../../../test/harness';
import { concurrencyLimit } from '../src/index';

/** Starts `n` Sleep calls at once and resolves with their status codes. */
function sleepers(
  client: TestServiceClient,
  n: number,
  sleepMs: number,
  deadline?: number,
): Promise<number[]> {
  return Promise.all(
    Array.from({ length: n }, () =>
      unary(
        client,
        { sleepMs },
        deadline === undefined ? {} : { deadline: Date.now() + deadline },
        'Sleep',
      ).then((r) => r.status.code),
    ),
  );
}

/** Starts a Sleep call and cancels it from the client after `afterMs`. */
function cancelled(client: TestServiceClient, afterMs: number): Promise<number> {
  return new Promise((resolve) => {
    const call = client.Sleep({ sleepMs: 5000 }, () => {});
    call.on('status', (s) => resolve(s.code));
    setTimeout(() => call.cancel(), afterMs);
  });
}

const count = (codes: number[], code: number) => codes.filter((c) => c === code).length;

describe('concurrencyLimit', () => {
  let harness: Harness | undefined;
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
  });

  it('caps calls in flight and answers the excess with RESOURCE_EXHAUSTED', async () => {
    harness = await startHarness({ serverInterceptors: [concurrencyLimit({ max: 3 })] });
    const codes = await sleepers(harness.client, 8, 200);
    expect(count(codes, grpc.status.OK)).toBe(3);
    expect(count(codes, grpc.status.RESOURCE_EXHAUSTED)).toBe(5);
    expect(harness.handled.get('Sleep')).toBe(3);
  });

  it('names the limit and sends a retry hint', async () => {
    harness = await startHarness({ serverInterceptors: [concurrencyLimit({ max: 1, name: 'sleepers' })] });
    const slow = unary(harness.client, { sleepMs: 200 }, {}, 'Sleep');
    await new Promise((r) => setTimeout(r, 50));
    const rejected = await unary(harness.client, { sleepMs: 1 }, {}, 'Sleep');
    expect(rejected.status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(rejected.status.details).toBe('concurrency limit "sleepers" reached (1 in flight)');
    expect(rejected.status.metadata.get('grpc-retry-pushback-ms')).toEqual(['100']);
    expect(rejected.status.metadata.get('retry-after')).toEqual(['1']);
    expect((await slow).status.code).toBe(grpc.status.OK);
  });

  it('counts per method by default', async () => {
    harness = await startHarness({ serverInterceptors: [concurrencyLimit({ max: 1 })] });
    const slow = unary(harness.client, { sleepMs: 200 }, {}, 'Sleep');
    await new Promise((r) => setTimeout(r, 50));
    expect((await unary(harness.client, {})).status.code).toBe(grpc.status.OK);
    await slow;
  });

  it('gives each slot back exactly once, whether the call succeeds, fails, times out or is cancelled', async () => {
    harness = await startHarness({ serverInterceptors: [concurrencyLimit({ max: 2, key: 'global' })] });
    const { client } = harness;
    for (let round = 0; round < 3; round++) {
      expect(await sleepers(client, 2, 10)).toEqual([0, 0]);
      expect((await unary(client, { failCode: grpc.status.NOT_FOUND })).status.code).toBe(
        grpc.status.NOT_FOUND,
      );
      expect(await sleepers(client, 2, 2000, 50)).toEqual([
        grpc.status.DEADLINE_EXCEEDED,
        grpc.status.DEADLINE_EXCEEDED,
      ]);
      expect(await Promise.all([cancelled(client, 30), cancelled(client, 30)])).toEqual([
        grpc.status.CANCELLED,
        grpc.status.CANCELLED,
      ]);
    }
    // Let the server see the cancels, then the limit must still be exactly 2: no slot leaked, none freed twice.
    await new Promise((r) => setTimeout(r, 50));
    const codes = await sleepers(client, 5, 150);
    expect(count(codes, grpc.status.OK)).toBe(2);
    expect(count(codes, grpc.status.RESOURCE_EXHAUSTED)).toBe(3);
  });

  it('keys on a custom function and publishes limitRejection', async () => {
    const seen: LimitRejection[] = [];
    const listener = (message: LimitRejection) => seen.push(message);
    signals.limitRejection.subscribe(listener);
    try {
      harness = await startHarness({
        serverInterceptors: [
          concurrencyLimit({
            max: 1,
            name: 'per-tenant',
            key: (ctx) => String(ctx.metadata?.get('x-tenant')[0]),
          }),
        ],
      });
      const as = (tenant: string) =>
        unary(harness!.client, { sleepMs: 150 }, { metadata: metadata({ 'x-tenant': tenant }) }, 'Sleep');
      const codes = (await Promise.all([as('a'), as('a'), as('b')])).map((r) => r.status.code);
      expect(codes.sort()).toEqual([0, 0, grpc.status.RESOURCE_EXHAUSTED]);
    } finally {
      signals.limitRejection.unsubscribe(listener);
    }
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ limiter: 'concurrency', rule: 'per-tenant', keyClass: 'custom' });
  });

  it('rejects a bad max at setup', () => {
    expect(() => concurrencyLimit({ max: 0 })).toThrow(OptionError);
    expect(() => concurrencyLimit({ max: 1.5 })).toThrow(OptionError);
  });
});
