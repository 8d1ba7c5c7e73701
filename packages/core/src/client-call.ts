import { Metadata, type NextCall, type StatusObject, type status } from '@grpc/grpc-js';

/** grpc-js's client call interface (`InterceptingCallInterface`, not exported from its index). */
export type ClientCall = ReturnType<NextCall>;
/** The listener a client call is started with (grpc-js's `InterceptingListener`, likewise). */
export type ClientCallListener = NonNullable<Parameters<ClientCall['start']>[1]>;
type MessageContext = Parameters<ClientCall['sendMessageWithContext']>[0];

/**
 * A client call that forwards everything to the next call and is itself the listener it starts that
 * call with. weft's per-call client objects extend it and override what they watch: grpc-js only
 * uses the interface of what an interceptor returns, so one such object per call stands in for a
 * grpc-js layer (an `InterceptingCall` with a requester and a listener of closures).
 */
export class ForwardingClientCall implements ClientCall {
  protected upstream: ClientCallListener = {};

  constructor(protected readonly call: ClientCall) {}

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

  sendMessageWithContext(context: MessageContext, message: unknown): void {
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
 * A client call answered on this side, without the network: an open circuit breaker, a deadline
 * that passed before the call started. Subclasses say how it fails (`failure()`); `start()` schedules
 * `complete()`, which ends the call with that status. A subclass may complete later
 * (`completeLater()`) or otherwise (`finish()` with a response message).
 *
 * It completes on a macrotask (`setImmediate`), never on `process.nextTick` or a microtask: a
 * caller's `while (...) await call()` loop of calls failed this way would otherwise never yield to
 * timers and I/O, starving the process (and an in-flight probe or request whose answer could end
 * the failures). `cancelWithStatus` before that ends the call with the caller's status instead.
 */
export abstract class LocalClientCall implements ClientCall {
  protected upstream: ClientCallListener = {};
  /** The last request message sent, for a subclass that answers from it. */
  protected request: unknown = undefined;
  private ended = false;

  /** The status the call fails with (made when it fails: its metadata is the caller's to keep). */
  protected abstract failure(): StatusObject;

  start(_metadata: Metadata, listener?: ClientCallListener): void {
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
      this.upstream.onReceiveMetadata?.(new Metadata());
      this.upstream.onReceiveMessage?.(message);
    }
    this.upstream.onReceiveStatus?.(received);
  }

  /** Whether the call has ended (completed or cancelled). */
  protected get isEnded(): boolean {
    return this.ended;
  }

  sendMessageWithContext(context: MessageContext, message: unknown): void {
    this.request = message;
    context.callback?.();
  }
  sendMessage(message: unknown): void {
    this.request = message;
  }
  halfClose(): void {}
  startRead(): void {}
  cancelWithStatus(code: status, details: string): void {
    this.finish({ code, details, metadata: new Metadata() });
  }
  getPeer(): string {
    return '';
  }
  getAuthContext(): null {
    return null;
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
