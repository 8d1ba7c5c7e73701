/**
 * A model of the overload benchmark's server (bench/overload-server.ts) on a fake clock, to drive
 * the adaptive limiter's arithmetic through seconds of overload in milliseconds of test time, with
 * nothing else on the machine deciding the outcome.
 *
 * One event loop (one CPU) runs work items one at a time in the order they became ready:
 * - an arriving call costs `receiveMs` (grpc-js reading and routing it, the interceptor's
 *   decision); a refused one also costs `answerMs` (its status) right there;
 * - an admitted call's handler waits `waitMs` (a timer: a downstream call), then its timer item
 *   costs `cpuMs + answerMs` (the burn, the response) and the call ends: the limiter's sample.
 * Calls arrive open-loop at `rate` per second, evenly spaced. A call's latency is measured from its
 * arrival, as the bench's load generator measures it; the limiter sees admission to answer.
 *
 * Capacity is what the CPU can serve with nothing refused: `1000 / (receiveMs + cpuMs + answerMs)`
 * calls per second (its admission control is then free). Past it the no-limit server's queue grows
 * without bound.
 */
import {
  ADAPTIVE_CONCURRENCY_DEFAULTS,
  AdaptiveLimiter,
  type Admission,
  type Partition,
} from '../src/adaptive-concurrency';
import type { Gradient2Options } from '../src/gradient2';
import type { MinRttProbeOptions } from '../src/min-rtt-probe';

export interface ModelServer {
  waitMs: number;
  cpuMs: number;
  receiveMs: number;
  answerMs: number;
}

/** The bench's handler: waits 100 ms, burns 2 ms; grpc-js's own cost about 0.1 ms per call each way. */
export const BENCH_SERVER: ModelServer = { waitMs: 100, cpuMs: 2, receiveMs: 0.1, answerMs: 0.1 };

export const capacityOf = (s: ModelServer): number => 1000 / (s.receiveMs + s.cpuMs + s.answerMs);

/**
 * The most calls per second the CPU can serve while `rate` calls per second arrive: every call
 * costs `receiveMs + answerMs`, a served one `cpuMs` more, and a second has 1000 ms of CPU. What
 * a perfect admission control would serve; past capacity the refusals' cost lowers it.
 */
export const ceilingAt = (s: ModelServer, rate: number): number =>
  Math.min(rate, (1000 - rate * (s.receiveMs + s.answerMs)) / s.cpuMs);

export interface ModelRun {
  /** Calls per second offered. */
  rate: number;
  /** How long calls arrive, ms; calls still running at the end are finished (and counted). */
  durationMs: number;
  /** The part of the run counted in the result (after warm-up), ms from the start. */
  measureFromMs: number;
  gradient2?: Gradient2Options;
  /** The limiter's `updateInterval`, ms. Default: the interceptor's. */
  updateInterval?: number;
  minRttProbe?: MinRttProbeOptions | false;
  /** No limiter at all. */
  unlimited?: boolean;
  /** Called every ms of the measured part with the limit and the calls in flight. */
  trace?: (ms: number, limit: number, inFlight: number) => void;
}

export interface ModelResult {
  /** Calls per second answered OK among the calls that arrived in the measured part. */
  goodput: number;
  refusedPerSecond: number;
  /** Latency (arrival to answer) of the admitted calls that arrived in the measured part. */
  p50: number;
  p99: number;
  /** The limit, sampled every ms over the measured part. */
  limitMean: number;
  limitMin: number;
  limitMax: number;
  baselineMs: number;
}

interface Item {
  ready: number;
  seq: number;
  /** The call: an arrival is its admission decision, a timer its burn and answer. */
  kind: 'arrival' | 'timer';
  call: number;
}

/** A binary min-heap of items by (ready, seq). */
class Queue {
  private readonly items: Item[] = [];
  get size(): number {
    return this.items.length;
  }
  push(item: Item): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(a[i] as Item, a[parent] as Item)) break;
      [a[i], a[parent]] = [a[parent] as Item, a[i] as Item];
      i = parent;
    }
  }
  peek(): Item | undefined {
    return this.items[0];
  }
  pop(): Item {
    const a = this.items;
    const top = a[0] as Item;
    const last = a.pop() as Item;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && before(a[l] as Item, a[m] as Item)) m = l;
        if (r < a.length && before(a[r] as Item, a[m] as Item)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m] as Item, a[i] as Item];
        i = m;
      }
    }
    return top;
  }
}

