export {
  ADAPTIVE_CONCURRENCY_DEFAULTS,
  type AdaptiveConcurrencyOptions,
  adaptiveConcurrency,
  type PartitionBy,
} from './adaptive-concurrency';
export { type CallKey, contextSubject, peerHost, type SubjectLookup } from './call-key';
export type { DeadlineCallOptions } from './call-options';
export {
  BREAKER_FAILURE_CODES,
  CIRCUIT_BREAKER_DEFAULTS,
  type CircuitBreakerInterceptor,
  type CircuitBreakerOptions,
  circuitBreaker,
  type FallbackCall,
} from './circuit-breaker';
export {
  CLIENT_THROTTLE_DEFAULTS,
  type ClientThrottleInterceptor,
  type ClientThrottleOptions,
  clientThrottle,
  THROTTLE_REJECT_CODES,
  type ThrottleStats,
} from './client-throttle';
export {
  CONCURRENCY_LIMIT_DEFAULTS,
  type ConcurrencyLimitOptions,
  concurrencyLimit,
} from './concurrency-limit';
export {
  CLIENT_DEADLINE_DEFAULTS,
  type ClientDeadlineOptions,
  callDeadline,
  clientDeadline,
  DEADLINE_DEFAULTS,
  DeadlineExceededError,
  type DeadlineOptions,
  deadline,
  deadlineMs,
  type MethodTimeout,
  SERVER_DEADLINE_DEFAULTS,
  type ServerDeadlineOptions,
  serverDeadline,
} from './deadline';
export { GRADIENT2_DEFAULTS, Gradient2, type Gradient2Options } from './gradient2';
export { LATENCY_TIMEOUT_DEFAULTS, type LatencyTimeoutOptions } from './latency-timeout';
export {
  MIN_RTT_PROBE_DEFAULTS,
  MinRttProbe,
  type MinRttProbeOptions,
  type MinRttProbeState,
} from './min-rtt-probe';
export type { OptionDefaults } from './option-defaults';
export {
  NEAR_LIMIT_SHARE,
  RATE_LIMIT_DEFAULTS,
  RATE_LIMIT_RULE_DEFAULTS,
  type RateLimitKey,
  type RateLimitOptions,
  type RateLimitRule,
  rateLimit,
  retryHint,
} from './rate-limit';
export {
  REDIS_STORE_DEFAULTS,
  type RedisClientLike,
  type RedisStoreOptions,
  redisStore,
} from './redis-store';
export {
  MAX_ATTEMPTS_CAP,
  parsePushback,
  RETRY_DEFAULTS,
  RETRY_POLICY_DEFAULTS,
  RETRY_THROTTLING_DEFAULTS,
  RETRYABLE_CODES,
  type RetryOptions,
  type RetryPolicy,
  type RetryThrottling,
  retry,
} from './retry';
export { RetryThrottle } from './retry-throttle';
export type { TargetOption } from './targets';
export {
  type BucketState,
  MEMORY_STORE_DEFAULTS,
  MemoryStore,
  type MemoryStoreOptions,
  memoryStore,
  type RateLimitStore,
} from './token-bucket';
