import {
  type Interceptor,
  type InterceptorOptions,
  Metadata,
  type NextCall,
  type StatusObject,
  type status,
} from '@grpc/grpc-js';

/** grpc-js's client call interface (`InterceptingCallInterface`, not exported from its index). */
export type ClientCall = ReturnType<NextCall>;
/** The listener a client call is started with (grpc-js's `InterceptingListener`, likewise). */
export type ClientCallListener = NonNullable<Parameters<ClientCall['start']>[1]>;
/** What comes with a message sent (grpc-js's `MessageContext`, likewise): flags and a write callback. */
export type ClientMessageContext = Parameters<ClientCall['sendMessageWithContext']>[0];

/** A client interceptor as weft writes it: it returns any `ClientCall`. */
export type ClientCallInterceptor = (options: InterceptorOptions, nextCall: NextCall) => ClientCall;

/**
 * The one way weft makes a grpc-js client `Interceptor`: `intercept` returns any `ClientCall`
 * (`nextCall(options)` itself, a `ForwardingClientCall`, a `LocalClientCall`). grpc-js types an
 * interceptor as returning its `InterceptingCall` class, but only ever uses the call's interface,
 * and a call returned without an `InterceptingCall` around it saves a layer (a requester, a
 * listener and their closures) per call. This is the one place that tells the compiler so: the
 * assertion is on the function, once, not on each call.
 */
export function defineClientInterceptor(intercept: ClientCallInterceptor): Interceptor {
  return intercept as Interceptor;
}

/**
 * A client call that forwards everything to the next call and is itself the listener it starts that
 * call with: the base of weft's client interceptors (see "Writing a client interceptor" in the
 * README). A subclass overrides what it watches or changes and calls `super`; one such object per
 * call stands in for a grpc-js layer (an `InterceptingCall` with a requester and a listener of
 * closures), which grpc-js accepts because it only uses the interface of what an interceptor returns.
 */
export class ForwardingClientCall implements ClientCall {
  /** The listener of the layer above, given to `start`. */
  protected upstream: ClientCallListener = {};

  /** `call`: the next call (`nextCall(options)`); a subclass may point it at another one (a retry's next attempt). */
  constructor(protected call: ClientCall) {}

  start(metadata: Metadata, listener?: ClientCallListener): void {
    this.upstream = listener ?? {};
    this.call.start(metadata, this);
  }

  onReceiveMetadata(metadata: Metadata): void {
    this.upstream.onReceiveMetadata?.(metadata);
  }
  onReceiveMessage(message: unknown): void {
    this.upstream.onReceiveMessage?.(message);
  }
  onReceiveStatus(received: StatusObject): void {
    this.upstream.onReceiveStatus?.(received);
  }

  sendMessageWithContext(context: ClientMessageContext, message: unknown): void {
    this.call.sendMessageWithContext(context, message);
  }
  sendMessage(message: unknown): void {
    this.sendMessageWithContext({}, message);
  }
  startRead(): void {
    this.call.startRead();
  }
  halfClose(): void {
    this.call.halfClose();
  }
  cancelWithStatus(code: status, details: string): void {
    this.call.cancelWithStatus(code, details);
  }
  getPeer(): string {
    return this.call.getPeer();
  }
  getAuthContext(): ReturnType<ClientCall['getAuthContext']> {
    return this.call.getAuthContext();
  }
}

/**
 * The call below a `LocalClientCall`: no network, nothing sent. A write is done at once (its
 * callback runs), so a caller streaming into a call answered locally is never left waiting. Also
 * the placeholder of a forwarding call that makes its next call when started. Internal to core.
 */
export const DETACHED: ClientCall = Object.freeze({
  start() {},
  sendMessageWithContext(context: ClientMessageContext) {
    context.callback?.();
  },
  sendMessage() {},
  startRead() {},
  halfClose() {},
  cancelWithStatus() {},
  getPeer: () => '',
  getAuthContext: () => null,
});

