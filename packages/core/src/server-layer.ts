import type { Deadline, Metadata, ServerInterceptingCallInterface } from '@grpc/grpc-js';

/** The listener grpc-js hands a layer's `start` (its type is not exported by grpc-js). */
export type DownstreamListener = Parameters<ServerInterceptingCallInterface['start']>[0];

/** Hands one event to a listener: free functions, so passing an event on allocates no closure. */
export type Deliver<A> = (listener: DownstreamListener, arg: A) => void;
export const deliverMetadata: Deliver<Metadata> = (listener, metadata) =>
  listener.onReceiveMetadata(metadata);
export const deliverMessage: Deliver<unknown> = (listener, message) => listener.onReceiveMessage(message);
export const deliverHalfClose: Deliver<undefined> = (listener) => listener.onReceiveHalfClose();

/**
 * The grpc-js side of a server layer, one object per call in both of the roles grpc-js gives a
 * layer: the call the layer above sees (an inner layer or the handler: `start`, the `send*`
 * methods, `startRead`, the getters) and the listener this layer starts the layer below with (the
 * `onReceive*` methods and `onCancel`; no listener object per call). What it can, it forwards here;
 * what the layer does with requests and responses is the subclass's (`WeftServerCall`: the stage
 * loop). grpc-js types interceptors as returning its `ServerInterceptingCall` class but only uses
 * the interface, so this object stands in for one.
 */
export abstract class ServerLayer implements ServerInterceptingCallInterface, DownstreamListener {
  /** The layer above, once it started this one. */
  private listener: DownstreamListener | undefined = undefined;

  constructor(protected readonly next: ServerInterceptingCallInterface) {}

  start(listener: DownstreamListener): void {
    this.listener = listener;
    this.next.start(this);
  }

  abstract sendMetadata(metadata: Metadata): void;
  abstract sendMessage(message: unknown, callback: () => void): void;
  abstract sendStatus(status: Parameters<ServerInterceptingCallInterface['sendStatus']>[0]): void;

  /** @internal The layer below's events, on their way to the handler. */
  abstract onReceiveMetadata(metadata: Metadata): void;
  /** @internal */
  abstract onReceiveMessage(message: unknown): void;
  /** @internal */
  abstract onReceiveHalfClose(): void;
  /** @internal */
  abstract onCancel(): void;

  /** @internal Hands an event to the layer above (nothing before it started this layer). */
  deliver<A>(deliver: Deliver<A>, arg: A): void {
    if (this.listener !== undefined) deliver(this.listener, arg);
  }

  /** Tells the layer above that the stream closed. */
  protected cancelAbove(): void {
    this.listener?.onCancel();
  }

  startRead(): void {
    this.next.startRead();
  }
  getPeer(): string {
    return this.next.getPeer();
  }
  getDeadline(): Deadline {
    return this.next.getDeadline();
  }
  getHost(): string {
    return this.next.getHost();
  }
  getAuthContext(): ReturnType<ServerInterceptingCallInterface['getAuthContext']> {
    return this.next.getAuthContext();
  }
  getConnectionInfo(): ReturnType<ServerInterceptingCallInterface['getConnectionInfo']> {
    return this.next.getConnectionInfo();
  }
  getMetricsRecorder(): ReturnType<ServerInterceptingCallInterface['getMetricsRecorder']> {
    return this.next.getMetricsRecorder();
  }
}
