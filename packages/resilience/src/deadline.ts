import type { Deadline, Interceptor, Metadata, StatusObject } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import {
  type CallContext,
  type ClientCall,
  type ClientCallListener,
  check,
  createContextKey,
  defineClientInterceptor,
  ForwardingClientCall,
  getCallContext,
  INFRASTRUCTURE_STREAMS,
  LocalClientCall,
  localStatusMetadata,
  lookupByMethod,
  MethodCache,
  type MethodInfo,
  type MethodKey,
  type MethodMatcher,
  type PartialStatus,
  resolveOptions,
  type StagedServerInterceptor,
  stagedInterceptor,
  toPredicate,
  type WeftServerCall,
} from '@weft/core';
import { HeldCall } from './held-call';
import {
  type LatencyTimeoutOptions,
  type LatencyWindow,
  latencyWindowFor,
  measures,
  resolveLatencyTimeout,
} from './latency-timeout';
import type { OptionDefaults } from './option-defaults';
import { type Expirable, type QueuedTimeout, TimeoutQueue } from './timeout-queue';

/**
 * A timeout in ms: one for every method, a table keyed by method (`package.Service/Method`, its
 * path, `package.Service` or `*`; the most specific key wins, see `lookupByMethod` in `@weft/core`),
 * or a function of the method. A method the table or function leaves out (`undefined`) has none.
 */
export type MethodTimeout =
  | number
  | Readonly<Record<MethodKey, number>>
  | ((method: MethodInfo) => number | undefined);

/** Where `serverDeadline` records a deadline it imposed, for `callDeadline` and `clientDeadline`. */
const imposedKey = createContextKey<number>('weft.deadline');

/** A deadline as epoch milliseconds; `Infinity` for none. */
export function deadlineMs(deadline: Deadline | undefined): number {
  if (deadline === undefined) return Number.POSITIVE_INFINITY;
  return deadline instanceof Date ? deadline.getTime() : deadline;
}

/**
 * The deadline (epoch ms, `Infinity` for none) a server call must finish by: the client's, or a
 * shorter one `serverDeadline` imposed. This is the deadline outgoing calls inherit.
 */
export function callDeadline(context: CallContext): number {
  const own = deadlineMs(context.deadline);
  const imposed = context.get(imposedKey);
  return imposed !== undefined && imposed < own ? imposed : own;
}

/** The reason `CallContext.signal` aborts with when a deadline passes. */
export class DeadlineExceededError extends Error {
  constructor(message = 'Deadline exceeded') {
    super(message);
    this.name = 'DeadlineExceededError';
  }
}

/** Node fires longer timers after 1 ms; no deadline needs more than ~24.8 days. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A usable timeout (ms), at most `MAX_TIMER_MS`, or `undefined`. */
function clampTimeout(ms: number | undefined): number | undefined {
  return ms !== undefined && ms >= 0 && Number.isFinite(ms) ? Math.min(ms, MAX_TIMER_MS) : undefined;
}

function timeoutFor(timeout: MethodTimeout | undefined, method: MethodInfo): number | undefined {
  if (typeof timeout === 'function') return clampTimeout(timeout(method));
  return clampTimeout(typeof timeout === 'object' ? lookupByMethod(timeout, method) : timeout);
}

/** Setup check of a `MethodTimeout`. */
function methodTimeout(value: MethodTimeout | undefined): string | undefined {
  if (value === undefined || typeof value === 'function') return undefined;
  if (typeof value === 'number') return check.nonNegative(value);
  if (typeof value !== 'object' || value === null) return 'must be a number, a table by method or a function';
  for (const ms of Object.values(value)) {
    if (check.nonNegative(ms) !== undefined) return 'must map methods to numbers >= 0';
  }
  return undefined;
}

/** `serverDeadline()`'s defaults: no default deadline, no cap, the infrastructure streams exempt. */
export const SERVER_DEADLINE_DEFAULTS: OptionDefaults<ServerDeadlineOptions, 'default' | 'max'> =
  Object.freeze({ default: undefined, max: undefined, exempt: INFRASTRUCTURE_STREAMS });

export interface ServerDeadlineOptions {
  /** Deadline (ms from arrival) for calls that come without one. Default: none (they may run forever). */
  default?: MethodTimeout;
  /**
   * Longest deadline (ms from arrival) a call may have; a later one, or none, is cut to this.
   * Default: none.
   */
  max?: MethodTimeout;
  /**
   * Methods neither `default` nor `max` applies to: streams that stay open for as long as their
   * client watches. Default `INFRASTRUCTURE_STREAMS` of `@weft/core` (gRPC health's `Watch`, ORCA's
   * `StreamCoreMetrics`): a load balancer holds them without a deadline, and cutting them cuts
   * its health and load information. `[]` exempts nothing.
   */
  exempt?: MethodMatcher;
}

