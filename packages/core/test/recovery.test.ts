import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import {
  bidi,
  clientStream,
  type Harness,
  type HarnessOptions,
  serverStream,
  startHarness,
  unary,
} from '../../../test/harness';
import { HandlerError, OptionError, recovery } from '../src/index';

describe('recovery', () => {
  let harness: Harness | undefined;
  afterEach(async () => harness?.close());

  const secret = 'db password is hunter2';

  async function withRecovery(handlers: HarnessOptions['handlers']) {
    const errors: unknown[] = [];
    harness = await startHarness({
      serverInterceptors: [recovery({ onError: (error) => errors.push(error) })],
      handlers,
    });
    return errors;
  }

  it('turns a synchronous throw in a unary handler into INTERNAL without its message', async () => {
    const errors = await withRecovery({
      Unary() {
        throw new Error(secret);
      },
    });
    const result = await unary(harness!.client, {});
    expect(result.status).toMatchObject({ code: grpc.status.INTERNAL, details: 'Internal error' });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(HandlerError);
  });

  it('turns a rejected async unary handler into INTERNAL and hands the error to onError', async () => {
    const errors = await withRecovery({
      async Unary() {
        await new Promise((r) => setImmediate(r)); // rejects after a turn of the event loop
        throw new Error(secret);
      },
    });
    const result = await unary(harness!.client, {});
    expect(result.status).toMatchObject({ code: grpc.status.INTERNAL, details: 'Internal error' });
    expect(result.status.details).not.toContain('hunter2');
    expect((errors[0] as Error).message).toBe(secret);
  });

  it.each([
    ['server stream', (h: Harness) => serverStream(h.client, {})],
    ['client stream', (h: Harness) => clientStream(h.client, [{}])],
    ['bidi stream', (h: Harness) => bidi(h.client, [{}])],
  ])('recovers a %s handler that throws or rejects', async (_name, run) => {
    const errors = await withRecovery({
      async ServerStream() {
        throw new Error(secret);
      },
      ClientStream() {
        throw new Error(secret);
      },
      Bidi(call) {
        call.on('data', () => {
          throw new Error(secret);
        });
      },
    });
    const result = await run(harness!);
    expect(result.status.code).toBe(grpc.status.INTERNAL);
    expect(result.status.details).not.toContain('hunter2');
    expect(errors.length).toBeGreaterThan(0);
  });

  it('masks a plain Error passed to the callback (grpc-js would send its message as UNKNOWN)', async () => {
    const errors = await withRecovery({
      Unary(_call, callback) {
        callback(new Error(secret));
      },
    });
    const result = await unary(harness!.client, {});
    expect(result.status).toMatchObject({ code: grpc.status.INTERNAL, details: 'Internal error' });
    expect(String(errors[0])).toContain('hunter2');
  });

  it('leaves deliberate status errors alone', async () => {
    await withRecovery({});
    const result = await unary(
      harness!.client,
      { failCode: grpc.status.NOT_FOUND, failMessage: 'no user 7' },
      {},
      'Fail',
    );
    expect(result.status).toMatchObject({ code: grpc.status.NOT_FOUND, details: 'no user 7' });
  });

  it('keeps serving after many failing calls', async () => {
    await withRecovery({
      async Unary(call, callback) {
        if (call.request.message === 'boom') throw new Error(secret);
        callback(null, { message: 'fine' });
      },
    });
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => unary(harness!.client, { message: i % 2 ? 'boom' : 'ok' })),
    );
    expect(results.filter((r) => r.status.code === grpc.status.INTERNAL)).toHaveLength(25);
    const after = await unary(harness!.client, { message: 'ok' });
    expect(after.responses[0]?.message).toBe('fine');
  });

  it('survives an onError callback that throws', async () => {
    harness = await startHarness({
      serverInterceptors: [
        recovery({
          onError() {
            throw new Error('logger down');
          },
        }),
      ],
      handlers: {
        async Unary() {
          throw new Error(secret);
        },
      },
    });
    expect((await unary(harness.client, {})).status.code).toBe(grpc.status.INTERNAL);
    expect((await unary(harness.client, {})).status.code).toBe(grpc.status.INTERNAL);
  });

  it('uses the default message and mask for options given as undefined', async () => {
    harness = await startHarness({
      serverInterceptors: [
        recovery({ message: undefined, maskUnknown: undefined, onError: () => undefined }),
      ],
      handlers: {
        Unary(_call, callback) {
          callback(new Error(secret));
        },
      },
    });
    const result = await unary(harness.client, {});
    expect(result.status).toMatchObject({ code: grpc.status.INTERNAL, details: 'Internal error' });
  });

  it('refuses options of the wrong type at setup with an OptionError', () => {
    expect(() => recovery({ message: 42 as unknown as string })).toThrow(OptionError);
    expect(() => recovery({ onError: 'log' as never })).toThrow(
      /recovery: option "onError" must be a function/,
    );
  });
});
