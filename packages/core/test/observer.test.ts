import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, METHODS, SHAPES, startHarness, unary } from '../../../test/harness';
import {
  type CallContext,
  type CallReporter,
  type ClientObserver,
  getCallContext,
  observeClient,
  observeServer,
  type ServerObserver,
} from '../src/index';

interface Recorded {
  method: string;
  events: string[];
  code?: number;
  seconds?: number;
}

function recorder<O extends ServerObserver | ClientObserver>(): { observer: O; calls: Recorded[] } {
  const calls: Recorded[] = [];
  const observer = {
    start(call: { method: { fullMethod: string } }): CallReporter {
      const rec: Recorded = { method: call.method.fullMethod, events: ['start'] };
      calls.push(rec);
      return {
        onReceiveMessage: () => rec.events.push('recv'),
        onSendMessage: () => rec.events.push('send'),
        onHeaders: () => rec.events.push('headers'),
        onFinish(status, seconds) {
          rec.events.push('finish');
          rec.code = status.code;
          rec.seconds = seconds;
        },
      };
    },
  } as O;
  return { observer, calls };
}

const waitFor = async (check: () => boolean, ms = 2000) => {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('server observer', () => {
  let harness: Harness | undefined;
  afterEach(async () => harness?.close());

  it.each([
    ['unary', ['start', 'recv', 'headers', 'send', 'finish']],
    ['server_stream', ['start', 'recv', 'headers', 'send', 'send', 'send', 'finish']],
    ['client_stream', ['start', 'recv', 'recv', 'headers', 'send', 'finish']],
    ['bidi_stream', ['start', 'recv', 'headers', 'send', 'recv', 'send', 'finish']],
  ] as const)('reports the lifecycle of a %s call in order', async (shape, events) => {
    const { observer, calls } = recorder<ServerObserver>();
    harness = await startHarness({ serverInterceptors: [observeServer(observer)] });
    const result = await SHAPES[shape](harness.client, { message: 'x' });
    expect(result.status.code).toBe(grpc.status.OK);
    await waitFor(() => calls[0]?.events.includes('finish') ?? false);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.events).toEqual(events);
    expect(calls[0]?.code).toBe(grpc.status.OK);
    expect(calls[0]?.seconds).toBeGreaterThan(0);
  });

  it('reports the status code a handler failed with, once', async () => {
    const { observer, calls } = recorder<ServerObserver>();
    harness = await startHarness({ serverInterceptors: [observeServer(observer)] });
    await unary(harness.client, { failCode: grpc.status.NOT_FOUND }, {}, 'Fail');
    // A later call, finished: a second report of the first would have come before it (no sleep).
    await unary(harness.client, {});
    await waitFor(() => calls[1]?.events.includes('finish') ?? false);
    expect(calls.map((c) => [c.method, c.code, c.events.filter((e) => e === 'finish').length])).toEqual([
      [METHODS.fail.slice(1), grpc.status.NOT_FOUND, 1],
      [METHODS.unary.slice(1), grpc.status.OK, 1],
    ]);
  });

  it('reports a client cancel as CANCELLED and a passed deadline as DEADLINE_EXCEEDED', async () => {
    const { observer, calls } = recorder<ServerObserver>();
    harness = await startHarness({ serverInterceptors: [observeServer(observer)] });
    const call = harness.client.Sleep({ sleepMs: 5000 }, () => {});
    await waitFor(() => calls.length === 1);
    call.cancel();
    await waitFor(() => calls[0]?.code !== undefined);
    expect(calls[0]?.code).toBe(grpc.status.CANCELLED);

    const result = await unary(harness.client, { sleepMs: 5000 }, { deadline: Date.now() + 100 }, 'Sleep');
    expect(result.status.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    await waitFor(() => calls[1]?.code !== undefined);
    expect(calls[1]?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
  });

  it('does not abort the context signal of a call that completed normally', async () => {
    let context: CallContext | undefined;
    harness = await startHarness({
      serverInterceptors: [observeServer()],
      handlers: {
        Unary(_call, callback) {
          context ??= getCallContext();
          callback(null, { message: 'ok' });
        },
      },
    });
    await unary(harness.client, {});
    // The first call's stream has closed (grpc-js reports every close as a cancel) by the time a
    // second call on the same connection is answered.
    await unary(harness.client, {});
    expect(context).toBeDefined();
    expect(context?.cancelled).toBe(false);
  });

  it('folds several observers into one layer, each seeing the call', async () => {
    const a = recorder<ServerObserver>();
    const b = recorder<ServerObserver>();
    harness = await startHarness({ serverInterceptors: [observeServer(a.observer, b.observer)] });
    await unary(harness.client, {});
    await waitFor(() => b.calls[0]?.code !== undefined);
    expect(a.calls[0]?.events).toEqual(b.calls[0]?.events);
  });

  it('runs the handler inside every observer scope, outermost first', async () => {
    const order: string[] = [];
    const scoped = (name: string): ServerObserver => ({
      start: () => ({
        enter(fn, arg) {
          order.push(name);
          fn(arg);
        },
      }),
    });
    harness = await startHarness({
      serverInterceptors: [observeServer(scoped('a'), scoped('b'))],
      handlers: {
        Unary(_call, callback) {
          order.push('handler');
          callback(null, {});
        },
      },
    });
    await unary(harness.client, {});
    expect(order.slice(order.indexOf('handler') - 2)).toEqual(['a', 'b', 'handler']);
  });
});

describe('client observer', () => {
  let harness: Harness | undefined;
  afterEach(async () => harness?.close());

  it.each([
    ['unary', ['start', 'send', 'headers', 'recv', 'finish']],
    ['server_stream', ['start', 'send', 'headers', 'recv', 'recv', 'recv', 'finish']],
    ['client_stream', ['start', 'send', 'send', 'headers', 'recv', 'finish']],
  ] as const)('reports the lifecycle of a %s call', async (shape, events) => {
    const { observer, calls } = recorder<ClientObserver>();
    harness = await startHarness({ clientInterceptors: [observeClient(observer)] });
    await SHAPES[shape](harness.client, { message: 'x' });
    expect(calls[0]?.events).toEqual(events);
    expect(calls[0]?.code).toBe(grpc.status.OK);
  });

  it('reports failures and lets an observer add outgoing metadata', async () => {
    const { calls } = recorder<ClientObserver>();
    let seenAtServer: string | undefined;
    harness = await startHarness({
      clientInterceptors: [
        observeClient({
          start(call) {
            call.metadata.set('x-added', 'by-observer');
            calls.push({ method: call.method.fullMethod, events: [] });
            return {
              onFinish(s) {
                calls[0]!.code = s.code;
              },
            };
          },
        }),
      ],
      handlers: {
        Fail(call, callback) {
          seenAtServer = String(call.metadata.get('x-added')[0]);
          callback({ code: grpc.status.ABORTED, details: 'no' });
        },
      },
    });
    const result = await unary(harness.client, {}, {}, 'Fail');
    expect(result.status.code).toBe(grpc.status.ABORTED);
    expect(calls[0]?.code).toBe(grpc.status.ABORTED);
    expect(seenAtServer).toBe('by-observer');
  });
});
