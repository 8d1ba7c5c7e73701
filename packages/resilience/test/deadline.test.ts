import * as grpc from '@grpc/grpc-js';
import { getCallContext, LOCAL_STATUS_KEY, localReason } from '@weft/core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Harness,
  type HarnessOptions,
  spinFailingCalls,
  startHarness,
  type TestServiceClient,
  unary,
} from '../../../test/harness';
import {
  callDeadline,
  clientDeadline,
  DeadlineExceededError,
  deadline,
  deadlineMs,
  serverDeadline,
} from '../src/index';

interface Seen {
  deadline?: number;
  callDeadline?: number;
  abortedAt?: number;
  abortReason?: unknown;
  /** Called once the handler waits on its signal (so a test cancels a call the handler holds). */
  onWait?: () => void;
  /** Settles when the signal aborted, or after the wait's bound. */
  settled?: Promise<void>;
}

/** Waits until the current call's signal aborts (or `ms` pass) and records what the handler saw. */
function waitForAbort(seen: Seen, ms = 5000): Promise<void> {
  const context = getCallContext();
  if (context === undefined) throw new Error('no call context in handler');
  seen.deadline = deadlineMs(context.deadline);
  seen.callDeadline = callDeadline(context);
  seen.settled = new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    context.signal.addEventListener('abort', () => {
      seen.abortedAt = Date.now();
      seen.abortReason = context.signal.reason;
      clearTimeout(timer);
      resolve();
    });
  });
  seen.onWait?.();
  return seen.settled;
}

/** A promise and the function that resolves it. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/**
 * How early (ms, by `Date.now()`) grpc-js's deadline timer may fire: weft treats a cancel this close
 * to a deadline as the deadline (`DEADLINE_SLACK_MS` in deadline.ts) for the same reason.
 */
const EARLY_TIMER_MS = 20;

