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
import { type CallType, type MethodInfo, type MethodShape, methodInfo } from './method-info';
import type { ServerStage, StagedServerInterceptor } from './server-stage';

/** Matches methods by name or shape. Each given field must match; a list matches any of its entries. */
export interface MethodMatch {
  /** `package.Service/Method` or the path `/package.Service/Method`. */
  fullMethod?: string | readonly string[];
  /** `package.Service`. */
  service?: string | readonly string[];
  type?: CallType | readonly CallType[];
}

export type MethodMatcher = MethodMatch | ((method: MethodInfo) => boolean);

function asList<T>(value: T | readonly T[] | undefined): readonly T[] | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? (value as readonly T[]) : [value as T];
}

/** Turns a matcher into a predicate. */
export function toPredicate(matcher: MethodMatcher): (method: MethodInfo) => boolean {
  if (typeof matcher === 'function') return matcher;
  const full = asList(matcher.fullMethod)?.map((m) => (m.startsWith('/') ? m.slice(1) : m));
  const services = asList(matcher.service);
  const types = asList(matcher.type);
  return (m) =>
    (full === undefined || full.includes(m.fullMethod)) &&
    (services === undefined || services.includes(m.service)) &&
    (types === undefined || types.includes(m.type));
}

/** The complement of a matcher: `selector(rateLimit(...), not({ service: 'grpc.health.v1.Health' }))`. */
export function not(matcher: MethodMatcher): (method: MethodInfo) => boolean {
  const predicate = toPredicate(matcher);
  return (m) => !predicate(m);
}

/** Caches the decision per method path: the predicate runs once per method, not once per call. */
function cachedDecision(matcher: MethodMatcher) {
  const predicate = toPredicate(matcher);
  const decisions = new Map<string, boolean>();
  return (shape: MethodShape | MethodInfo): boolean => {
    let decision = decisions.get(shape.path);
    if (decision === undefined) {
      decision = predicate('type' in shape ? shape : methodInfo(shape));
      decisions.set(shape.path, decision);
    }
    return decision;
  };
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
