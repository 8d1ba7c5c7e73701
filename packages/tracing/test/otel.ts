/**
 * The OpenTelemetry SDK as an application would set it up, for tests: an in-memory exporter, a
 * processor that counts started and ended spans (leak checks), the AsyncLocalStorage context
 * manager and the W3C propagator, registered globally.
 */
import { type Span as ApiSpan, context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';

/** Counts spans started and ended, to show that every span weft starts is ended once. */
export class CountingProcessor implements SpanProcessor {
  started = 0;
  ended = 0;
  onStart(): void {
    this.started += 1;
  }
  onEnd(): void {
    this.ended += 1;
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

export interface TestOtel {
  readonly provider: BasicTracerProvider;
  readonly exporter: InMemorySpanExporter;
  readonly counter: CountingProcessor;
  /** Finished spans, in the order they ended. */
  spans(): ReadableSpan[];
  reset(): void;
}

let contextManager: AsyncLocalStorageContextManager | undefined;

/** Registers the context manager and propagator globally (once) and builds a fresh provider. */
export function setupOtel(): TestOtel {
  if (contextManager === undefined) {
    context.disable();
    propagation.disable();
    contextManager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(contextManager);
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  }
  const exporter = new InMemorySpanExporter();
  const counter = new CountingProcessor();
  const provider = new BasicTracerProvider({
    spanProcessors: [counter, new SimpleSpanProcessor(exporter)],
  });
  return {
    provider,
    exporter,
    counter,
    spans: () => exporter.getFinishedSpans(),
    reset() {
      exporter.reset();
      counter.started = 0;
      counter.ended = 0;
    },
  };
}

export const waitFor = async (check: () => boolean, ms = 3000): Promise<void> => {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
};

export function spanNamed(spans: readonly ReadableSpan[], name: string): ReadableSpan {
  const span = spans.find((s) => s.name === name);
  if (span === undefined)
    throw new Error(`no span named ${name} in [${spans.map((s) => s.name).join(', ')}]`);
  return span;
}

export function idsOf(span: ApiSpan | ReadableSpan): { traceId: string; spanId: string } {
  const sc = span.spanContext();
  return { traceId: sc.traceId, spanId: sc.spanId };
}

export { trace };
