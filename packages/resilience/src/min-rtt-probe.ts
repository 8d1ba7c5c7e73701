import { check, OptionError, resolveOptions } from '@weft/core';

/**
 * A baseline latency measured the way Envoy's adaptive concurrency filter measures its minRTT
 * (`source/extensions/filters/http/adaptive_concurrency/controller/gradient_controller.cc`,
 * `min_rtt_calc_params`): at start and then every `interval` (plus a random `jitter`), the limit
 * is held at a very low `concurrency` until `requestCount` calls admitted during that window have
 * ended, and the median of their RTTs becomes the baseline. Calls admitted before the window are
 * not counted: they ran at the old concurrency.
 *
 * Between measurements the probe gives Envoy's gradient, `baseline * (1 + buffer) / sampleRtt`,
 * where `sampleRtt` is the median RTT of the last `window` calls (Envoy: the p50 of each
 * `concurrency_update_interval`). `adaptiveConcurrency` passes it to Gradient2 as a bound on
 * Gradient2's own gradient, so a queue that lasts long enough for Gradient2's long-term average
 * to catch up with it still reads as a queue. Medians on both sides: a few slow calls (a GC
 * pause, a busy neighbour) neither move the baseline nor shrink the limit.
 *
 * The probe also gives bounds for the limit from Little's law, as BBR sizes its congestion window
 * (Cardwell et al., "BBR: Congestion-Based Congestion Control", 2016): calls in flight = completion
 * rate x time per call, so carrying the highest completion rate seen lately at the baseline latency
 * takes `maxRate * baseline` calls in flight. Below that the server idles while callers are refused.
 * Why it is needed: the gradient reacts one call's time late (a call admitted now shows its
 * latency when it ends), so under overload the limit overshoots, the queue it built shows, and the
 * limit is cut past the point where the server has enough work, down to `minLimit`, and the server
 * idles until the queue has drained and the limit has grown back. The floor cuts off that trough
 * (and does not raise the limit above what the recent completions show); a ceiling of twice it
 * (BBR's `cwnd_gain`) cuts off the peak, the queue the overshoot builds. The rate is BBR's
 * delivery rate: per ended call, the calls that ended since the last end its admission had seen,
 * over the time since that end (BBR's `delivered_time`; never over less
 * than the baseline, so a burst of completions is not a rate), and the highest of the last 10 to
 * 20 round trips counts (BBR keeps its bottleneck bandwidth over 10 round trips; a round ends when
 * a call admitted after it began ends), so a server that got slower lowers both within that many
 * round trips of calls, while a server with no calls keeps its estimate (idle time is no
 * evidence that it changed). The pace of admissions while refusing (`pacing`) follows the same
 * rate.
 *
 * No timers: a measurement that is due starts at the next admission (with no calls, nothing needs
 * a limit). The clock and the random source are the caller's, so tests drive it exactly.
 */
export interface MinRttProbeOptions {
  /** Milliseconds between the end of one measurement and the start of the next, before jitter. Default `60000` (Envoy's documented example). */
  interval?: number;
  /**
   * A random delay added to each interval, as a fraction of it (`0.1`: 0 to 10% later), so that
   * replicas started together do not measure together. Default `0.1`.
   */
  jitter?: number;
  /**
   * Calls (admitted during the measurement) whose median RTT becomes the baseline. Default `25`
   * (Envoy's is 50: half the calls, half the dip, and a median of 25 is as deaf to a few outliers).
   */
  requestCount?: number;
  /** The concurrency limit held while measuring. Default `3`. */
  concurrency?: number;
  /** How much slower than the baseline the recent median may be before the limit shrinks, as a fraction. Default `0.25`. */
  buffer?: number;
  /** Calls per window whose median RTT (`sampleRtt`) is compared with the baseline. Default `25`. */
  window?: number;
  /**
   * The limit is kept at or above `throughputFloor * maxRate * baseline`, where `maxRate` is the
   * most calls per ms completed over the last 10 to 20 round trips (Little's law: the calls in
   * flight it takes to keep completing them without a queue; BBR's bandwidth-delay product). `0`
   * turns the floor off. Default `1`.
   */
  throughputFloor?: number;
  /**
   * The limit is kept at or below `throughputCeiling * maxRate * baseline` (never below
   * `minLimit`): at most this many times the calls it takes to carry the recent peak rate, so the
   * overshoot of a late gradient builds at most that much queue (BBR's `cwnd_gain` of 2). `0`
   * turns the ceiling off. Default `2`.
   */
  throughputCeiling?: number;
  /**
   * For one baseline after a refusal, admissions are paced at `pacing x maxRate` per ms (BBR's
   * pacing rate: gain x the bottleneck rate it measured; a bucket of a tenth of the limit):
   * under overload the calls that arrived while the event loop was busy would otherwise take
   * every freed slot at once, their handlers' timers would fall due in the same ms one round trip
   * later and burn back to back, and the CPU would idle between the bursts. The gain must be above
   * 1: the rate measured is the rate admitted, so at 1 it never grows past what the server
   * completed while the baseline was measured. 1.25 is BBR's pacing gain while it probes for more
   * bandwidth. Without a measured rate (both throughput bounds off) the pace is
   * `pacing x limit / baseline`. No pacing without a refusal (a burst up to the limit is
   * admitted), nor for a partition under its share. `0` turns pacing off. Default `1.25`.
   */
  pacing?: number;
}

