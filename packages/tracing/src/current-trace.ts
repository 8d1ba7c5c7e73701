import {
  type Context,
  context,
  isSpanContextValid,
  type Span,
  type SpanContext,
  trace,
} from '@opentelemetry/api';

/** The ids of the active span, for log lines and error reports. */
export interface CurrentTrace {
  /** 32 lower-case hex digits. */
  readonly traceId: string;
  /** 16 lower-case hex digits: the active span (the server span inside a handler). */
  readonly spanId: string;
  /**
   * The span's parent: for a weft server span, the caller's span id from `traceparent`; for a weft
   * client span, the span that was active when the call started. `undefined` for a root span or a
   * span weft did not start.
   */
  readonly parentId?: string;
  /** Whether the trace is sampled (W3C `trace-flags` bit 0). */
  readonly sampled: boolean;
}

/**
 * Parent span ids of the spans weft started ride on the span object under a symbol: the API does
 * not expose a span's parent. (A WeakMap entry per span is far costlier: every short-lived entry is
 * an ephemeron the garbage collector must trace.)
 */
const PARENT = Symbol('weft.parentSpanId');
type WithParent = Span & { [PARENT]?: string };

/**
 * @internal Remembers the parent of a span weft started, when it has a valid one. Without an SDK the
 * API hands back the parent's own context as a non-recording span: that span has no parent of its own.
 */
export function rememberParent(span: Span, parent: SpanContext | undefined): void {
  if (parent === undefined || !isSpanContextValid(parent)) return;
  if (span.spanContext().spanId === parent.spanId) return;
  (span as WithParent)[PARENT] = parent.spanId;
}

/**
 * The trace and span ids of the active span (or of the span in `ctx`), or `undefined` when there is
 * none or its context is invalid (no SDK and no incoming trace). Inside a handler behind
 * `serverTracing()` that is the server span. One context lookup and a small object; nothing else.
 */
export function currentTrace(ctx: Context = context.active()): CurrentTrace | undefined {
  const span = trace.getSpan(ctx);
  if (span === undefined) return undefined;
  const spanContext = span.spanContext();
  if (!isSpanContextValid(spanContext)) return undefined;
  const parentId = (span as WithParent)[PARENT];
  const sampled = (spanContext.traceFlags & 1) === 1;
  return parentId === undefined
    ? { traceId: spanContext.traceId, spanId: spanContext.spanId, sampled }
    : { traceId: spanContext.traceId, spanId: spanContext.spanId, parentId, sampled };
}
