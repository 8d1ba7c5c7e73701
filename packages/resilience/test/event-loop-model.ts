/**
 * A second model of the overload benchmark's server (bench/overload-server.ts) on a fake clock,
 * closer to how Node runs it than test/overload-model.ts, which serves work items one at a time in
 * the order they became ready. Here the event loop runs in libuv's phases, and that order is what
 * the first model misses:
 *
 * - **timers**: Node reads the clock once (`now`, whole ms) and runs, back to back, every timer due
 *   by then: a timer that falls due while another burns its 2 ms waits for the next iteration.
 *   A timer set while admitting a call is due at `floor(admission time) + waitMs`.
 * - **poll**: every request that reached the socket since the last read is read and decided in one
 *   go (`receiveMs` each if admitted, `refuseMs` if refused: the status too). Requests arrive in
 *   clumps: the load generator sends whatever is due every `tickMs`.
 * - **check**: the responses of the iteration (answers and refusals) are written in one flush, so
 *   a call's latency at the client ends with the iteration that answered it.
 * - each iteration that did any work costs `iterationMs` on top (epoll, the read and write system
 *   calls, the HTTP/2 session): a fixed cost that many calls share when the loop is busy and
 *   each call pays alone when it is not. This is what makes the same server serve more per second
 *   of CPU with a queue than without: the bench's no-limit server used 69% of a core at 0.5x its
 *   capacity (2 ms x 233/s = 47% of it burning) and 99% at 1x (93% burning).
 *
 * The limiter is the real one (`AdaptiveLimiter`), on the model's clock.
 */
import type { Admission, Partition } from '../src/adaptive-concurrency';
import type { Gradient2Options } from '../src/gradient2';
import type { MinRttProbeOptions } from '../src/min-rtt-probe';
import { modelAdmission, modelLimiter, percentile } from './overload-model';

export interface LoopServer {
  /** The handler's timer (a downstream call), ms. */
  waitMs: number;
  /** The handler's burn, ms, plus its answer (serialising, the stream's end). */
  cpuMs: number;
  /** Reading, routing and admitting one request, ms. */
  receiveMs: number;
  /** Reading, refusing and answering one request, ms. */
  refuseMs: number;
  /** Fixed cost of a loop iteration that did any work, ms. */
  iterationMs: number;
  /** The load generator sends what is due every `tickMs`. */
  tickMs: number;
  /**
   * The call ends (the limiter's release) right after its burn, instead of when the iteration's
   * answers are written: grpc-js sends a unary call's status from the write callback of its
   * response, so the limiter sees the calls of a batch end together, after the batch.
   */
  releaseAtBurn?: boolean;
}

/**
 * Fitted to the bench's quiet runs of 2026-12-02 08:46 and 08:49 (Node 24, load average 1.4-2.2):
 * see bench/README.md, "Overload", for the fit and what it reproduces.
 */
export const BENCH_LOOP: LoopServer = {
  waitMs: 100,
  cpuMs: 2.05,
  receiveMs: 0.05,
  refuseMs: 0.025,
  iterationMs: 0.4,
  tickMs: 2.2,
};

/** A stretch of a schedule: `rate` calls per second (0: none) for `ms`. */
export interface LoopSegment {
  rate: number;
  ms: number;
}

export interface LoopRun {
  /** Calls per second offered, evenly spaced, for `durationMs`... */
  rate?: number;
  /** ...or a schedule of rates (then `durationMs` is its total); `segments` in the result. */
  schedule?: readonly LoopSegment[];
  durationMs: number;
  /** Only calls due from here on are counted. */
  measureFromMs: number;
  gradient2?: Gradient2Options;
  /** The limiter's `updateInterval`, ms. Default: the interceptor's. */
  updateInterval?: number;
  minRttProbe?: MinRttProbeOptions | false;
  /** No limiter at all. */
  unlimited?: boolean;
  /** A fixed concurrency limit instead of the adaptive one. */
  fixedLimit?: number;
  /** Client deadline, ms from the call's due time: an answer later than that is not goodput. */
  deadlineMs?: number;
  /** Called every ms of the measured part with the limit and the calls in flight. */
  trace?: (ms: number, limit: number, inFlight: number) => void;
}

