import type {
  InterceptingCall,
  Interceptor,
  InterceptorOptions,
  NextCall,
  ServerInterceptingCall,
  ServerInterceptingCallInterface,
  ServerInterceptor,
  ServerMethodDefinition,
} from '@grpc/grpc-js';
import { MethodCache } from './method-cache';
import type { MethodInfo, MethodShape } from './method-info';
import { type MethodMatcher, toPredicate } from './method-matcher';
import type { ServerStage, StagedServerInterceptor } from './server-stage';

/** The decision per method, computed once per method, not once per call. */
function cachedDecision(matcher: MethodMatcher) {
  const decisions = new MethodCache(toPredicate(matcher));
  return (shape: MethodShape | MethodInfo): boolean => decisions.get(shape);
}

/**
 * Applies a server or client interceptor only to the calls whose method matches; other calls skip
 * it at no cost. Like go-grpc-middleware's `selector`, this keeps "skip these methods" out of every
 * interceptor's options.
 */
export function selector(interceptor: ServerInterceptor, match: MethodMatcher): ServerInterceptor;
export function selector(interceptor: Interceptor, match: MethodMatcher): Interceptor;
export function selector(
  interceptor: ServerInterceptor | Interceptor,
  match: MethodMatcher,
): ServerInterceptor | Interceptor {
  const matches = cachedDecision(match);
  // grpc-js types interceptors as returning its concrete call classes but only uses their
  // interface, so a skipped call passes the next call through unwrapped: no extra layer, no cost.
  const selected = (
    first: ServerMethodDefinition<unknown, unknown> | InterceptorOptions,
    second: ServerInterceptingCallInterface | NextCall,
  ) => {
    if ('method_definition' in first) {
      const nextCall = second as NextCall;
      return matches(first.method_definition)
        ? (interceptor as Interceptor)(first, nextCall)
        : (nextCall(first) as InterceptingCall);
    }
    const call = second as ServerInterceptingCallInterface;
    return matches(first)
      ? (interceptor as ServerInterceptor)(first, call)
      : (call as ServerInterceptingCall);
  };
  // A selected weft interceptor keeps its stages, each staying out of unmatched calls, so a preset
  // still folds it into its neighbours' layer.
  const stages = (interceptor as Partial<StagedServerInterceptor>).stages;
  if (stages === undefined) return selected as ServerInterceptor & Interceptor;
  const selectedStages = stages.map(
    (stage): ServerStage => ({
      start: (call, index) => (matches(call.context.method) ? stage.start(call, index) : undefined),
    }),
  );
  return Object.assign(selected, { stages: Object.freeze(selectedStages) }) as ServerInterceptor &
    Interceptor;
}