/**
 * A client call answered on this side, without the network: an open circuit breaker, a deadline
 * that passed before the call started. A `ForwardingClientCall` over no call: subclasses say how
 * it fails (`failure()`); `start()` schedules `complete()`, which ends the call with that status. A
 * subclass may complete later (`completeLater()`) or otherwise (`finish()` with a response message).
 *
 * It completes on a macrotask (`setImmediate`), never on `process.nextTick` or a microtask: a
 * caller's `while (...) await call()` loop of calls failed this way would otherwise never yield to
 * timers and I/O, starving the process (and an in-flight probe or request whose answer could end
 * the failures). `cancelWithStatus` before that ends the call with the caller's status instead.
 */
export abstract class LocalClientCall extends ForwardingClientCall {
  /** The last request message sent, for a subclass that answers from it. */
  protected request: unknown = undefined;
  private ended = false;

  constructor() {
    super(DETACHED);
  }

  /** The status the call fails with (made when it fails: its metadata is the caller's to keep). */
  protected abstract failure(): StatusObject;

  override start(_metadata: Metadata, listener?: ClientCallListener): void {
    this.upstream = listener ?? {};
    this.completeLater();
  }

  /** Runs `complete()` on the next macrotask, in the caller's async context. */
  protected completeLater(): void {
    // A free function and `this` as its argument: no closure per call.
    setImmediate(completeCall, this);
  }

  /** Ends the call (by default with `failure()`) unless it already ended; called on the macrotask. */
  complete(): void {
    if (!this.ended) this.finish(this.failure());
  }

  /** Sends `received` (after `message`, if given, with empty headers) unless the call already ended. */
  protected finish(received: StatusObject, message?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    if (message !== undefined) {
      this.onReceiveMetadata(new Metadata());
      this.onReceiveMessage(message);
    }
    this.onReceiveStatus(received);
  }

  /** Whether the call has ended (completed or cancelled). */
  protected get isEnded(): boolean {
    return this.ended;
  }

  override sendMessageWithContext(context: ClientMessageContext, message: unknown): void {
    this.request = message;
    super.sendMessageWithContext(context, message);
  }
  override cancelWithStatus(code: status, details: string): void {
    this.finish({ code, details, metadata: new Metadata() });
  }
}

function completeCall(call: LocalClientCall): void {
  call.complete();
}

/**
 * The trailing metadata key that marks a status made on the client, without the network: its value
 * says which layer made it (`LocalReason`). weft's circuit breaker, `clientThrottle` and
 * `clientDeadline` (a deadline that passed before the call was sent) set it, so a caller, a report or
 * another interceptor can tell a server's UNAVAILABLE apart from a call that was never sent. A server could
 * send the same key in its trailers: it is a label for reports, not a security boundary.
 */
export const LOCAL_STATUS_KEY = 'x-weft-local';

/** Which client-side layer answered a call locally (the value of `LOCAL_STATUS_KEY`). */
export type LocalReason = 'circuit-breaker' | 'throttle' | 'deadline' | 'cancelled';

/**
 * Trailing metadata for a status made locally by `reason`. With `noRetry`, also
 * `grpc-retry-pushback-ms: -1`, which tells a retry layer above (weft's `retry()`, per gRFC A6) not
 * to retry: failing fast should stay fast, not turn into attempts that fail fast again.
 */
export function localStatusMetadata(reason: LocalReason, noRetry = false): Metadata {
  const metadata = new Metadata();
  metadata.set(LOCAL_STATUS_KEY, reason);
  if (noRetry) metadata.set('grpc-retry-pushback-ms', '-1');
  return metadata;
}

/**
 * The layer that made a status locally (`LOCAL_STATUS_KEY` in its trailing metadata, or in a
 * `ServiceError`'s `metadata`), or `undefined` for a status that came from the server.
 */
export function localReason(metadata: Metadata | null | undefined): string | undefined {
  const value = metadata?.get(LOCAL_STATUS_KEY)[0];
  return typeof value === 'string' ? value : undefined;
}
