import { check, resolveOptions } from '@weft/core';
import type { OptionDefaults } from './option-defaults';

/**
 * Where a rate limit keeps its token buckets. `take` removes one token from the bucket `key`
 * (created full, `burst` tokens, refilled at `rate` tokens per second) and answers `0` when the
 * call may go ahead, or how many milliseconds until a token is available. It may answer
 * synchronously (the in-memory store does, so the common path allocates no promise) or with a
 * promise (a shared store). A store that cannot answer throws or rejects: the interceptor then
 * answers UNAVAILABLE (a store decides itself whether to fail open; see `redisStore`).
 */
export interface RateLimitStore {
  take(key: string, rate: number, burst: number): number | Promise<number>;
  /**
   * Optional: `take`, answering also what is left in the bucket. `rateLimit` uses it when present
   * (for the near-limit signal and the RateLimit trailers; a store without it gives neither). The
   * answer may be reused by the store once the caller returns: read it at once, don't keep it.
   */
  takeState?(key: string, rate: number, burst: number): BucketState | Promise<BucketState>;
}

/** What `RateLimitStore.takeState` answers. */
export interface BucketState {
  /** `0` when the call may go ahead, else ms until a token is available (as `take`). */
  waitMs: number;
  /** Whole tokens left in the bucket after this call. */
  remaining: number;
  /** Milliseconds until the bucket is full again (nothing taken meanwhile). */
  fullInMs: number;
}

export interface MemoryStoreOptions {
  /**
   * Most buckets kept at once. Default `10_000`. Above it, buckets that have refilled are dropped
   * first (a full bucket is the same as no bucket); if that is not enough, the oldest buckets go,
   * which gives those keys a fresh burst: memory stays bounded at the cost of some leniency under
   * a flood of distinct keys.
   */
  maxKeys?: number;
  /** How often (ms) idle, refilled buckets are swept out while the store is in use. Default `60_000`. */
  sweepIntervalMs?: number;
  /** Clock in milliseconds. Default `performance.now`. */
  now?: () => number;
}

/** `MemoryStore`'s defaults (see `MemoryStoreOptions`). */
export const MEMORY_STORE_DEFAULTS: OptionDefaults<MemoryStoreOptions> = Object.freeze({
  maxKeys: 10_000,
  sweepIntervalMs: 60_000,
  now: () => performance.now(),
});

interface Bucket {
  tokens: number;
  /** When `tokens` was computed. */
  at: number;
  rate: number;
  burst: number;
}

/** An in-process token bucket store with bounded memory. One per process or per rule. */
export class MemoryStore implements RateLimitStore {
  private readonly buckets = new Map<string, Bucket>();
  private readonly maxKeys: number;
  private readonly sweepIntervalMs: number;
  private readonly now: () => number;
  private lastSweep: number;

  constructor(options?: MemoryStoreOptions) {
    const resolved = resolveOptions('memoryStore', MEMORY_STORE_DEFAULTS, options, {
      maxKeys: check.positive,
      sweepIntervalMs: check.nonNegative,
      now: check.function,
    });
    this.maxKeys = Math.max(1, resolved.maxKeys);
    this.sweepIntervalMs = resolved.sweepIntervalMs;
    this.now = resolved.now;
    this.lastSweep = this.now();
  }

  /** Buckets currently held (for tests and diagnostics). */
  get size(): number {
    return this.buckets.size;
  }

  take(key: string, rate: number, burst: number): number {
    return this.takeState(key, rate, burst).waitMs;
  }

  /** `take` and what is left; the answer is one object per store, overwritten by the next call. */
  takeState(key: string, rate: number, burst: number): BucketState {
    const now = this.now();
    if (now - this.lastSweep >= this.sweepIntervalMs) this.sweep(now);
    const bucket = this.buckets.get(key);
    let tokens: number;
    let waitMs = 0;
    if (bucket === undefined) {
      if (this.buckets.size >= this.maxKeys) this.makeRoom(now);
      if (burst < 1) return this.answer(Math.ceil(1000 / rate), 0, rate, burst);
      tokens = burst - 1;
      this.buckets.set(key, { tokens, at: now, rate, burst });
    } else {
      tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) * rate) / 1000);
      bucket.at = now;
      if (tokens >= 1) tokens -= 1;
      else waitMs = Math.max(1, Math.ceil(((1 - tokens) * 1000) / rate));
      bucket.tokens = tokens;
    }
    return this.answer(waitMs, tokens, rate, burst);
  }

  // One answer object per store, reused: the in-memory path allocates nothing per call.
  private readonly state: BucketState = { waitMs: 0, remaining: 0, fullInMs: 0 };
  private answer(waitMs: number, tokens: number, rate: number, burst: number): BucketState {
    const state = this.state;
    state.waitMs = waitMs;
    state.remaining = Math.floor(tokens);
    state.fullInMs = ((burst - tokens) * 1000) / rate;
    return state;
  }

  /** Drops every bucket that has refilled completely. */
  sweep(now = this.now()): void {
    this.lastSweep = now;
    for (const [key, bucket] of this.buckets) {
      if (isFull(bucket, now)) this.buckets.delete(key);
    }
  }

  private makeRoom(now: number): void {
    this.sweep(now);
    // Still full of live buckets: drop the oldest tenth (Map iterates in insertion order).
    let excess = this.buckets.size - this.maxKeys + 1;
    if (excess <= 0) return;
    excess = Math.max(excess, Math.ceil(this.maxKeys / 10));
    for (const key of this.buckets.keys()) {
      if (excess-- <= 0) break;
      this.buckets.delete(key);
    }
  }
}

function isFull(bucket: Bucket, now: number): boolean {
  return bucket.tokens + ((now - bucket.at) * bucket.rate) / 1000 >= bucket.burst;
}

/** `new MemoryStore(options)`. */
export function memoryStore(options?: MemoryStoreOptions): MemoryStore {
  return new MemoryStore(options);
}
