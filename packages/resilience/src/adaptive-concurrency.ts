import { performance } from 'node:perf_hooks';
import { type Metadata, status } from '@grpc/grpc-js';
import {
  type AdaptiveConcurrencyState,
  type AdaptivePartitionState,
  type CallContext,
  check,
  resolveOptions,
  type StagedServerInterceptor,
  signals,
  stagedInterceptor,
  type WeftServerCall,
} from '@weft/core';
import { contextSubject } from './call-key';
import { GRADIENT2_DEFAULTS, Gradient2, type Gradient2Options } from './gradient2';
import { HeldCall } from './held-call';
import { MIN_RTT_PROBE_DEFAULTS, MinRttProbe, type MinRttProbeOptions } from './min-rtt-probe';
import type { OptionDefaults } from './option-defaults';
import { retryHint } from './rate-limit';
import { SampleWindow } from './sample-window';

/**
 * Which partition a call belongs to:
 * - `{ header: 'x-priority' }`: the value of a request header. The caller chooses it, so only
 *   trusted callers should be partitioned this way (a batch job can claim `live`);
 * - `'subject'`: the authenticated subject (`jwtAuth`'s `sub`), so the partition names are subjects;
 * - a function of the call's context and request metadata, for anything else.
 * A call whose partition is missing or not listed in `partitions` goes to the `unknown` partition.
 */
export type PartitionBy =
  | { readonly header: string }
  | 'subject'
  | ((context: CallContext, metadata: Metadata) => string | undefined);

export interface AdaptiveConcurrencyOptions {
  /**
   * Names the limiter in the status message, the `limitRejection` signal (`rule`) and the
   * `weft_adaptive_concurrency_*` metrics (`limiter`). Give each limiter of a process its own name.
   * Default `'adaptive'`.
   */
  name?: string;
  /** The Gradient2 algorithm's settings (see `Gradient2Options`). Default: Netflix's defaults. */
  gradient2?: Gradient2Options;
  /**
   * Milliseconds between limit updates: the calls that end within one interval are handed to
   * Gradient2 as one sample (their average RTT, the most calls in flight any of them saw), as
   * Envoy's gradient controller updates once per `concurrency_update_interval` (its documented
   * example: 100 ms) and Netflix's `WindowedLimit` once per window. Updated per call instead, the
   * limit moves by most of itself per round trip, before the queue the last update built can show.
   * `0` updates on every call (Gradient2 alone, as Netflix's class does). Default `100`.
   */
  updateInterval?: number;
  /**
   * The baseline probe (Envoy's minRTT measurement, see `MinRttProbeOptions`): at start and every
   * minute or so the limit is held at 3 until 25 calls have ended, and their median RTT is the
   * baseline; once the median of recent calls is more than 25% above it the limit shrinks, however
   * long that has lasted, so a steady queue cannot become the new normal. It also keeps the limit
   * between 1x and 2x the calls the server has lately completed per baseline (Little's law), so
   * the gradient's lag can neither idle the server nor queue far past it, and while it refuses
   * calls it paces admissions, so freed slots are not refilled in one burst. `false` runs Gradient2
   * alone (with `updateInterval: 0`, exactly as Netflix's class). Default: on, with
   * `MIN_RTT_PROBE_DEFAULTS`.
   */
  minRttProbe?: MinRttProbeOptions | false;
  /**
   * Shares of the limit per partition, `0..1`, summing to at most 1 (e.g. `{ live: 0.9, batch: 0.1 }`).
   * As in Netflix's partitioned limiter, a share is a guarantee, not a cap: while the whole limiter
   * is under its limit any call is admitted; once it is full, a call is admitted only while its
   * partition is under `ceil(limit * share)` (at least 1). So under overload the partition with
   * the smaller share is shed first. Default: no partitions.
   */
  partitions?: Readonly<Record<string, number>>;
  /** How a call's partition is found (see `PartitionBy`). Default `{ header: 'x-priority' }`. */
  partitionBy?: PartitionBy;
  /**
   * The retry hint (`grpc-retry-pushback-ms`, `retry-after`) sent with a rejection, in ms; `0`
   * sends none; `'rtt'` sends the long-term RTT (about the time it takes a slot to free), at least
   * 1 ms. Default `'rtt'`.
   */
  retryAfterMs?: number | 'rtt';
  /** Milliseconds from a monotonic clock. Default `performance.now`. Tests pass a fake one. */
  now?: () => number;
}

const UNKNOWN = 'unknown';
/** The pacing bucket holds this share of the limit (at least one call). */
const PACING_BUCKET = 0.1;
/** How often, at most, the limiter announces its state on `signals.adaptiveConcurrency`. */
const ANNOUNCE_EVERY_MS = 1000;

