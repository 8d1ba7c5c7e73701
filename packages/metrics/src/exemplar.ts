import { isSpanContextValid, trace } from '@opentelemetry/api';
import type { Exemplar } from './series';

/** The trace id of the active, sampled span, or `undefined`: what an exemplar links to. */
export function activeTraceId(): string | undefined {
  const span = trace.getActiveSpan();
  if (span === undefined) return undefined;
  const context = span.spanContext();
  if (!isSpanContextValid(context) || (context.traceFlags & 1) === 0) return undefined;
  return context.traceId;
}

export function exemplarFor(traceId: string, value: number): Exemplar {
  return { labelSet: { trace_id: traceId }, value, timestamp: Date.now() / 1000 };
}
