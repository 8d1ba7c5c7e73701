import type { InterceptorOptions, ServiceDefinition } from '@grpc/grpc-js';
import type { Attributes, Counter, Histogram, Meter, MeterProvider } from '@opentelemetry/api';
import {
  type CallReporter,
  check,
  type FinishedStatus,
  type MethodInfo,
  type ObservedClientCall,
  type ObservingClientInterceptor,
  type ObservingServerInterceptor,
  observeClient,
  observeServer,
  resolveOptions,
} from '@weft/core';
import {
  CLIENT_INSTRUMENTS,
  GRPC_CUSTOM,
  GRPC_METHOD,
  GRPC_STATUS,
  GRPC_STATUS_NAMES,
  GRPC_TARGET,
  type InstrumentSpec,
  RETRY_INSTRUMENTS,
  SERVER_INSTRUMENTS,
} from './grpc-otel-instruments';

export interface GrpcOtelServerOptions {
  /**
   * Where the instruments are created. Required: gRFC A66 says a gRPC stats plugin must not fall
   * back on the global MeterProvider.
   */
  meterProvider: MeterProvider;
  /**
   * Service definitions (`proto.pkg.Service.service`, generated or from proto-loader). Their
   * serializers measure message sizes (see the README); on the client, methods outside them are
   * recorded as `grpc.method="other"`. Default: none (client: every method by name, up to
   * `maxMethods`; sizes: only what the call's own serializer can measure).
   */
  services?: readonly ServiceDefinition[];
  /** Distinct `grpc.method` values; later methods are recorded as `other`. Default 1000. */
  maxMethods?: number;
}

export interface GrpcOtelClientOptions extends GrpcOtelServerOptions {
  /**
   * The channel's target, as given to the client constructor (`localhost:50051`,
   * `dns:///users:50051`, `etcd:///users`): grpc-js does not show interceptors the channel, so
   * one interceptor is made per client with its target. Recorded canonical
   * (`canonicalTarget`). Default: none, recorded as `'unknown:///'`.
   */
  target?: string;
  /**
   * gRFC A108's custom label `grpc.client.call.custom`: reads its value from the call options
   * (e.g. `(o) => o.grpcCustomLabel`). Default: none, and the label is not recorded at all (as
   * A108 says: explicitly enabled only). `undefined` becomes `''`.
   */
  customLabel?: (options: InterceptorOptions) => string | undefined;
  /** Distinct custom label values; later ones are recorded as `other`. Default 50. */
  maxCustomLabelValues?: number;
  /** gRFC A96 retry metrics (`grpc.client.call.retries`, ...). Default `false`, as in gRPC. */
  retryMetrics?: boolean;
}

/** The client interceptor pair: the call-level one outside retry, the attempt-level one inside. */
export interface GrpcOtelClientInterceptor extends ObservingClientInterceptor {
  /** Per-attempt instruments (`grpc.client.attempt.*`): place it inside `retry()` (`ClientPreset.attemptMetrics`). */
  readonly attempt: ObservingClientInterceptor;
}

/** `grpcOtelServerMetrics()` defaults; `meterProvider` is required (A66: never the global one). */
export const GRPC_OTEL_SERVER_DEFAULTS: Readonly<GrpcOtelServerOptions> = Object.freeze({
  meterProvider: undefined as unknown as MeterProvider,
  /** None: sizes only where the call's own serializer can measure them. */
  services: undefined,
  maxMethods: 1000,
});

/** `grpcOtelClientMetrics()` defaults. */
export const GRPC_OTEL_CLIENT_DEFAULTS: Readonly<GrpcOtelClientOptions> = Object.freeze({
  ...GRPC_OTEL_SERVER_DEFAULTS,
  /** None: recorded as `unknown:///` (`UNKNOWN_TARGET`). */
  target: undefined,
  /** None: A108's label is recorded only when enabled. */
  customLabel: undefined,
  maxCustomLabelValues: 50,
  /** Off, as in gRPC (A96). */
  retryMetrics: false,
});