/**
 * A server interceptor that gives calls without a deadline a default one and caps the deadline a
 * client may ask for. When such a deadline passes, the call's context is cancelled (the handler's
 * `getCallContext().signal` aborts with a `DeadlineExceededError`) and the client gets
 * DEADLINE_EXCEEDED; whatever the handler sends afterwards is dropped. The imposed deadline is what
 * `callDeadline(ctx)`, `call.getDeadline()` in the handler and `clientDeadline` propagation see.
 *
 * Put it after metrics and logging (as `serverInterceptors` does) so they see the status it sends.
 * Deadlines the client set and that are within `max` are left to grpc-js.
 */
export function serverDeadline(options?: ServerDeadlineOptions): StagedServerInterceptor {
  const {
    default: fallback,
    max,
    exempt,
  } = resolveOptions('serverDeadline', SERVER_DEADLINE_DEFAULTS, options, {
    default: methodTimeout,
    max: methodTimeout,
  });
  // An option beside `selector` (the one way to pick methods) because the default must cover the
  // infrastructure streams a user may not know the server has; their own choices go through `selector`.
  const isExempt = toPredicate(exempt);
  // Per-method timeouts resolved once per method, not per call.
  const limits = new MethodCache<Limits>((method) =>
    isExempt(method) ? NO_LIMITS : { fallback: timeoutFor(fallback, method), max: timeoutFor(max, method) },
  );
  // One queue per duration: every deadline this interceptor imposes is now + fallback or now + max.
  const queues = new Map<number, TimeoutQueue>();
  const queueFor = (ms: number) => {
    let queue = queues.get(ms);
    if (queue === undefined) {
      queue = new TimeoutQueue(ms);
      queues.set(ms, queue);
    }
    return queue;
  };

  return stagedInterceptor({
    start(call, stage) {
      const own = limits.get(call.context.method);
      if (own.fallback === undefined && own.max === undefined) return undefined;
      return new DeadlinedCall(call, stage, own, queueFor);
    },
  });
}

const DEADLINE_EXCEEDED: PartialStatus = Object.freeze({
  code: status.DEADLINE_EXCEEDED,
  details: 'Deadline exceeded',
  metadata: null,
});

/** A method's timeouts (ms) under `serverDeadline`, resolved once per method. */
interface Limits {
  readonly fallback: number | undefined;
  readonly max: number | undefined;
}

const NO_LIMITS: Limits = Object.freeze({ fallback: undefined, max: undefined });

/** One call under `serverDeadline`: imposes its deadline and ends it when it passes. */
class DeadlinedCall extends HeldCall implements Expirable {
  private queue: TimeoutQueue | undefined = undefined;
  private timer: QueuedTimeout | undefined = undefined;
  constructor(
    private readonly call: WeftServerCall,
    private readonly stage: number,
    private readonly limits: Limits,
    private readonly queueFor: (ms: number) => TimeoutQueue,
  ) {
    super();
  }

  onReceiveMetadata(): void {
    const { call, limits } = this;
    const now = Date.now();
    const own = deadlineMs(call.getDeadline());
    let timeout: number | undefined;
    if (!Number.isFinite(own) && limits.fallback !== undefined) timeout = limits.fallback;
    if (limits.max !== undefined && (timeout ?? own - now) > limits.max) timeout = limits.max;
    if (timeout === undefined) return;
    const imposed = now + timeout;
    call.context.set(imposedKey, imposed);
    // Inner stages and the handler asking `call.getDeadline()` see the imposed deadline.
    call.deadline = imposed;
    this.queue = this.queueFor(timeout);
    this.timer = this.queue.add(this, now);
  }

  expire(): void {
    this.timer = undefined;
    const { call } = this;
    const context = call.context;
    if (context.statusSent || context.cancelled) return;
    // From here on the handler's answers are dropped, including one it sends from an abort listener.
    call.silenceDownstream();
    context.cancel(new DeadlineExceededError());
    call.sendStatusFrom(this.stage, DEADLINE_EXCEEDED);
  }

  protected release(): void {
    if (this.timer !== undefined) this.queue?.cancel(this.timer);
    this.timer = undefined;
  }
}