/**
 * Envoy's `min_rtt_calc_params` as weft uses them: Envoy's own defaults are jitter 15% and
 * request_count 50 (its documentation's example: interval 60 s, jitter 10%).
 */
export const MIN_RTT_PROBE_DEFAULTS: Readonly<Required<MinRttProbeOptions>> = Object.freeze({
  interval: 60_000,
  jitter: 0.1,
  requestCount: 25,
  concurrency: 3,
  buffer: 0.25,
  window: 25,
  throughputFloor: 1,
  throughputCeiling: 2,
  pacing: 1.25,
});

/** The completion rate is remembered over two buckets of this many round trips (BBR: 10). */
const RATE_BUCKET_ROUNDS = 10;

type Resolved = Readonly<Required<MinRttProbeOptions>>;

export type MinRttProbeState = 'measuring' | 'waiting';

export class MinRttProbe {
  /** `'measuring'` while the limit is held at `concurrency`; a probe measures from the moment it is created. */
  state: MinRttProbeState = 'measuring';
  /** The measured baseline RTT (same unit as the clock); `0` until the first measurement ends. */
  baseline = 0;
  /** The median RTT of the last full window of calls since the measurement; `0` before one. */
  sampleRtt = 0;
  /** `baseline * (1 + buffer) / sampleRtt`, Envoy's gradient; unbounded until both are known. */
  maxGradient = Number.POSITIVE_INFINITY;
  /** Measurements completed. */
  measurements = 0;
  /** Calls ended so far (every sample): what a call notes when admitted, to measure the completion rate. */
  delivered = 0;
  /** When the last call ended (BBR's `delivered_time`), noted with `delivered`; `-Infinity` before one. */
  deliveredTime = Number.NEGATIVE_INFINITY;
  /** The floor on the limit: `throughputFloor * maxRate * baseline`; `0` before a baseline. */
  limitFloor = 0;
  /** The ceiling on the limit: `throughputCeiling * maxRate * baseline`; unbounded before a baseline. */
  limitCeiling = Number.POSITIVE_INFINITY;
  readonly options: Resolved;
  /** While measuring: when the measurement started (earlier admissions don't count). While waiting: when the next is due. */
  private at: number;
  private count = 0;
  // Preallocated: a sample costs a store, and a median sorts in place once per measurement or window.
  private readonly samples: Float64Array;
  private readonly recent: Float64Array;
  private recentCount = 0;
  // The windowed max of the completion rate (calls per ms): the current bucket's and the last one's,
  // the buckets counted in round trips (BBR's `round_count`): a round ends when a call admitted
  // after it began ends (`delivered` had reached `nextRoundDelivered` when it was admitted).
  private rounds = 0;
  private nextRoundDelivered = 0;
  private rateBucketRound = 0;
  private rateMax = 0;
  private ratePrevMax = 0;
  private readonly rateKept: boolean;

