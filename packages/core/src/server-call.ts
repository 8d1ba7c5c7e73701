import {
  type FullServerListener,
  type Metadata,
  type Responder,
  ServerInterceptingCall,
  type ServerInterceptingCallInterface,
  type ServerListener,
  type ServerMethodDefinition,
} from '@grpc/grpc-js';
import { CallContext, runInContext } from './call-context';
import { methodInfo } from './method-info';

/** grpc-js builds one method definition object per call and hands the same one to every interceptor. */
type CallKey = ServerMethodDefinition<unknown, unknown>;

const contexts = new WeakMap<CallKey, CallContext>();

/**
 * The `CallContext` of this server call, created by the first weft interceptor that asks. grpc-js
 * passes every interceptor of a call the same method-definition object, which keys the context
 * without touching grpc-js internals; the entry goes away with the call.
 */
export function serverCallContext(
  definition: ServerMethodDefinition<unknown, unknown>,
  call: ServerInterceptingCallInterface,
): CallContext {
  let context = contexts.get(definition);
  if (context === undefined) {
    context = new CallContext(methodInfo(definition), call);
    contexts.set(definition, context);
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

/**
 * Wraps a server listener so that whatever runs downstream of it (inner interceptors, the handler,
 * the handler's stream events) runs with `context` active, and so a cancel aborts `context.signal`.
 * grpc-js calls unary and server-streaming handlers from the half-close, and client-streaming and
 * bidi handlers from the metadata: every `next` is bound so all four shapes see the context.
 */
export function contextListener(context: CallContext, listener?: ServerListener): FullServerListener {
  return {
    onReceiveMetadata(metadata: Metadata, next: (metadata: Metadata) => void) {
      if (listener?.onReceiveMetadata === undefined) {
        context.metadata = metadata;
        runInContext(context, next, metadata);
        return;
      }
      listener.onReceiveMetadata(metadata, (forwarded) => {
        context.metadata = forwarded;
        runInContext(context, next, forwarded);
      });
    },
    onReceiveMessage(message: unknown, next: (message: unknown) => void) {
      if (listener?.onReceiveMessage === undefined) runInContext(context, next, message);
      else listener.onReceiveMessage(message, (forwarded) => runInContext(context, next, forwarded));
    },
    onReceiveHalfClose(next: () => void) {
      if (listener?.onReceiveHalfClose === undefined) runInContext(context, callNext, next);
      else listener.onReceiveHalfClose(() => runInContext(context, callNext, next));
    },
    onCancel() {
      context.cancel(new CallCancelledError());
      listener?.onCancel?.();
    },
  };
}

function callNext(next: () => void): void {
  next();
}

/** A responder without `start`: weft's layer builder owns the start and binds the listener. */
export type ServerResponder = Omit<Responder, 'start'>;

/**
 * The one way weft builds a server layer: `listener` runs with the downstream bound to the call's
 * context (see `contextListener`), and a status leaving through the layer marks the context ended,
 * because grpc-js reports every stream close, even a normal one, to listeners as a cancel.
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
