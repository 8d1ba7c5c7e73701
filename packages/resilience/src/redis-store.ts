import { check, resolveOptions } from '@weft/core';
import type * as RateLimiterFlexible from 'rate-limiter-flexible';
import type { OptionDefaults } from './option-defaults';
import type { BucketState, RateLimitStore } from './token-bucket';

/**
 * A token bucket in Redis, as a rate-limiter-flexible custom script. rate-limiter-flexible's own
 * Redis limiter counts fixed windows of whole seconds, which lets up to twice the burst through
 * at a window edge and cannot express "50 per second, bursts of 10" (a 0.2 s window); its
 * `customIncrTtlLuaScript` hook lets the same limiter run a GCRA token bucket instead, so the
 * limit shared through Redis behaves like the in-memory one.
 *
 * ARGV: [1] tokens to take, [2] key TTL in s (unused), [3] burst (the limiter's `points`),
 * [4] seconds to refill a whole burst (the limiter's `duration`).
 * Returns {consumed, ms}: consumed > burst means rejected, and ms is then the wait for a token.
 * The key holds the bucket's "theoretical arrival time" in ms and expires when the bucket is full.
 * Redis's own clock is used, so servers with skewed clocks share one view of time.
 */
const TOKEN_BUCKET_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local burst = tonumber(ARGV[3])
local period = tonumber(ARGV[4]) * 1000
local interval = period / burst
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local newTat = tat + interval * tonumber(ARGV[1])
local allowAt = newTat - period
if allowAt > now then
  return {burst + 1, math.ceil(allowAt - now)}
end
local ttl = math.ceil(newTat - now)
redis.call('SET', KEYS[1], string.format('%.3f', newTat), 'PX', ttl)
local used = math.ceil((newTat - now) / interval - 0.001)
if used > burst then used = burst end
return {used, ttl}
`;

/** The Redis client rate-limiter-flexible accepts: an `ioredis` instance or a `redis` (node-redis) v4+ client. */
export type RedisClientLike = object;

export interface RedisStoreOptions {
  /** A connected `ioredis` client (or node-redis v4+, then set `useRedisPackage`). Required. */
  client: RedisClientLike;
  /** Prefix of every key weft writes. Default `'weft-rl'`. */
  keyPrefix?: string;
  /**
   * What a call gets when Redis cannot answer (down, not connected, slower than `timeoutMs`):
   * `true` admits it (the limit is off while Redis is down; the service stays up), `false` answers
   * UNAVAILABLE (nothing passes unlimited). Default `true`: a rate limit protects the service,
   * and a store outage should not become a full outage. Choose `false` for limits that guard
   * something costlier than the outage (paid upstream APIs, abuse controls).
   */
  failOpen?: boolean;
  /** A Redis answer slower than this (ms) counts as a failure. Default `200`. */
  timeoutMs?: number;
  /** Set for a node-redis (`redis` package) client. Default `false` (ioredis). */
  useRedisPackage?: boolean;
  /**
   * Told about every store failure. Default: one line on stderr, at most every 10 s, so an outage
   * is visible without flooding the log.
   */
  onError?: (error: unknown) => void;
}

/** `redisStore()`'s defaults (`client` is required; `onError` defaults to a rate-limited line on stderr). */
export const REDIS_STORE_DEFAULTS: OptionDefaults<RedisStoreOptions, 'client' | 'onError'> = Object.freeze({
  client: undefined,
  keyPrefix: 'weft-rl',
  failOpen: true,
  timeoutMs: 200,
  useRedisPackage: false,
  onError: undefined,
});

function defaultOnError(): (error: unknown) => void {
  let last = Number.NEGATIVE_INFINITY;
  return (error) => {
    const now = Date.now();
    if (now - last < 10_000) return;
    last = now;
    const text = error instanceof Error ? error.message : String(error);
    process.stderr.write(`[weft] rate limit store failed: ${text}\n`);
  };
}

class TimeoutError extends Error {
  constructor(ms: number) {
    super(`redis did not answer within ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

/**
 * A `RateLimitStore` in Redis through rate-limiter-flexible's `RateLimiterRedis`, so several server
 * instances share one limit. Pass it as a rule's `store`.
 */
export function redisStore(options: RedisStoreOptions): RateLimitStore {
  // Loaded here, not at import: only a Redis-backed limit needs rate-limiter-flexible. A plain
  // `require` keeps setup synchronous and works for CommonJS and ESM consumers (the build is CJS).
  const { RateLimiterRedis, RateLimiterRes } = require('rate-limiter-flexible') as typeof RateLimiterFlexible;
  const resolved = resolveOptions('redisStore', REDIS_STORE_DEFAULTS, options, {
    client: (v) => (typeof v === 'object' && v !== null ? undefined : 'is required (a Redis client)'),
    timeoutMs: check.positive,
    onError: check.function,
  });
  const { keyPrefix, failOpen, timeoutMs, useRedisPackage } = resolved;
  const client = resolved.client as RedisClientLike; // required: checked above
  const onError = resolved.onError ?? defaultOnError();
  // One limiter per (rate, burst): built once, on first use, not per call.
  const limiters = new Map<string, RateLimiterFlexible.RateLimiterRedis>();
  const limiterFor = (rate: number, burst: number): RateLimiterFlexible.RateLimiterRedis => {
    const id = `${rate}/${burst}`;
    let limiter = limiters.get(id);
    if (limiter === undefined) {
      limiter = new RateLimiterRedis({
        storeClient: client,
        useRedisPackage,
        keyPrefix,
        points: burst,
        duration: burst / rate,
        rejectIfRedisNotReady: true,
        customIncrTtlLuaScript: TOKEN_BUCKET_SCRIPT,
      });
      limiters.set(id, limiter);
    }
    return limiter;
  };
  const failed = (error: unknown): number => {
    try {
      onError(error);
    } catch {
      // A broken error callback must not decide the call.
    }
    if (failOpen) return 0;
    throw error;
  };

  const takeState = (key: string, rate: number, burst: number): Promise<BucketState> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, rejectTimeout) => {
      timer = setTimeout(() => rejectTimeout(new TimeoutError(timeoutMs)), timeoutMs);
    });
    // customDuration >= 1 s keeps rate-limiter-flexible on its script path; the script sets its own TTL.
    const consumed = limiterFor(rate, burst).consume(key, 1, {
      customDuration: Math.max(1, Math.ceil(burst / rate)),
    });
    return Promise.race([consumed, timeout]).then(
      // Admitted: the script answered {tokens used, ms until the bucket is full}.
      (res) => {
        clearTimeout(timer);
        return { waitMs: 0, remaining: Math.max(0, burst - res.consumedPoints), fullInMs: res.msBeforeNext };
      },
      (reason: unknown) => {
        clearTimeout(timer);
        if (reason instanceof RateLimiterRes) {
          // Refused: {burst + 1, ms until a token}; the bucket is then full in another burst's time.
          const waitMs = Math.max(1, reason.msBeforeNext);
          return { waitMs, remaining: 0, fullInMs: waitMs + ((burst - 1) * 1000) / rate };
        }
        return { waitMs: failed(reason), remaining: burst, fullInMs: 0 };
      },
    );
  };

  return {
    take: (key, rate, burst) => takeState(key, rate, burst).then(waitOf),
    takeState,
  };
}

function waitOf(state: BucketState): number {
  return state.waitMs;
}