/** Exported for the tests' model server (test/overload-model.ts), not from the package. */
export class Partition implements AdaptivePartitionState {
  limit = 1;
  inFlight = 0;
  rejections = 0;
  constructor(
    readonly name: string,
    readonly share: number,
  ) {}
  /** `AbstractPartitionedLimiter.Partition.updateLimit`: rounded up, at least 1. */
  update(totalLimit: number): void {
    this.limit = Math.max(1, Math.ceil(totalLimit * this.share));
  }
}

type Resolve = (context: CallContext, metadata: Metadata) => Partition;

/**
 * What an admitted call carries to its end for the limiter's sample (`AdaptiveLimiter.noteAdmission`).
 * Exported for the tests' model servers, not from the package.
 */
export interface Admission {
  start: number;
  inFlightAtStart: number;
  deliveredAtStart: number;
  deliveredTimeAtStart: number;
}

/**
 * The limiter shared by every call through one `adaptiveConcurrency()` interceptor: the Gradient2
 * estimate, the calls in flight (in total and per partition), and the state the metrics read.
 * Exported for the tests' model server (test/overload-model.ts), not from the package.
 */
export class AdaptiveLimiter implements AdaptiveConcurrencyState {
  inFlight = 0;
  readonly partitions: readonly Partition[];
  readonly details: string;
  private readonly algorithm: Gradient2;
  private readonly probe: MinRttProbe | undefined;
  /** The update interval's samples; `undefined`: every call updates the limit. */
  private readonly window: SampleWindow | undefined;
  /** The probe's cap on the limit (its concurrency while it measures). */
  private cap = Number.POSITIVE_INFINITY;
  private lastAnnounced = Number.NEGATIVE_INFINITY;
  // Pacing state: tokens in the bucket, when it was last refilled, when a call was last refused.
  private tokens = 0;
  private refilledAt = 0;
  private refusedAt = Number.NEGATIVE_INFINITY;

  constructor(
    readonly name: string,
    gradient2: Gradient2Options,
    updateInterval: number,
    probe: MinRttProbeOptions | false,
    shares: Readonly<Record<string, number>> | undefined,
    readonly now: () => number,
    random: () => number = Math.random,
  ) {
    this.algorithm = new Gradient2(gradient2);
    if (updateInterval > 0) this.window = new SampleWindow(updateInterval, now() + updateInterval);
    if (probe !== false) {
      this.probe = new MinRttProbe(probe, now(), random);
      this.cap = this.probe.options.concurrency;
    }
    const partitions = Object.entries(shares ?? {}).map(([n, share]) => new Partition(n, share));
    if (partitions.length === 0) partitions.push(new Partition('all', 1));
    else partitions.push(new Partition(UNKNOWN, 0));
    this.partitions = partitions;
    this.details = `adaptive concurrency limit "${name}" reached`;
    this.updatePartitions();
  }

  get limit(): number {
    return Math.min(this.algorithm.limit, this.cap);
  }

  get baselineRttSeconds(): number {
    return (this.probe?.baseline ?? 0) / 1000;
  }

  get measuringBaseline(): boolean {
    return this.probe?.state === 'measuring';
  }

  get minRttSeconds(): number {
    return this.algorithm.longRtt / 1000;
  }

  get sampleRttSeconds(): number {
    return this.algorithm.lastRtt / 1000;
  }

  get longRttMs(): number {
    return this.algorithm.longRtt;
  }

  /** `AbstractPartitionedLimiter.acquire`: a partition's share binds only once the whole limit is reached. */
  tryAcquire(partition: Partition, now: number): boolean {
    if (this.probe !== undefined) {
      const cap = this.probe.limitCap(now);
      if (cap !== this.cap) {
        this.cap = cap;
        this.updatePartitions();
      }
    }
    if (this.inFlight >= this.limit) {
      if (this.partitions.length === 1 || partition.inFlight >= partition.limit)
        return this.refuse(partition, now);
    } else if (!this.paced(partition, now)) return this.refuse(partition, now);
    partition.inFlight++;
    this.inFlight++;
    return true;
  }

  private refuse(partition: Partition, now: number): false {
    partition.rejections++;
    this.refusedAt = now;
    return false;
  }

