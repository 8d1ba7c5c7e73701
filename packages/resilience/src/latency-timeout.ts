/**
 * Timeouts from measured latency (`clientDeadline({ fromLatency })`): per method, the latencies of
 * its last `window` calls in a log-bucket histogram, and a timeout of `factor` times their
 * `percentile`, clamped to `[min, max]`.
 *
 * Why a histogram over a ring of the last calls: a sample costs O(1) (its bucket goes into the ring,
 * the evicted one's bucket comes out), the percentile is read by walking down from the highest
 * non-empty bucket (a few steps for a high percentile, never a sort), memory is two small typed
 * arrays per method, and the window is exact: the last `window` calls, no decay constant to tune.
 * The price is resolution: 8 buckets per doubling, so a percentile is rounded up to the top of its
 * bucket, at most 9% above the latency (rounding up suits a timeout).
 */
import { status } from '@grpc/grpc-js';
import { check, localReason, type MethodInfo, OptionError, resolveOptions } from '@weft/core';
import type { OptionDefaults } from './option-defaults';

export interface LatencyTimeoutOptions {
  /** The percentile of recent latencies the timeout follows, in (0, 1]. Default `0.99`. */
  percentile?: number;
  /** Timeout = `factor` x the percentile (>= 1). Default `2`. */
  factor?: number;
  /**
   * The shortest timeout (ms): a method answering in 1 ms should still survive a GC pause or a busy
   * event loop. Default `10`.
   */
  min?: number;
  /** The longest timeout (ms). Default: none (bounded only by Node's longest timer, ~24.8 days). */
  max?: number;
  /**
   * Calls of a method measured before its timeout comes from them; until then `default` applies
   * (or no deadline). Default `20`.
   */
  minSamples?: number;
  /** How many of a method's most recent calls the percentile is taken over (<= 65535). Default `256`. */
  window?: number;
  /** Milliseconds from a monotonic clock, to measure latency. Default `performance.now`. Tests pass a fake one. */
  now?: () => number;
}

/** `fromLatency`'s defaults (see `LatencyTimeoutOptions`). */
export const LATENCY_TIMEOUT_DEFAULTS: OptionDefaults<LatencyTimeoutOptions, 'max'> = Object.freeze({
  percentile: 0.99,
  factor: 2,
  min: 10,
  max: undefined,
  minSamples: 20,
  window: 256,
  now: performance.now.bind(performance),
});

export type ResolvedLatencyTimeout = Readonly<Required<Omit<LatencyTimeoutOptions, 'max'>>> & {
  readonly max: number;
};

/** The longest window: bucket counts are 16-bit. */
const MAX_WINDOW = 0xffff;

/** Node fires longer timers after 1 ms (`MAX_TIMER_MS` in deadline.ts; repeated to avoid a cycle). */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** `fromLatency`'s options, resolved and checked (`name` is used in errors). */
export function resolveLatencyTimeout(
  name: string,
  options: LatencyTimeoutOptions | true,
): ResolvedLatencyTimeout {
  const o = resolveOptions(name, LATENCY_TIMEOUT_DEFAULTS, options === true ? undefined : options, {
    percentile: (p) =>
      p !== undefined && p > 0 && p <= 1 ? undefined : 'must be a number above 0, at most 1',
    factor: (f) => (f !== undefined && Number.isFinite(f) && f >= 1 ? undefined : 'must be a number >= 1'),
    min: check.nonNegative,
    max: check.positive,
    minSamples: check.positiveInteger,
    window: (w) =>
      check.positiveInteger(w) ?? ((w ?? 0) <= MAX_WINDOW ? undefined : `must be at most ${MAX_WINDOW}`),
    now: check.function,
  });
  if (o.max !== undefined && o.max < o.min) throw new OptionError(name, 'max', 'must be >= min', o.max);
  if (o.minSamples > o.window)
    throw new OptionError(name, 'minSamples', 'must be at most window (or it never warms up)', o.minSamples);
  return Object.freeze({ ...o, max: Math.min(o.max ?? MAX_TIMEOUT_MS, MAX_TIMEOUT_MS) });
}

/** Buckets per doubling of latency: each is 2^(1/8) ~ 9% wide. */
const PER_DOUBLING = 8;
/** The lowest bucket's top is this (ms) x 2^(1/8); everything faster falls in it. */
const LOWEST_MS = 1 / 16;
/** From 1/16 ms to 2^31 ms (Node's longest timer): 35 doublings. */
const BUCKETS = 35 * PER_DOUBLING;
/** The top (ms) of each bucket: what a percentile falling in it reads as. */
const BUCKET_TOP = Float64Array.from(
  { length: BUCKETS },
  (_, i) => LOWEST_MS * 2 ** ((i + 1) / PER_DOUBLING),
);

