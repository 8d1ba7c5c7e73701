import type { ServerInterceptingCallInterface, ServerMethodDefinition } from '@grpc/grpc-js';
import { CallContext } from './call-context';
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