describe('deadlines', () => {
  const harnesses: Harness[] = [];
  afterEach(async () => {
    for (const h of harnesses.splice(0).reverse()) await h.close();
  });
  const start = async (options: HarnessOptions) => {
    const h = await startHarness(options);
    harnesses.push(h);
    return h;
  };

  /** A -> B -> C -> D: B and C forward Unary downstream through `clientDeadline`, D waits for its signal. */
  async function chain(options: { margin: number; serverB?: grpc.ServerInterceptor[] }) {
    const seenD: Seen = {};
    const seenC: Seen = {};
    const d = await start({
      serverInterceptors: [serverDeadline()],
      handlers: {
        async Unary(_call, callback) {
          await waitForAbort(seenD);
          callback(null, { message: 'd' });
        },
      },
    });
    const forward = (downstream: TestServiceClient, seen?: Seen): HarnessOptions['handlers'] => ({
      async Unary(call, callback) {
        const context = getCallContext();
        if (seen !== undefined && context !== undefined) seen.callDeadline = callDeadline(context);
        const result = await unary(downstream, call.request);
        if (result.status.code === grpc.status.OK) callback(null, { message: 'ok' });
        else callback({ code: result.status.code, details: `downstream: ${result.status.details}` });
      },
    });
    const toD = d.newClient({ interceptors: [clientDeadline({ margin: options.margin })] });
    const c = await start({ serverInterceptors: [serverDeadline()], handlers: forward(toD, seenC) });
    const toC = c.newClient({ interceptors: [clientDeadline({ margin: options.margin })] });
    const b = await start({
      serverInterceptors: options.serverB ?? [serverDeadline()],
      handlers: forward(toC),
    });
    return { client: b.client, seenC, seenD };
  }

  it('propagates the caller deadline down a three-hop chain, less the margin at each hop', async () => {
    const { client, seenC, seenD } = await chain({ margin: 50 });
    const sent = Date.now() + 1000;
    const started = Date.now();
    const result = await unary(client, {}, { deadline: sent });
    const took = Date.now() - started;
    expect(result.status.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(took).toBeGreaterThanOrEqual(850);
    expect(took).toBeLessThan(1500);
    // grpc-timeout carries a duration, rounded up, which each server counts from the call's
    // arrival: every hop may land later than the margin alone (transfer time, a busy event loop),
    // never earlier, not even by a millisecond.
    const slack = 150;
    expect((seenC.callDeadline ?? 0) - (sent - 50)).toBeGreaterThanOrEqual(0);
    expect((seenC.callDeadline ?? 0) - (sent - 50)).toBeLessThan(slack);
    expect((seenD.deadline ?? 0) - (sent - 100)).toBeGreaterThanOrEqual(0);
    expect((seenD.deadline ?? 0) - (sent - 100)).toBeLessThan(slack);
    expect(seenD.deadline ?? 0).toBeLessThan(seenC.callDeadline ?? 0);
    // D gave up at its own (earlier) deadline: its signal aborted, not the 5 s timeout.
    expect(seenD.abortedAt).toBeDefined();
    expect((seenD.abortedAt ?? 0) - (seenD.deadline ?? 0)).toBeGreaterThanOrEqual(-EARLY_TIMER_MS);
    expect((seenD.abortedAt ?? 0) - (sent - 100)).toBeLessThan(300);
  });

  it('propagates a deadline the server imposed (default for calls without one)', async () => {
    const { client, seenC, seenD } = await chain({ margin: 10, serverB: [serverDeadline({ default: 300 })] });
    const started = Date.now();
    const result = await unary(client, {});
    const took = Date.now() - started;
    expect(result.status).toMatchObject({ code: grpc.status.DEADLINE_EXCEEDED });
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(1000);
    // B imposed 300 ms from the call's arrival, a moment after `started`.
    expect((seenC.callDeadline ?? 0) - started).toBeGreaterThanOrEqual(290);
    expect((seenC.callDeadline ?? 0) - started).toBeLessThan(450);
    // D hears of it two hops later, which on a busy machine can land just after A's status.
    await seenD.settled;
    expect(seenD.abortedAt).toBeDefined();
    expect((seenD.abortedAt ?? 0) - started).toBeLessThan(1000);
  });

  it('cancels the downstream calls when the original caller cancels', async () => {
    const { client, seenD } = await chain({ margin: 0 });
    const waiting = deferred();
    seenD.onWait = waiting.resolve;
    const code = await new Promise<number>((resolve) => {
      const call = client.Unary({}, () => {});
      call.on('status', (s) => resolve(s.code));
      // Cancelled once the last hop's handler holds the call: the cancel must travel down to it.
      void waiting.promise.then(() => call.cancel());
    });
    expect(code).toBe(grpc.status.CANCELLED);
    await seenD.settled; // the abort, or the handler's 5 s bound
    expect(seenD.abortedAt).toBeDefined();
    expect(seenD.abortReason).toMatchObject({ name: 'CallCancelledError' });
  });

  describe('serverDeadline', () => {
    it('gives calls without a deadline the default, aborts the handler signal and answers DEADLINE_EXCEEDED', async () => {
      const seen: Seen = {};
      let handlerDeadline: grpc.Deadline | undefined;
      const h = await start({
        serverInterceptors: [serverDeadline({ default: 150 })],
        handlers: {
          async Unary(call, callback) {
            handlerDeadline = call.getDeadline();
            await waitForAbort(seen);
            callback(null, { message: 'too late' });
          },
        },
      });
      const started = Date.now();
      const result = await unary(h.client, {});
      expect(result.status).toMatchObject({
        code: grpc.status.DEADLINE_EXCEEDED,
        details: 'Deadline exceeded',
      });
      expect(Date.now() - started).toBeLessThan(1000);
      expect(seen.abortReason).toBeInstanceOf(DeadlineExceededError);
      expect((seen.abortedAt ?? 0) - started).toBeGreaterThanOrEqual(140);
      // Imposed from the call's arrival, a moment after `started` (61 ms once on a busy CI machine).
      expect(deadlineMs(handlerDeadline) - started).toBeGreaterThanOrEqual(150);
      expect(deadlineMs(handlerDeadline) - started).toBeLessThan(400);
      expect(seen.callDeadline).toBe(deadlineMs(handlerDeadline));
    });

    it('answers DEADLINE_EXCEEDED even when the handler answers from its abort listener', async () => {
      const h = await start({
        serverInterceptors: [serverDeadline({ default: 50 })],
        handlers: {
          Unary(_call, callback) {
            getCallContext()?.signal.addEventListener('abort', () => callback(null, { message: 'partial' }));
          },
        },
      });
      const result = await unary(h.client, {});
      expect(result.status.code).toBe(grpc.status.DEADLINE_EXCEEDED);
      expect(result.responses).toEqual([]);
    });

    it('caps a deadline longer than max', async () => {
      const h = await start({ serverInterceptors: [serverDeadline({ max: 100 })] });
      const started = Date.now();
      const result = await unary(h.client, { sleepMs: 3000 }, { deadline: Date.now() + 10_000 }, 'Sleep');
      expect(result.status.code).toBe(grpc.status.DEADLINE_EXCEEDED);
      expect(Date.now() - started).toBeLessThan(1000);
    });

    it('leaves a shorter client deadline, and fast calls, alone', async () => {
      const h = await start({ serverInterceptors: [serverDeadline({ default: 1000, max: 2000 })] });
      expect((await unary(h.client, { sleepMs: 50 }, {}, 'Sleep')).status.code).toBe(grpc.status.OK);
      const started = Date.now();
      const result = await unary(h.client, { sleepMs: 3000 }, { deadline: Date.now() + 100 }, 'Sleep');
      expect(result.status.code).toBe(grpc.status.DEADLINE_EXCEEDED);
      expect(Date.now() - started).toBeLessThan(500);
    });

    it('expires each of many overlapping calls on time, skipping those that ended', async () => {
      // 500 ms: long enough that a fast call ends first on a busy CI machine (150 ms was not).
      const h = await start({ serverInterceptors: [serverDeadline({ default: 500 })] });
      const started = Date.now();
      // Interleaved: slow calls expire at their own 500 ms; fast ones end first and must not be hit.
      const calls = Array.from({ length: 20 }, (_, i) =>
        new Promise((resolve) => setTimeout(resolve, i * 10)).then(() =>
          unary(h.client, { sleepMs: i % 2 === 0 ? 4000 : 1 }, {}, 'Sleep').then((r) => ({
            i,
            code: r.status.code,
            at: Date.now() - started,
          })),
        ),
      );
      const results = await Promise.all(calls);
      for (const r of results) {
        if (r.i % 2 === 0) {
          expect(r.code, `call ${r.i}`).toBe(grpc.status.DEADLINE_EXCEEDED);
          expect(r.at, `call ${r.i}`).toBeGreaterThanOrEqual(r.i * 10 + 490);
          expect(r.at, `call ${r.i}`).toBeLessThan(r.i * 10 + 2500);
        } else expect(r.code, `call ${r.i}`).toBe(grpc.status.OK);
      }
    });

    it('takes per-method timeouts', async () => {
      const h = await start({
        serverInterceptors: [serverDeadline({ default: (m) => (m.method === 'Sleep' ? 100 : undefined) })],
      });
      expect((await unary(h.client, { sleepMs: 300 }, {}, 'Sleep')).status.code).toBe(
        grpc.status.DEADLINE_EXCEEDED,
      );
      expect((await unary(h.client, { sleepMs: 300 })).status.code).toBe(grpc.status.OK);
    });

    it('exempt: a matched method gets neither the default nor the cap; [] exempts nothing', async () => {
      // (The default exemption, gRPC health's Watch and ORCA's stream, is tested with those real
      // services in test/orca-infrastructure.test.ts.)
      const exempt = await start({
        serverInterceptors: [
          serverDeadline({ default: 100, max: 150, exempt: 'weft.test.TestService/Sleep' }),
        ],
      });
      expect((await unary(exempt.client, { sleepMs: 300 }, {}, 'Sleep')).status.code).toBe(grpc.status.OK);
      const late = { deadline: Date.now() + 10_000 };
      expect((await unary(exempt.client, { sleepMs: 300 }, late, 'Sleep')).status.code).toBe(grpc.status.OK);
      const none = await start({ serverInterceptors: [serverDeadline({ default: 100, exempt: [] })] });
      expect((await unary(none.client, { sleepMs: 300 }, {}, 'Sleep')).status.code).toBe(
        grpc.status.DEADLINE_EXCEEDED,
      );
    });

    it('stops a server stream at the deadline', async () => {
      const h = await start({
        serverInterceptors: [serverDeadline({ default: 100 })],
        handlers: {
          async ServerStream(call) {
            for (let i = 0; i < 20; i++) {
              call.write({ message: 'tick', index: i });
              await new Promise((r) => setTimeout(r, 20));
            }
            call.end();
          },
        },
      });
      const call = h.client.ServerStream({});
      const received: number[] = [];
      call.on('data', (m: { index: number }) => received.push(m.index));
      const code = await new Promise<number>((resolve) => {
        call.on('error', () => {});
        call.on('status', (s) => resolve(s.code));
      });
      expect(code).toBe(grpc.status.DEADLINE_EXCEEDED);
      expect(received.length).toBeGreaterThan(0);
      expect(received.length).toBeLessThan(20);
    });
  });

  describe('clientDeadline', () => {
    it('sets the default deadline when the caller set none', async () => {
      const h = await start({});
      const client = h.newClient({ interceptors: [clientDeadline({ default: 100 })] });
      const started = Date.now();
      expect((await unary(client, { sleepMs: 2000 }, {}, 'Sleep')).status.code).toBe(
        grpc.status.DEADLINE_EXCEEDED,
      );
      expect(Date.now() - started).toBeLessThan(1000);
    });

    it('keeps a deadline the caller set, even a longer one', async () => {
      const h = await start({});
      const client = h.newClient({ interceptors: [clientDeadline({ default: 50 })] });
      const result = await unary(client, { sleepMs: 200 }, { deadline: Date.now() + 2000 }, 'Sleep');
      expect(result.status.code).toBe(grpc.status.OK);
    });

    it('keeps a shorter deadline set inside a handler, and inherits nothing with propagate: false', async () => {
      const seen: Seen = {};
      const d = await start({
        serverInterceptors: [serverDeadline()],
        handlers: {
          async Unary(_call, callback) {
            const context = getCallContext();
            seen.deadline = context === undefined ? undefined : deadlineMs(context.deadline);
            callback(null, {});
          },
        },
      });
      const propagating = d.newClient({ interceptors: [clientDeadline()] });
      const isolated = d.newClient({ interceptors: [clientDeadline({ propagate: false })] });
      let shorter = 0;
      const b = await start({
        serverInterceptors: [serverDeadline()],
        handlers: {
          async Unary(call, callback) {
            if (call.request.message === 'shorter') {
              shorter = Date.now() + 200;
              await unary(propagating, {}, { deadline: shorter });
            } else await unary(isolated, {});
            callback(null, {});
          },
        },
      });
      await unary(b.client, { message: 'shorter' }, { deadline: Date.now() + 5000 });
      expect((seen.deadline ?? 0) - shorter).toBeGreaterThanOrEqual(0); // grpc-timeout rounds up
      expect((seen.deadline ?? 0) - shorter).toBeLessThan(150);
      await unary(b.client, { message: 'isolated' }, { deadline: Date.now() + 5000 });
      expect(seen.deadline).toBe(Number.POSITIVE_INFINITY);
    });
  });

  // A call whose deadline passed before it started, or whose incoming call already ended, fails
  // without the network. grpc-js fails such calls on process.nextTick, so a handler that loops
  // over them (`while (...) await downstream()`) never yielded to timers or I/O: clientDeadline
  // fails them itself, on a macrotask (issue 15, item 2). Loops bounded by count and wall time, so
  // starving code fails these tests rather than hanging them.
  describe('calls that cannot make their deadline', () => {
    it("fail on a macrotask when the caller's own deadline already passed", async () => {
      const h = await start({});
      const client = h.newClient({ interceptors: [clientDeadline()] });
      const { ticks, codes } = await spinFailingCalls(
        async () => (await unary(client, {}, { deadline: Date.now() - 1 })).status,
      );
      expect(ticks).toBeGreaterThanOrEqual(3);
      expect(codes).toEqual([`${grpc.status.DEADLINE_EXCEEDED} Deadline exceeded before the call started`]);
      expect(h.handled.get('Unary')).toBeUndefined();
    });

    it('mark the status local (x-weft-local: deadline); one that reached the server is not', async () => {
      const h = await start({});
      const client = h.newClient({ interceptors: [clientDeadline()] });
      const before = await unary(client, {}, { deadline: Date.now() - 1 });
      expect(before.status.code).toBe(grpc.status.DEADLINE_EXCEEDED);
      expect(before.status.metadata.get(LOCAL_STATUS_KEY)).toEqual(['deadline']);
      const sent = await unary(client, { sleepMs: 2000 }, { deadline: Date.now() + 50 }, 'Sleep');
      expect(sent.status.code).toBe(grpc.status.DEADLINE_EXCEEDED);
      expect(localReason(sent.status.metadata)).toBeUndefined();
    });

    it.each([
      ['its deadline passed', grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded (propagated)'],
      ['its caller cancelled', grpc.status.CANCELLED, 'Cancelled because the incoming call was cancelled'],
    ] as const)(
      'fail on a macrotask in a handler whose incoming call ended because %s',
      async (why, code, details) => {
        const d = await start({});
        const toD = d.newClient({ interceptors: [clientDeadline()] });
        // The handler's own answer is dropped (its call ended): it hands over what it saw here.
        let handOver: (seen: Awaited<ReturnType<typeof spinFailingCalls>>) => void = () => {};
        const handedOver = new Promise<Awaited<ReturnType<typeof spinFailingCalls>>>((resolve) => {
          handOver = resolve;
        });
        const waiting = deferred();
        const b = await start({
          serverInterceptors: [serverDeadline()],
          handlers: {
            async Unary(_call, callback) {
              await waitForAbort({ onWait: waiting.resolve });
              handOver(await spinFailingCalls(async () => (await unary(toD, {})).status));
              callback(null, {});
            },
          },
        });
        await new Promise<void>((resolve) => {
          const deadline = why === 'its deadline passed' ? Date.now() + 100 : Infinity;
          const call = b.client.Unary({}, new grpc.Metadata(), { deadline }, () => {});
          call.on('status', () => resolve());
          if (why === 'its caller cancelled') void waiting.promise.then(() => call.cancel());
        });
        const outcome = await handedOver;
        expect(outcome.ticks).toBeGreaterThanOrEqual(3);
        expect(outcome.codes).toEqual([`${code} ${details}`]);
        expect(d.handled.get('Unary')).toBeUndefined();
      },
    );
  });

  it('deadline() builds both halves, each with its own options', async () => {
    // The client half gives calls without a deadline 30 s; the server half caps any deadline at
    // 60 s. Seconds, so the handler's view of the deadline is far from either bound on a busy machine.
    const { server, client } = deadline({ server: { max: 60_000 }, client: { default: 30_000 } });
    const seen: number[] = [];
    const h = await start({
      serverInterceptors: [server],
      clientInterceptors: [client],
      handlers: {
        Unary(call, callback) {
          seen.push(deadlineMs(call.getDeadline()) - Date.now());
          callback(null, {});
        },
      },
    });
    // No deadline: the client half sets 30 s (the server half alone would impose its 60 s cap).
    expect((await unary(h.client, {})).status.code).toBe(grpc.status.OK);
    // A 10-minute deadline: the server half cuts it to 60 s (the client half keeps a caller's own).
    expect((await unary(h.client, {}, { deadline: Date.now() + 600_000 })).status.code).toBe(grpc.status.OK);
    expect(seen).toHaveLength(2);
    expect(seen[0]).toBeGreaterThan(25_000);
    expect(seen[0]).toBeLessThanOrEqual(30_000);
    expect(seen[1]).toBeGreaterThan(55_000);
    expect(seen[1]).toBeLessThanOrEqual(60_000);
  });
});