  /**
   * Pacing (see `MinRttProbeOptions.pacing`): for one baseline after a refusal, admissions are
   * spread at `pacing x maxRate` per ms (BBR's pacing rate: its gain times the bottleneck rate it
   * measured), from a bucket of a tenth of the limit, so the calls that queued in the socket while
   * the event loop was busy do not all take the freed slots at the same instant, and the handlers'
   * timers do not all fall due together one round trip later. Without a measured rate (the
   * throughput bounds off) the pace is `pacing x limit / baseline`. A partition under its
   * guaranteed share is never paced.
   */
  private paced(partition: Partition, now: number): boolean {
    const probe = this.probe;
    const gain = probe?.options.pacing ?? 0;
    const baseline = probe?.baseline ?? 0;
    if (gain === 0 || baseline === 0) return true;
    const limit = this.limit;
    const bucket = Math.max(1, limit * PACING_BUCKET);
    if (now - this.refusedAt > baseline) {
      // No pressure: a burst of up to the limit is welcome, and the bucket starts full.
      this.tokens = bucket;
      this.refilledAt = now;
      return true;
    }
    if (this.partitions.length > 1 && partition.inFlight < partition.limit) return true;
    const maxRate = (probe as MinRttProbe).maxRate;
    const pace = maxRate > 0 ? gain * maxRate : (gain * limit) / baseline;
    this.tokens = Math.min(bucket, this.tokens + (now - this.refilledAt) * pace);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /**
   * Notes on `admission` what its sample will need, for a call `tryAcquire` just admitted at
   * `now`: the calls in flight (itself included), the calls ended so far (its end then gives a
   * completion rate: the probe's floor) and when the last of them ended, from which that rate
   * counts; with nothing else in flight, from `now` (as BBR restarts its `delivered_time` when
   * nothing is in flight: an idle gap is not a slow rate).
   */
  noteAdmission(admission: Admission, now: number): void {
    const probe = this.probe;
    admission.start = now;
    admission.inFlightAtStart = this.inFlight;
    admission.deliveredAtStart = probe?.delivered ?? 0;
    admission.deliveredTimeAtStart = this.inFlight <= 1 ? now : (probe?.deliveredTime ?? now);
  }

  /** A call admitted in `partition`, with what `noteAdmission` noted, ended. */
  release(partition: Partition, admission: Admission): void {
    partition.inFlight--;
    this.inFlight--;
    const now = this.now();
    const before = this.limit;
    const probe = this.probe;
    const { start, inFlightAtStart } = admission;
    if (probe?.onSample(start, now, admission.deliveredAtStart, admission.deliveredTimeAtStart))
      this.cap = Number.POSITIVE_INFINITY;
    const window = this.window;
    if (window === undefined) this.update(now - start, inFlightAtStart);
    else if (window.add(now - start, inFlightAtStart, now)) this.update(window.rtt, window.inFlight);
    if (this.limit !== before) this.updatePartitions();
    if (now - this.lastAnnounced >= ANNOUNCE_EVERY_MS) this.announce(now);
  }

  /** One Gradient2 update, bounded by the probe. */
  private update(rtt: number, inFlight: number): void {
    const probe = this.probe;
    // A clock that did not advance (a coarse fake one) would make the gradient divide by zero.
    this.algorithm.onSample(
      Math.max(rtt, 1e-3),
      inFlight,
      probe?.maxGradient,
      probe?.limitFloor,
      probe?.limitCeiling,
    );
  }

  /** Hands the metrics (or any subscriber) this limiter's live state: cheap, and at most once a second. */
  announce(now = this.now()): void {
    this.lastAnnounced = now;
    if (signals.adaptiveConcurrency.hasSubscribers) signals.adaptiveConcurrency.publish(this);
  }

  private updatePartitions(): void {
    const limit = this.limit;
    for (const p of this.partitions) p.update(limit);
  }
}

function partitionResolver(limiter: AdaptiveLimiter, by: PartitionBy): Resolve {
  const partitions = limiter.partitions;
  const single = partitions[0] as Partition;
  if (partitions.length === 1) return () => single;
  const byName = new Map(partitions.map((p) => [p.name, p]));
  const unknown = byName.get(UNKNOWN) as Partition;
  const find = (name: string | undefined): Partition =>
    name === undefined ? unknown : (byName.get(name) ?? unknown);
  if (by === 'subject') return (context) => find(contextSubject(context));
  if (typeof by === 'function') return (context, metadata) => find(by(context, metadata));
  const header = by.header.toLowerCase();
  return (_context, metadata) => {
    const value = metadata.get(header)[0];
    return find(typeof value === 'string' ? value : undefined);
  };
}

type CallState = 'waiting' | 'admitted' | 'done';

/**
 * One call's hooks: a class, so a call costs one small object and no closures; it is its own
 * `Admission`.
 */
class AdaptiveCall extends HeldCall implements Admission {
  private state: CallState = 'waiting';
  private partition: Partition | undefined = undefined;
  start = 0;
  inFlightAtStart = 0;
  deliveredAtStart = 0;
  deliveredTimeAtStart = 0;

