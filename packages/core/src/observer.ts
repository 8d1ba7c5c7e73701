import {
  type Interceptor,
  type InterceptorOptions,
  type Metadata,
  type NextCall,
  type StatusObject,
  status,
} from '@grpc/grpc-js';
import type { CallContext } from './call-context';
import {
  type ClientCallListener,
  type ClientMessageContext,
  DETACHED,
  defineClientInterceptor,
  ForwardingClientCall,
} from './client-call';
import { type MethodInfo, methodInfo } from './method-info';
import {
  type ServerStage,
  type StagedServerInterceptor,
  type StageHooks,
  stagedInterceptor,
  type WeftServerCall,
} from './server-stage';
import { fixedStatus, type PartialStatus } from './status';

/** The status a call finished with, as observers see it. `metadata` is the trailers (mutable on the server). */
export interface FinishedStatus {
  readonly code: status;
  readonly details: string;
  readonly metadata?: Metadata | null;
}

/**
 * What one observer does for one call. Every hook is optional; `onFinish` runs exactly once per
 * call (status sent or received, cancellation, or deadline), with the duration in seconds.
 */
export interface CallReporter {
  /** A message arrived (server: request, client: response). Don't keep it: it is the caller's. */
  onReceiveMessage?(message: unknown): void;
  /** A message is about to go out (server: response, client: request). */
  onSendMessage?(message: unknown): void;
  /** Server: response headers about to go out (mutable). Client: response headers received. */
  onHeaders?(metadata: Metadata): void;
  onFinish?(status: FinishedStatus, durationSeconds: number): void;
  /**
   * Runs the rest of the call (inner interceptors and the handler) inside a scope of the
   * observer's own, e.g. an OpenTelemetry context with the server span active.
   */
  enter?<A>(fn: (arg: A) => void, arg: A): void;
}

export interface ObservedServerCall {
  readonly side: 'server';
  readonly method: MethodInfo;
  /** Incoming request metadata. */
  readonly metadata: Metadata;
  readonly context: CallContext;
}

export interface ObservedClientCall {
  readonly side: 'client';
  readonly method: MethodInfo;
  /** Outgoing request metadata: an observer may add keys here (trace context). */
  readonly metadata: Metadata;
  readonly options: InterceptorOptions;
}

/**
 * The one hook that metrics, logging and tracing share (go-grpc-middleware's "reporter"):
 * `start` runs once per call and returns that call's reporter, or `undefined` to skip the call.
 * A reporter with no per-call state can be reused across calls, so observers that only count
 * (metrics) allocate nothing per call.
 */
export interface ServerObserver {
  start(call: ObservedServerCall): CallReporter | undefined;
}
export interface ClientObserver {
  start(call: ObservedClientCall): CallReporter | undefined;
}

/** Interceptors built from observers carry them, so presets can fold several into one. */
export interface ObservingClientInterceptor extends Interceptor {
  readonly observers: readonly ClientObserver[];
}

/** What a stream close means to observers: no status passed weft, so none is on the wire. */
const CANCELLED: FinishedStatus = fixedStatus(status.CANCELLED, 'Cancelled');
const DEADLINE: FinishedStatus = fixedStatus(status.DEADLINE_EXCEEDED, 'Deadline exceeded');

/** Fans one client call out to several reporters (server observers are one stage each). */
class ReporterGroup implements CallReporter {
  constructor(private readonly reporters: CallReporter[]) {}
  onReceiveMessage(message: unknown): void {
    for (const r of this.reporters) r.onReceiveMessage?.(message);
  }
  onSendMessage(message: unknown): void {
    for (const r of this.reporters) r.onSendMessage?.(message);
  }
  onHeaders(metadata: Metadata): void {
    for (const r of this.reporters) r.onHeaders?.(metadata);
  }
  onFinish(finished: FinishedStatus, seconds: number): void {
    for (const r of this.reporters) r.onFinish?.(finished, seconds);
  }
  enter<A>(fn: (arg: A) => void, arg: A): void {
    this.enterFrom(0, fn, arg);
  }
  private enterFrom<A>(index: number, fn: (arg: A) => void, arg: A): void {
    for (let i = index; i < this.reporters.length; i++) {
      const reporter = this.reporters[i];
      if (reporter?.enter !== undefined) {
        reporter.enter((a: A) => this.enterFrom(i + 1, fn, a), arg);
        return;
      }
    }
    fn(arg);
  }
}

function startAll<C>(observers: readonly { start(call: C): CallReporter | undefined }[], call: C) {
  if (observers.length === 1) return observers[0]?.start(call);
  let reporters: CallReporter[] | undefined;
  for (const observer of observers) {
    const reporter = observer.start(call);
    if (reporter === undefined) continue;
    reporters ??= [];
    reporters.push(reporter);
  }
  if (reporters === undefined) return undefined;
  return reporters.length === 1 ? reporters[0] : new ReporterGroup(reporters);
}

/**
 * One observer's part of one server call: the stage hooks that turn the call's events into its
 * reporter's (headers, messages, and one `onFinish` with the status or what a stream close means).
 */
class ServerObservation implements ObservedServerCall, StageHooks {
  readonly side = 'server';
  readonly method: MethodInfo;
  readonly context: CallContext;
  metadata!: Metadata;
  reporter: CallReporter | undefined = undefined;
  enter: StageHooks['enter'] = undefined;
  private started = 0;
  private finished = false;
  constructor(
    private readonly observer: ServerObserver,
    private readonly call: WeftServerCall,
  ) {
    this.context = call.context;
    this.method = call.context.method;
  }

