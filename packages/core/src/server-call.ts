import {
  type FullServerListener,
  type Metadata,
  type Responder,
  ServerInterceptingCall,
  type ServerInterceptingCallInterface,
  type ServerListener,
  type ServerMethodDefinition,
} from '@grpc/grpc-js';
import { attachMetadata, CallContext, runInContext } from './call-context';
import { methodInfo } from './method-info';

/** grpc-js builds one method definition object per call and hands the same one to every interceptor. */
type CallKey = ServerMethodDefinition<unknown, unknown>;

/** The context rides on that object under a symbol (a WeakMap entry per call is costly to collect). */
const CONTEXT = Symbol('weft.serverCallContext');
type WithContext = CallKey & { [CONTEXT]?: CallContext };

/**
 * The `CallContext` of this server call, created by the first weft interceptor that asks. grpc-js
 * passes every interceptor of a call the same method-definition object (a fresh one per call); the
 * context rides on it, without touching grpc-js internals, and goes away with the call.
 */
export function serverCallContext(
  definition: ServerMethodDefinition<unknown, unknown>,
  call: ServerInterceptingCallInterface,
): CallContext {
  let context = (definition as WithContext)[CONTEXT];
  if (context === undefined) {
    context = new CallContext(methodInfo(definition), call);
    (definition as WithContext)[CONTEXT] = context;
  }
  return context;
}

/** The reason `CallContext.signal` aborts with when the client cancels or the call is torn down. */
export class CallCancelledError extends Error {
  constructor(message = 'call cancelled') {
    super(message);
    this.name = 'CallCancelledError';
  }
}

/** Whether grpc-js invokes this call type's handler from the metadata (and feeds it stream events). */
function readsStream(context: CallContext): boolean {
  const type = context.method.type;
  return type === 'client_stream' || type === 'bidi_stream';
}

/**
 * Wraps a server listener so that its downstream (inner interceptors, the handler, the handler's
 * stream events) runs with `context` active, and so a cancel aborts `context.signal`.
 *
 * grpc-js calls unary and server-streaming handlers from the half-close and client-streaming and
 * bidi handlers from the metadata, and delivers stream events from the messages. Each of those is
 * bound; the inner listener is called inside the context (not just its `next`), so a layer that
 * continues asynchronously (a JWKS fetch, a Redis limit) continues inside the context too. A unary
 * request message needs no binding: the handler does not exist yet when it arrives.
 * (grpc-js copies the four methods off the object, so they are closures, not class methods.)
 */
export function contextListener(context: CallContext, listener?: ServerListener): FullServerListener {
  const bindMessages = readsStream(context) || listener?.onReceiveMessage !== undefined;
  return {
    onReceiveMetadata(metadata, next) {
      attachMetadata(context, metadata);
      if (listener?.onReceiveMetadata === undefined) runInContext(context, next, metadata);
      else runInContext(context, innerMetadata, listener, metadata, next);
    },
    onReceiveMessage(message, next) {
      if (listener?.onReceiveMessage !== undefined)
        runInContext(context, innerMessage, listener, message, next);
      else if (bindMessages) runInContext(context, next, message);
      else next(message);
    },
    onReceiveHalfClose(next) {
      if (listener?.onReceiveHalfClose === undefined) runInContext(context, callNext, next);
      else runInContext(context, innerHalfClose, listener, next);
    },
    onCancel() {
      // grpc-js reports every stream close here, normal ones included: only a live call is
      // cancelled (and only then is an error, with its stack, created).
      if (!context.statusSent && !context.cancelled) context.cancel(new CallCancelledError());
      listener?.onCancel?.();
    },
  };
}

function innerMetadata(
  listener: ServerListener,
  metadata: Metadata,
  next: (metadata: Metadata) => void,
): void {
  listener.onReceiveMetadata?.(metadata, next);
}
function innerMessage(listener: ServerListener, message: unknown, next: (message: unknown) => void): void {
  listener.onReceiveMessage?.(message, next);
}
function innerHalfClose(listener: ServerListener, next: () => void): void {
  listener.onReceiveHalfClose?.(next);
}
function callNext(next: () => void): void {
  next();
}

/** A responder without `start`: weft's layer builder owns the start and binds the listener. */
export type ServerResponder = Omit<Responder, 'start'>;

/**
 * A grpc-js server layer with grpc-js's own listener and responder shapes, for interceptors of your
 * own: `listener` runs with the downstream bound to the call's context (see `contextListener`), and
 * a status leaving through the layer marks the context ended, because grpc-js reports every stream
 * close, even a normal one, to listeners as a cancel. (weft's interceptors are stages of one
 * `WeftServerCall` layer instead, see `stagedInterceptor`: cheaper, and foldable into one layer.)
 */
export function interceptServerCall(
  context: CallContext,
  call: ServerInterceptingCallInterface,
  listener?: ServerListener,
  responder?: ServerResponder,
): ServerInterceptingCall {
  const sendStatus = responder?.sendStatus;
  return new ServerInterceptingCall(call, {
    start: (next) => next(contextListener(context, listener)),
    sendMetadata: responder?.sendMetadata,
    sendMessage: responder?.sendMessage,
    sendStatus(status, next) {
      context.markStatusSent();
      if (sendStatus === undefined) next(status);
      else sendStatus(status, next);
    },
  });
}
