export {
  type AdaptiveConcurrencyOptions,
  adaptiveConcurrency,
  type PartitionBy,
} from './adaptive-concurrency';
export { type CallKey, contextSubject, peerHost, type SubjectLookup } from './call-key';
export {
  BREAKER_FAILURE_CODES,
  type CircuitBreakerInterceptor,
  type CircuitBreakerOptions,
  circuitBreaker,
  type FallbackCall,
} from './circuit-breaker';
export {
  type ClientThrottleInterceptor,
  type ClientThrottleOptions,
  clientThrottle,
  THROTTLE_REJECT_CODES,
} from './client-throttle';
export { type ConcurrencyLimitOptions, concurrencyLimit } from './concurrency-limit';
export {
  type ClientDeadlineOptions,
  callDeadline,
  clientDeadline,
  DeadlineExceededError,
  type DeadlineOptions,
  deadline,
  deadlineMs,
  type MethodTimeout,
  type ServerDeadlineOptions,
  serverDeadline,
} from './deadline';
export { GRADIENT2_DEFAULTS, Gradient2, type Gradient2Options } from './gradient2';
export {
  MIN_RTT_PROBE_DEFAULTS,
  MinRttProbe,
  type MinRttProbeOptions,
  type MinRttProbeState,
} from './min-rtt-probe';
export {
  NEAR_LIMIT_SHARE,
  type RateLimitKey,
  type RateLimitOptions,
  type RateLimitRule,
  rateLimit,
  retryHint,
} from './rate-limit';
export { type RedisClientLike, type RedisStoreOptions, redisStore } from './redis-store';
export {
  MAX_ATTEMPTS_CAP,
  parsePushback,
  RETRYABLE_CODES,
  type RetryOptions,
  type RetryPolicy,
  type RetryThrottling,
  retry,
} from './retry';
export { RetryThrottle } from './retry-throttle';
export {
  type BucketState,
  MemoryStore,
  type MemoryStoreOptions,
  memoryStore,
  type RateLimitStore,
} from './token-bucket';
