import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';

/** Counts spans started and ended: the soak checks that every span ends. */
class CountingProcessor implements SpanProcessor {
  started = 0;
  ended = 0;
  onStart(): void {
    this.started++;
  }
  onEnd(): void {
    this.ended++;
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

export interface TracingSdk {
  /** Counters for the soak: spans started, ended and exported. */
  stats(): Record<string, number>;
}

/** Counts exported spans and drops them: a real SDK pipeline (batching, export) without I/O. */
class CountingExporter implements SpanExporter {
  exported = 0;
  export(spans: ReadableSpan[], done: (result: { code: 0 }) => void): void {
    this.exported += spans.length;
    done({ code: 0 });
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * Registers the same OpenTelemetry SDK setup for every tracing variant (weft's, the official grpc
 * instrumentation's, nice-grpc's): async-hooks context, W3C propagation, batch processor, and an
 * exporter that drops what it gets. Always-on sampling, so every call makes a span.
 */
export function registerTracingSdk(): TracingSdk {
  const exporter = new CountingExporter();
  const counter = new CountingProcessor();
  const provider = new BasicTracerProvider({ spanProcessors: [counter, new BatchSpanProcessor(exporter)] });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  return {
    stats: () => ({
      spansStarted: counter.started,
      spansEnded: counter.ended,
      spansExported: exporter.exported,
    }),
  };
}