export interface LoopResult {
  /** OK calls per second (answered within the deadline) among the calls due in the measured part. */
  goodput: number;
  refusedPerSecond: number;
  /** Latency at the client (due time to the flush that carried the answer) of admitted calls. */
  p50: number;
  p99: number;
  /** Share of the measured time the event loop was busy (the model has no other load: its CPU). */
  busy: number;
  /** Loop iterations that did work, per second. */
  iterationsPerSecond: number;
  limitMean: number;
  limitMin: number;
  limitMax: number;
  baselineMs: number;
  /** Mean calls in flight (admitted, not answered), sampled every ms. */
  inFlightMean: number;
  /** OK calls per second by the second they were due in, over the whole run. */
  goodputBySecond: number[];
  /** Per segment of the schedule: OK and refused calls per second, admitted p99 (ms). */
  segments: { goodput: number; refusedPerSecond: number; p99: number }[];
}

/** Due times (ms) of the calls of a run: evenly spaced at `rate`, or segment by segment. */
function dueTimes(run: LoopRun): { due: Float64Array; segmentOf: Int32Array } {
  const schedule = run.schedule ?? [{ rate: run.rate ?? 0, ms: run.durationMs }];
  const due: number[] = [];
  const segmentOf: number[] = [];
  let from = 0;
  schedule.forEach((segment, index) => {
    const n = Math.floor((segment.rate * segment.ms) / 1000);
    for (let i = 0; i < n; i++) {
      due.push(from + (i * 1000) / segment.rate);
      segmentOf.push(index);
    }
    from += segment.ms;
  });
  return { due: Float64Array.from(due), segmentOf: Int32Array.from(segmentOf) };
}

