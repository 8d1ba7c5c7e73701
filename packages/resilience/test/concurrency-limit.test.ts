import * as grpc from '@grpc/grpc-js';
import { type LimitRejection, OptionError, signals } from '@weft/core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Harness,
  type HarnessOptions,
  metadata,
  startHarness,
  type TestServiceClient,
  unary,
} from '../../../test/harness';
import { concurrencyLimit } from '../src/index';

/**
 * A Sleep handler that holds every call until `open()` (or the call is cancelled), so calls stay in
 * flight exactly as long as a test wants: no guessed durations.
 */
function gate() {
  let release: () => void = () => {};
  const opened = new Promise<void>((resolve) => {
    release = resolve;
  });
  let arrived = 0;
  let cancelled = 0;
  const waiters: { check: () => boolean; resolve: () => void }[] = [];
  const wake = () => {
    for (const w of waiters.splice(0)) {
      if (w.check()) w.resolve();
      else waiters.push(w);
    }
  };
  const until = (check: () => boolean) =>
    new Promise<void>((resolve) => {
      waiters.push({ check, resolve });
      wake();
    });
  const handlers: HarnessOptions['handlers'] = {
    async Sleep(call, callback) {
      arrived++;
      wake();
      await Promise.race([
        opened,
        new Promise<void>((resolve) =>
          call.on('cancelled', () => {
            cancelled++;
            wake();
            resolve();
          }),
        ),
      ]);
      if (!call.cancelled) callback(null, { message: 'done' });
    },
  };
  return {
    handlers,
    /** Resolves once `n` calls in all have reached the handler. */
    arrived: (n: number) => until(() => arrived >= n),
    /** Resolves once the handler has seen `n` calls cancelled in all. */
    cancelled: (n: number) => until(() => cancelled >= n),
    open: () => release(),
  };
}

const callSleep = (client: TestServiceClient, deadline?: number) =>
  unary(client, {}, deadline === undefined ? {} : { deadline: Date.now() + deadline }, 'Sleep').then(
    (r) => r.status,
  );

describe('concurrencyLimit', () => {
  let harness: Harness | undefined;
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
  });

  it('caps calls in flight and answers the excess with RESOURCE_EXHAUSTED', async () => {
    const held = gate();
    harness = await startHarness({
      serverInterceptors: [concurrencyLimit({ max: 3 })],
      handlers: held.handlers,
    });
    const admitted = Array.from({ length: 3 }, () => callSleep(harness!.client));
    await held.arrived(3);
    const excess = await Promise.all(Array.from({ length: 5 }, () => callSleep(harness!.client)));
    expect(excess.map((s) => s.code)).toEqual(Array(5).fill(grpc.status.RESOURCE_EXHAUSTED));
    held.open();
    expect((await Promise.all(admitted)).map((s) => s.code)).toEqual([0, 0, 0]);
    expect(harness.handled.get('Sleep')).toBeUndefined(); // the gate's handler, not the harness's
  });

  it('names the limit and sends a retry hint', async () => {
    const held = gate();
    harness = await startHarness({
      serverInterceptors: [concurrencyLimit({ max: 1, name: 'sleepers' })],
      handlers: held.handlers,
    });
    const slow = callSleep(harness.client);
    await held.arrived(1);
    const rejected = await unary(harness.client, {}, {}, 'Sleep');
    expect(rejected.status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(rejected.status.details).toBe('concurrency limit "sleepers" reached (1 in flight)');
    expect(rejected.status.metadata.get('grpc-retry-pushback-ms')).toEqual(['100']);
    expect(rejected.status.metadata.get('retry-after')).toEqual(['1']);
    held.open();
    expect((await slow).code).toBe(grpc.status.OK);
  });

  it('counts per method by default', async () => {
    const held = gate();
    harness = await startHarness({
      serverInterceptors: [concurrencyLimit({ max: 1 })],
      handlers: held.handlers,
    });
    const slow = callSleep(harness.client);
    await held.arrived(1);
    expect((await unary(harness.client, {})).status.code).toBe(grpc.status.OK);
    held.open();
    await slow;
  });

  it('gives each slot back exactly once, whether the call succeeds, fails, times out or is cancelled', async () => {
    // Sleep holds its calls until they are cancelled (the gate opens only at the end).
    const held = gate();
    harness = await startHarness({
      serverInterceptors: [concurrencyLimit({ max: 2, key: 'global' })],
      handlers: held.handlers,
    });
    const { client } = harness;
    /** A Sleep call cancelled once the handler holds `arrivals` calls in all. */
    const cancelledAt = (arrivals: number) =>
      new Promise<number>((resolve) => {
        const call = client.Sleep({}, () => {});
        call.on('status', (s) => resolve(s.code));
        void held.arrived(arrivals).then(() => call.cancel());
      });
    for (let round = 1; round <= 3; round++) {
      expect((await Promise.all([unary(client, {}), unary(client, {})])).map((r) => r.status.code)).toEqual([
        0, 0,
      ]);
      expect((await unary(client, { failCode: grpc.status.NOT_FOUND })).status.code).toBe(
        grpc.status.NOT_FOUND,
      );
      expect((await Promise.all([callSleep(client, 50), callSleep(client, 50)])).map((s) => s.code)).toEqual([
        grpc.status.DEADLINE_EXCEEDED,
        grpc.status.DEADLINE_EXCEEDED,
      ]);
      expect(await Promise.all([cancelledAt(4 * round), cancelledAt(4 * round)])).toEqual([
        grpc.status.CANCELLED,
        grpc.status.CANCELLED,
      ]);
    }
    await held.cancelled(12); // the server saw every deadline and cancel
    // The limit must still be exactly 2: no slot leaked, none freed twice.
    const admitted = [callSleep(client), callSleep(client)];
    await held.arrived(14);
    const excess = await Promise.all([callSleep(client), callSleep(client), callSleep(client)]);
    expect(excess.map((s) => s.code)).toEqual(Array(3).fill(grpc.status.RESOURCE_EXHAUSTED));
    held.open();
    expect((await Promise.all(admitted)).map((s) => s.code)).toEqual([0, 0]);
  });

  it('keys on a custom function and publishes limitRejection', async () => {
    const seen: LimitRejection[] = [];
    const listener = (message: LimitRejection) => seen.push(message);
    signals.limitRejection.subscribe(listener);
    try {
      const held = gate();
      harness = await startHarness({
        serverInterceptors: [
          concurrencyLimit({
            max: 1,
            name: 'per-tenant',
            key: (ctx) => String(ctx.metadata?.get('x-tenant')[0]),
          }),
        ],
        handlers: held.handlers,
      });
      const as = (tenant: string) =>
        unary(harness!.client, {}, { metadata: metadata({ 'x-tenant': tenant }) }, 'Sleep').then(
          (r) => r.status.code,
        );
      const first = [as('a'), as('b')];
      await held.arrived(2);
      expect(await as('a')).toBe(grpc.status.RESOURCE_EXHAUSTED);
      held.open();
      expect(await Promise.all(first)).toEqual([0, 0]);
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
