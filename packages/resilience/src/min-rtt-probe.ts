import { check, resolveOptions } from '@weft/core';

/**
 * A baseline latency measured the way Envoy's adaptive concurrency filter measures its minRTT
 * (`source/extensions/filters/http/adaptive_concurrency/controller/gradient_controller.cc`,
 * `min_rtt_calc_params`): at start and then every `interval` (plus a random `jitter`), the limit
 * is held at a very low `concurrency` until `requestCount` calls admitted during that window have
 * ended, and the median of their RTTs becomes the baseline. Calls admitted before the window are
 * not counted: they ran at the old concurrency.
 *
 * The baseline bounds what `adaptiveConcurrency` tolerates: `tolerated = baseline * (1 + buffer)`
 * caps Gradient2's `rttTolerance * longRtt`, so a queue that lasts long enough for Gradient2's
 * long-term average to catch up with it still reads as a queue.
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
  /** Calls (admitted during the measurement) whose median RTT becomes the baseline. Default `50`. */
  requestCount?: number;
  /** The concurrency limit held while measuring. Default `3`. */
  concurrency?: number;
  /** How much slower than the baseline a call may be before the limit shrinks, as a fraction. Default `0.25`. */
  buffer?: number;
}

/** Envoy's `min_rtt_calc_params` as weft uses them (Envoy's own jitter default is 15%; its docs' example 10%). */
export const MIN_RTT_PROBE_DEFAULTS: Readonly<Required<MinRttProbeOptions>> = Object.freeze({
  interval: 60_000,
  jitter: 0.1,
  requestCount: 50,
  concurrency: 3,
  buffer: 0.25,
});

type Resolved = Readonly<Required<MinRttProbeOptions>>;

export type MinRttProbeState = 'measuring' | 'waiting';

export class MinRttProbe {
  /** `'measuring'` while the limit is held at `concurrency`; a probe measures from the moment it is created. */
  state: MinRttProbeState = 'measuring';
  /** The measured baseline RTT (same unit as the clock); `0` until the first measurement ends. */
  baseline = 0;
  /** `baseline * (1 + buffer)`: the RTT tolerated before the limit shrinks; unbounded until measured. */
  tolerated = Number.POSITIVE_INFINITY;
  /** Measurements completed. */
  measurements = 0;
  readonly options: Resolved;
  /** While measuring: when the window opened (earlier admissions don't count). While waiting: when the next is due. */
  private at: number;
  private count = 0;
  // Preallocated: a sample costs a store, and the median sorts in place once per measurement.
  private readonly samples: Float64Array;

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
    });
    this.samples = new Float64Array(this.options.requestCount);
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
   * A call admitted at `start` ended at `end`. Returns true when it completed a measurement (the
   * limit is no longer held).
   */
  onSample(start: number, end: number): boolean {
    if (this.state !== 'measuring' || start < this.at) return false;
    const samples = this.samples;
    samples[this.count++] = end - start;
    if (this.count < samples.length) return false;
    samples.sort();
    const mid = samples.length >> 1;
    this.baseline =
      samples.length % 2 === 1
        ? (samples[mid] as number)
        : ((samples[mid - 1] as number) + (samples[mid] as number)) / 2;
    const o = this.options;
    this.tolerated = this.baseline * (1 + o.buffer);
    this.measurements++;
    this.state = 'waiting';
    this.at = end + o.interval * (1 + o.jitter * this.random());
    return true;
  }
}
