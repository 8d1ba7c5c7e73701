import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import {
  bidi,
  clientStream,
  type Harness,
  metadata,
  SHAPES,
  serverStream,
  startHarness,
  unary,
} from '../../../test/harness';
import {
  createContextKey,
  getCallContext,
  MAX_STATUS_DETAILS,
  type PartialStatus,
  recovery,
  type ServerStage,
  type StageHooks,
  selector,
  serverInterceptors,
  stagedInterceptor,
} from '../src/index';

/** A stage that records every hook it sees under `name`. */
function recorder(name: string, log: string[], extra: StageHooks = {}): ServerStage {
  return {
    start: () => ({
      onReceiveMetadata: (md) => {
        log.push(`${name}:metadata`);
        return extra.onReceiveMetadata?.(md);
      },
      onReceiveMessage: () => void log.push(`${name}:message`),
      onReceiveHalfClose: () => void log.push(`${name}:halfClose`),
      onSendMetadata: () => void log.push(`${name}:sendMetadata`),
      onSendMessage: () => void log.push(`${name}:sendMessage`),
      onSendStatus: (status: PartialStatus) => {
        log.push(`${name}:status:${status.code}`);
        return extra.onSendStatus?.(status) ?? status;
      },
      onCancel: () => void log.push(`${name}:cancel`),
    }),
  };
}

/** The log of a call refused by stage `gate` between `outer` and `inner`: `inner` saw nothing. */
function expectRefusedByGate(log: string[], code: grpc.status): void {
  expect(log.filter((e) => !e.endsWith(':cancel'))).toEqual([
    'outer:metadata',
    'gate:metadata',
    `gate:status:${code}`,
    `outer:status:${code}`,
  ]);
}

const afterTicks = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const seenKey = createContextKey<string>('seen');

