export {
  CallContext,
  type ContextKey,
  createContextKey,
  getCallContext,
  type LogFields,
  runInContext,
  type ServerCallHandle,
  setAsyncContext,
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
  serverCodeToLevel,
  serverLogging,
} from './logging';
export { DEFAULT_METHOD_CACHE_SIZE, MethodCache } from './method-cache';
export { type CallType, callType, type MethodInfo, type MethodShape, methodInfo } from './method-info';
export {
  keyMatches,
  lookupByMethod,
  type MethodKey,
  type MethodMatch,
  type MethodMatcher,
  not,
  toPredicate,
} from './method-matcher';
export {
  type CallReporter,
  type ClientObserver,
  type FinishedStatus,
  type ObservedClientCall,
  type ObservedServerCall,
  type ObservingClientInterceptor,
  type ObservingServerInterceptor,
  observeClient,
  observeServer,
  type ServerObserver,
} from './observer';
export { check, type OptionCheck, type OptionChecks, OptionError, resolveOptions } from './options';
export { type ClientPreset, clientInterceptors, type ServerPreset, serverInterceptors } from './presets';
export { HandlerError, type RecoveryOptions, recovery } from './recovery';
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
  CallCancelledError,
  contextListener,
  interceptServerCall,
  type ServerResponder,
  serverCallContext,
} from './server-call';
export {
  MAX_STATUS_DETAILS,
  type ServerStage,
  type StagedServerInterceptor,
  type StageHooks,
  stagedInterceptor,
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
