// The server side has one extension API, `StageHooks` (through `stagedInterceptor`); each other
// server-side export says beside it why it stays. (Issue #16.)
export {
  // What handlers and stages read about the call (`getCallContext()`, `call.context`).
  CallContext,
  // The key type of `CallContext.get`/`set`.
  type ContextKey,
  // Makes typed keys for values interceptors and handlers share on a call.
  createContextKey,
  // How a handler finds its call's context.
  getCallContext,
  // The type of `CallContext.addLogFields`.
  type LogFields,
  // Turns weft's AsyncLocalStorage binding off (Node 20's async-hooks cost).
  setAsyncContext,
  // The key auth writes and rate limits read, so neither imports the other.
  subjectKey,
} from './call-context';
export {
  type ClientCall,
  type ClientCallInterceptor,
  type ClientCallListener,
  type ClientMessageContext,
  defineClientInterceptor,
  ForwardingClientCall,
  LOCAL_STATUS_KEY,
  LocalClientCall,
  type LocalReason,
  localReason,
  localStatusMetadata,
} from './client-call';
export {
  clientCodeToLevel,
  clientLogging,
  type Logger,
  type LoggingOptions,
  type LogLevel,
  // go-grpc-middleware's default server levels, to build your own `codeToLevel` on.
  serverCodeToLevel,
  // The server logging interceptor (an observer).
  serverLogging,
} from './logging';
export { DEFAULT_METHOD_CACHE_SIZE, MethodCache } from './method-cache';
export { type CallType, callType, type MethodInfo, type MethodShape, methodInfo } from './method-info';
export {
  INFRASTRUCTURE_STREAMS,
  keyMatches,
  lookupByMethod,
  type MethodKey,
  type MethodMatch,
  type MethodMatcher,
  not,
  toPredicate,
} from './method-matcher';
export {
  // Observers: a reporter-shaped layer over stages for interceptors that only watch (metrics,
  // logging, tracing), the same shape on both sides.
  type CallReporter,
  type ClientObserver,
  // The status an observer's `onFinish` gets.
  type FinishedStatus,
  type ObservedClientCall,
  // What an observer's `start` gets on the server.
  type ObservedServerCall,
  type ObservingClientInterceptor,
  // What `observeServer` returns: `observers` merges two sets into one preset slot (the demo's metrics).
  type ObservingServerInterceptor,
  observeClient,
  // Builds a server interceptor of observers: one stage each.
  observeServer,
  // The argument type of `observeServer`.
  type ServerObserver,
} from './observer';
export { check, type OptionCheck, type OptionChecks, OptionError, resolveOptions } from './options';
export {
  type ClientPreset,
  clientInterceptors,
  // The roles `serverInterceptors` orders.
  type ServerPreset,
  // Orders server interceptors and folds weft's into one layer.
  serverInterceptors,
} from './presets';
export {
  // What `onError` gets for a synchronous throw (grpc-js keeps only its message).
  HandlerError,
  type RecoveryOptions,
  // A throwing handler becomes INTERNAL.
  recovery,
} from './recovery';
// Applies any interceptor, server or client, to some methods only.
export { selector } from './selector';
export {
  EMIT_NEW,
  EMIT_OLD,
  type Emit,
  resolveSemconv,
  rpcStatusCode,
  SEMCONV_OPT_IN_ENV,
  type SemconvMode,
  semconvModeFromEnv,
} from './semconv-mode';
export {
  // The reason `CallContext.signal` aborts with on a cancel, for `instanceof`.
  CallCancelledError,
  // The call's context from a plain grpc-js interceptor of your own (one weft does not fold).
  serverCallContext,
} from './server-call';
export {
  // The cap on status messages, so callers can test against it.
  MAX_STATUS_DETAILS,
  // A server interceptor's part of weft's layer: `start` returns its hooks per call.
  type ServerStage,
  // What `stagedInterceptor` returns: its `stages` let presets and `selector` fold it.
  type StagedServerInterceptor,
  // The server extension API: the hooks of one stage for one call.
  type StageHooks,
  // Makes a server interceptor of stages.
  stagedInterceptor,
  // The call a stage's `start` gets (`context`, `sendStatusFrom`, `deadline`, `silenceDownstream`).
  WeftServerCall,
} from './server-stage';
export type { AdaptiveConcurrencyState, AdaptivePartitionState } from './signals';
export {
  type AuthFailure,
  type BreakerRejection,
  type BreakerState,
  type BreakerTransition,
  type LimitEvent,
  type LimitRejection,
  type RetryAttempt,
  type RetryThrottled,
  type Signal,
  signals,
  type ThrottleRejection,
} from './signals';
export { ALL_CODES, CODE_NAMES, codeName, GrpcError, type PartialStatus, statusError } from './status';
