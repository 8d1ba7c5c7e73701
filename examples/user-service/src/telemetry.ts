import { NodeSDK } from '@opentelemetry/sdk-node';
import { ConsoleSpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

export interface Telemetry {
  /** Where spans go: `otlp <endpoint>`, `console`, or `none`. */
  readonly exporter: string;
  shutdown(): Promise<void>;
}

/**
 * The demo's OpenTelemetry SDK. With OTEL_EXPORTER_OTLP_ENDPOINT set, the Node SDK exports spans
 * over OTLP/HTTP (the usual OTEL_* variables apply); with OTEL_TRACES_EXPORTER=console, spans are
 * printed; otherwise spans are still made (trace ids for `x-trace-id`, logs and exemplars) but go
 * nowhere. Either way the W3C propagator and the AsyncLocalStorage context manager are registered.
 */
export function startTelemetry(env: NodeJS.ProcessEnv = process.env): Telemetry {
  if (env.OTEL_EXPORTER_OTLP_ENDPOINT) {
    const sdk = new NodeSDK({ serviceName: env.OTEL_SERVICE_NAME || 'user-service', instrumentations: [] });
    sdk.start();
    return { exporter: `otlp ${env.OTEL_EXPORTER_OTLP_ENDPOINT}`, shutdown: () => sdk.shutdown() };
  }
  const toConsole = env.OTEL_TRACES_EXPORTER === 'console';
  const provider = new NodeTracerProvider({
    spanProcessors: toConsole ? [new SimpleSpanProcessor(new ConsoleSpanExporter())] : [],
  });
  provider.register();
  return { exporter: toConsole ? 'console' : 'none', shutdown: () => provider.shutdown() };
}
