/**
 * The server of the overload benchmark (`npm run bench:overload`), in its own process. Its Unary
 * handler is a typical service call: it waits `waitMs` (a downstream call, a timer here) and then
 * burns `cpuMs` of CPU (parsing, serialising, business logic) without yielding, whether or not the
 * caller is still waiting (as most handlers do). `argv[2]` picks the admission control in front.
 */
import * as grpc from '@grpc/grpc-js';
import { type AdaptiveConcurrencyState, signals } from '@weft/core';
import { adaptiveConcurrency, concurrencyLimit } from '@weft/resilience';
import { CPU_MS, type OverloadServerStats, STATIC_HIGH, STATIC_LOW, WAIT_MS } from './overload-config';
import { loadEchoProto } from './proto';

interface OverloadServerReady {
  type: 'ready';
  port: number;
}

function burn(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // spin: a fixed CPU cost per call
  }
}

function interceptorsFor(variant: string): grpc.ServerInterceptor[] {
  switch (variant) {
    case 'none':
      return [];
    case 'static-high':
      return [concurrencyLimit({ max: STATIC_HIGH, key: 'global' })];
    case 'static-low':
      return [concurrencyLimit({ max: STATIC_LOW, key: 'global' })];
    case 'adaptive':
      return [adaptiveConcurrency()];
    default:
      throw new Error(`unknown overload variant "${variant}"`);
  }
}

async function main() {
  const variant = process.argv[2] ?? 'none';
  let state: AdaptiveConcurrencyState | undefined;
  signals.adaptiveConcurrency.subscribe((s) => {
    state = s;
  });
  let busy = 0;
  // Time the adaptive limit was held for a baseline measurement while calls were running, since
  // the last stats request (polled: the bench only needs it to the tenth of a second).
  let heldMs = 0;
  // Per step (from a `mark` to the next `stats`): the adaptive limit and the calls it held in
  // flight, sampled at every poll, so a step reports what the limit was, not where it ended.
  let polls = 0;
  let limitSum = 0;
  let inFlightSum = 0;
  let limitMin = Number.POSITIVE_INFINITY;
  let limitMax = 0;
  // The handler's own time (timer wait + burn, so the event loop's lag included), per call.
  let handlerMs: number[] = [];
  let markCpu = process.cpuUsage();
  let markElu = performance.eventLoopUtilization();
  let markAt = performance.now();
  const mark = () => {
    polls = 0;
    limitSum = 0;
    inFlightSum = 0;
    limitMin = Number.POSITIVE_INFINITY;
    limitMax = 0;
    handlerMs = [];
    markCpu = process.cpuUsage();
    markElu = performance.eventLoopUtilization();
    markAt = performance.now();
    heldMs = 0;
  };
  const POLL_MS = 20;
  setInterval(() => {
    if (state?.measuringBaseline === true && busy > 0) heldMs += POLL_MS;
    if (state !== undefined && busy > 0) {
      polls++;
      limitSum += state.limit;
      inFlightSum += state.inFlight;
      limitMin = Math.min(limitMin, state.limit);
      limitMax = Math.max(limitMax, state.limit);
    }
  }, POLL_MS).unref();
  const server = new grpc.Server({ interceptors: interceptorsFor(variant) });
  const proto = loadEchoProto();
  server.addService(proto.weft.test.TestService.service, {
    Unary(call: grpc.ServerUnaryCall<{ message: string }, unknown>, callback: grpc.sendUnaryData<unknown>) {
      busy++;
      const started = performance.now();
      setTimeout(() => {
        burn(CPU_MS);
        handlerMs.push(performance.now() - started);
        callback(null, { message: call.request.message });
        busy--;
      }, WAIT_MS);
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  process.on('message', (m: { type: string; id: number }) => {
    if (m.type === 'mark') {
      mark();
      process.send?.({ type: 'marked', id: m.id });
    } else if (m.type === 'stats') {
      const elapsed = performance.now() - markAt;
      const cpu = process.cpuUsage(markCpu);
      const sorted = Float64Array.from(handlerMs).sort();
      const stats: OverloadServerStats = {
        type: 'stats',
        id: m.id,
        busy,
        cpuPercent: (100 * (cpu.user + cpu.system)) / 1000 / elapsed,
        eluPercent: 100 * performance.eventLoopUtilization(markElu).utilization,
        handlerP50Ms: sorted[Math.floor(sorted.length * 0.5)] ?? Number.NaN,
      };
      if (state !== undefined) {
        stats.limit = state.limit;
        stats.minRttMs = state.minRttSeconds * 1000;
        stats.baselineMs = state.baselineRttSeconds * 1000;
        stats.heldForBaselineMs = heldMs;
        heldMs = 0;
        if (polls > 0) {
          stats.limitMean = limitSum / polls;
          stats.limitMin = limitMin;
          stats.limitMax = limitMax;
          stats.inFlightMean = inFlightSum / polls;
        }
      }
      process.send?.(stats);
    } else if (m.type === 'stop') {
      server.forceShutdown();
      process.exit(0);
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.send?.({ type: 'ready', port } satisfies OverloadServerReady);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
