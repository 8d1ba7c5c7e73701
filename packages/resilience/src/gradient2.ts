/**
 * Netflix's Gradient2 concurrency limit algorithm, ported from
 * `concurrency-limits-core/src/main/java/com/netflix/concurrency/limits/limit/Gradient2Limit.java`
 * (with `limit/measurement/ExpAvgMeasurement.java` and the sample path of
 * `limiter/AbstractLimiter.java`) of github.com/Netflix/concurrency-limits, as of "Add time unit to
 * Limit#onSample (#228)". Same defaults, same arithmetic, same order of operations: the unit test
 * replays a trace recorded from the Java class and expects the same limit after every sample.
 *
 * The algorithm, per completed call (a "sample"):
 *
 *     longRtt   = exponential average of every sample's RTT (window 600, first 10 averaged)
 *     if longRtt / rtt > 2: longRtt *= 0.95          // latency came back down: forget the overload
 *     if inFlight < limit / 2: keep the limit          // app-limited: no evidence either way
 *     gradient  = clamp(rttTolerance * longRtt / rtt, 0.5, 1)
 *     newLimit  = limit * gradient + queueSize
 *     limit     = clamp(limit * (1 - smoothing) + newLimit * smoothing, minLimit, maxLimit)
 *
 * The limit admitted against is the estimate truncated to an integer (Java's `(int)` cast).
 * Pure arithmetic: no clock here, the caller measures RTTs.
 */

import { check, OptionError, resolveOptions } from '@weft/core';
import type { OptionDefaults } from './option-defaults';

export interface Gradient2Options {
  /** The limit before any sample. Default `20`. */
  initialLimit?: number;
  /** The limit never goes below this. Default `20`. */
  minLimit?: number;
  /** The limit never goes above this. Default `200`. */
  maxLimit?: number;
  /**
   * How much of each new estimate is taken (0 < smoothing <= 1): a small value keeps the limit
   * from shrinking sharply on one slow call. Default `0.2`.
   */
  smoothing?: number;
  /**
   * How far the limit may grow per estimate while latency stays low (Netflix's `queueSize`): a
   * number, or a function of the current limit. Default `4`.
   */
  queueSize?: number | ((limit: number) => number);
  /** Samples in the long-term RTT average (`2 / (window + 1)` weight per sample). Default `600`. */
  longWindow?: number;
  /**
   * How much slower than the long-term RTT a sample may be before the limit shrinks (>= 1).
   * Default `1.5`.
   */
  rttTolerance?: number;
}

interface ResolvedGradient2 {
  initialLimit: number;
  minLimit: number;
  maxLimit: number;
  smoothing: number;
  queueSize: (limit: number) => number;
  longWindow: number;
  rttTolerance: number;
}

/** Netflix's `Gradient2Limit.Builder` defaults. */
export const GRADIENT2_DEFAULTS: OptionDefaults<Gradient2Options> = Object.freeze({
  initialLimit: 20,
  minLimit: 20,
  maxLimit: 200,
  smoothing: 0.2,
  queueSize: 4,
  longWindow: 600,
  rttTolerance: 1.5,
});

/** Samples averaged plainly before the long-term average becomes exponential (`ExpAvgMeasurement`'s warm-up). */
const WARMUP_SAMPLES = 10;

function resolveGradient2(options: Gradient2Options | undefined): ResolvedGradient2 {
  const o = resolveOptions('gradient2', GRADIENT2_DEFAULTS, options, {
    initialLimit: check.positiveInteger,
    minLimit: check.positiveInteger,
    maxLimit: check.positiveInteger,
    longWindow: check.positiveInteger,
    smoothing: (v) => (v > 0 && v <= 1 ? undefined : 'must be a number in (0, 1]'),
    rttTolerance: (v) => (v >= 1 ? undefined : 'must be a number >= 1'),
  });
  if (o.minLimit > o.maxLimit)
    throw new OptionError('gradient2', 'minLimit', 'must not exceed maxLimit', o.minLimit);
  const queueSize = o.queueSize;
  return {
    ...o,
    queueSize: typeof queueSize === 'function' ? queueSize : () => queueSize,
  };
}

/** One Gradient2 estimator. Feed it `onSample` per completed call; read `limit`. */
export class Gradient2 {
  /** The limit to admit against: the estimate truncated, as Java's `(int)` cast does. */
  limit: number;
  /** The estimate itself, a float. */
  estimatedLimit: number;
  /** The long-term (exponentially averaged) RTT: the baseline a sample is compared to. Netflix reports it as `min_rtt`. */
  longRtt = 0;
  /** The last sample's RTT. */
  lastRtt = 0;
  private readonly o: ResolvedGradient2;
  private readonly factor: number;
  private warmupCount = 0;
  private warmupSum = 0;

  constructor(options?: Gradient2Options) {
    this.o = resolveGradient2(options);
    this.estimatedLimit = this.o.initialLimit;
    this.limit = this.o.initialLimit;
    this.factor = 2 / (this.o.longWindow + 1);
  }

  /**
   * One completed call: its RTT (any unit, as long as it is always the same one) and the calls in
   * flight when it started (itself included). Returns the new limit.
   *
   * `maxGradient`, `floor` and `ceiling` are not Netflix's: a bound on the gradient, and bounds
   * on the new estimate (the floor wins over the ceiling; `minLimit` and `maxLimit` over both)
   * from outside, which `adaptiveConcurrency` derives from a baseline measured at low concurrency
   * and the completion rate (see `min-rtt-probe.ts`). Left at their defaults, the arithmetic is
   * exactly Netflix's.
   */
  onSample(
    rtt: number,
    inFlight: number,
    maxGradient = Number.POSITIVE_INFINITY,
    floor = 0,
    ceiling = Number.POSITIVE_INFINITY,
  ): number {
    const o = this.o;
    let estimatedLimit = this.estimatedLimit;
    // Java passes `(int) estimatedLimit` to the queue size function.
    const queueSize = o.queueSize(Math.trunc(estimatedLimit));
    this.lastRtt = rtt;
    const shortRtt = rtt;
    const longRtt = this.addLong(rtt);

    // Latency fell well below the long-term average (the end of an overload): decay the average
    // faster than the exponential window would, so the limit can grow again sooner.
    if (longRtt / shortRtt > 2) this.longRtt = this.longRtt * 0.95;

    // Don't grow the limit if we are app limited.
    if (inFlight < estimatedLimit / 2) return this.setLimit(Math.trunc(estimatedLimit));

    const gradient = Math.max(0.5, Math.min(1.0, (o.rttTolerance * longRtt) / shortRtt, maxGradient));
    let newLimit = estimatedLimit * gradient + queueSize;
    newLimit = estimatedLimit * (1 - o.smoothing) + newLimit * o.smoothing;
    newLimit = Math.max(o.minLimit, Math.min(o.maxLimit, Math.max(Math.min(newLimit, ceiling), floor)));
    estimatedLimit = newLimit;
    this.estimatedLimit = estimatedLimit;
    return this.setLimit(Math.trunc(newLimit));
  }

  private setLimit(limit: number): number {
    this.limit = limit;
    return limit;
  }

  /** `ExpAvgMeasurement.add`: a plain mean of the first 10 samples, then exponential. */
  private addLong(sample: number): number {
    if (this.warmupCount < WARMUP_SAMPLES) {
      this.warmupCount++;
      this.warmupSum += sample;
      this.longRtt = this.warmupSum / this.warmupCount;
    } else {
      this.longRtt = this.longRtt * (1 - this.factor) + sample * this.factor;
    }
    return this.longRtt;
  }
}
