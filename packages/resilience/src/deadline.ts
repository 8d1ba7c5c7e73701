import {
  type Deadline,
  InterceptingCall,
  type Interceptor,
  type InterceptorOptions,
  type NextCall,
  type StatusObject,
  status,
} from '@grpc/grpc-js';
import {
  type CallContext,
  createContextKey,
  getCallContext,
  LocalClientCall,
  localStatusMetadata,
  type MethodInfo,
  methodInfo,
  type PartialStatus,
  type StagedServerInterceptor,
  type StageHooks,
  stagedInterceptor,
  type WeftServerCall,
} from '@weft/core';

/** A timeout in ms for every method, or per method (`undefined`: none for that method). */
export type MethodTimeout = number | ((method: MethodInfo) => number | undefined);

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

function timeoutFor(timeout: MethodTimeout | undefined, method: MethodInfo): number | undefined {
  const ms = typeof timeout === 'function' ? timeout(method) : timeout;
  return ms !== undefined && ms >= 0 && Number.isFinite(ms) ? Math.min(ms, MAX_TIMER_MS) : undefined;
}

/** What a `TimeoutQueue` calls when a timeout passes (the call it belongs to: no closure per call). */
interface Expirable {
  expire(): void;
}

interface QueuedTimeout {
  readonly at: number;
  target: Expirable | undefined;
  next: QueuedTimeout | undefined;
}

/**
 * Timeouts that all last `ms`: added in time order, they also expire in that order, so a FIFO list
 * with one timer for its head replaces a timer per call (a Node timer per call, an async resource
 * when async hooks are on, showed as the largest cost of this interceptor).
 */
class TimeoutQueue {
  private head: QueuedTimeout | undefined;
  private tail: QueuedTimeout | undefined;
  private timer: NodeJS.Timeout | undefined;
  private armedFor = 0;

  constructor(private readonly ms: number) {}

  /**
   * Calls `target.expire()` `ms` after `now` (the caller's `Date.now()`: one clock read per call)
   * unless the returned entry's `target` is cleared first.
   */
  add(target: Expirable, now: number): QueuedTimeout {
    const entry: QueuedTimeout = { at: now + this.ms, target, next: undefined };
    if (this.tail === undefined) this.head = entry;
    else this.tail.next = entry;
    this.tail = entry;
    if (this.timer === undefined) this.arm(entry.at);
    return entry;
  }

  /**
   * Forgets `entry`. Calls mostly end in the order they started, so dropping ended entries from the
   * head keeps the queue as long as the calls in flight: entries and their calls die young instead
   * of living a whole timeout (and being promoted to the old generation) when calls are short.
   */
  cancel(entry: QueuedTimeout): void {
    entry.target = undefined;
    let head = this.head;
    while (head !== undefined && head.target === undefined) head = head.next;
    this.head = head;
    if (head === undefined) this.tail = undefined;
  }

  private arm(at: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.armedFor = at;
    this.timer = setTimeout(this.expire, Math.max(0, at - Date.now()));
    this.timer.unref();
  }

  private readonly expire = (): void => {
    this.timer = undefined;
    const now = Date.now();
    let entry = this.head;
    while (entry !== undefined && (entry.target === undefined || entry.at <= now)) {
      const target = entry.target;
      entry.target = undefined;
      entry = entry.next;
      this.head = entry;
      target?.expire();
    }
    if (entry === undefined) this.tail = undefined;
    else if (this.timer === undefined || this.armedFor !== entry.at) this.arm(entry.at);
  };
}

