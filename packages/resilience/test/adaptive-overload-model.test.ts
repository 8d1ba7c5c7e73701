/**
 * The adaptive limiter against a model of the overload benchmark's server (test/overload-model.ts):
 * one event loop, calls that wait 100 ms and then burn 2 ms of CPU, open-loop arrivals at a multiple
 * of what the CPU can serve. Fake time, so the outcome is the algorithm's, not the machine's.
 */
import { describe, expect, it } from 'vitest';
import { BENCH_SERVER, capacityOf, ceilingAt, runModel } from './overload-model';

const capacity = capacityOf(BENCH_SERVER);
const run = (multiple: number, extra = {}) =>
  runModel(BENCH_SERVER, { rate: capacity * multiple, durationMs: 20_000, measureFromMs: 5_000, ...extra });

describe('adaptiveConcurrency on a model server under open-loop overload', () => {
  const unloaded = run(0.1);

  it('serves what the CPU can at 1.5x to 3x the capacity, its limit never falling below the calls the server completes per baseline', () => {
    for (const multiple of [1.5, 2, 3]) {
      const r = run(multiple);
      const ceiling = ceilingAt(BENCH_SERVER, capacity * multiple);
      expect(r.goodput, `goodput at ${multiple}x`).toBeGreaterThanOrEqual(0.95 * ceiling);
      // Little's law: serving `ceiling` calls/s at the 102 ms the handler takes needs about
      // ceiling x 0.102 calls in flight; Gradient2's minLimit (20) is far below that.
      expect(r.limitMin, `lowest limit at ${multiple}x`).toBeGreaterThanOrEqual(0.9 * ceiling * 0.102);
      // The price, a queue of CPU work, within issue 18's bound: 3x the unloaded p99.
      expect(r.p99, `admitted p99 at ${multiple}x`).toBeLessThanOrEqual(3 * unloaded.p99);
    }
  });

  it('with refusals as cheap as measured (about 20 us each way), serves 85% of its capacity or more from 1.5x to 3x: paced admissions, not bursts', () => {
    // Cheap refusals make the overload bursty: the calls that arrive while a batch of handlers
    // burns CPU are read together and, unpaced, refill every freed slot at once; their timers
    // expire together 100 ms later, and each call waits for the others' CPU while the CPU idles
    // between bursts (the benchmark showed handler medians of 140 ms with the CPU half idle).
    // Unpaced the model served 74-87% here, without the throughput bounds 55-59%.
    const cheap = { ...BENCH_SERVER, receiveMs: 0.02, answerMs: 0.02 };
    const cheapCapacity = capacityOf(cheap);
    for (const multiple of [1.5, 2, 2.5, 3]) {
      const r = runModel(cheap, {
        rate: cheapCapacity * multiple,
        durationMs: 20_000,
        measureFromMs: 5_000,
      });
      expect(r.goodput, `goodput at ${multiple}x`).toBeGreaterThanOrEqual(0.85 * cheapCapacity);
      expect(r.p99, `admitted p99 at ${multiple}x`).toBeLessThanOrEqual(3 * unloaded.p99);
    }
  });
});