describe('WeftServerCall: stages folded into one layer', () => {
  let harness: Harness | undefined;
  afterEach(async () => harness?.close());

  for (const [shape, run] of Object.entries(SHAPES)) {
    it(`sees requests outer stage first and responses inner stage first (${shape})`, async () => {
      const log: string[] = [];
      harness = await startHarness({
        serverInterceptors: [stagedInterceptor(recorder('a', log), recorder('b', log))],
      });
      const result = await run(harness.client, { message: 'hi' });
      expect(result.status.code).toBe(grpc.status.OK);
      // Each stage sees metadata first, then messages (a before b), and statuses leave b then a.
      expect(log.slice(0, 2)).toEqual(['a:metadata', 'b:metadata']);
      const ins = log.filter((e) => e.endsWith(':message'));
      expect(ins.length).toBeGreaterThan(0);
      for (let i = 0; i < ins.length; i += 2) expect(ins.slice(i, i + 2)).toEqual(['a:message', 'b:message']);
      expect(log.indexOf('b:sendMetadata')).toBeLessThan(log.indexOf('a:sendMetadata'));
      expect(log.filter((e) => e.includes(':status:'))).toEqual(['b:status:0', 'a:status:0']);
      // Headers go out before the first response message, as through grpc-js's own layers.
      expect(log.indexOf('a:sendMetadata')).toBeLessThan(log.indexOf('b:sendMessage'));
    });
  }

  it('holds the call while a stage admits it asynchronously, then runs the inner stages', async () => {
    const log: string[] = [];
    const slow = recorder('slow', log, {
      onReceiveMetadata: (md) =>
        afterTicks(30).then(() => {
          md.set('x-admitted', 'yes');
          log.push('slow:admitted');
        }),
    });
    harness = await startHarness({
      serverInterceptors: [stagedInterceptor(slow, recorder('inner', log))],
      handlers: {
        Unary(call, callback) {
          log.push('handler');
          callback(null, { message: String(call.metadata.get('x-admitted')[0]) });
        },
      },
    });
    const result = await unary(harness.client, { message: 'hi' });
    expect(result.status.code).toBe(grpc.status.OK);
    expect(result.responses[0]?.message).toBe('yes');
    expect(log.slice(0, 4)).toEqual(['slow:metadata', 'slow:admitted', 'inner:metadata', 'slow:message']);
    const halfClose = log.indexOf('slow:halfClose');
    expect(halfClose).toBeGreaterThan(3);
    expect(log.slice(halfClose, halfClose + 3)).toEqual(['slow:halfClose', 'inner:halfClose', 'handler']);
  });

  // grpc-js pulls request events one `startRead()` at a time, and its handlers first read once they
  // have the metadata, which the layer holds back while a stage admits: nothing arrives meanwhile,
  // so nothing is buffered. The wait here is the subject: a window in which a message could come.
  for (const [shape, run] of Object.entries(SHAPES)) {
    it(`gets no request event while a stage admits asynchronously (${shape})`, async () => {
      const log: string[] = [];
      const slow = recorder('slow', log, {
        onReceiveMetadata: () => afterTicks(50).then(() => void log.push('slow:admitted')),
      });
      harness = await startHarness({ serverInterceptors: [stagedInterceptor(slow, recorder('inner', log))] });
      const result = await run(harness.client, { message: 'hi' });
      expect(result.status.code).toBe(grpc.status.OK);
      expect(log.slice(0, 3)).toEqual(['slow:metadata', 'slow:admitted', 'inner:metadata']);
      expect(log).toContain('slow:message');
    });
  }

  // The one way to get a request event during admission: a layer below weft that reads on its own
  // (grpc-js never does). The call fails rather than hand the handler a message before its metadata.
  for (const [shape, run] of Object.entries(SHAPES)) {
    it(`fails the call with INTERNAL when a layer below reads during admission (${shape})`, async () => {
      const log: string[] = [];
      const readsEarly: grpc.ServerInterceptor = (_definition, call) => {
        call.startRead();
        return call as grpc.ServerInterceptingCall;
      };
      // Admission that only ends with the call: the read arrives while it is pending.
      const pending = recorder('gate', log, { onReceiveMetadata: () => new Promise<void>(() => {}) });
      harness = await startHarness({
        serverInterceptors: [
          readsEarly,
          stagedInterceptor(recorder('outer', log), pending, recorder('inner', log)),
        ],
      });
      const result = await run(harness.client, { message: 'hi' }, { deadline: Date.now() + 5000 });
      expect(result.status).toMatchObject({ code: grpc.status.INTERNAL, details: 'Internal error' });
      expect(harness.handled.size).toBe(0);
      // The status passes the deciding stage and the ones outside it; no stage saw the message.
      expectRefusedByGate(log, grpc.status.INTERNAL);
    });
  }

  it('sends a refusal through the refusing stage and the outer ones only', async () => {
    const log: string[] = [];
    const refusing: ServerStage = {
      start: (call, stage) => ({
        onReceiveMetadata: () => {
          log.push('gate:metadata');
          call.sendStatusFrom(stage, { code: grpc.status.PERMISSION_DENIED, details: 'no', metadata: null });
        },
        onSendStatus: (status) => {
          log.push(`gate:status:${status.code}`);
          return status;
        },
      }),
    };
    harness = await startHarness({
      serverInterceptors: [stagedInterceptor(recorder('outer', log), refusing, recorder('inner', log))],
    });
    const result = await unary(harness.client, { message: 'hi' });
    expect(result.status).toMatchObject({ code: grpc.status.PERMISSION_DENIED, details: 'no' });
    expect(harness.handled.get('Unary')).toBeUndefined();
    expectRefusedByGate(log, grpc.status.PERMISSION_DENIED);
  });

  it('answers INTERNAL when an admission hook throws or rejects, and keeps serving', async () => {
    const failing = (how: 'throw' | 'reject'): ServerStage => ({
      start: () => ({
        onReceiveMetadata: (md) => {
          if (md.get('x-fail')[0] !== how) return;
          if (how === 'throw') throw new Error('secret detail');
          return Promise.reject(new Error('secret detail'));
        },
      }),
    });
    harness = await startHarness({
      serverInterceptors: [stagedInterceptor(failing('throw'), failing('reject'))],
    });
    for (const how of ['throw', 'reject']) {
      const result = await unary(
        harness.client,
        { message: 'hi' },
        { metadata: metadata({ 'x-fail': how }) },
      );
      expect(result.status).toMatchObject({ code: grpc.status.INTERNAL, details: 'Internal error' });
    }
    expect((await unary(harness.client, { message: 'hi' })).status.code).toBe(grpc.status.OK);
    expect(harness.handled.get('Unary')).toBe(1);
  });

  it('nests stage scopes outer first around the handler, inside the call context', async () => {
    const depth: string[] = [];
    const scoped = (name: string): ServerStage => ({
      start: (call) => ({
        enter: (fn, arg) => {
          depth.push(name);
          call.context.set(seenKey, depth.join('>'));
          try {
            fn(arg);
          } finally {
            depth.pop();
          }
        },
      }),
    });
    harness = await startHarness({
      serverInterceptors: [stagedInterceptor(scoped('a'), scoped('b'))],
      handlers: {
        Unary(_call, callback) {
          callback(null, { message: `${depth.join('>')}|${getCallContext()?.get(seenKey)}` });
        },
      },
    });
    const result = await unary(harness.client, { message: 'hi' });
    expect(result.responses[0]?.message).toBe('a>b|a>b');
  });

  // Each scope is an AsyncLocalStorage frame (and OpenTelemetry's, for tracing): the request
  // message of a unary or server-streaming call runs no handler code, so it is delivered bare.
  it.each([
    ['Unary', 2],
    ['ServerStream', 2],
    ['ClientStream', 4],
    ['Bidi', 4],
  ] as const)(
    'enters stage scopes only for events that can run handler code (%s)',
    async (method, scopes) => {
      let entered = 0;
      const counting: ServerStage = {
        start: () => ({
          enter: (fn, arg) => {
            entered++;
            fn(arg);
          },
        }),
      };
      const h = await startHarness({ serverInterceptors: [stagedInterceptor(counting)] });
      harness = h;
      const shapes = { Unary: unary, ServerStream: serverStream, ClientStream: clientStream, Bidi: bidi };
      // The client-streaming shapes send two messages, each scoped: metadata, 2 messages, half-close.
      const messages =
        method === 'ClientStream' || method === 'Bidi'
          ? [{ message: 'a' }, { message: 'b' }]
          : { message: 'a' };
      await (shapes[method] as (c: Harness['client'], m: unknown) => Promise<unknown>)(h.client, messages);
      expect(entered).toBe(scopes);
    },
  );

  it('ends the call once: a stage ending it silences what the handler sends later', async () => {
    const log: string[] = [];
    const ender: ServerStage = {
      start: (call, stage) => ({
        onReceiveHalfClose: () => {
          setTimeout(() => {
            call.silenceDownstream();
            call.sendStatusFrom(stage, {
              code: grpc.status.ABORTED,
              details: 'ended by stage',
              metadata: null,
            });
          }, 10);
        },
      }),
    };
    let handlerDone: () => void = () => {};
    const handlerFinished = new Promise<void>((resolve) => {
      handlerDone = resolve;
    });
    harness = await startHarness({
      serverInterceptors: [stagedInterceptor(recorder('outer', log), ender)],
      handlers: {
        ServerStream(call) {
          setTimeout(() => {
            call.write({ message: 'late', index: 0 });
            call.end();
            handlerDone();
          }, 50);
        },
      },
    });
    const result = await serverStream(harness.client, { message: 'hi' });
    await handlerFinished;
    expect(result.status).toMatchObject({ code: grpc.status.ABORTED, details: 'ended by stage' });
    expect(result.responses).toEqual([]);
    expect(log.filter((e) => e.includes(':status:') || e.endsWith(':sendMessage'))).toEqual([
      'outer:status:10',
    ]);
  });

  it('shows a deadline a stage imposed to inner stages and the handler', async () => {
    const imposed = Date.now() + 60_000;
    let innerSaw: grpc.Deadline | undefined;
    harness = await startHarness({
      serverInterceptors: [
        stagedInterceptor(
          {
            start: (call) => ({
              onReceiveMetadata: () => {
                call.deadline = imposed;
              },
            }),
          },
          {
            start: (call) => ({
              onReceiveMetadata: () => {
                innerSaw = call.getDeadline();
              },
            }),
          },
        ),
      ],
      handlers: {
        Unary(call, callback) {
          callback(null, { message: String(call.getDeadline()) });
        },
      },
    });
    const result = await unary(harness.client, { message: 'hi' });
    expect(innerSaw).toBe(imposed);
    expect(result.responses[0]?.message).toBe(String(imposed));
  });

  it("gives the caller's address and port from the connection", async () => {
    harness = await startHarness({
      serverInterceptors: [stagedInterceptor()],
      handlers: {
        Unary(call, callback) {
          const context = getCallContext(call);
          callback(null, { message: `${context?.remoteAddress}|${context?.remotePort}|${call.getPeer()}` });
        },
      },
    });
    const [address, port, peer] =
      (await unary(harness.client, { message: 'hi' })).responses[0]?.message.split('|') ?? [];
    expect(address).toBe('127.0.0.1');
    expect(Number(port)).toBeGreaterThan(0);
    expect(peer).toBe(`${address}:${port}`);
  });

  it('tells stages and the handler when the client cancels', async () => {
    const log: string[] = [];
    let aborted: Promise<unknown> = Promise.resolve('never reached');
    let ran: () => void = () => {};
    const handlerRan = new Promise<void>((resolve) => {
      ran = resolve;
    });
    harness = await startHarness({
      serverInterceptors: [stagedInterceptor(recorder('a', log))],
      handlers: {
        Bidi(call) {
          const signal = getCallContext(call)?.signal;
          aborted = new Promise((resolve) => {
            signal?.addEventListener('abort', () => resolve(signal.reason));
            // A signal still not aborted a turn after grpc-js told the handler never will be.
            call.on('cancelled', () => setImmediate(() => resolve('not aborted')));
          });
          ran();
        },
      },
    });
    const call = harness.client.Bidi();
    call.on('error', () => {});
    call.write({ message: 'hi' });
    await handlerRan; // cancelled once the handler waits on its signal, not after a guessed time
    call.cancel();
    expect(await aborted).toMatchObject({ name: 'CallCancelledError' });
    expect(log).toContain('a:cancel');
    expect(log.some((e) => e.includes(':status:'))).toBe(false);
  });

  it('folds a selected stage and keeps it out of unmatched methods', async () => {
    const log: string[] = [];
    const list = serverInterceptors({
      auth: selector(stagedInterceptor(recorder('only-unary', log)), { type: 'unary' }),
      recovery: recovery(),
    });
    expect(list).toHaveLength(1);
    harness = await startHarness({ serverInterceptors: list });
    await clientStream(harness.client, [{ message: 'a' }]);
    expect(log).toEqual([]);
    await bidi(harness.client, [{ message: 'a' }]);
    expect(log).toEqual([]);
    await unary(harness.client, { message: 'a' });
    expect(log).toContain('only-unary:metadata');
  });
  it('caps a huge status message so the client still gets the status, then keeps serving', async () => {
    // ~100 KB of grpc-message never reached a grpc-js client: the call hung until its deadline.
    const huge = `no user ${'x'.repeat(100_000)}`;
    harness = await startHarness({
      serverInterceptors: [recovery()],
      handlers: {
        Unary(call, callback) {
          if (call.request.message === 'huge') callback({ code: grpc.status.NOT_FOUND, details: huge });
          else if (call.request.message === 'emoji')
            callback({ code: grpc.status.NOT_FOUND, details: '😀'.repeat(3000) });
          else callback(null, { message: 'ok' });
        },
      },
    });
    const deadline = () => Date.now() + 5000;
    const capped = await unary(harness.client, { message: 'huge' }, { deadline: deadline() });
    expect(capped.status.code).toBe(grpc.status.NOT_FOUND);
    expect(capped.status.details).toBe(`${huge.slice(0, MAX_STATUS_DETAILS - 1)}…`);
    // A cut never splits a surrogate pair (grpc-js percent-encodes the message and would throw).
    const emoji = await unary(harness.client, { message: 'emoji' }, { deadline: deadline() });
    expect(emoji.status.code).toBe(grpc.status.NOT_FOUND);
    expect(emoji.status.details.endsWith('😀…')).toBe(true);
    expect((await unary(harness.client, { message: 'small' }, { deadline: deadline() })).status.code).toBe(
      grpc.status.OK,
    );
  });
});
