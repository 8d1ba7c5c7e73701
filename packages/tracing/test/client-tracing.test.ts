import * as grpc from '@grpc/grpc-js';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { signals } from '@weft/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Harness, metadata, SHAPES, startHarness, unary } from '../../../test/harness';
import { clientTracing, currentTrace } from '../src/index';
import { setupOtel, waitFor } from './otel';

const otel = setupOtel();
const UNARY = 'weft.test.TestService/Unary';

describe('clientTracing', () => {
  let harness: Harness | undefined;
  beforeEach(() => otel.reset());
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
  });

  it('starts a CLIENT span and sends its context in traceparent', async () => {
    const received = { traceparent: '' };
    harness = await startHarness({
      clientInterceptors: [clientTracing({ tracerProvider: otel.provider })],
      handlers: {
        Unary(call, callback) {
          received.traceparent = String(call.metadata.get('traceparent'));
          callback(null, {});
        },
      },
    });
    const result = await unary(harness.client, {});
    expect(result.status.code).toBe(grpc.status.OK);
    expect(otel.spans()).toHaveLength(1);
    const span = otel.spans()[0];
    expect(span?.name).toBe(UNARY);
    expect(span?.kind).toBe(SpanKind.CLIENT);
    expect(span?.attributes).toEqual({
      'rpc.system': 'grpc',
      'rpc.service': 'weft.test.TestService',
      'rpc.method': 'Unary',
      'rpc.grpc.status_code': 0,
    });
    expect(span?.parentSpanContext).toBeUndefined();
    const { traceId, spanId } = span?.spanContext() ?? {};
    expect(received.traceparent).toBe(`00-${traceId}-${spanId}-01`);
  });

  it('replaces a traceparent the caller put in the metadata itself', async () => {
    let seen: unknown[] = [];
    harness = await startHarness({
      clientInterceptors: [clientTracing({ tracerProvider: otel.provider })],
      handlers: {
        Unary(call, callback) {
          seen = call.metadata.get('traceparent');
          callback(null, {});
        },
      },
    });
    await unary(
      harness.client,
      {},
      { metadata: metadata({ traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01` }) },
    );
    const sc = otel.spans()[0]?.spanContext();
    expect(seen).toEqual([`00-${sc?.traceId}-${sc?.spanId}-01`]);
  });

  it('is a child of the active span', async () => {
    harness = await startHarness({ clientInterceptors: [clientTracing({ tracerProvider: otel.provider })] });
    const tracer = otel.provider.getTracer('test');
    const client = harness.client;
    let insideRoot: ReturnType<typeof currentTrace>;
    await tracer.startActiveSpan('root', async (root) => {
      insideRoot = currentTrace();
      await unary(client, {});
      root.end();
    });
    const root = otel.spans().find((s) => s.name === 'root');
    const call = otel.spans().find((s) => s.name === UNARY);
    expect(call?.parentSpanContext?.spanId).toBe(root?.spanContext().spanId);
    expect(call?.spanContext().traceId).toBe(root?.spanContext().traceId);
    // A span weft did not start: ids, no parent.
    expect(insideRoot).toEqual({
      traceId: root?.spanContext().traceId,
      spanId: root?.spanContext().spanId,
      sampled: true,
    });
  });

  it.each(
    [
      grpc.status.CANCELLED,
      grpc.status.INVALID_ARGUMENT,
      grpc.status.NOT_FOUND,
      grpc.status.ALREADY_EXISTS,
      grpc.status.PERMISSION_DENIED,
      grpc.status.RESOURCE_EXHAUSTED,
      grpc.status.FAILED_PRECONDITION,
      grpc.status.ABORTED,
      grpc.status.OUT_OF_RANGE,
      grpc.status.UNIMPLEMENTED,
      grpc.status.INTERNAL,
      grpc.status.UNAVAILABLE,
      grpc.status.DATA_LOSS,
      grpc.status.UNAUTHENTICATED,
    ].map((code) => ({ code, name: grpc.status[code] })),
  )('marks the client span failed on $name', async ({ code }) => {
    harness = await startHarness({ clientInterceptors: [clientTracing({ tracerProvider: otel.provider })] });
    await unary(harness.client, { failCode: code, failMessage: 'nope' }, {}, 'Fail');
    const span = otel.spans()[0];
    expect(span?.attributes['rpc.grpc.status_code']).toBe(code);
    expect(span?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'nope' });
    expect(span?.events.map((e) => [e.name, e.attributes?.['exception.message']])).toEqual([
      ['exception', 'nope'],
    ]);
  });

  it('records a deadline the client gave up at as DEADLINE_EXCEEDED', async () => {
    harness = await startHarness({ clientInterceptors: [clientTracing({ tracerProvider: otel.provider })] });
    await unary(harness.client, { sleepMs: 5000 }, { deadline: Date.now() + 50 }, 'Sleep');
    const span = otel.spans()[0];
    expect(span?.attributes['rpc.grpc.status_code']).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(span?.status.code).toBe(SpanStatusCode.ERROR);
  });

  it('records allow-listed outgoing metadata and message events', async () => {
    harness = await startHarness({
      clientInterceptors: [
        clientTracing({
          tracerProvider: otel.provider,
          metadataAttributes: ['x-tenant'],
          messageEvents: true,
        }),
      ],
    });
    await SHAPES.bidi_stream(
      harness.client,
      { message: 'x' },
      { metadata: metadata({ 'x-tenant': 'acme' }) },
    );
    const span = otel.spans()[0];
    expect(span?.attributes['rpc.grpc.request.metadata.x-tenant']).toEqual(['acme']);
    const events = span?.events.map(
      (e) => `${e.attributes?.['rpc.message.type']}#${e.attributes?.['rpc.message.id']}`,
    );
    expect(events?.sort()).toEqual(['RECEIVED#1', 'RECEIVED#2', 'SENT#1', 'SENT#2']);
  });

  it('runs inner interceptors with the client span active and records retries on it', async () => {
    let activeInside: string | undefined;
    // Stands in for @weft/resilience's retry(): it runs below tracing and publishes attempts.
    const innerRetry: grpc.Interceptor = (options, nextCall) =>
      new grpc.InterceptingCall(nextCall(options), {
        start(md, listener, next) {
          activeInside = currentTrace()?.spanId;
          signals.retryAttempt.publish({
            method: { path: '/x/Y', fullMethod: 'x/Y', service: 'x', method: 'Y', type: 'unary' },
            attempt: 2,
            code: grpc.status.UNAVAILABLE,
          });
          next(md, listener);
        },
      });
    harness = await startHarness({
      clientInterceptors: [clientTracing({ tracerProvider: otel.provider }), innerRetry],
    });
    await unary(harness.client, {});
    const span = otel.spans()[0];
    expect(activeInside).toBe(span?.spanContext().spanId);
    expect(span?.events.map((e) => [e.name, e.attributes])).toEqual([
      ['retry', { 'rpc.retry.attempt': 2, 'rpc.grpc.status_code': grpc.status.UNAVAILABLE }],
    ]);
  });

  it('ends every span it starts, once', async () => {
    harness = await startHarness({
      clientInterceptors: [clientTracing({ tracerProvider: otel.provider })],
      handlers: {
        // Answers with headers at once, then holds the call until it is cancelled or its deadline passes.
        Sleep(call) {
          call.sendMetadata(new grpc.Metadata());
        },
      },
    });
    const client = harness.client;
    const cancelled = client.Sleep({}, () => {});
    await Promise.all([
      ...Object.values(SHAPES).map((run) => run(client, { message: 'x' })),
      ...Object.values(SHAPES).map((run) => run(client, { message: 'x', failCode: grpc.status.ABORTED })),
      unary(client, {}, { deadline: Date.now() + 50 }, 'Sleep'),
      new Promise((resolve) => {
        cancelled.on('status', resolve);
        cancelled.on('metadata', () => cancelled.cancel()); // in flight: the server answered headers
      }),
    ]);
    await waitFor(() => otel.counter.ended === 10);
    // A late second end of any span would come before this call's own end, made after them all.
    await unary(client, { message: 'marker' });
    await waitFor(() => otel.counter.ended === 11);
    expect(otel.counter.started).toBe(11);
    expect(otel.counter.ended).toBe(11);
  });
});
