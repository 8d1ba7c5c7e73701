import type { Interceptor, ServerInterceptor } from '@grpc/grpc-js';
import { observeClient } from './observer';
import { recovery } from './recovery';
import { stagedInterceptor } from './server-stage';

/** Server interceptors by role; the preset puts them in order. Each is optional. */
export interface ServerPreset {
  tracing?: ServerInterceptor;
  metrics?: ServerInterceptor;
  logging?: ServerInterceptor;
  deadline?: ServerInterceptor;
  /** The workload's identity from its client certificate (`@weft/auth`'s `peerIdentity`), checked before `auth`. */
  peerIdentity?: ServerInterceptor;
  auth?: ServerInterceptor;
  rateLimit?: ServerInterceptor;
  concurrencyLimit?: ServerInterceptor;
  /** Your own interceptors, run after weft's checks and before recovery. */
  extra?: readonly ServerInterceptor[];
  /** Default `recovery()`; `false` leaves handler errors to grpc-js. */
  recovery?: ServerInterceptor | false;
}

/** Client interceptors by role; the preset puts them in order. Each is optional. */
export interface ClientPreset {
  tracing?: Interceptor;
  metrics?: Interceptor;
  logging?: Interceptor;
  deadline?: Interceptor;
  retry?: Interceptor;
  /**
   * Metrics per attempt (e.g. `grpcOtelClientMetrics(...).attempt` from @weft/metrics), placed
   * inside retry so each attempt it makes is seen.
   */
  attemptMetrics?: Interceptor;
  circuitBreaker?: Interceptor;
  /** Adaptive client-side throttling (`clientThrottle()`): below the breaker, per attempt. */
  throttle?: Interceptor;
  /** Your own interceptors, run per attempt, before the credentials are attached. */
  extra?: readonly Interceptor[];
  auth?: Interceptor;
}

/**
 * Orders server interceptors, outermost first (grpc-js hands requests to `interceptors[0]` first):
 * 1. tracing: the span covers everything below, so rejections are traced and every log line and
 *    exemplar carries the trace id;
 * 2. metrics and 3. logging: they see every call, rejected ones included, with final status codes;
 * 4. deadline: an absurd deadline is capped before any work is spent on the call;
 * 5. peer identity (mTLS): the workload is known before the end user's token is looked at, so
 *    a method whose policy accepts `either` credential, or needs `both`, can be decided by auth;
 * 6. auth (JWT): before limits, because per-subject limits key on the verified subject (the
 *    token's `sub` replaces the workload identity peer identity put there);
 * 7. rate limit, 8. concurrency limit, then your `extra` interceptors;
 * 9. recovery, innermost, so the INTERNAL it makes of a thrown error is what metrics and logs see.
 * Neighbouring weft interceptors fold into one grpc-js layer (their stages run in this order; an
 * observer-based one, such as tracing, metrics or logging, is one stage per observer): an
 * interceptor of your own in `extra` splits the layer in two, nothing else changes.
 */
export function serverInterceptors(preset: ServerPreset): ServerInterceptor[] {
  const ordered = [
    preset.tracing,
    preset.metrics,
    preset.logging,
    preset.deadline,
    preset.peerIdentity,
    preset.auth,
    preset.rateLimit,
    preset.concurrencyLimit,
    ...(preset.extra ?? []),
    preset.recovery === false ? undefined : (preset.recovery ?? recovery()),
  ];
  return fold(ordered, 'stages', stagedInterceptor);
}

/**
 * Orders client interceptors, outermost first: tracing, metrics and logging see one logical call
 * (retries show up as weft's own retry signals, as in grpc-go where retries sit under interceptors);
 * deadline sets the one deadline all attempts share; retry starts each attempt below it;
 * attempt metrics see each attempt (a breaker's fast failure included); the circuit breaker judges
 * each attempt; the throttle counts each attempt the breaker let through (so the breaker sees its
 * local refusals, marked `x-weft-local`, and does not count them); credentials are attached last
 * so every attempt gets a current token.
 */
export function clientInterceptors(preset: ClientPreset): Interceptor[] {
  const ordered = [
    preset.tracing,
    preset.metrics,
    preset.logging,
    preset.deadline,
    preset.retry,
    preset.attemptMetrics,
    preset.circuitBreaker,
    preset.throttle,
    ...(preset.extra ?? []),
    preset.auth,
  ];
  return fold(ordered, 'observers', observeClient);
}

/**
 * Merges runs of neighbouring interceptors that carry parts under `key` (observers, stages) into one
 * built by `merge`: fewer grpc-js layers and fewer per-call objects.
 */
function fold<I, P>(
  list: readonly (I | undefined)[],
  key: 'observers' | 'stages',
  merge: (...parts: P[]) => I,
): I[] {
  const out: I[] = [];
  let run: P[] | undefined;
  let single: I | undefined;
  const flush = () => {
    // A run of one stays as it was (no new interceptor, no copy of its parts).
    if (run !== undefined) out.push(single ?? merge(...run));
    run = undefined;
    single = undefined;
  };
  for (const interceptor of list) {
    if (interceptor === undefined) continue;
    const parts = (interceptor as Partial<Record<typeof key, readonly P[]>>)[key];
    if (parts !== undefined) {
      single = run === undefined ? interceptor : undefined;
      run ??= [];
      run.push(...parts);
    } else {
      flush();
      out.push(interceptor);
    }
  }
  flush();
  return out;
}
