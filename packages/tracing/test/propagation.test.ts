import * as grpc from '@grpc/grpc-js';
import { SpanKind, trace } from '@opentelemetry/api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Harness, metadata, startHarness, unary } from '../../../test/harness';
import { clientTracing, currentTrace, metadataGetter, serverTracing } from '../src/index';
import { setupOtel, spanNamed, waitFor } from './otel';

const otel = setupOtel();
const UNARY = 'weft.test.TestService/Unary';

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const SPAN_ID = 'b7ad6b7169203331';
const VALID = `00-${TRACE_ID}-${SPAN_ID}-01`;

describe('trace context across calls', () => {
  const harnesses: Harness[] = [];
  beforeEach(() => otel.reset());
  afterEach(async () => {
    await Promise.all(harnesses.splice(0).map((h) => h.close()));
  });

  it('links client -> A -> B into one trace with the right parents', async () => {
    const tracerProvider = otel.provider;
    const seenInB: Record<string, string | undefined> = {};
    const b = await startHarness({
      serverInterceptors: [serverTracing({ tracerProvider })],
      handlers: {
        Unary(_call, callback) {
          const ids = currentTrace();
          seenInB.spanId = ids?.spanId;
          seenInB.parentId = ids?.parentId;
          callback(null, { message: 'from B' });
        },
      },
    });
    harnesses.push(b);
    const toB = b.newClient({ interceptors: [clientTracing({ tracerProvider })] });
    const a = await startHarness({
      serverInterceptors: [serverTracing({ tracerProvider })],
      clientInterceptors: [clientTracing({ tracerProvider })],
      handlers: {
        async Unary(call, callback) {
          // An await before the outgoing call: the server span must still be the active one.
          await new Promise((r) => setImmediate(r));
          const fromB = await unary(toB, { message: call.request.message });
          callback(null, { message: `A saw ${fromB.responses[0]?.message}` });
        },
      },
    });
    harnesses.push(a);

    const tracer = tracerProvider.getTracer('test');
    const result = await tracer.startActiveSpan('root', async (root) => {
      try {
        return await unary(a.client, { message: 'hop' });
      } finally {
        root.end();
      }
    });
    expect(result.status.code).toBe(grpc.status.OK);
    expect(result.responses[0]?.message).toBe('A saw from B');
    await waitFor(() => otel.spans().length === 5);

    const spans = otel.spans();
    const root = spanNamed(spans, 'root');
    const clients = spans.filter((s) => s.kind === SpanKind.CLIENT);
    const servers = spans.filter((s) => s.kind === SpanKind.SERVER);
    expect(clients).toHaveLength(2);
    expect(servers).toHaveLength(2);
    const clientToA = clients.find((s) => s.parentSpanContext?.spanId === root.spanContext().spanId);
    const serverA = servers.find((s) => s.parentSpanContext?.spanId === clientToA?.spanContext().spanId);
    const clientToB = clients.find((s) => s.parentSpanContext?.spanId === serverA?.spanContext().spanId);
    const serverB = servers.find((s) => s.parentSpanContext?.spanId === clientToB?.spanContext().spanId);
    expect(clientToA && serverA && clientToB && serverB).toBeTruthy();
    for (const span of spans) expect(span.spanContext().traceId).toBe(root.spanContext().traceId);
    for (const span of [clientToA, serverA, clientToB, serverB]) expect(span?.name).toBe(UNARY);
    expect(serverA?.parentSpanContext?.isRemote).toBe(true);
    // currentTrace in B: the server span, its parent the client span A used.
    expect(seenInB).toEqual({
      spanId: serverB?.spanContext().spanId,
      parentId: clientToB?.spanContext().spanId,
    });
    expect(otel.counter.started).toBe(otel.counter.ended);
  });

  it('continues the trace and tracestate the caller sent', async () => {
    const h = await startHarness({ serverInterceptors: [serverTracing({ tracerProvider: otel.provider })] });
    harnesses.push(h);
    await unary(
      h.client,
      {},
      { metadata: metadata({ traceparent: VALID, tracestate: 'vendor=abc,other=1' }) },
    );
    await waitFor(() => otel.spans().length === 1);
    const span = otel.spans()[0];
    expect(span?.spanContext().traceId).toBe(TRACE_ID);
    expect(span?.parentSpanContext?.spanId).toBe(SPAN_ID);
    expect(span?.spanContext().traceState?.serialize()).toBe('vendor=abc,other=1');
  });

  // W3C Trace Context: a traceparent that does not parse is ignored, a new trace starts and the
  // tracestate goes with it. None of these may fail the call.
  it.each([
    { case: 'trace id too short', traceparent: `00-${TRACE_ID.slice(1)}-${SPAN_ID}-01` },
    { case: 'span id too long', traceparent: `00-${TRACE_ID}-${SPAN_ID}0-01` },
    { case: 'non-hex characters', traceparent: `00-${TRACE_ID.slice(0, 31)}g-${SPAN_ID}-01` },
    { case: 'upper-case hex', traceparent: `00-${TRACE_ID.toUpperCase()}-${SPAN_ID}-01` },
    { case: 'all-zero trace id', traceparent: `00-${'0'.repeat(32)}-${SPAN_ID}-01` },
    { case: 'all-zero span id', traceparent: `00-${TRACE_ID}-${'0'.repeat(16)}-01` },
    { case: 'version ff', traceparent: `ff-${TRACE_ID}-${SPAN_ID}-01` },
    { case: 'extra field on version 00', traceparent: `${VALID}-extra` },
    { case: 'missing flags', traceparent: `00-${TRACE_ID}-${SPAN_ID}` },
    { case: 'garbage', traceparent: 'hello world' },
    { case: 'empty', traceparent: '' },
    { case: 'very long', traceparent: `${VALID}${'-x'.repeat(4000)}` },
    { case: 'duplicated traceparent', traceparent: [VALID, `00-${'1'.repeat(32)}-${SPAN_ID}-01`] },
    { case: 'the same traceparent twice', traceparent: [VALID, VALID] },
  ])('starts a new trace on a malformed traceparent: $case', async ({ traceparent }) => {
    const h = await startHarness({ serverInterceptors: [serverTracing({ tracerProvider: otel.provider })] });
    harnesses.push(h);
    const md = new grpc.Metadata();
    for (const value of Array.isArray(traceparent) ? traceparent : [traceparent])
      md.add('traceparent', value);
    md.set('tracestate', 'vendor=abc');
    const result = await unary(h.client, { message: 'still works' }, { metadata: md });
    expect(result.status.code).toBe(grpc.status.OK);
    expect(result.responses[0]?.message).toBe('still works');
    await waitFor(() => otel.spans().length === 1);
    const span = otel.spans()[0];
    expect(span?.parentSpanContext).toBeUndefined();
    expect(span?.spanContext().traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(span?.spanContext().traceId).not.toBe(TRACE_ID);
    expect(span?.spanContext().traceState).toBeUndefined();
  });

  it('reads traceparent only when it has exactly one string value', () => {
    const md = new grpc.Metadata();
    expect(metadataGetter.get(md, 'traceparent')).toBeUndefined();
    md.add('traceparent', VALID);
    expect(metadataGetter.get(md, 'traceparent')).toBe(VALID);
    md.add('traceparent', VALID);
    expect(metadataGetter.get(md, 'traceparent')).toBeUndefined();
    md.add('tracestate', 'a=1');
    md.add('tracestate', 'b=2');
    expect(metadataGetter.get(md, 'tracestate')).toEqual(['a=1', 'b=2']);
    md.set('x-trace-bin', Buffer.from('00'));
    expect(metadataGetter.get(md, 'x-trace-bin')).toBeUndefined();
    expect(metadataGetter.keys(md)).toEqual(['traceparent', 'tracestate', 'x-trace-bin']);
  });

  it('never fails a call when the propagator throws', async () => {
    const broken = {
      inject(): void {
        throw new Error('inject broke');
      },
      extract(): never {
        throw new Error('extract broke');
      },
    };
    const h = await startHarness({
      serverInterceptors: [serverTracing({ tracerProvider: otel.provider, propagator: broken })],
      clientInterceptors: [clientTracing({ tracerProvider: otel.provider, propagator: broken })],
    });
    harnesses.push(h);
    const result = await unary(h.client, { message: 'ok' }, { metadata: metadata({ traceparent: VALID }) });
    expect(result.status.code).toBe(grpc.status.OK);
    await waitFor(() => otel.spans().length === 2);
    const server = otel.spans().find((s) => s.kind === SpanKind.SERVER);
    expect(server?.parentSpanContext).toBeUndefined();
  });

  it('passes an incoming trace on without an SDK (non-recording spans)', async () => {
    trace.disable();
    let sent: string[] = [];
    let inA: ReturnType<typeof currentTrace>;
    const b = await startHarness({
      handlers: {
        Unary(call, callback) {
          sent = call.metadata.get('traceparent') as string[];
          callback(null, {});
        },
      },
    });
    harnesses.push(b);
    const toB = b.newClient({ interceptors: [clientTracing()] });
    const a = await startHarness({
      serverInterceptors: [serverTracing()],
      handlers: {
        async Unary(_call, callback) {
          inA = currentTrace();
          await unary(toB, {});
          callback(null, {});
        },
      },
    });
    harnesses.push(a);
    await unary(a.client, {}, { metadata: metadata({ traceparent: VALID }) });
    expect(sent).toEqual([VALID]);
    // The caller's ids, no parent: nothing was recorded in between.
    expect(inA).toEqual({ traceId: TRACE_ID, spanId: SPAN_ID, sampled: true });
    expect(otel.counter.started).toBe(0);
  });
});
