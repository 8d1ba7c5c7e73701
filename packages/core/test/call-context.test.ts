import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, SHAPES, startHarness } from '../../../test/harness';
import {
  createContextKey,
  getCallContext,
  observeServer,
  recovery,
  serverCallContext,
  setAsyncContext,
  stagedInterceptor,
} from '../src/index';

const tenant = createContextKey<string>('tenant');

/** A minimal interceptor that writes to the per-call context from incoming metadata. */
const tenantFromMetadata: grpc.ServerInterceptor = (definition, call) => {
  const context = serverCallContext(definition, call);
  return new grpc.ServerInterceptingCall(call, {
    start(next) {
      next({
        onReceiveMetadata(metadata, mdNext) {
          context.set(tenant, String(metadata.get('x-tenant')[0] ?? 'none'));
          mdNext(metadata);
        },
      });
    },
  });
};

const probe = () => {
  const context = getCallContext();
  return { tenant: context?.get(tenant) ?? 'no context', method: context?.method.method ?? '' };
};

describe('per-call context', () => {
  let harness: Harness | undefined;
  afterEach(async () => harness?.close());

  const metadata = () => {
    const md = new grpc.Metadata();
    md.set('x-tenant', 'acme');
    return md;
  };

  // The plain interceptor above binds nothing itself; any weft layer makes the context visible.
  for (const [shape, run] of Object.entries(SHAPES)) {
    it(`is visible inside the handler of a ${shape} call`, async () => {
      harness = await startHarness({ serverInterceptors: [observeServer(), tenantFromMetadata], probe });
      const result = await run(harness.client, { message: 'hi' }, { metadata: metadata() });
      expect(result.status.code).toBe(grpc.status.OK);
      expect(result.responses.length).toBeGreaterThan(0);
      for (const response of result.responses) expect(response.context).toMatchObject({ tenant: 'acme' });
    });
  }

  /** Like auth with a JWKS fetch: a stage that admits the call after an await. */
  const slowTenant = stagedInterceptor({
    start: (call) => ({
      onReceiveMetadata: () =>
        new Promise<void>((resolve) =>
          setImmediate(() => {
            call.context.set(tenant, 'async');
            resolve();
          }),
        ),
    }),
  });

  for (const [shape, run] of Object.entries(SHAPES)) {
    it(`is visible inside a ${shape} handler after a layer continued asynchronously`, async () => {
      harness = await startHarness({ serverInterceptors: [slowTenant], probe });
      const result = await run(harness.client, { message: 'hi' });
      expect(result.status.code).toBe(grpc.status.OK);
      for (const response of result.responses) expect(response.context).toMatchObject({ tenant: 'async' });
    });
  }

  it('is the same object for every weft interceptor of a call, and separate between calls', async () => {
    const seen: unknown[] = [];
    const record: grpc.ServerInterceptor = (definition, call) => {
      seen.push(serverCallContext(definition, call));
      return new grpc.ServerInterceptingCall(call);
    };
    harness = await startHarness({ serverInterceptors: [record, recovery(), record] });
    await SHAPES.unary(harness.client, { message: 'a' });
    await SHAPES.unary(harness.client, { message: 'b' });
    expect(seen).toHaveLength(4);
    expect(seen[0]).toBe(seen[1]);
    expect(seen[2]).toBe(seen[3]);
    expect(seen[0]).not.toBe(seen[2]);
  });

  it('is absent in handlers of servers without weft interceptors', async () => {
    harness = await startHarness({ probe });
    const result = await SHAPES.unary(harness.client, { message: 'x' });
    expect(result.responses[0]?.context).toMatchObject({ tenant: 'no context' });
  });

  it('aborts its signal when the client cancels', async () => {
    let ran: () => void = () => {};
    const handlerRan = new Promise<void>((resolve) => {
      ran = resolve;
    });
    let outcome: Promise<unknown> = Promise.resolve('handler never ran');
    harness = await startHarness({
      serverInterceptors: [recovery()],
      handlers: {
        Sleep(call) {
          const signal = getCallContext()!.signal;
          outcome = new Promise((resolve) => {
            signal.addEventListener('abort', () => resolve(signal.reason));
            // grpc-js tells the handler of the cancel too: a signal still not aborted a turn later
            // never will be (so a broken signal fails here instead of timing out).
            call.on('cancelled', () => setImmediate(() => resolve('not aborted')));
          });
          ran();
        },
      },
    });
    const call = harness.client.Sleep({ sleepMs: 5000 }, () => {});
    await handlerRan; // cancelled once the handler is waiting on its signal
    call.cancel();
    expect(await outcome).toMatchObject({ name: 'CallCancelledError' });
  });
});

describe('with async context off', () => {
  let harness: Harness | undefined;
  afterEach(async () => {
    setAsyncContext(true);
    await harness?.close();
  });

  it('gives handlers their context through getCallContext(call), on every call shape', async () => {
    setAsyncContext(false);
    const seen: Record<string, string> = {};
    const record = (shape: string, call: { metadata: grpc.Metadata }) => {
      seen[shape] = `${getCallContext(call)?.method.type}/${getCallContext() === undefined}`;
    };
    harness = await startHarness({
      serverInterceptors: [observeServer()],
      handlers: {
        Unary(call, callback) {
          record('unary', call);
          callback(null, {});
        },
        ServerStream(call) {
          record('server_stream', call);
          call.end();
        },
        ClientStream(call, callback) {
          record('client_stream', call);
          call.on('data', () => {});
          call.on('end', () => callback(null, {}));
        },
        Bidi(call) {
          record('bidi_stream', call);
          call.on('data', () => {});
          call.on('end', () => call.end());
        },
      },
    });
    for (const run of Object.values(SHAPES))
      expect((await run(harness.client, {})).status.code).toBe(grpc.status.OK);
    expect(seen).toEqual({
      unary: 'unary/true',
      server_stream: 'server_stream/true',
      client_stream: 'client_stream/true',
      bidi_stream: 'bidi_stream/true',
    });
  });
});
