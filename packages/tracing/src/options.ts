import type { Metadata } from '@grpc/grpc-js';
import {
  type Context,
  propagation,
  type TextMapGetter,
  type TextMapSetter,
  type Tracer,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';
import {
  check,
  EMIT_NEW,
  EMIT_OLD,
  type Emit,
  resolveOptions,
  resolveSemconv,
  type SemconvMode,
} from '@weft/core';
import { ATTR_RPC_GRPC_REQUEST_METADATA, ATTR_RPC_REQUEST_METADATA } from './semconv';
import { type ServerAddress, serverAddressOf } from './server-address';

/** The instrumentation scope spans are recorded under. */
export const TRACER_NAME = '@weft/tracing';
export const TRACER_VERSION = '0.1.0';

/**
 * What weft needs of a propagator: OpenTelemetry's `TextMapPropagator`, or the global
 * `propagation` API (which delegates to whatever propagator the application registered).
 */
export interface Propagator {
  inject(context: Context, carrier: Metadata, setter: TextMapSetter<Metadata>): void;
  extract(context: Context, carrier: Metadata, getter: TextMapGetter<Metadata>): Context;
}

/** Options both sides share. */
export interface TracingOptions {
  /**
   * Where spans go. Default: the global provider (`trace.getTracerProvider()`). The tracer is taken
   * once, at setup; from the global provider that is a proxy that starts recording as soon as an SDK
   * registers, so creating the interceptors before the SDK starts is fine.
   */
  tracerProvider?: TracerProvider;
  /**
   * How trace context travels in metadata. Default: the global `propagation` API, i.e. whatever
   * propagator the SDK registered (W3C `traceparent`/`tracestate` with the Node SDK's defaults).
   */
  propagator?: Propagator;
  /**
   * Add a `message` event (`rpc.message.type` SENT/RECEIVED, `rpc.message.id`) per message.
   * Default `false`: a long stream would carry thousands of events.
   */
  messageEvents?: boolean;
  /**
   * Request metadata keys recorded as `rpc.grpc.request.metadata.<key>` (string values only, as a
   * string array). Default `[]`. Keys that look like credentials (`authorization`, anything with
   * `token`, `cookie`, `secret`, `password`, `api-key`/`apikey`) and binary `-bin` keys are refused
   * with an error at setup: spans are not a place for secrets.
   */
  metadataAttributes?: readonly string[];
  /**
   * Which RPC semantic conventions the spans follow (see "Semantic conventions" in the README):
   * `'old'` (semconv v1.37: `rpc.system`, `rpc.service`, `rpc.method` = `Method`, numeric
   * `rpc.grpc.status_code`), `'new'` (`rpc.system.name`, `rpc.method` = `package.Service/Method`,
   * string `rpc.status_code`) or `'dup'` (both). Default: what `OTEL_SEMCONV_STABILITY_OPT_IN`
   * says (`rpc` → `'new'`, `rpc/dup` → `'dup'`), read once when the interceptor is made; `'old'`
   * when it says neither.
   */
  semconv?: SemconvMode;
}

export interface ServerTracingOptions extends TracingOptions {
  /**
   * Send the trace id back to the caller as `x-trace-id` in the response headers and trailers, so a
   * user with a failing call can quote it. Default `false`.
   */
  echoTraceId?: boolean;
  /**
   * Add `trace_id` and `span_id` to the call's log fields (`CallContext.addLogFields`), so every line
   * `serverLogging` writes for the call carries them. Default `true`.
   */
  logFields?: boolean;
}

export interface ClientTracingOptions extends TracingOptions {
  /**
   * The channel's target, as given to the client constructor (`users:50051`, `dns:///users:50051`,
   * `unix:///run/users.sock`), for the `server.address` and `server.port` of every client span:
   * grpc-js does not show interceptors the channel, so one interceptor is made per client with its
   * target (as `grpcOtelClientMetrics`' `target`). Parsed once, here. Default: none, and the spans
   * carry no `server.*` attributes.
   */
  target?: string;
}

/** The header `echoTraceId` writes. */
export const TRACE_ID_HEADER = 'x-trace-id';

/** Options with every default filled in, so the interceptors never re-check for `undefined`. */
export interface ResolvedOptions {
  readonly tracer: Tracer;
  readonly propagator: Propagator;
  readonly messageEvents: boolean;
  /** Lower-cased, validated keys and their attribute names (two per key in `dup` mode), built once. */
  readonly metadataAttributes: readonly (readonly [key: string, attribute: string])[];
  readonly echoTraceId: boolean;
  readonly logFields: boolean;
  /** Which conventions to emit (`EMIT_OLD`, `EMIT_NEW` bits), from `semconv` or the environment. */
  readonly emit: Emit;
  /** `server.address` / `server.port` of client spans, from `target`. */
  readonly server: ServerAddress | undefined;
}

/** What both sides default to (see each option's JSDoc). */
const SHARED_DEFAULTS = {
  /** The global provider's tracer (a proxy until an SDK registers). */
  tracerProvider: undefined,
  /** The global `propagation` API. */
  propagator: undefined,
  /** Off: events per message are costly on long streams. */
  messageEvents: false,
  /** None: recording metadata is opt-in, key by key. */
  metadataAttributes: [] as readonly string[],
  /** `OTEL_SEMCONV_STABILITY_OPT_IN`, else `'old'`. */
  semconv: undefined,
} as const;

/** `serverTracing()`'s defaults. */
export const SERVER_TRACING_DEFAULTS: Readonly<ServerTracingOptions> = Object.freeze({
  ...SHARED_DEFAULTS,
  /** Off: the trace id is only sent back when asked for. */
  echoTraceId: false,
  /** On: log lines of a traced call carry its ids. */
  logFields: true,
});

/** `clientTracing()`'s defaults. */
export const CLIENT_TRACING_DEFAULTS: Readonly<ClientTracingOptions> = Object.freeze({
  ...SHARED_DEFAULTS,
  /** None: client spans carry no `server.*` attributes. */
  target: undefined,
});

const SHARED_CHECKS = {
  tracerProvider: check.object,
  propagator: check.object,
  messageEvents: check.boolean,
  metadataAttributes: check.list,
  // semconv: checked by core's resolveSemconv, as everywhere.
};

const SECRET_PARTS = ['authorization', 'token', 'cookie', 'secret', 'password', 'api-key', 'apikey'];

/** Lower-cases and checks the metadata allow-list; throws on keys that may hold credentials. */
export function metadataAttributeKeys(
  keys: readonly string[],
  emit: Emit = EMIT_OLD,
): ResolvedOptions['metadataAttributes'] {
  const out: [string, string][] = [];
  for (const raw of keys) {
    const key = raw.trim().toLowerCase();
    if (key === '') throw new Error('@weft/tracing: metadataAttributes contains an empty key');
    const secret = SECRET_PARTS.find((part) => key.includes(part));
    if (secret !== undefined) {
      throw new Error(
        `@weft/tracing: refusing to record metadata key "${raw}" as a span attribute: keys containing "${secret}" may carry credentials`,
      );
    }
    if (key.endsWith('-bin')) {
      throw new Error(`@weft/tracing: cannot record binary metadata key "${raw}" as a span attribute`);
    }
    if (out.some(([seen]) => seen === key)) continue;
    if (emit & EMIT_OLD) out.push([key, ATTR_RPC_GRPC_REQUEST_METADATA(key)]);
    if (emit & EMIT_NEW) out.push([key, ATTR_RPC_REQUEST_METADATA(key)]);
  }
  return out;
}

/** Options with every default filled in and derived values built (tracer, attribute names, emit bits). */
function resolved(options: Readonly<ServerTracingOptions & ClientTracingOptions>): ResolvedOptions {
  const provider = options.tracerProvider;
  const emit = resolveSemconv(options.semconv);
  return {
    tracer:
      provider === undefined
        ? trace.getTracer(TRACER_NAME, TRACER_VERSION)
        : provider.getTracer(TRACER_NAME, TRACER_VERSION),
    propagator: options.propagator ?? propagation,
    messageEvents: options.messageEvents as boolean,
    metadataAttributes: metadataAttributeKeys(options.metadataAttributes as readonly string[], emit),
    echoTraceId: options.echoTraceId === true,
    logFields: options.logFields === true,
    emit,
    server: options.target === undefined ? undefined : serverAddressOf(options.target),
  };
}

export function resolveServerOptions(options: ServerTracingOptions | undefined): ResolvedOptions {
  return resolved(
    resolveOptions('serverTracing', SERVER_TRACING_DEFAULTS, options, {
      ...SHARED_CHECKS,
      echoTraceId: check.boolean,
      logFields: check.boolean,
    }),
  );
}

export function resolveClientOptions(options: ClientTracingOptions | undefined): ResolvedOptions {
  return resolved(
    resolveOptions('clientTracing', CLIENT_TRACING_DEFAULTS, options, {
      ...SHARED_CHECKS,
      target: check.nonEmptyString,
    }),
  );
}
