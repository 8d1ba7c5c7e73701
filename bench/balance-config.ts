/** Settings and messages shared by the balancing benchmark's processes (see balance.ts). */

const fromEnv = (name: string, fallback: number): number => {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, not "${value}"`);
  return n;
};

/** A fast replica holds a worker this long per call (a downstream call; a timer). WEFT_BALANCE_FAST_MS. */
export const FAST_MS = fromEnv('WEFT_BALANCE_FAST_MS', 5);
/**
 * The slow replica holds a worker this long per call, twenty times as long (long enough that it
 * rarely has no call in flight at the rates below, which is what least_request sees; see the
 * README). WEFT_BALANCE_SLOW_MS.
 */
export const SLOW_MS = fromEnv('WEFT_BALANCE_SLOW_MS', 100);
/**
 * Workers per replica (a connection pool to what the call waits on): calls beyond it queue. The
 * slow replica can so do POOL / SLOW_MS = 80 calls/s, a fast one 1600. WEFT_BALANCE_POOL.
 */
export const POOL = fromEnv('WEFT_BALANCE_POOL', 8);
/**
 * Offered calls per second, open loop: round robin sends the slow replica a third, 90/s, 1.125x
 * what it can do, while the three together could do 3280/s (8% used). WEFT_BALANCE_RATE.
 */
export const RATE = fromEnv('WEFT_BALANCE_RATE', 270);
/**
 * What the replicas report as application utilization (weighted_round_robin's divisor):
 * `pool` (default), the pool's mean usage over the report period; or loadReporting()'s own
 * `inFlight` (calls in flight at the end of the period / POOL), `cpu` or `eventLoop`, to compare
 * (see the README). WEFT_BALANCE_UTILIZATION.
 */
export const UTILIZATION = (() => {
  const value = process.env.WEFT_BALANCE_UTILIZATION || 'pool';
  if (value !== 'pool' && value !== 'inFlight' && value !== 'cpu' && value !== 'eventLoop') {
    throw new Error(`WEFT_BALANCE_UTILIZATION must be pool, inFlight, cpu or eventLoop, not "${value}"`);
  }
  return value;
})();
/** Each call's deadline, from its scheduled send time. */
export const DEADLINE_MS = 1000;
/** How often each replica measures its load and its ORCA report changes (loadReporting's updatePeriodMs). */
export const REPORT_PERIOD_MS = 500;
/** The service the replicas register in etcd; clients dial `etcd:///balance-bench`. */
export const SERVICE = 'balance-bench';
/** The metadata key consistent_hash hashes. */
export const KEY_HEADER = 'x-user-id';

/** What a measured call sends as its message; replicas count calls by message (warm-up: 'w'). */
export const MEASURED = 'm';
export const WARMUP = 'w';
export const KEYED = 'k';

/** Orchestrator -> replica. */
export type ReplicaRequest = { type: 'stats'; id: number; reset: boolean } | { type: 'stop'; id: number };

export interface ReplicaReady {
  type: 'ready';
  name: string;
  port: number;
  node: string;
}

export interface ReplicaStats {
  type: 'stats';
  id: number;
  /** Calls received since the last reset, by request message (MEASURED, WARMUP, KEYED). */
  received: Record<string, number>;
  /** Calls in the replica now: queued for a worker or holding one. */
  inReplica: number;
  /** The load report being sent now (loadReporting's current()). */
  applicationUtilization: number;
  qps: number;
}