const SERVER_CHECKS = {
  meterProvider: (value: MeterProvider | undefined) =>
    typeof value?.getMeter === 'function'
      ? undefined
      : 'is required: a MeterProvider (A66: never the global one)',
  services: check.list,
  maxMethods: check.positiveInteger,
};

const OTHER = 'other';
/** `grpc.target` of a client interceptor made without `target`. */
const UNKNOWN_TARGET = 'unknown:///';
const KNOWN_SCHEMES = new Set(['dns', 'ipv4', 'ipv6', 'unix', 'unix-abstract', 'xds', 'etcd', 'passthrough']);

/**
 * The canonical form of a channel target (gRFC A66 `grpc.target`): with its scheme, as grpc-go
 * and grpc-java record it. `localhost:50051` becomes `dns:///localhost:50051`.
 */
export function canonicalTarget(target: string): string {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(target)?.[1];
  if (scheme !== undefined && KNOWN_SCHEMES.has(scheme.toLowerCase())) return target;
  return `dns:///${target}`;
}

type Sizer = ((message: unknown) => Buffer) | undefined;

/**
 * Bytes of one message as its serializer writes it, or -1 when there is no serializer for it.
 * grpc-js shows interceptors deserialized messages only, so a message is serialized once more here.
 */
function sizeOf(serialize: Sizer, message: unknown): number {
  if (message instanceof Uint8Array) return message.byteLength;
  if (serialize === undefined) return -1;
  try {
    return serialize(message).byteLength;
  } catch {
    return -1; // grpc-js reports the serializer's failure on its own path
  }
}

function histogram(meter: Meter, s: InstrumentSpec): Histogram {
  return meter.createHistogram(s.name, {
    description: s.description,
    unit: s.unit,
    advice: s.buckets === undefined ? undefined : { explicitBucketBoundaries: [...s.buckets] },
  });
}
function counter(meter: Meter, s: InstrumentSpec): Counter {
  return meter.createCounter(s.name, { description: s.description, unit: s.unit });
}

/**
 * One attribute set per method (and custom label) and status code, frozen and made once: a call
 * records with attribute objects that already exist (no allocation per call for attributes).
 */
class MethodAttributes {
  readonly base: Attributes;
  private readonly byStatus: (Attributes | undefined)[] = new Array(17);
  constructor(
    base: Attributes,
    /** Serializers of what this side sends and receives (for sizes). */
    readonly sendSize: Sizer,
    readonly receiveSize: Sizer,
  ) {
    this.base = Object.freeze(base);
  }
  withStatus(code: number): Attributes {
    const c = code >= 0 && code <= 16 ? code : 2; // anything else is UNKNOWN
    let attributes = this.byStatus[c];
    if (attributes === undefined) {
      attributes = Object.freeze({ ...this.base, [GRPC_STATUS]: GRPC_STATUS_NAMES[c] as string });
      this.byStatus[c] = attributes;
    }
    return attributes;
  }
}

interface Serializers {
  readonly request: Sizer;
  readonly response: Sizer;
}

function serializersOf(services: readonly ServiceDefinition[] | undefined): Map<string, Serializers> {
  const out = new Map<string, Serializers>();
  for (const service of services ?? []) {
    for (const definition of Object.values(service)) {
      out.set(definition.path, {
        request: definition.requestSerialize,
        response: definition.responseSerialize,
      });
    }
  }
  return out;
}

/** Bounded per-method cache: past `maxMethods` names, methods share the `other` entry. */
class MethodTable<T> {
  private readonly byPath = new Map<string, T>();
  private named = 0;
  private other: T | undefined;
  constructor(
    private readonly maxMethods: number,
    private readonly known: ReadonlySet<string> | undefined,
    private readonly make: (name: string, method: MethodInfo | undefined) => T,
  ) {}
  get(method: MethodInfo): T {
    const hit = this.byPath.get(method.path);
    if (hit !== undefined) return hit;
    const unknown = this.known !== undefined && !this.known.has(method.path);
    if (unknown || this.named >= this.maxMethods) {
      this.other ??= this.make(OTHER, undefined);
      // Remember a bounded number of the paths that map to `other`; the rest look up again.
      if (this.byPath.size < this.maxMethods * 4) this.byPath.set(method.path, this.other);
      return this.other;
    }
    this.named++;
    const entry = this.make(method.fullMethod, method);
    this.byPath.set(method.path, entry);
    return entry;
  }
}