  constructor(
    options: MinRttProbeOptions | undefined,
    now: number,
    private readonly random: () => number = Math.random,
  ) {
    this.options = resolveOptions('adaptiveConcurrency.minRttProbe', MIN_RTT_PROBE_DEFAULTS, options, {
      interval: check.positive,
      jitter: check.fraction,
      requestCount: check.positiveInteger,
      concurrency: check.positiveInteger,
      buffer: check.nonNegative,
      window: check.positiveInteger,
      throughputFloor: check.nonNegative,
      throughputCeiling: check.nonNegative,
      pacing: check.nonNegative,
    });
    const { throughputFloor, throughputCeiling } = this.options;
    if (throughputCeiling > 0 && throughputCeiling < throughputFloor)
      throw new OptionError(
        'adaptiveConcurrency.minRttProbe',
        'throughputCeiling',
        'must not be below throughputFloor (or 0: off)',
        throughputCeiling,
      );
    this.rateKept = throughputFloor > 0 || throughputCeiling > 0;
    this.samples = new Float64Array(this.options.requestCount);
    this.recent = new Float64Array(this.options.window);
    this.at = now;
  }

  /**
   * The cap on the concurrency limit for a call being admitted at `now`: `concurrency` while
   * measuring, else unbounded. Starts a measurement that is due.
   */
  limitCap(now: number): number {
    if (this.state === 'waiting') {
      if (now < this.at) return Number.POSITIVE_INFINITY;
      this.state = 'measuring';
      this.at = now;
      this.count = 0;
    }
    return this.options.concurrency;
  }

  /**
   * A call admitted at `start`, when `delivered` was `deliveredAtStart` (the last of those calls
   * having ended at `deliveredTimeAtStart`), ended at `end`. Returns true when it completed a
   * measurement (the limit is no longer held).
   */
  onSample(
    start: number,
    end: number,
    deliveredAtStart = this.delivered,
    deliveredTimeAtStart = start,
  ): boolean {
    this.delivered++;
    this.deliveredTime = end;
    if (this.baseline > 0 && this.rateKept) this.onRate(end, deliveredAtStart, deliveredTimeAtStart);
    if (this.state === 'waiting') {
      const recent = this.recent;
      recent[this.recentCount++] = end - start;
      if (this.recentCount === recent.length) {
        this.sampleRtt = median(recent);
        this.maxGradient = (this.baseline * (1 + this.options.buffer)) / this.sampleRtt;
        this.recentCount = 0;
      }
      return false;
    }
    if (start < this.at) return false;
    const samples = this.samples;
    samples[this.count++] = end - start;
    if (this.count < samples.length) return false;
    const o = this.options;
    this.baseline = median(samples);
    this.measurements++;
    this.state = 'waiting';
    this.at = end + o.interval * (1 + o.jitter * this.random());
    // Windows start afresh: calls that ran before the measurement say nothing about this baseline.
    this.sampleRtt = 0;
    this.maxGradient = Number.POSITIVE_INFINITY;
    this.recentCount = 0;
    return true;
  }

  /** The highest completion rate (calls per ms) of the last 10 to 20 round trips; `0` before one. */
  get maxRate(): number {
    return Math.max(this.rateMax, this.ratePrevMax);
  }

  /** BBR's delivery rate sample, its windowed max, and the floor they give. */
  private onRate(end: number, deliveredAtStart: number, deliveredTimeAtStart: number): void {
    const baseline = this.baseline;
    // The interval runs from the last end the call's admission had seen, not from its admission
    // (BBR's `ack_elapsed`, from the packet's `delivered_time`): calls that ended as a batch after
    // it was admitted (grpc-js ends a unary call when its response has been written, so a batch
    // of handlers ends together at the write) did their work before it, in time this counts.
    const rate = (this.delivered - deliveredAtStart) / Math.max(end - deliveredTimeAtStart, baseline);
    if (deliveredAtStart >= this.nextRoundDelivered) {
      this.nextRoundDelivered = this.delivered;
      this.rounds++;
    }
    // Rounds, not time: an idle server keeps its estimate (no evidence that it changed), as BBR's
    // windowed max filter does.
    if (this.rounds - this.rateBucketRound >= RATE_BUCKET_ROUNDS) {
      this.ratePrevMax = this.rateMax;
      this.rateMax = 0;
      this.rateBucketRound = this.rounds;
    }
    if (rate > this.rateMax) this.rateMax = rate;
    const needed = Math.max(this.rateMax, this.ratePrevMax) * baseline;
    const o = this.options;
    this.limitFloor = o.throughputFloor * needed;
    if (o.throughputCeiling > 0) this.limitCeiling = o.throughputCeiling * needed;
  }
}

/** The median of `xs`, sorting it in place. */
function median(xs: Float64Array): number {
  xs.sort();
  const mid = xs.length >> 1;
  return xs.length % 2 === 1 ? (xs[mid] as number) : ((xs[mid - 1] as number) + (xs[mid] as number)) / 2;
}
