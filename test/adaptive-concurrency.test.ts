/**
 * adaptiveConcurrency over real sockets with the real clock: a burst far beyond what the server
 * can do, against the same server without a limit; and its state in Prometheus text through
 * signalMetrics.
 */
import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { signalMetrics } from '@weft/metrics';
import { adaptiveConcurrency } from '@weft/resilience';
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, startHarness, type TestServiceHandlers, unary } from './harness';

const BURST = 400;
const WAIT_MS = 5;
const CPU_MS = 2;

/** A handler with a fixed cost: waits (a downstream call), then burns CPU without yielding. */
let served = 0;
const costly: Partial<TestServiceHandlers> = {
  Unary(call, callback) {
    served++;
    setTimeout(() => {
      const end = performance.now() + CPU_MS;
      while (performance.now() < end) {
        // a fixed CPU cost per call
      }
      callback(null, { message: call.request.message, context: {} });
    }, WAIT_MS);
  },
};

interface Outcome {
  codes: number[];
  okLatencies: number[];
  pushbacks: string[];
}

/** `BURST` calls sent at once (open loop: nobody waits for anyone), each timed from its send. */
async function burst(harness: Harness): Promise<Outcome> {
  const results = await Promise.all(
    Array.from({ length: BURST }, async () => {
      const sent = performance.now();
      const r = await unary(harness.client, { message: 'x' });
      return { r, ms: performance.now() - sent };
    }),
  );
  return {
    codes: results.map(({ r }) => r.status.code),
    okLatencies: results.filter(({ r }) => r.status.code === grpc.status.OK).map(({ ms }) => ms),
    pushbacks: results
      .filter(({ r }) => r.status.code === grpc.status.UNAVAILABLE)
      .map(({ r }) => String(r.status.metadata.get('grpc-retry-pushback-ms')[0])),
  };
}

const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(0.99 * (xs.length - 1))] as number;
const count = (codes: number[], code: number) => codes.filter((c) => c === code).length;

describe('adaptiveConcurrency under overload (real sockets, real clock)', () => {
  let harness: Harness | undefined;
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
  });

  it('sheds a burst with UNAVAILABLE and keeps the admitted calls fast, where no limit queues them all', async () => {
    harness = await startHarness({ handlers: costly });
    await unary(harness.client, { message: 'warm-up' });
    const unlimited = await burst(harness);
    await harness.close();
    expect(count(unlimited.codes, grpc.status.OK)).toBe(BURST);

    const metrics = signalMetrics();
    try {
      harness = await startHarness({
        handlers: costly,
        serverInterceptors: [adaptiveConcurrency({ name: 'burst' })],
      });
      // The limiter first measures its baseline (limit 3 until 25 calls ended): a light warm-up.
      for (let i = 0; i < 26; i += 2) {
        const pair = [
          unary(harness.client, { message: 'warm-up' }),
          unary(harness.client, { message: 'warm-up' }),
        ];
        expect((await Promise.all(pair)).map((r) => r.status.code)).toEqual([grpc.status.OK, grpc.status.OK]);
      }
      const servedBefore = served;
      const adaptive = await burst(harness);
      const ok = count(adaptive.codes, grpc.status.OK);
      const refused = count(adaptive.codes, grpc.status.UNAVAILABLE);
      expect(ok + refused).toBe(BURST);
      // The limit is Gradient2's initial 20: most of the burst is refused, before any handler runs, so the
      // server does a fraction of the work (and of the CPU) the burst asked for.
      expect(ok).toBeGreaterThanOrEqual(20);
      expect(ok).toBeLessThanOrEqual(BURST / 4);
      expect(served - servedBefore).toBe(ok);
      for (const ms of adaptive.pushbacks) expect(Number(ms)).toBeGreaterThanOrEqual(1);
      // The admitted calls waited behind the refusals, not behind each other's work; without a
      // limit the last of the burst waited behind all of it. (Same process for client and server:
      // only the order is asserted, the margin moves with the machine's load.)
      expect(p99(adaptive.okLatencies)).toBeLessThan(p99(unlimited.okLatencies));

      const text = await metrics.registry.metrics();
      expect(text).toContain(
        `weft_adaptive_concurrency_rejections_total{limiter="burst",partition="all"} ${refused}`,
      );
      expect(text).toContain('weft_adaptive_concurrency_in_flight{limiter="burst"} 0');
      expect(text).toMatch(/weft_adaptive_concurrency_limit\{limiter="burst"\} \d+/);
      expect(text).toMatch(/weft_adaptive_concurrency_min_rtt_seconds\{limiter="burst"\} 0\.\d+/);
      // The baseline: about the handler's 5 ms wait + 2 ms CPU, measured during the warm-up.
      const baseline = Number(
        /weft_adaptive_concurrency_baseline_rtt_seconds\{limiter="burst"\} (\S+)/.exec(text)?.[1],
      );
      expect(baseline).toBeGreaterThanOrEqual((WAIT_MS + CPU_MS) / 1000);
      expect(text).toContain('weft_adaptive_concurrency_baseline_measuring{limiter="burst"} 0');
      expect(text).toContain(
        `weft_limit_rejections_total{grpc_service="weft.test.TestService",grpc_method="Unary",limiter="concurrency",rule="burst",key_class="global"} ${refused}`,
      );
    } finally {
      metrics.close();
    }
  }, 60_000); // two bursts of 400 calls and a scrape: seconds on a busy machine
});