// ---------------------------------------------------------------------------------------------
// Server

class ServerInstruments {
  readonly started: Counter;
  readonly duration: Histogram;
  readonly sent: Histogram;
  readonly rcvd: Histogram;
  constructor(meter: Meter) {
    this.started = counter(meter, SERVER_INSTRUMENTS.started);
    this.duration = histogram(meter, SERVER_INSTRUMENTS.duration);
    this.sent = histogram(meter, SERVER_INSTRUMENTS.sent);
    this.rcvd = histogram(meter, SERVER_INSTRUMENTS.rcvd);
  }
}

/** Per-call state on the server: the bytes of the messages, -1 once one could not be measured. */
class ServerCallRecorder implements CallReporter {
  private sent = 0;
  private rcvd = 0;
  constructor(
    private readonly instruments: ServerInstruments,
    private readonly attributes: MethodAttributes,
  ) {}
  onReceiveMessage(message: unknown): void {
    if (this.rcvd < 0) return;
    const n = sizeOf(this.attributes.receiveSize, message);
    this.rcvd = n < 0 ? -1 : this.rcvd + n;
  }
  onSendMessage(message: unknown): void {
    if (this.sent < 0) return;
    const n = sizeOf(this.attributes.sendSize, message);
    this.sent = n < 0 ? -1 : this.sent + n;
  }
  onFinish(status: FinishedStatus, seconds: number): void {
    const attributes = this.attributes.withStatus(status.code);
    const i = this.instruments;
    i.duration.record(seconds, attributes);
    if (this.sent >= 0) i.sent.record(this.sent, attributes);
    if (this.rcvd >= 0) i.rcvd.record(this.rcvd, attributes);
  }
}

/**
 * gRFC A66 server instruments (`grpc.server.call.*`) through `@opentelemetry/api`. Unknown methods
 * never reach it: grpc-js answers them UNIMPLEMENTED before server interceptors run.
 */