export interface ServerDeadlineOptions {
  /** Deadline (ms from arrival) for calls that come without one. Default: none (they may run forever). */
  default?: MethodTimeout;
  /**
   * Longest deadline (ms from arrival) a call may have; a later one, or none, is cut to this.
   * Default: none.
   */
  max?: MethodTimeout;
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
export function serverDeadline(options: ServerDeadlineOptions = {}): StagedServerInterceptor {
  const { default: fallback, max } = options;
  // Per-method timeouts resolved once per method, not per call.
  const perMethod = new Map<string, Limits>();
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
  const limitsFor = (method: MethodInfo) => {
    let limits = perMethod.get(method.path);
    if (limits === undefined) {
      limits = { fallback: timeoutFor(fallback, method), max: timeoutFor(max, method) };
      perMethod.set(method.path, limits);
    }
    return limits;
  };

  return stagedInterceptor({
    start(call, stage) {
      const limits = limitsFor(call.context.method);
      if (limits.fallback === undefined && limits.max === undefined) return undefined;
      return new DeadlinedCall(call, stage, limits, queueFor);
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

/** One call under `serverDeadline`: imposes its deadline and ends it when it passes. */
class DeadlinedCall implements StageHooks, Expirable {
  private queue: TimeoutQueue | undefined = undefined;
  private timer: QueuedTimeout | undefined = undefined;
  constructor(
    private readonly call: WeftServerCall,
    private readonly stage: number,
    private readonly limits: Limits,
    private readonly queueFor: (ms: number) => TimeoutQueue,
  ) {}

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

  onCancel(): void {
    this.stop();
  }

  onSendStatus(partial: PartialStatus): PartialStatus {
    this.stop();
    return partial;
  }

  private stop(): void {
    if (this.timer !== undefined) this.queue?.cancel(this.timer);
    this.timer = undefined;
  }
}

export interface ClientDeadlineOptions {
  /** Deadline (ms from the call's start) for calls made without one. Default: none. */
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
}

const clientDefaults = { propagate: true, margin: 0 } as const;

/**
 * A client interceptor that sets `options.deadline` when the caller set none (from `default`) and,
 * with `propagate`, makes calls made while handling a server call inherit that call's deadline.
 * The earliest of the caller's, the default and the inherited deadline wins... except that a
 * caller's explicit deadline is never replaced by the default.
 */
export function clientDeadline(options: ClientDeadlineOptions = {}): Interceptor {
  const { default: fallback, propagate, margin } = { ...clientDefaults, ...options };
  const perMethod = new Map<string, number | undefined>();
  const fallbackFor = (path: string, options: InterceptorOptions) => {
    if (fallback === undefined) return undefined;
    if (typeof fallback === 'number') return fallback;
    if (!perMethod.has(path))
      perMethod.set(path, timeoutFor(fallback, methodInfo(options.method_definition)));
    return perMethod.get(path);
  };

  return (options: InterceptorOptions, nextCall) => {
    const own = deadlineMs(options.deadline);
    let deadline = own;
    if (!Number.isFinite(deadline)) {
      const ms = fallbackFor(options.method_definition.path, options);
      if (ms !== undefined) deadline = Date.now() + ms;
    }
    const parent = propagate ? getCallContext() : undefined;
    let inherited = false;
    if (parent !== undefined) {
      const parentDeadline = callDeadline(parent) - margin;
      if (parentDeadline < deadline) {
        deadline = parentDeadline;
        inherited = true;
      }
    }
    // Calls that cannot succeed fail here, without the network and on a macrotask (see
    // `LocalClientCall`): grpc-js fails an expired deadline on process.nextTick, and a handler that
    // loops over such calls would never yield to timers and I/O. (No clock read without a deadline.)
    if (deadline !== Number.POSITIVE_INFINITY && deadline <= Date.now()) {
      const details = inherited ? PROPAGATED_DEADLINE : 'Deadline exceeded before the call started';
      return new FailedCall({ code: status.DEADLINE_EXCEEDED, details }) as unknown as InterceptingCall;
    }
    // The incoming call ended early (its caller went away, or a deadline it was given passed).
    if (parent?.signal.aborted) return new FailedCall(abortStatus(parent)) as unknown as InterceptingCall;
    if (deadline !== own) options = { ...options, deadline };
    const call = nextCall(options);
    // Nothing to do past the start: no layer of its own (grpc-js only uses the call's interface).
    if (parent === undefined) return call as InterceptingCall;
    return cancelWithParent(call, parent);
  };
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

/** Cancels `call` when the server call it was made for ends early (client gone, deadline passed). */
function cancelWithParent(call: ReturnType<NextCall>, parent: CallContext): InterceptingCall {
  const signal = parent.signal;
  const onAbort = () => {
    const { code, details } = abortStatus(parent);
    call.cancelWithStatus(code, details);
  };
  return new InterceptingCall(call, {
    start(metadata, _listener, next) {
      next(metadata, {
        onReceiveStatus(received, statusNext) {
          signal.removeEventListener('abort', onAbort);
          statusNext(received);
        },
      });
      // An abort before this call was made failed it in `clientDeadline` already.
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    },
  });
}

export interface DeadlineOptions {
  server?: ServerDeadlineOptions;
  client?: ClientDeadlineOptions;
}

/** Both halves at once: `const { server, client } = deadline({ server: { max: 30_000 }, client: { margin: 5 } })`. */
export function deadline(options: DeadlineOptions = {}): {
  server: StagedServerInterceptor;
  client: Interceptor;
} {
  return { server: serverDeadline(options.server), client: clientDeadline(options.client) };
}