export interface ClientDeadlineOptions {
  /**
   * Deadline (ms from the call's start) for calls made without one; with `fromLatency`, for a
   * method's calls until its latency is known. Default: none.
   */
  default?: MethodTimeout;
  /**
   * Inside a server call (a handler, or code it runs), give outgoing calls the incoming call's
   * remaining deadline (minus `margin`), unless the caller set a shorter one, and cancel them when
   * the incoming call is cancelled. Default `true`. Needs weft's async context (the default) to
   * find the incoming call; see `setAsyncContext` in `@weft/core`.
   */
  propagate?: boolean;
  /**
   * Taken off an inherited deadline (ms), so the downstream call fails first and the handler still
   * has time to answer its own caller. Default `0`.
   */
  margin?: number;
  /**
   * Timeouts from measured latency: a unary call made without a deadline gets `factor` x the
   * `percentile` of its method's recent latencies, within `[min, max]`, once `minSamples` calls of
   * the method were measured (`default` until then). `true` for the defaults
   * (`LATENCY_TIMEOUT_DEFAULTS`: p99 x 2 of the last 256 calls, at least 10 ms, after 20 calls).
   * Default `false`.
   */
  fromLatency?: LatencyTimeoutOptions | boolean;
}

/** `clientDeadline()`'s defaults (see `ClientDeadlineOptions`). */
export const CLIENT_DEADLINE_DEFAULTS: OptionDefaults<ClientDeadlineOptions, 'default'> = Object.freeze({
  default: undefined,
  propagate: true,
  margin: 0,
  fromLatency: false,
});

/** A method's state under `clientDeadline`, when it needs one (per-method `default`, `fromLatency`). */
interface MethodDeadline {
  /** The method's `default` (ms). */
  readonly fallback: number | undefined;
  /** Its latencies, when `fromLatency` covers it. */
  readonly latency: LatencyWindow | undefined;
}

/**
 * A client interceptor that sets `options.deadline` when the caller set none (from `default`, or
 * from measured latency with `fromLatency`) and, with `propagate`, makes calls made while handling a
 * server call inherit that call's deadline. The earliest of the caller's, the default (or measured)
 * and the inherited deadline wins... except that a caller's explicit deadline is never replaced by
 * the default or the measured one. A call may change `default`, `propagate`, `margin` and
 * `fromLatency` for itself with the `weftDeadline` call option.
 *
 * With `fromLatency`, latency is measured here, per call: under the client preset (deadline above
 * retry) one call's latency includes its retries and backoff, as the one deadline covers them all.
 */
export function clientDeadline(options?: ClientDeadlineOptions): Interceptor {
  const resolved = resolveOptions('clientDeadline', CLIENT_DEADLINE_DEFAULTS, options, {
    default: methodTimeout,
    margin: check.nonNegative,
    fromLatency: (value) =>
      value === undefined || typeof value === 'boolean' || check.object(value) === undefined
        ? undefined
        : 'must be true, false or an object',
  });
  const fallback = resolved.default;
  const fromLatency =
    resolved.fromLatency === false
      ? undefined
      : resolveLatencyTimeout('clientDeadline fromLatency', resolved.fromLatency);
  const now = fromLatency?.now;
  // One lookup per call for everything per method: the default and the latency window.
  const methods =
    typeof fallback === 'object' || typeof fallback === 'function' || fromLatency !== undefined
      ? new MethodCache<MethodDeadline>((method) => ({
          fallback: timeoutFor(fallback, method),
          latency: fromLatency === undefined ? undefined : latencyWindowFor(fromLatency, method),
        }))
      : undefined;
  const fixed = clampTimeout(typeof fallback === 'number' ? fallback : undefined);

  return defineClientInterceptor((options, nextCall) => {
    const perCall = options.weftDeadline;
    const method = methods?.get(options.method_definition);
    const latency = perCall?.fromLatency === false ? undefined : method?.latency;
    const own = deadlineMs(options.deadline);
    let deadline = own;
    if (!Number.isFinite(deadline)) {
      const ms =
        perCall?.timeout !== undefined
          ? clampTimeout(perCall.timeout)
          : (latency?.timeout ?? (method === undefined ? fixed : method.fallback));
      if (ms !== undefined) deadline = Date.now() + ms;
    }
    const parent = (perCall?.propagate ?? resolved.propagate) ? getCallContext() : undefined;
    let inherited = false;
    if (parent !== undefined) {
      const parentDeadline = callDeadline(parent) - (perCall?.margin ?? resolved.margin);
      if (parentDeadline < deadline) {
        deadline = parentDeadline;
        inherited = true;
      }
    }
    // Calls that cannot succeed fail here, without the network and on a macrotask (see
    // `LocalClientCall`): grpc-js fails an expired deadline on process.nextTick, and a handler that
    // loops over such calls would never yield to timers and I/O. (No clock read without a deadline.)
    // Not measured: they say nothing about the method.
    if (deadline !== Number.POSITIVE_INFINITY && deadline <= Date.now()) {
      const details = inherited ? PROPAGATED_DEADLINE : 'Deadline exceeded before the call started';
      return new FailedCall({ code: status.DEADLINE_EXCEEDED, details });
    }
    // The incoming call ended early (its caller went away, or a deadline it was given passed).
    if (parent?.signal.aborted) return new FailedCall(abortStatus(parent));
    if (deadline !== own) options = { ...options, deadline };
    const call = nextCall(options);
    // Nothing to do past the start: no layer of its own.
    if (parent === undefined && latency === undefined) return call;
    return new DeadlineCall(call, parent, latency, now);
  });
}

