/**
 * The load side of the overload benchmark, in its own process: open loop. Calls are scheduled at
 * a fixed rate whatever happens to earlier ones (a closed loop would slow down with the server and
 * hide the overload), each with a deadline counted from its scheduled send time, and latency is
 * measured from that scheduled time too, so a load generator that falls behind shows up as
 * latency instead of silently lowering the offered load.
 */
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { openLoop, percentile } from './open-loop';
import { loadEchoProto } from './proto';

export interface OpenLoopRequest {
  type: 'run';
  id: number;
  port: number;
  /** Calls per second. */
  rate: number;
  seconds: number;
  deadlineMs: number;
}

export interface OpenLoopResult {
  type: 'result';
  id: number;
  offered: number;
  seconds: number;
  ok: number;
  /** Refused by admission control (UNAVAILABLE or RESOURCE_EXHAUSTED). */
  rejected: number;
  deadlineExceeded: number;
  otherErrors: number;
  /** Latency (ms from the scheduled send) of admitted calls: all but the refused ones. */
  admittedP50: number;
  admittedP99: number;
  /**
   * Median latency of the admitted calls due in the second quarter of the step, and of those due
   * in its last quarter (ms): when the server keeps up the two are about equal; when it does not,
   * its queue, and so the latency, grows through the step (overload.ts's capacity search).
   */
  secondQuarterP50: number;
  lastQuarterP50: number;
  /** How far behind schedule the generator fell at worst, in ms (large = the generator was starved). */
  maxLagMs: number;
  /** This process's CPU time (user + system) from the first send to the last answer, % of one core. */
  cpuPercent: number;
}

/** Closed loop, only to find the capacity: `concurrency` callers, each sending again on completion. */
export interface ClosedLoopRequest {
  type: 'closed';
  id: number;
  port: number;
  concurrency: number;
  seconds: number;
}

export interface ClosedLoopResult {
  type: 'closed';
  id: number;
  okPerSecond: number;
}

/** Closed loop: callers start spread over this long. */
const STAGGER_MS = 200;

type UnaryService = {
  Unary(
    r: { message: string },
    m: grpc.Metadata,
    o: grpc.CallOptions,
    cb: (e: grpc.ServiceError | null) => void,
  ): void;
};

const clients = new Map<number, grpc.Client>();

/** One channel per server (one HTTP/2 connection, as a typical client has). */
function serviceFor(port: number): UnaryService {
  let client = clients.get(port);
  if (client === undefined) {
    const proto = loadEchoProto();
    client = new proto.weft.test.TestService(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    clients.set(port, client);
  }
  return client as unknown as UnaryService;
}

function closedLoop(req: ClosedLoopRequest): Promise<ClosedLoopResult> {
  const service = serviceFor(req.port);
  const end = performance.now() + req.seconds * 1000;
  let ok = 0;
  let active = req.concurrency;
  return new Promise((resolve) => {
    const next = () => {
      if (performance.now() >= end) {
        if (--active === 0) resolve({ type: 'closed', id: req.id, okPerSecond: ok / req.seconds });
        return;
      }
      service.Unary({ message: 'x' }, new grpc.Metadata(), {}, (error) => {
        if (error === null) ok++;
        next();
      });
    };
    // Staggered starts: callers that all start at once stay in lockstep (all waiting, then all
    // burning CPU), which measures the lockstep, not the server (a third less, measured).
    for (let i = 0; i < req.concurrency; i++) setTimeout(next, (i * STAGGER_MS) / req.concurrency);
  });
}

function run(req: OpenLoopRequest): Promise<OpenLoopResult> {
  const service = serviceFor(req.port);
  const total = Math.round(req.rate * req.seconds);
  const admitted = new Float64Array(total);
  // The same latencies by due index (NaN: refused), to see whether the queue grew during the step.
  const byDue = new Float64Array(total).fill(Number.NaN);
  let nAdmitted = 0;
  let ok = 0;
  let rejected = 0;
  let deadlineExceeded = 0;
  let otherErrors = 0;
  let done = 0;
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  return new Promise((resolve) => {
    const finish = () => {
      const cpu = process.cpuUsage(cpuStart);
      const sorted = admitted.subarray(0, nAdmitted).sort();
      const quarterP50 = (q: number) =>
        percentile(
          byDue
            .slice(Math.floor((q * total) / 4), Math.floor(((q + 1) * total) / 4))
            .filter((v) => !Number.isNaN(v))
            .sort(),
          0.5,
        );
      resolve({
        type: 'result',
        id: req.id,
        offered: total,
        seconds: req.seconds,
        ok,
        rejected,
        deadlineExceeded,
        otherErrors,
        admittedP50: percentile(sorted, 0.5),
        admittedP99: percentile(sorted, 0.99),
        secondQuarterP50: quarterP50(1),
        lastQuarterP50: quarterP50(3),
        maxLagMs: loop.maxLagMs(),
        cpuPercent: (100 * (cpu.user + cpu.system)) / 1000 / (performance.now() - start),
      });
    };
    const loop = openLoop(req.rate, total, req.deadlineMs, (i, deadline) => {
      service.Unary({ message: 'x' }, new grpc.Metadata(), { deadline }, (error) => {
        const latency = loop.sinceDue(i);
        const code = error === null ? grpc.status.OK : error.code;
        if (code === grpc.status.UNAVAILABLE || code === grpc.status.RESOURCE_EXHAUSTED) rejected++;
        else {
          admitted[nAdmitted++] = latency;
          byDue[i] = latency;
          if (code === grpc.status.OK) ok++;
          else if (code === grpc.status.DEADLINE_EXCEEDED) deadlineExceeded++;
          else otherErrors++;
        }
        if (++done === total) finish();
      });
    });
  });
}

process.on('message', (m: OpenLoopRequest | ClosedLoopRequest | { type: 'stop' }) => {
  if (m.type === 'run') void run(m).then((r) => process.send?.(r));
  else if (m.type === 'closed') void closedLoop(m).then((r) => process.send?.(r));
  else {
    for (const client of clients.values()) client.close();
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
process.send?.({ type: 'ready' });
