/** Settings shared by the overload benchmark's processes (see overload.ts). */

/** The handler waits this long (a downstream call)... Override with WEFT_OVERLOAD_WAIT_MS. */
export const WAIT_MS = Number(process.env.WEFT_OVERLOAD_WAIT_MS ?? 100);
/** ...then burns this much CPU without yielding. Override with WEFT_OVERLOAD_CPU_MS. */
export const CPU_MS = Number(process.env.WEFT_OVERLOAD_CPU_MS ?? 2);

/** Limits of the static variants: "too high" never binds, "too low" binds far below capacity. */
export const STATIC_HIGH = 1000;
export const STATIC_LOW = 4;

export interface OverloadServerStats {
  type: 'stats';
  id: number;
  /** The adaptive limit (adaptive variant only). */
  limit?: number;
  minRttMs?: number;
  /** The adaptive limiter's measured baseline RTT (its minRTT probe), 0 before the first measurement. */
  baselineMs?: number;
  /** Time the adaptive limit was held for a baseline measurement with calls running, since the last stats request. */
  heldForBaselineMs?: number;
  /** Handlers started and not finished: work still queued, e.g. for calls whose deadline passed. */
  busy: number;
  /** Since the last `mark`: the server process's CPU time (user + system) per wall time, % of one core. */
  cpuPercent: number;
  /** Since the last `mark`: the event loop's utilisation (time not idle, including time the process waited for a CPU), %. */
  eluPercent: number;
  /** Since the last `mark`: the median time from handler start to its answer (the 100 ms wait, the burn, and the event loop's lag). */
  handlerP50Ms: number;
  /** Since the last `mark`, sampled every 20 ms while calls ran: the adaptive limit's mean, min and max, and the mean calls in flight. */
  limitMean?: number;
  limitMin?: number;
  limitMax?: number;
  inFlightMean?: number;
}