const before = (x: Item, y: Item) => x.ready < y.ready || (x.ready === y.ready && x.seq < y.seq);

export function percentile(sorted: ArrayLike<number>, p: number): number {
  return sorted.length === 0
    ? Number.NaN
    : (sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number);
}

/** The adaptive limiter a model drives: one partition, the model's clock, the probe's jitter fixed. */
export function modelLimiter(
  options: {
    gradient2?: Gradient2Options;
    updateInterval?: number;
    minRttProbe?: MinRttProbeOptions | false;
  },
  now: () => number,
): AdaptiveLimiter {
  return new AdaptiveLimiter(
    'model',
    options.gradient2 ?? {},
    options.updateInterval ?? ADAPTIVE_CONCURRENCY_DEFAULTS.updateInterval,
    options.minRttProbe ?? {},
    undefined,
    now,
    () => 0.5,
  );
}

/** What a call the model's limiter just admitted at `now` carries to its release. */
export function modelAdmission(limiter: AdaptiveLimiter, now: number): Admission {
  const admission = { start: 0, inFlightAtStart: 0, deliveredAtStart: 0, deliveredTimeAtStart: 0 };
  limiter.noteAdmission(admission, now);
  return admission;
}

/** Runs the model server under `run` with `server`'s costs; deterministic (the probe's jitter is fixed). */
export function runModel(server: ModelServer, run: ModelRun): ModelResult {
  let clock = 0;
  const limiter = run.unlimited ? undefined : modelLimiter(run, () => clock);
  const partition = limiter?.partitions[0] as Partition;
  const interval = 1000 / run.rate;
  const total = Math.floor(run.durationMs / interval);
  const admissions = new Array<Admission>(total);
  const queue = new Queue();
  let seq = 0;
  // Arrivals are pushed lazily, one ahead, so the heap holds timers and the next arrival only.
  let nextArrival = 0;
  const pushArrival = () => {
    if (nextArrival < total)
      queue.push({ ready: nextArrival * interval, seq: seq++, kind: 'arrival', call: nextArrival++ });
  };
  pushArrival();
  let cpuFree = 0;
  let ok = 0;
  let refused = 0;
  const latencies: number[] = [];
  const measuredCalls = total - Math.ceil(run.measureFromMs / interval);
  const measured = (call: number) => call * interval >= run.measureFromMs;
  let limitSum = 0;
  let limitN = 0;
  let limitMin = Number.POSITIVE_INFINITY;
  let limitMax = 0;
  let nextLimitSample = run.measureFromMs;
  const sampleLimit = (until: number) => {
    if (limiter === undefined) return;
    while (nextLimitSample <= until && nextLimitSample < run.durationMs) {
      const l = limiter.limit;
      run.trace?.(nextLimitSample, l, limiter.inFlight);
      limitSum += l;
      limitN++;
      limitMin = Math.min(limitMin, l);
      limitMax = Math.max(limitMax, l);
      nextLimitSample += 1;
    }
  };
  while (queue.size > 0) {
    const item = queue.pop();
    if (item.kind === 'arrival') pushArrival();
    const start = Math.max(item.ready, cpuFree);
    sampleLimit(start);
    clock = start;
    const call = item.call;
    if (item.kind === 'arrival') {
      const admitted = limiter === undefined || limiter.tryAcquire(partition, start);
      if (!admitted) {
        cpuFree = start + server.receiveMs + server.answerMs;
        if (measured(call)) refused++;
        continue;
      }
      cpuFree = start + server.receiveMs;
      if (limiter !== undefined) admissions[call] = modelAdmission(limiter, start);
      queue.push({ ready: cpuFree + server.waitMs, seq: seq++, kind: 'timer', call });
    } else {
      cpuFree = start + server.cpuMs + server.answerMs;
      clock = cpuFree;
      limiter?.release(partition, admissions[call] as Admission);
      if (measured(call)) {
        ok++;
        latencies.push(cpuFree - call * interval);
      }
    }
  }
  latencies.sort((a, b) => a - b);
  const seconds = (measuredCalls * interval) / 1000;
  return {
    goodput: ok / seconds,
    refusedPerSecond: refused / seconds,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    limitMean: limitSum / Math.max(1, limitN),
    limitMin,
    limitMax,
    baselineMs: (limiter?.baselineRttSeconds ?? 0) * 1000,
  };
}
