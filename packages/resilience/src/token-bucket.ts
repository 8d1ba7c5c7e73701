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

const memoryDefaults: Required<MemoryStoreOptions> = {
  maxKeys: 10_000,
  sweepIntervalMs: 60_000,
  now: () => performance.now(),
};

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

  constructor(options: MemoryStoreOptions = {}) {
    const resolved = { ...memoryDefaults, ...options };
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
    const now = this.now();
    if (now - this.lastSweep >= this.sweepIntervalMs) this.sweep(now);
    const bucket = this.buckets.get(key);
    if (bucket === undefined) {
      if (this.buckets.size >= this.maxKeys) this.makeRoom(now);
      if (burst < 1) return Math.ceil(1000 / rate);
      this.buckets.set(key, { tokens: burst - 1, at: now, rate, burst });
      return 0;
    }
    const tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) * rate) / 1000);
    bucket.at = now;
    if (tokens >= 1) {
      bucket.tokens = tokens - 1;
      return 0;
    }
    bucket.tokens = tokens;
    return Math.max(1, Math.ceil(((1 - tokens) * 1000) / rate));
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