const PROPAGATED_DEADLINE = 'Deadline exceeded (propagated)';

/** A cancel of the incoming call this close to its deadline (ms) is the deadline's. */
const DEADLINE_SLACK_MS = 20;

/**
 * The status an outgoing call ends with when the incoming call it serves ended early. grpc-js ends
 * a call at its deadline by cancelling it, and its timer may fire a few ms before `Date.now()`
 * reaches the deadline: such a cancel is the deadline passing, not the caller going away.
 */
function abortStatus(parent: CallContext): { code: status; details: string } {
  return parent.signal.reason instanceof DeadlineExceededError ||
    Date.now() + DEADLINE_SLACK_MS >= deadlineMs(parent.deadline)
    ? { code: status.DEADLINE_EXCEEDED, details: PROPAGATED_DEADLINE }
    : { code: status.CANCELLED, details: 'Cancelled because the incoming call was cancelled' };
}

/**
 * A call failed before it started, without the network; on a macrotask (see `LocalClientCall`).
 * Marked local (`x-weft-local: deadline`, or `cancelled` when the incoming call was cancelled).
 */
class FailedCall extends LocalClientCall {
  constructor(private readonly failed: { code: status; details: string }) {
    super();
  }
  protected failure(): StatusObject {
    const reason = this.failed.code === status.DEADLINE_EXCEEDED ? 'deadline' : 'cancelled';
    return { ...this.failed, metadata: localStatusMetadata(reason) };
  }
}

/**
 * An outgoing call under `clientDeadline` that needs a layer: cancelled when the server call it was
 * made for ends early (client gone, deadline passed), and/or measured for its method's latency
 * window. One class for both, so a call has one object here, not two.
 */
class DeadlineCall extends ForwardingClientCall {
  /** When the call started, by `now` (only when measured). */
  private readonly started: number;
  constructor(
    call: ClientCall,
    private readonly parent: CallContext | undefined,
    private readonly latency: LatencyWindow | undefined,
    private readonly now: (() => number) | undefined,
  ) {
    super(call);
    this.started = latency !== undefined && now !== undefined ? now() : 0;
  }

  override start(metadata: Metadata, listener?: ClientCallListener): void {
    super.start(metadata, listener);
    const signal = this.parent?.signal;
    if (signal === undefined) return;
    // An abort before this call was made failed it in `clientDeadline` already.
    if (signal.aborted) this.handleEvent();
    else signal.addEventListener('abort', this, { once: true });
  }

  /** The parent's `abort` event (this object is its listener: no closure per call). */
  handleEvent(): void {
    if (this.parent === undefined) return;
    const { code, details } = abortStatus(this.parent);
    this.call.cancelWithStatus(code, details);
  }

  override onReceiveStatus(received: StatusObject): void {
    this.parent?.signal.removeEventListener('abort', this);
    const { latency, now } = this;
    if (latency !== undefined && now !== undefined) {
      const elapsed = now() - this.started;
      if (measures(received.code, received.metadata, elapsed, latency)) latency.record(elapsed);
    }
    super.onReceiveStatus(received);
  }
}

export interface DeadlineOptions {
  server?: ServerDeadlineOptions;
  client?: ClientDeadlineOptions;
}

/** `deadline()`'s defaults: each half with its own defaults. */
export const DEADLINE_DEFAULTS: OptionDefaults<DeadlineOptions, 'server' | 'client'> = Object.freeze({
  server: undefined,
  client: undefined,
});

/** Both halves at once: `const { server, client } = deadline({ server: { max: 30_000 }, client: { margin: 5 } })`. */
export function deadline(options?: DeadlineOptions): {
  server: StagedServerInterceptor;
  client: Interceptor;
} {
  const { server, client } = resolveOptions('deadline', DEADLINE_DEFAULTS, options);
  return { server: serverDeadline(server), client: clientDeadline(client) };
}