  onReceiveMetadata(metadata: Metadata): void {
    this.metadata = metadata;
    this.started = performance.now();
    const reporter = this.observer.start(this);
    this.reporter = reporter;
    // A shared function, not a closure: no object per call for a reporter with a scope.
    if (reporter?.enter !== undefined) this.enter = enterReporter;
  }
  onReceiveMessage(message: unknown): void {
    this.reporter?.onReceiveMessage?.(message);
  }
  onSendMetadata(metadata: Metadata): void {
    this.reporter?.onHeaders?.(metadata);
  }
  onSendMessage(message: unknown): void {
    this.reporter?.onSendMessage?.(message);
  }
  onSendStatus(partial: PartialStatus): PartialStatus {
    this.finish(partial as FinishedStatus);
    return partial;
  }
  onCancel(): void {
    // grpc-js reports every stream close as a cancel (ignored once a status went out) and answers
    // a deadline from its own timer without passing the status through interceptors.
    this.finish(deadlinePassed(this.call) ? DEADLINE : CANCELLED);
  }

  private finish(finished: FinishedStatus): void {
    if (this.finished) return;
    this.finished = true;
    this.reporter?.onFinish?.(finished, (performance.now() - this.started) / 1000);
  }
}

/** `ServerObservation.enter` when its reporter has a scope (called as a method of the observation). */
function enterReporter<A>(this: ServerObservation, fn: (arg: A) => void, arg: A): void {
  (this.reporter as CallReporter & Required<Pick<CallReporter, 'enter'>>).enter(fn, arg);
}

/** An interceptor built from observers; `observers` lets you merge two such into one preset slot. */
export interface ObservingServerInterceptor extends StagedServerInterceptor {
  readonly observers: readonly ServerObserver[];
}

/**
 * A server interceptor that reports every call to `observers`: a thin layer over stages, one stage
 * per observer (`StageHooks` is the server's extension API; an observer is the reporter-shaped way
 * to write one that only watches, shared with the client side).
 */
export function observeServer(...observers: ServerObserver[]): ObservingServerInterceptor {
  const frozen = Object.freeze([...observers]);
  const stages = frozen.map(
    (observer): ServerStage => ({
      start: (call) => new ServerObservation(observer, call),
    }),
  );
  return Object.assign(stagedInterceptor(...stages), { observers: frozen });
}

/**
 * A client gives up at its deadline by resetting the stream, which can reach the server a moment
 * before the server's own timer (started when the headers arrived) fires: a cancel this close to
 * the deadline is the deadline.
 */
const DEADLINE_SLACK_MS = 25;

function deadlinePassed(call: WeftServerCall): boolean {
  const deadline = call.getDeadline();
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(ms) && ms - DEADLINE_SLACK_MS <= Date.now();
}

/** One observed client call: one object per call standing in for a grpc-js layer. */
class ClientObservation extends ForwardingClientCall implements ObservedClientCall {
  readonly side = 'client';
  metadata!: Metadata;
  reporter: CallReporter | undefined = undefined;
  private started = 0;
  private finished = false;
  constructor(
    readonly method: MethodInfo,
    readonly options: InterceptorOptions,
    private readonly observers: readonly ClientObserver[],
    private readonly nextCall: NextCall,
  ) {
    super(DETACHED);
  }

  override start(metadata: Metadata, listener?: ClientCallListener): void {
    this.metadata = metadata;
    this.started = performance.now();
    const reporter = startAll(this.observers, this);
    this.reporter = reporter;
    // The layers below are made now, after the observers started, not when the call was made: an
    // observer may leave something on the options for an inner one (A66's call tracer for its
    // attempts), and an inner interceptor that copies the options (a deadline) then copies it too.
    // grpc-js calls `start` before anything else, so nothing reaches DETACHED.
    this.call = this.nextCall(this.options);
    if (reporter === undefined) {
      this.call.start(metadata, listener);
      return;
    }
    this.upstream = listener ?? {};
    if (reporter.enter === undefined) this.startNext();
    else reporter.enter(startWith, this);
  }

  /** @internal Starts the next call with this observation as its listener. */
  startNext(): void {
    this.call.start(this.metadata, this);
  }

  override onReceiveMetadata(headers: Metadata): void {
    this.reporter?.onHeaders?.(headers);
    super.onReceiveMetadata(headers);
  }
  override onReceiveMessage(message: unknown): void {
    // grpc-js hands a unary call that ended without a response a `null` message; a deserialized
    // message is never null, so this one is not counted.
    if (message !== null) this.reporter?.onReceiveMessage?.(message);
    super.onReceiveMessage(message);
  }
  override onReceiveStatus(received: StatusObject): void {
    if (!this.finished) {
      this.finished = true;
      this.reporter?.onFinish?.(received, (performance.now() - this.started) / 1000);
    }
    super.onReceiveStatus(received);
  }
  override sendMessageWithContext(context: ClientMessageContext, message: unknown): void {
    this.reporter?.onSendMessage?.(message);
    super.sendMessageWithContext(context, message);
  }
}

/** Starts the next call with the observation as its listener (inside a reporter's scope). */
function startWith(observation: ClientObservation): void {
  observation.startNext();
}

/** A client interceptor that reports every call to `observers`. */
export function observeClient(...observers: ClientObserver[]): ObservingClientInterceptor {
  const frozen = Object.freeze([...observers]);
  const interceptor = defineClientInterceptor(
    (options: InterceptorOptions, nextCall: NextCall) =>
      new ClientObservation(methodInfo(options.method_definition), options, frozen, nextCall),
  );
  return Object.assign(interceptor, { observers: frozen });
}
