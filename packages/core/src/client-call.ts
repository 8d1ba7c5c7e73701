import type { Metadata, NextCall, StatusObject, status } from '@grpc/grpc-js';

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
