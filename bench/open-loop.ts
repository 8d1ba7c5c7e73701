/**
 * Open-loop arrivals, for the load processes of the overload and balancing benchmarks: call `i`
 * is due `i / rate` seconds after the start whatever happened to earlier ones (a closed loop would
 * slow down with the server and hide what it measures), with a deadline counted from its due
 * time, and its latency is measured from that time too: a generator that falls behind shows up as
 * latency, never as a lower offered load.
 */
import { performance } from 'node:perf_hooks';

const TICK_MS = 2;

export interface OpenLoop {
  /** Milliseconds since call `i` was due: its latency, when it ends now. */
  sinceDue(i: number): number;
  /** How far behind schedule the generator fell at worst, in ms (large: it was starved). */
  maxLagMs(): number;
}

/** Calls `send(i, deadline)` for `i` from 0 to `total - 1`, `rate` calls a second from now. */
export function openLoop(
  rate: number,
  total: number,
  deadlineMs: number,
  send: (i: number, deadline: Date) => void,
): OpenLoop {
  const interval = 1000 / rate;
  const wallStart = Date.now();
  const start = performance.now();
  let sent = 0;
  let maxLag = 0;
  const tick = () => {
    const elapsed = performance.now() - start;
    // Everything due by now goes out now: a late tick catches up rather than lowering the rate.
    while (sent < total && sent * interval <= elapsed) {
      maxLag = Math.max(maxLag, elapsed - sent * interval);
      const i = sent++;
      send(i, new Date(wallStart + i * interval + deadlineMs));
    }
    if (sent < total) setTimeout(tick, TICK_MS);
  };
  tick();
  return {
    sinceDue: (i) => performance.now() - start - i * interval,
    maxLagMs: () => maxLag,
  };
}

/** The `p` quantile (0..1) of sorted values, NaN when there are none. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number;
}