/** Runs the event-loop model; deterministic (the probe's jitter is fixed). */
export function runLoopModel(server: LoopServer, run: LoopRun): LoopResult {
  let clock = 0;
  const adaptive = !run.unlimited && run.fixedLimit === undefined;
  const limiter = adaptive ? modelLimiter(run, () => clock) : undefined;
  const partition = limiter?.partitions[0] as Partition;
  let fixedInFlight = 0;
  const { due, segmentOf } = dueTimes(run);
  const total = due.length;
  const deadline = run.deadlineMs ?? 1000;
  const admissions = new Array<Admission>(total);
  const latency = new Float64Array(total).fill(Number.NaN);
  // Timers all have the same duration, so insertion order is due order: a FIFO.
  const timerCall = new Int32Array(total);
  const timerDue = new Float64Array(total);
  let timerHead = 0;
  let timerTail = 0;
  const sentAt = (call: number) => Math.ceil((due[call] as number) / server.tickMs) * server.tickMs;
  let nextCall = 0;
  const answered: number[] = [];
  let t = 0;
  let busyMs = 0;
  let iterations = 0;
  const measureEnd = run.durationMs;
  const inMeasure = (from: number, to: number) =>
    Math.max(0, Math.min(to, measureEnd) - Math.max(from, run.measureFromMs));
  let limitSum = 0;
  let inFlightSum = 0;
  let limitN = 0;
  let limitMin = Number.POSITIVE_INFINITY;
  let limitMax = 0;
  let nextSample = run.measureFromMs;
  const sample = (until: number) => {
    while (nextSample <= until && nextSample < measureEnd) {
      const l = limiter?.limit ?? run.fixedLimit ?? Number.POSITIVE_INFINITY;
      const f = limiter?.inFlight ?? fixedInFlight;
      run.trace?.(nextSample, l, f);
      limitSum += l;
      inFlightSum += f;
      limitN++;
      limitMin = Math.min(limitMin, l);
      limitMax = Math.max(limitMax, l);
      nextSample += 1;
    }
  };
  const release = (call: number) => {
    if (limiter === undefined) fixedInFlight--;
    else limiter.release(partition, admissions[call] as Admission);
  };
  const work = (ms: number) => {
    busyMs += inMeasure(t, t + ms);
    t += ms;
    clock = t;
  };
  while (nextCall < total || timerHead < timerTail) {
    // Idle: block until the next request reaches the socket or the next timer is due.
    const nextArrival = nextCall < total ? sentAt(nextCall) : Number.POSITIVE_INFINITY;
    const nextTimer = timerHead < timerTail ? (timerDue[timerHead] as number) : Number.POSITIVE_INFINITY;
    if (nextArrival > t && nextTimer > Math.floor(t)) {
      t = Math.min(nextArrival, nextTimer);
      clock = t;
    }
    sample(t);
    let didWork = false;
    // Timers phase: `now` read once.
    const now = Math.floor(t);
    while (timerHead < timerTail && (timerDue[timerHead] as number) <= now) {
      const call = timerCall[timerHead++] as number;
      work(server.cpuMs);
      didWork = true;
      if (server.releaseAtBurn) release(call);
      answered.push(call);
    }
    // Poll phase: read every request sent by now.
    while (nextCall < total && sentAt(nextCall) <= t) {
      const call = nextCall++;
      didWork = true;
      clock = t;
      let admitted: boolean;
      if (limiter !== undefined) admitted = limiter.tryAcquire(partition, t);
      else admitted = run.fixedLimit === undefined || fixedInFlight < run.fixedLimit;
      if (!admitted) {
        work(server.refuseMs);
        continue;
      }
      if (limiter === undefined) fixedInFlight++;
      if (limiter !== undefined) admissions[call] = modelAdmission(limiter, t);
      work(server.receiveMs);
      timerCall[timerTail] = call;
      timerDue[timerTail++] = Math.floor(t) + server.waitMs;
    }
    if (!didWork) continue;
    // Check phase: one flush for the iteration's answers; the iteration's fixed cost.
    work(server.iterationMs);
    if (t >= run.measureFromMs && t < measureEnd) iterations++;
    for (const call of answered) {
      latency[call] = t - (due[call] as number);
      if (!server.releaseAtBurn) release(call);
    }
    answered.length = 0;
  }
  let ok = 0;
  let refused = 0;
  const admitted: number[] = [];
  for (let call = 0; call < total; call++) {
    if ((due[call] as number) < run.measureFromMs) continue;
    const l = latency[call] as number;
    if (Number.isNaN(l)) refused++;
    else {
      admitted.push(Math.min(l, deadline));
      if (l <= deadline) ok++;
    }
  }
  const sorted = Float64Array.from(admitted).sort();
  const goodputBySecond = new Array<number>(Math.ceil(run.durationMs / 1000)).fill(0);
  for (let call = 0; call < total; call++) {
    const l = latency[call] as number;
    if (l <= deadline) (goodputBySecond[Math.floor((due[call] as number) / 1000)] as number)++;
  }
  const segments = (run.schedule ?? [{ rate: run.rate ?? 0, ms: run.durationMs }]).map((segment, index) => {
    let segmentOk = 0;
    let segmentRefused = 0;
    const segmentAdmitted: number[] = [];
    for (let call = 0; call < total; call++) {
      if (segmentOf[call] !== index) continue;
      const l = latency[call] as number;
      if (Number.isNaN(l)) segmentRefused++;
      else {
        segmentAdmitted.push(Math.min(l, deadline));
        if (l <= deadline) segmentOk++;
      }
    }
    return {
      goodput: (segmentOk * 1000) / segment.ms,
      refusedPerSecond: (segmentRefused * 1000) / segment.ms,
      p99: percentile(Float64Array.from(segmentAdmitted).sort(), 0.99),
    };
  });
  const seconds = (run.durationMs - run.measureFromMs) / 1000;
  return {
    goodput: ok / seconds,
    refusedPerSecond: refused / seconds,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    busy: busyMs / (run.durationMs - run.measureFromMs),
    iterationsPerSecond: iterations / seconds,
    limitMean: limitSum / Math.max(1, limitN),
    limitMin,
    limitMax,
    baselineMs: (limiter?.baselineRttSeconds ?? 0) * 1000,
    inFlightMean: inFlightSum / Math.max(1, limitN),
    goodputBySecond,
    segments,
  };
}