export function grpcOtelServerMetrics(given: GrpcOtelServerOptions): ObservingServerInterceptor {
  const options = resolveOptions('grpcOtelServerMetrics', GRPC_OTEL_SERVER_DEFAULTS, given, SERVER_CHECKS);
  const meter = options.meterProvider.getMeter('@weft/metrics');
  const instruments = new ServerInstruments(meter);
  const serializers = serializersOf(options.services);
  // Every method a server sees is registered: the names are bounded only by `maxMethods`.
  const table = new MethodTable(options.maxMethods as number, undefined, (name, method) => {
    const s = method === undefined ? undefined : serializers.get(method.path);
    return new MethodAttributes({ [GRPC_METHOD]: name }, s?.response, s?.request);
  });
  return observeServer({
    start(call) {
      const attributes = table.get(call.method);
      instruments.started.add(1, attributes.base);
      return new ServerCallRecorder(instruments, attributes);
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Client

class ClientInstruments {
  readonly attemptStarted: Counter;
  readonly attemptDuration: Histogram;
  readonly attemptSent: Histogram;
  readonly attemptRcvd: Histogram;
  readonly callDuration: Histogram;
  readonly retries: Histogram | undefined;
  readonly retryDelay: Histogram | undefined;
  /** Set once an attempt-level interceptor has reported to this instance's calls. */
  attemptLayer = false;
  constructor(meter: Meter, retryMetrics: boolean) {
    this.attemptStarted = counter(meter, CLIENT_INSTRUMENTS.attemptStarted);
    this.attemptDuration = histogram(meter, CLIENT_INSTRUMENTS.attemptDuration);
    this.attemptSent = histogram(meter, CLIENT_INSTRUMENTS.attemptSent);
    this.attemptRcvd = histogram(meter, CLIENT_INSTRUMENTS.attemptRcvd);
    this.callDuration = histogram(meter, CLIENT_INSTRUMENTS.callDuration);
    if (retryMetrics) {
      this.retries = histogram(meter, RETRY_INSTRUMENTS.retries);
      // weft makes no transparent retries or hedges of its own (grpc-js's transparent retries
      // happen below interceptors, unseen): these two exist, and "0 is not reported" (A96).
      histogram(meter, RETRY_INSTRUMENTS.transparentRetries);
      histogram(meter, RETRY_INSTRUMENTS.hedges);
      this.retryDelay = histogram(meter, RETRY_INSTRUMENTS.retryDelay);
    }
  }
}

/** Where the call-level reporter leaves itself for the attempt-level one (grpc-js passes the options object down). */
const CALL_TRACER = Symbol('weft.grpcOtelCallTracer');
type TracedOptions = InterceptorOptions & { [CALL_TRACER]?: CallTracer };

/** Bytes of one attempt's messages, each -1 once a message could not be measured. */
class AttemptSizes {
  sent = 0;
  rcvd = 0;
  send(serialize: Sizer, message: unknown): void {
    if (this.sent < 0) return;
    const n = sizeOf(serialize, message);
    this.sent = n < 0 ? -1 : this.sent + n;
  }
  receive(serialize: Sizer, message: unknown): void {
    if (this.rcvd < 0) return;
    const n = sizeOf(serialize, message);
    this.rcvd = n < 0 ? -1 : this.rcvd + n;
  }
  record(i: ClientInstruments, attributes: Attributes): void {
    if (this.sent >= 0) i.attemptSent.record(this.sent, attributes);
    if (this.rcvd >= 0) i.attemptRcvd.record(this.rcvd, attributes);
  }
}

/**
 * gRFC A66's CallTracer: one per call, made by the call-level interceptor. Attempts report their
 * start and end to it (for A96); when no attempt-level interceptor ran, it records the call as its
 * one attempt, so a client without retry needs only the call-level interceptor.
 */
class CallTracer implements CallReporter {
  attempts = 0;
  private active = 0;
  private idleSince = 0;
  private delay = 0;
  private sizes: AttemptSizes | undefined;
  private readonly startedAt = performance.now();
  constructor(
    readonly instruments: ClientInstruments,
    readonly attributes: MethodAttributes,
    readonly sendSize: Sizer,
  ) {
    if (!instruments.attemptLayer) this.sizes = new AttemptSizes();
  }
  attemptStarted(): void {
    this.instruments.attemptLayer = true;
    this.sizes = undefined;
    if (this.attempts > 0 && this.active === 0) this.delay += performance.now() - this.idleSince;
    this.attempts++;
    this.active++;
  }
  attemptEnded(): void {
    this.active--;
    if (this.active === 0) this.idleSince = performance.now();
  }
  onSendMessage(message: unknown): void {
    this.sizes?.send(this.sendSize, message);
  }
  onReceiveMessage(message: unknown): void {
    this.sizes?.receive(this.attributes.receiveSize, message);
  }
  onFinish(status: FinishedStatus, seconds: number): void {
    const i = this.instruments;
    const attributes = this.attributes.withStatus(status.code);
    if (this.attempts === 0 && this.sizes !== undefined) {
      // No attempt-level interceptor: the call was its one attempt.
      i.attemptStarted.add(1, this.attributes.base);
      i.attemptDuration.record((performance.now() - this.startedAt) / 1000, attributes);
      this.sizes.record(i, attributes);
    }
    i.callDuration.record(seconds, attributes);
    if (i.retries !== undefined && this.attempts > 1)
      i.retries.record(this.attempts - 1, this.attributes.base);
    i.retryDelay?.record(this.delay / 1000, this.attributes.base);
  }
}

/** One attempt (the attempt-level interceptor's reporter). */
class AttemptRecorder implements CallReporter {
  private readonly sizes = new AttemptSizes();
  constructor(
    private readonly instruments: ClientInstruments,
    private readonly attributes: MethodAttributes,
    private readonly tracer: CallTracer | undefined,
    private readonly sendSize: Sizer,
  ) {}
  onSendMessage(message: unknown): void {
    this.sizes.send(this.sendSize, message);
  }
  onReceiveMessage(message: unknown): void {
    this.sizes.receive(this.attributes.receiveSize, message);
  }
  onFinish(status: FinishedStatus, seconds: number): void {
    const attributes = this.attributes.withStatus(status.code);
    this.instruments.attemptDuration.record(seconds, attributes);
    this.sizes.record(this.instruments, attributes);
    this.tracer?.attemptEnded();
  }
}

/**
 * gRFC A66 client instruments through `@opentelemetry/api`: the returned interceptor records
 * `grpc.client.call.duration` (and A96's retry metrics when asked); its `attempt` interceptor
 * records `grpc.client.attempt.*` for each attempt retry makes. Without `attempt` in the chain
 * the call is recorded as one attempt.
 */
export function grpcOtelClientMetrics(given: GrpcOtelClientOptions): GrpcOtelClientInterceptor {
  const options = resolveOptions('grpcOtelClientMetrics', GRPC_OTEL_CLIENT_DEFAULTS, given, {
    ...SERVER_CHECKS,
    target: check.nonEmptyString,
    customLabel: check.function,
    maxCustomLabelValues: check.positiveInteger,
    retryMetrics: check.boolean,
  });
  const meter = options.meterProvider.getMeter('@weft/metrics');
  const instruments = new ClientInstruments(meter, options.retryMetrics === true);
  const target = options.target === undefined ? UNKNOWN_TARGET : canonicalTarget(options.target);
  const serializers = serializersOf(options.services);
  const known = options.services === undefined ? undefined : new Set(serializers.keys());
  const customLabel = options.customLabel;
  const maxLabels = options.maxCustomLabelValues as number;

  // Per method: the attributes without a custom label, or a table of them by label value.
  interface Entry {
    readonly name: string;
    readonly serializers: Serializers | undefined;
    plain?: MethodAttributes;
    readonly byLabel: Map<string, MethodAttributes>;
  }
  const table = new MethodTable<Entry>(options.maxMethods as number, known, (name, method) => ({
    name,
    serializers: method === undefined ? undefined : serializers.get(method.path),
    byLabel: new Map(),
  }));
  const make = (entry: Entry, label: string | undefined) => {
    const base: Attributes = { [GRPC_METHOD]: entry.name, [GRPC_TARGET]: target };
    if (label !== undefined) base[GRPC_CUSTOM] = label;
    return new MethodAttributes(base, entry.serializers?.request, entry.serializers?.response);
  };
  const attributesOf = (call: ObservedClientCall): MethodAttributes => {
    const entry = table.get(call.method);
    if (customLabel === undefined) {
      entry.plain ??= make(entry, undefined);
      return entry.plain;
    }
    let label = customLabel(call.options) ?? '';
    let attributes = entry.byLabel.get(label);
    if (attributes === undefined) {
      if (entry.byLabel.size >= maxLabels) label = OTHER;
      attributes = entry.byLabel.get(label) ?? make(entry, label);
      entry.byLabel.set(label, attributes);
    }
    return attributes;
  };

  const callLevel = observeClient({
    start(call) {
      const attributes = attributesOf(call);
      // Without a request serializer from `services`, the call's own one measures what it sends.
      const sendSize = attributes.sendSize ?? call.options.method_definition.requestSerialize;
      const tracer = new CallTracer(instruments, attributes, sendSize);
      (call.options as TracedOptions)[CALL_TRACER] = tracer;
      return tracer;
    },
  });
  const attemptLevel = observeClient({
    start(call) {
      const tracer = (call.options as TracedOptions)[CALL_TRACER];
      const mine = tracer !== undefined && tracer.instruments === instruments ? tracer : undefined;
      const attributes = mine?.attributes ?? attributesOf(call);
      mine?.attemptStarted();
      instruments.attemptStarted.add(1, attributes.base);
      const sendSize =
        mine?.sendSize ?? attributes.sendSize ?? call.options.method_definition.requestSerialize;
      return new AttemptRecorder(instruments, attributes, mine, sendSize);
    },
  });
  return Object.assign(callLevel, { attempt: attemptLevel });
}