function bucketOf(ms: number): number {
  const i = Math.floor(Math.log2(ms / LOWEST_MS) * PER_DOUBLING);
  // `!(i > 0)` also catches NaN and -Infinity (a 0 ms or odd measurement).
  return !(i > 0) ? 0 : i < BUCKETS ? i : BUCKETS - 1;
}

/**
 * One method's recent latencies and the timeout they give. Fixed size: a `Uint16Array` of
 * `BUCKETS` counts and one of `window` bucket numbers (the ring), in one buffer.
 */
export class LatencyWindow {
  /** The percentile of the window (ms, the top of its bucket); `0` while empty. */
  estimate = 0;
  /** The timeout (ms) calls get, once `minSamples` calls were measured; `undefined` before. */
  timeout: number | undefined = undefined;
  private readonly counts: Uint16Array;
  private readonly ring: Uint16Array;
  /** Where the next sample goes in the ring (the oldest one, once it is full). */
  private next = 0;
  /** Samples in the window. */
  private size = 0;
  /** Samples measured, counted up to `minSamples`. */
  private measured = 0;
  /** No bucket above this one holds a sample (it may itself be empty after an eviction). */
  private top = 0;

  constructor(private readonly settings: ResolvedLatencyTimeout) {
    const buffer = new ArrayBuffer(2 * (BUCKETS + settings.window));
    this.counts = new Uint16Array(buffer, 0, BUCKETS);
    this.ring = new Uint16Array(buffer, 2 * BUCKETS, settings.window);
  }

  /** Adds a call's latency (ms), dropping the oldest once the window is full. */
  record(ms: number): void {
    const { counts, ring } = this;
    const bucket = bucketOf(ms);
    const next = this.next;
    if (this.size === ring.length) {
      const old = ring[next] ?? 0;
      counts[old] = (counts[old] ?? 1) - 1;
    } else {
      this.size++;
    }
    ring[next] = bucket;
    counts[bucket] = (counts[bucket] ?? 0) + 1;
    this.next = next + 1 === ring.length ? 0 : next + 1;
    if (bucket > this.top) this.top = bucket;
    this.update();
  }

  /** Recomputes the percentile (nearest rank) and the timeout: a walk down from the top bucket. */
  private update(): void {
    const { counts, settings, size } = this;
    // Samples that may lie above the percentile's: size - rank, rank = ceil(percentile x size).
    const above = size - Math.max(1, Math.ceil(settings.percentile * size - 1e-9));
    let bucket = this.top;
    while (bucket > 0 && counts[bucket] === 0) bucket--;
    this.top = bucket;
    let seen = 0;
    for (;;) {
      seen += counts[bucket] ?? 0;
      if (seen > above || bucket === 0) break;
      bucket--;
    }
    const estimate = BUCKET_TOP[bucket] ?? 0;
    this.estimate = estimate;
    if (this.measured < settings.minSamples && ++this.measured < settings.minSamples) return;
    // max >= min (checked at setup).
    this.timeout = Math.min(Math.max(settings.factor * estimate, settings.min), settings.max);
  }
}

/**
 * Whether a call that ended with `code` after `elapsed` ms says how long the method takes:
 * - any answer from the server (OK or an error) does, except
 * - UNAVAILABLE (a connection that failed, a server going away, a breaker or throttle refusing
 *   locally) and CANCELLED (the caller gave up): they say nothing about the method;
 * - DEADLINE_EXCEEDED means the latency was at least `elapsed`: taken as that (a lower bound) when
 *   it is at least the current estimate, so a method that slows down past its timeout raises it
 *   (otherwise only the calls fast enough to finish would be measured, and the timeout would never
 *   catch up); a shorter cut (a caller's tight deadline) says nothing and is dropped, as is one
 *   made on the client (`x-weft-local`).
 */
export function measures(
  code: status,
  metadata: Parameters<typeof localReason>[0],
  elapsed: number,
  window: LatencyWindow,
): boolean {
  if (code === status.UNAVAILABLE || code === status.CANCELLED) return false;
  if (code !== status.DEADLINE_EXCEEDED) return true;
  return elapsed >= window.estimate && localReason(metadata) === undefined;
}

/** A method's window when `fromLatency` covers it: unary calls only (a stream lives as long as its caller wants). */
export function latencyWindowFor(
  settings: ResolvedLatencyTimeout,
  method: MethodInfo,
): LatencyWindow | undefined {
  return method.type === 'unary' ? new LatencyWindow(settings) : undefined;
}
