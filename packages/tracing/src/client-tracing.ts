import { status } from '@grpc/grpc-js';
import { type Attributes, type Context, context, type Span, SpanKind, trace } from '@opentelemetry/api';
import {
  type CallReporter,
  EMIT_NEW,
  EMIT_OLD,
  type Emit,
  type FinishedStatus,
  type MethodCache,
  type ObservedClientCall,
  type ObservingClientInterceptor,
  observeClient,
  type RetryAttempt,
  rpcStatusCode,
  signals,
} from '@weft/core';
import { rememberParent } from './current-trace';
import { metadataSetter } from './metadata-carrier';
import { type MethodSpans, methodSpanCache } from './method-spans';
import { type ClientTracingOptions, type ResolvedOptions, resolveClientOptions } from './options';
import { ATTR_RPC_GRPC_STATUS_CODE, ATTR_RPC_STATUS_CODE } from './semconv';
import { recordMetadata, SpanReporter, withMessageEvents } from './span-reporter';

/**
 * Marks recording client spans weft started (a retry signal only annotates one of these), with
 * the conventions their interceptor emits.
 */
const WEFT_CLIENT_SPAN = Symbol('weft.clientSpan');
type Marked = Span & { [WEFT_CLIENT_SPAN]?: Emit };

class ClientSpan extends SpanReporter {
  onFinish(finished: FinishedStatus): void {
    // For the caller every non-OK status is a failure (OpenTelemetry gRPC conventions).
    this.finish(finished.code, finished.details, finished.code !== status.OK);
  }
}

/** A client span that also adds an event per message. */
const ClientSpanWithMessages = withMessageEvents(ClientSpan);

/**
 * A retry layer below tracing (`@weft/resilience`'s `retry()`) publishes each new attempt; the
 * attempt runs inside the client span's context, so the active span is the call's span.
 */
function onRetryAttempt(attempt: RetryAttempt): void {
  const span = trace.getActiveSpan();
  const emit = span === undefined ? undefined : (span as Marked)[WEFT_CLIENT_SPAN];
  if (span === undefined || emit === undefined) return;
  const attributes: Attributes = { 'rpc.retry.attempt': attempt.attempt };
  if (emit & EMIT_OLD) attributes[ATTR_RPC_GRPC_STATUS_CODE] = attempt.code;
  if (emit & EMIT_NEW) attributes[ATTR_RPC_STATUS_CODE] = rpcStatusCode(attempt.code);
  span.addEvent('retry', attributes);
}

let listeningForRetries = false;
function listenForRetries(): void {
  if (listeningForRetries) return;
  listeningForRetries = true;
  signals.retryAttempt.subscribe(onRetryAttempt);
}

function startClientSpan(
  options: ResolvedOptions,
  methods: MethodCache<MethodSpans>,
  call: ObservedClientCall,
): CallReporter {
  const spans = methods.get(call.method);
  const parent: Context = context.active();
  const span = options.tracer.startSpan(spans.name, spans.options, parent);
  rememberParent(span, trace.getSpanContext(parent));
  if (span.isRecording()) {
    (span as Marked)[WEFT_CLIENT_SPAN] = options.emit;
    if (options.metadataAttributes.length > 0)
      recordMetadata(span, call.metadata, options.metadataAttributes);
  }
  const ctx = trace.setSpan(parent, span);
  try {
    options.propagator.inject(ctx, call.metadata, metadataSetter);
  } catch {
    // A broken propagator must not fail the call: it goes out without trace context.
  }
  return options.messageEvents
    ? new ClientSpanWithMessages(span, ctx, options.emit)
    : new ClientSpan(span, ctx, options.emit);
}

/**
 * Client tracing: one CLIENT span per call, child of the active span (the server span inside a
 * `serverTracing()` handler), with the trace context injected into the outgoing metadata and the
 * RPC attributes and final status recorded. Layers below it (retry, deadline, auth) run with the
 * span active; retries show up as `retry` events on it.
 */
export function clientTracing(options?: ClientTracingOptions): ObservingClientInterceptor {
  const resolved = resolveClientOptions(options);
  const methods = methodSpanCache(SpanKind.CLIENT, resolved.emit, resolved.server);
  listenForRetries();
  return observeClient({
    start(call: ObservedClientCall) {
      return startClientSpan(resolved, methods, call);
    },
  });
}
