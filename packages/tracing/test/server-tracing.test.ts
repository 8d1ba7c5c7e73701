import * as grpc from '@grpc/grpc-js';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { getCallContext, type LogFields, serverInterceptors, serverLogging } from '@weft/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Harness, metadata, SHAPES, startHarness, unary } from '../../../test/harness';
import { currentTrace, serverTracing } from '../src/index';
import { setupOtel, spanNamed, trace, waitFor } from './otel';

const otel = setupOtel();
const UNARY = 'weft.test.TestService/Unary';
const FAIL = 'weft.test.TestService/Fail';

describe('serverTracing', () => {
  let harness: Harness | undefined;
  beforeEach(() => otel.reset());
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
  });

  it('starts a SERVER span named package.Service/Method with the RPC attributes', async () => {
    harness = await startHarness({ serverInterceptors: [serverTracing({ tracerProvider: otel.provider })] });
    const result = await unary(harness.client, { message: 'hi' });
    expect(result.status.code).toBe(grpc.status.OK);
    await waitFor(() => otel.spans().length === 1);
    const span = spanNamed(otel.spans(), UNARY);
    expect(span.kind).toBe(SpanKind.SERVER);
    expect(span.instrumentationScope.name).toBe('@weft/tracing');
    expect(span.attributes).toMatchObject({
      'rpc.system': 'grpc',
      'rpc.service': 'weft.test.TestService',
      'rpc.method': 'Unary',
      'rpc.grpc.status_code': 0,
      'network.peer.address': '127.0.0.1',
    });
    expect(span.attributes['network.peer.port']).toEqual(expect.any(Number));
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.events).toEqual([]);
    expect(span.parentSpanContext).toBeUndefined();
  });

  it.each([
    { name: 'UNKNOWN', code: grpc.status.UNKNOWN, failed: true },
    { name: 'DEADLINE_EXCEEDED', code: grpc.status.DEADLINE_EXCEEDED, failed: true },
    { name: 'UNIMPLEMENTED', code: grpc.status.UNIMPLEMENTED, failed: true },
    { name: 'INTERNAL', code: grpc.status.INTERNAL, failed: true },
    { name: 'UNAVAILABLE', code: grpc.status.UNAVAILABLE, failed: true },
    { name: 'DATA_LOSS', code: grpc.status.DATA_LOSS, failed: true },
    { name: 'INVALID_ARGUMENT', code: grpc.status.INVALID_ARGUMENT, failed: false },
    { name: 'NOT_FOUND', code: grpc.status.NOT_FOUND, failed: false },
    { name: 'PERMISSION_DENIED', code: grpc.status.PERMISSION_DENIED, failed: false },
    { name: 'UNAUTHENTICATED', code: grpc.status.UNAUTHENTICATED, failed: false },
    { name: 'RESOURCE_EXHAUSTED', code: grpc.status.RESOURCE_EXHAUSTED, failed: false },
  ])('records $name, marking the span failed: $failed', async ({ name, code, failed }) => {
    harness = await startHarness({ serverInterceptors: [serverTracing({ tracerProvider: otel.provider })] });
    const result = await unary(harness.client, { failCode: code, failMessage: `boom ${name}` }, {}, 'Fail');
    expect(result.status.code).toBe(code);
    await waitFor(() => otel.spans().length === 1);
    const span = spanNamed(otel.spans(), FAIL);
    expect(span.attributes['rpc.grpc.status_code']).toBe(code);
    if (failed) {
      expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: `boom ${name}` });
      expect(span.attributes['error.type']).toBe(name);
      expect(span.events.map((e) => [e.name, e.attributes])).toEqual([
        ['exception', { 'exception.type': name, 'exception.message': `boom ${name}` }],
      ]);
    } else {
      expect(span.status.code).toBe(SpanStatusCode.UNSET);
      expect(span.attributes['error.type']).toBeUndefined();
      expect(span.events).toEqual([]);
    }
  });

  it('records a cancelled call without marking it failed, and ends its span', async () => {
    harness = await startHarness({ serverInterceptors: [serverTracing({ tracerProvider: otel.provider })] });
    const call = harness.client.Sleep({ sleepMs: 5000 }, () => {});
    await waitFor(() => otel.counter.started === 1);
    call.cancel();
    await waitFor(() => otel.spans().length === 1);
    const span = otel.spans()[0];
    expect(span?.attributes['rpc.grpc.status_code']).toBe(grpc.status.CANCELLED);
    expect(span?.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('records a passed deadline as DEADLINE_EXCEEDED', async () => {
    harness = await startHarness({ serverInterceptors: [serverTracing({ tracerProvider: otel.provider })] });
    const result = await unary(harness.client, { sleepMs: 5000 }, { deadline: Date.now() + 100 }, 'Sleep');
    expect(result.status.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    await waitFor(() => otel.spans().length === 1);
    expect(otel.spans()[0]?.attributes['rpc.grpc.status_code']).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(otel.spans()[0]?.status.code).toBe(SpanStatusCode.ERROR);
  });

  it.each(Object.keys(SHAPES) as (keyof typeof SHAPES)[])(
    'makes the server span active in the %s handler',
    async (shape) => {
      harness = await startHarness({
        serverInterceptors: [serverTracing({ tracerProvider: otel.provider })],
        probe: () => {
          const ids = currentTrace();
          return { traceId: ids?.traceId ?? 'none', spanId: ids?.spanId ?? 'none' };
        },
      });
      const result = await SHAPES[shape](harness.client, { message: 'x' });
      expect(result.status.code).toBe(grpc.status.OK);
      expect(result.responses.length).toBeGreaterThan(0);
      await waitFor(() => otel.spans().length === 1);
      const span = otel.spans()[0];
      for (const response of result.responses) {
        expect(response.context).toEqual({
          traceId: span?.spanContext().traceId,
          spanId: span?.spanContext().spanId,
        });
      }
    },
  );

  it('keeps the span active after an await in an async handler', async () => {
    let seen: string | undefined;
    harness = await startHarness({
      serverInterceptors: [serverTracing({ tracerProvider: otel.provider })],
      handlers: {
        async Unary(_call, callback) {
          await new Promise((r) => setImmediate(r));
          seen = currentTrace()?.spanId;
          callback(null, { message: 'ok' });
        },
      },
    });
    await unary(harness.client, {});
    await waitFor(() => otel.spans().length === 1);
    expect(seen).toBe(otel.spans()[0]?.spanContext().spanId);
  });

  it('echoes x-trace-id in headers and trailers when asked', async () => {
    harness = await startHarness({
      serverInterceptors: [serverTracing({ tracerProvider: otel.provider, echoTraceId: true })],
    });
    const ok = await unary(harness.client, { message: 'x' });
    const streamed = await SHAPES.server_stream(harness.client, { message: 'x' });
    const failed = await unary(harness.client, { failCode: grpc.status.NOT_FOUND }, {}, 'Fail');
    await waitFor(() => otel.spans().length === 3);
    const traceIds = otel.spans().map((s) => s.spanContext().traceId);
    expect(ok.headers?.get('x-trace-id')).toEqual([traceIds[0]]);
    expect(ok.status.metadata.get('x-trace-id')).toEqual([traceIds[0]]);
    expect(streamed.headers?.get('x-trace-id')).toEqual([traceIds[1]]);
    expect(streamed.status.metadata.get('x-trace-id')).toEqual([traceIds[1]]);
    // A failure without a response message: trailers-only, the handler's own trailers kept.
    expect(failed.status.metadata.get('x-trace-id')).toEqual([traceIds[2]]);
    expect(failed.status.metadata.get('x-failed-on-purpose')).toEqual(['yes']);
  });

  it('does not echo the trace id by default', async () => {
    harness = await startHarness({ serverInterceptors: [serverTracing({ tracerProvider: otel.provider })] });
    const ok = await unary(harness.client, { message: 'x' });
    expect(ok.headers?.get('x-trace-id')).toEqual([]);
    expect(ok.status.metadata.get('x-trace-id')).toEqual([]);
  });

  it('records allow-listed metadata keys as attributes', async () => {
    harness = await startHarness({
      serverInterceptors: [
        serverTracing({ tracerProvider: otel.provider, metadataAttributes: ['X-Tenant', 'x-absent'] }),
      ],
    });
    await unary(harness.client, {}, { metadata: metadata({ 'x-tenant': 'acme', 'x-other': 'no' }) });
    await waitFor(() => otel.spans().length === 1);
    const attributes = otel.spans()[0]?.attributes ?? {};
    expect(attributes['rpc.grpc.request.metadata.x-tenant']).toEqual(['acme']);
    expect(Object.keys(attributes).filter((k) => k.startsWith('rpc.grpc.request.metadata.'))).toEqual([
      'rpc.grpc.request.metadata.x-tenant',
    ]);
  });

  it.each([
    'authorization',
    'Authorization',
    'x-auth-token',
    'cookie',
    'set-cookie',
    'x-api-key',
    'x-trace-bin',
  ])('refuses to record metadata key %s', (key) => {
    expect(() => serverTracing({ metadataAttributes: [key] })).toThrow(
      /@weft\/tracing: .*(credentials|binary)/,
    );
  });

  it('adds message events when asked', async () => {
    harness = await startHarness({
      serverInterceptors: [serverTracing({ tracerProvider: otel.provider, messageEvents: true })],
    });
    await SHAPES.server_stream(harness.client, { message: 'x', count: 2 });
    await waitFor(() => otel.spans().length === 1);
    expect(otel.spans()[0]?.events.map((e) => e.attributes)).toEqual([
      { 'rpc.message.type': 'RECEIVED', 'rpc.message.id': 1 },
      { 'rpc.message.type': 'SENT', 'rpc.message.id': 1 },
      { 'rpc.message.type': 'SENT', 'rpc.message.id': 2 },
    ]);
  });

  it('adds trace_id and span_id to the log lines of the call', async () => {
    const lines: Record<string, unknown>[] = [];
    const log = (fields: Record<string, unknown>) => lines.push(fields);
    let fields: Readonly<LogFields> | undefined;
    harness = await startHarness({
      serverInterceptors: serverInterceptors({
        tracing: serverTracing({ tracerProvider: otel.provider }),
        logging: serverLogging({ logger: { debug: log, info: log, warn: log, error: log } }),
      }),
      handlers: {
        Unary(_call, callback) {
          fields = getCallContext()?.logFields;
          callback(null, {});
        },
      },
    });
    await unary(harness.client, {});
    await waitFor(() => otel.spans().length === 1 && lines.length === 1);
    const ids = otel.spans()[0]?.spanContext();
    expect(fields).toMatchObject({ trace_id: ids?.traceId, span_id: ids?.spanId });
    expect(lines[0]).toMatchObject({ trace_id: ids?.traceId, span_id: ids?.spanId });
  });

  it('ends every span it starts, once, across shapes and failures', async () => {
    harness = await startHarness({ serverInterceptors: [serverTracing({ tracerProvider: otel.provider })] });
    const client = harness.client;
    await Promise.all([
      ...Object.values(SHAPES).map((run) => run(client, { message: 'x' })),
      ...Object.values(SHAPES).map((run) => run(client, { message: 'x', failCode: grpc.status.ABORTED })),
      unary(client, { failCode: grpc.status.INTERNAL }, {}, 'Fail'),
      // 500 ms: the call must reach the server before its deadline (50 ms did not on a busy machine).
      unary(client, { sleepMs: 5000 }, { deadline: Date.now() + 500 }, 'Sleep'),
    ]);
    await waitFor(() => otel.counter.ended === 10);
    // A late second end of any span would come before this call's own end, made after them all.
    await unary(client, { message: 'marker' });
    await waitFor(() => otel.counter.ended === 11);
    expect(otel.counter.started).toBe(11);
    expect(otel.counter.ended).toBe(11);
    expect(otel.spans()).toHaveLength(11);
  });

  it('uses the global tracer provider registered after setup', async () => {
    trace.disable();
    const interceptor = serverTracing();
    harness = await startHarness({ serverInterceptors: [interceptor] });
    await unary(harness.client, {});
    trace.setGlobalTracerProvider(otel.provider);
    try {
      await unary(harness.client, {});
      await waitFor(() => otel.spans().length === 1);
      expect(otel.spans()[0]?.name).toBe(UNARY);
    } finally {
      trace.disable();
    }
  });
});
