import { Metadata, status } from '@grpc/grpc-js';
import {
  type Context,
  isSpanContextValid,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  trace,
} from '@opentelemetry/api';
import type { Emit } from '@weft/core';
import {
  type CallReporter,
  type FinishedStatus,
  type MethodCache,
  type ObservedServerCall,
  type ObservingServerInterceptor,
  observeServer,
} from '@weft/core';
import { rememberParent } from './current-trace';
import { metadataGetter } from './metadata-carrier';
import { type MethodSpans, methodSpanCache } from './method-spans';
import {
  type Propagator,
  type ResolvedOptions,
  resolveServerOptions,
  type ServerTracingOptions,
  TRACE_ID_HEADER,
} from './options';
import { parsePeer } from './peer-address';
import { ATTR_NETWORK_PEER_ADDRESS, ATTR_NETWORK_PEER_PORT } from './semconv';
import { recordMetadata, SpanReporter, withMessageEvents } from './span-reporter';

/**
 * Codes that mark a server span as failed (OpenTelemetry gRPC semantic conventions): the server's
 * own faults. Caller mistakes (INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED...) leave the status unset.
 */
export function isServerError(code: status): boolean {
  switch (code) {
    case status.UNKNOWN:
    case status.DEADLINE_EXCEEDED:
    case status.UNIMPLEMENTED:
    case status.INTERNAL:
    case status.UNAVAILABLE:
    case status.DATA_LOSS:
      return true;
    default:
      return false;
  }
}

/**
 * The caller's trace context from request metadata. Anything unusable (a malformed or duplicated
 * `traceparent`, a propagator that throws) yields a fresh root: the call goes on and a new trace
 * starts. Extraction starts from the root context, not the active one: a server span's parent comes
 * from the wire only, never from whatever async context the connection happened to be created in.
 */
function extractParent(propagator: Propagator, metadata: Metadata): Context {
  let extracted: Context;
  try {
    extracted = propagator.extract(ROOT_CONTEXT, metadata, metadataGetter);
  } catch {
    return ROOT_CONTEXT;
  }
  const parent = trace.getSpanContext(extracted);
  // A propagator that lets an invalid span context through: drop it (and keep any baggage).
  if (parent !== undefined && !isSpanContextValid(parent)) return trace.deleteSpan(extracted);
  return extracted;
}

class ServerSpan extends SpanReporter {
  constructor(
    span: Span,
    ctx: Context,
    /** The trace id to echo as `x-trace-id`, or `undefined` when not echoing. */
    private readonly echo: string | undefined,
    emit: Emit,
  ) {
    super(span, ctx, emit);
  }

  onHeaders(metadata: Metadata): void {
    if (this.echo !== undefined) metadata.set(TRACE_ID_HEADER, this.echo);
  }

  onFinish(finished: FinishedStatus): void {
    if (this.echo !== undefined) echoInTrailers(finished, this.echo);
    this.finish(finished.code, finished.details, isServerError(finished.code));
  }
}

/** A server span that also adds an event per message. */
const ServerSpanWithMessages = withMessageEvents(ServerSpan);

/**
 * Adds `x-trace-id` to the trailers. A status with no trailers (`metadata: null`, what grpc-js sends
 * for a plain successful call) gets a fresh `Metadata`: the observer passes this same status object
 * on to grpc-js. The statuses weft makes up for cancels and deadlines are frozen and never reach
 * the wire, so they are left alone.
 */
function echoInTrailers(finished: FinishedStatus, traceId: string): void {
  if (finished.metadata) {
    finished.metadata.set(TRACE_ID_HEADER, traceId);
  } else if (!Object.isFrozen(finished)) {
    const trailers = new Metadata();
    trailers.set(TRACE_ID_HEADER, traceId);
    (finished as { metadata?: Metadata | null }).metadata = trailers;
  }
}

function startServerSpan(
  options: ResolvedOptions,
  methods: MethodCache<MethodSpans>,
  call: ObservedServerCall,
): CallReporter {
  const spans = methods.get(call.method);
  const parent = extractParent(options.propagator, call.metadata);
  const span = options.tracer.startSpan(spans.name, spans.options, parent);
  rememberParent(span, trace.getSpanContext(parent));

  if (span.isRecording()) {
    // The connection's address when grpc-js reports it (no string to parse), else the peer string.
    const address = call.context.remoteAddress;
    const peer =
      address === undefined ? parsePeer(call.context.peer) : { address, port: call.context.remotePort };
    if (peer !== undefined) {
      span.setAttribute(ATTR_NETWORK_PEER_ADDRESS, peer.address);
      if (peer.port !== undefined) span.setAttribute(ATTR_NETWORK_PEER_PORT, peer.port);
    }
    if (options.metadataAttributes.length > 0)
      recordMetadata(span, call.metadata, options.metadataAttributes);
  }

  const spanContext = span.spanContext();
  const valid = isSpanContextValid(spanContext);
  if (valid && options.logFields) {
    call.context.addLogFields({ trace_id: spanContext.traceId, span_id: spanContext.spanId });
  }
  const echo = valid && options.echoTraceId ? spanContext.traceId : undefined;
  const ctx = trace.setSpan(parent, span);
  return options.messageEvents
    ? new ServerSpanWithMessages(span, ctx, echo, options.emit)
    : new ServerSpan(span, ctx, echo, options.emit);
}

/**
 * Server tracing: one SERVER span per call, named `package.Service/Method`, child of the trace
 * context the caller sent (W3C `traceparent` by default), with the OpenTelemetry RPC attributes and
 * the final status. The handler, and everything below this interceptor, run with the span active,
 * so spans the handler starts and calls it makes through a `clientTracing()` client are its children.
 * Put it first (outermost): `serverInterceptors({ tracing: serverTracing() })` does.
 */
export function serverTracing(options?: ServerTracingOptions): ObservingServerInterceptor {
  const resolved = resolveServerOptions(options);
  const methods = methodSpanCache(SpanKind.SERVER, resolved.emit, undefined);
  return observeServer({
    start(call: ObservedServerCall) {
      return startServerSpan(resolved, methods, call);
    },
  });
}