  constructor(
    private readonly limiter: AdaptiveLimiter,
    private readonly resolve: Resolve,
    private readonly retryAfterMs: number | 'rtt',
    private readonly call: WeftServerCall,
    private readonly stage: number,
  ) {
    super();
  }

  onReceiveMetadata(metadata: Metadata): void {
    const limiter = this.limiter;
    const context = this.call.context;
    const partition = this.resolve(context, metadata);
    const now = limiter.now();
    if (!limiter.tryAcquire(partition, now)) {
      this.state = 'done';
      this.reject(partition);
      return;
    }
    this.state = 'admitted';
    this.partition = partition;
    limiter.noteAdmission(this, now);
  }

  protected release(): void {
    if (this.state !== 'admitted') return;
    this.state = 'done';
    this.limiter.release(this.partition as Partition, this);
  }

  private reject(partition: Partition): void {
    const limiter = this.limiter;
    const context = this.call.context;
    if (signals.limitRejection.hasSubscribers) {
      signals.limitRejection.publish({
        method: context.method,
        limiter: 'concurrency',
        rule: limiter.name,
        keyClass: limiter.partitions.length === 1 ? 'global' : 'partition',
      });
    }
    // Make sure a scrape can find a limiter that sheds before any call completed.
    if (partition.rejections === 1) limiter.announce();
    const wait = this.retryAfterMs === 'rtt' ? Math.max(1, limiter.longRttMs) : this.retryAfterMs;
    this.call.sendStatusFrom(this.stage, {
      code: status.UNAVAILABLE,
      details: limiter.details,
      metadata: wait > 0 ? retryHint(wait) : null,
    });
  }
}

/** `adaptiveConcurrency()`'s defaults (see `AdaptiveConcurrencyOptions`). */
export const ADAPTIVE_CONCURRENCY_DEFAULTS: OptionDefaults<AdaptiveConcurrencyOptions, 'partitions'> =
  Object.freeze({
    name: 'adaptive',
    gradient2: GRADIENT2_DEFAULTS,
    updateInterval: 100,
    minRttProbe: MIN_RTT_PROBE_DEFAULTS,
    partitions: undefined,
    partitionBy: Object.freeze({ header: 'x-priority' }),
    retryAfterMs: 'rtt',
    now: performance.now.bind(performance),
  });

/** Setup check of `partitions`. */
function partitionShares(shares: Readonly<Record<string, number>> | undefined): string | undefined {
  if (shares === undefined) return undefined;
  let sum = 0;
  for (const [name, share] of Object.entries(shares)) {
    if (!(share >= 0 && share <= 1)) return `must give each partition a share in [0, 1] ("${name}")`;
    if (name === UNKNOWN) return `must not name "${UNKNOWN}": it is the partition of unlisted calls`;
    sum += share;
  }
  // A little slack for shares like 0.7 + 0.2 + 0.1 that do not add up to 1 in binary.
  return sum > 1 + 1e-9 ? 'must hold shares that sum to at most 1' : undefined;
}

/**
 * A server interceptor whose concurrency limit follows measured latency (Netflix's Gradient2, see
 * `gradient2.ts`): while calls complete about as fast as they usually do, the limit grows; when
 * they slow down (a queue is forming: CPU, event loop, a dependency) it shrinks, and the excess is
 * refused before the handler runs. A refusal is UNAVAILABLE with a retry hint, as Netflix's and
 * Envoy's adaptive limiters answer: the call did no work and another replica may have room, so a
 * retry elsewhere is right (RESOURCE_EXHAUSTED says the caller spent a quota of its own, which a
 * retry does not fix, and gRFC A6 clients do not retry it by default).
 *
 * Every call ending is one sample: its time from admission to status (or cancel) and the calls in
 * flight when it was admitted; the samples of each `updateInterval` update the limit once.
 * Streaming calls are samples too, so keep long-lived streams out of the limiter with `selector`.
 */
export function adaptiveConcurrency(options?: AdaptiveConcurrencyOptions): StagedServerInterceptor {
  const { name, gradient2, updateInterval, minRttProbe, partitions, partitionBy, retryAfterMs, now } =
    resolveOptions('adaptiveConcurrency', ADAPTIVE_CONCURRENCY_DEFAULTS, options, {
      updateInterval: check.nonNegative,
      partitions: partitionShares,
      retryAfterMs: (v) => (v === 'rtt' || v >= 0 ? undefined : "must be a number >= 0 or 'rtt'"),
      now: check.function,
    });
  const limiter = new AdaptiveLimiter(name, gradient2, updateInterval, minRttProbe, partitions, now);
  const resolve = partitionResolver(limiter, partitionBy);
  limiter.announce();
  return stagedInterceptor({
    start: (call, stage) => new AdaptiveCall(limiter, resolve, retryAfterMs, call, stage),
  });
}
