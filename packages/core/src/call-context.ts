import { AsyncLocalStorage } from 'node:async_hooks';
import type { Deadline, Metadata } from '@grpc/grpc-js';
import type { MethodInfo } from './method-info';

/** A typed key for values that interceptors store on a call (like OpenTelemetry's context keys). */
export interface ContextKey<T> {
  readonly description: string;
  /** Type carrier only; never set. */
  readonly __type?: T;
}

export function createContextKey<T>(description: string): ContextKey<T> {
  return Object.freeze({ description });
}

/**
 * The authenticated subject of the call, written by the authentication layers (`@weft/auth`'s
 * `peerIdentity` writes the workload, `jwtAuth` then the end user's `sub`) and read by layers that key on the caller (rate limits), so neither imports the other.
 */
export const subjectKey: ContextKey<string> = createContextKey<string>('weft.subject');

/** Fields every log line of the call carries (trace ids, subject...), added by the interceptors that know them. */
export type LogFields = Record<string, string | number | boolean>;

/** The transport facts of a server call that weft reads lazily (a grpc-js `ServerInterceptingCallInterface`). */
export interface ServerCallHandle {
  getPeer(): string;
  getDeadline(): Deadline;
  /** The socket's addresses, read once per call by grpc-js itself (absent in older grpc-js). */
  getConnectionInfo?(): { remoteAddress?: string; remotePort?: number };
}

/**
 * Per-call state shared by weft's interceptors and visible to the handler through
 * `getCallContext()`. One object per server call, created by the first weft interceptor to see it.
 */
export class CallContext {
  /** Incoming request metadata, as the handler will see it (after interceptors stripped or added keys). */
  metadata: Metadata | undefined;
  /** `performance.now()` when the call reached the first weft interceptor. */
  readonly startTime: number;
  private values: Map<ContextKey<unknown>, unknown> | undefined;
  private fields: LogFields | undefined;
  private moreFields: LogFields[] | undefined;
  private controller: AbortController | undefined;
  /**
   * How the call ended, its one end state: `undefined` while it is live, `STATUS_SENT` once a status
   * went out through a weft layer, else the reason it was cancelled. The first of the two wins.
   */
  private ending: unknown = undefined;

  constructor(
    readonly method: MethodInfo,
    private readonly call: ServerCallHandle,
  ) {
    this.startTime = performance.now();
  }

  get<T>(key: ContextKey<T>): T | undefined {
    return this.values?.get(key) as T | undefined;
  }

  set<T>(key: ContextKey<T>, value: T): void {
    if (this.values === undefined) this.values = new Map();
    this.values.set(key, value);
  }

  /**
   * Adds fields to every log line written for this call (logging interceptor, handler loggers).
   * The object is kept as given until the fields are read (most calls never log them): don't
   * change it afterwards.
   */
  addLogFields(fields: LogFields): void {
    if (this.fields === undefined) this.fields = fields;
    else if (this.moreFields === undefined) this.moreFields = [fields];
    else this.moreFields.push(fields);
  }

  /** All fields added so far, later additions winning. */
  get logFields(): Readonly<LogFields> | undefined {
    const more = this.moreFields;
    if (more !== undefined) {
      this.fields = Object.assign({}, this.fields, ...more);
      this.moreFields = undefined;
    }
    return this.fields;
  }

  /** The caller's address as grpc-js reports it (`ipv4:127.0.0.1:5555`, `ipv6:[::1]:5555`). */
  get peer(): string {
    return this.call.getPeer();
  }

  /**
   * The caller's IP address (`127.0.0.1`, `::1`), without a port; `undefined` when grpc-js does not
   * report it (a unix socket, an older grpc-js): use `peer` then. Cheaper than parsing `peer`,
   * which grpc-js builds per call through a proxy of the socket.
   */
  get remoteAddress(): string | undefined {
    return this.call.getConnectionInfo?.().remoteAddress;
  }

  /** The caller's port, when `remoteAddress` is known. */
  get remotePort(): number | undefined {
    return this.call.getConnectionInfo?.().remotePort;
  }

  /** The call's deadline (`Infinity` when none), as grpc-js has it. */
  get deadline(): Deadline {
    return this.call.getDeadline();
  }

  /**
   * Aborted when the call ends early: cancelled by the client, deadline passed, or a limit fired.
   * Created on first use so calls that never ask pay nothing.
   */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.cancelled) this.controller.abort(this.ending);
    }
    return this.controller.signal;
  }

  /** True once the call was cancelled (`cancel()`) before a status went out. */
  get cancelled(): boolean {
    return this.ending !== undefined && this.ending !== STATUS_SENT;
  }

  /** True once a status has gone out through a weft layer while the call was live: it is over, nothing to cancel. */
  get statusSent(): boolean {
    return this.ending === STATUS_SENT;
  }

  /** True once the call is over, either way: a status went out or it was cancelled. */
  get ended(): boolean {
    return this.ending !== undefined;
  }

  /** @internal Called by weft's server layers when a status passes through them. */
  markStatusSent(): void {
    if (this.ending === undefined) this.ending = STATUS_SENT;
  }

  /**
   * Marks the call as ended early and aborts `signal`. Idempotent: the first reason wins; a call
   * whose status has been sent is over and is not cancelled any more.
   */
  cancel(reason: unknown): void {
    if (this.ending !== undefined) return;
    this.ending = reason ?? new Error('call cancelled');
    this.controller?.abort(this.ending);
  }
}

/** `CallContext.ending` once a status went out (a module-private value no cancel reason can be). */
const STATUS_SENT = Symbol('weft.statusSent');

const storage = new AsyncLocalStorage<CallContext>();
/**
 * The context rides on the metadata object the handler receives as `call.metadata`, under a
 * symbol: lookup without async context. (A WeakMap per call costs far more: every short-lived
 * entry is an ephemeron the garbage collector must trace.)
 */
const CONTEXT = Symbol('weft.callContext');
type WithContext = { [CONTEXT]?: CallContext };
let asyncContext = true;

/**
 * Whether weft makes each call's context the async context of its handler (AsyncLocalStorage),
 * so `getCallContext()` works anywhere in the handler's async flow, including after `await`, and
 * outgoing weft client calls inherit deadlines. Default `true`.
 *
 * On Node 20, an enabled AsyncLocalStorage turns on async hooks for every async resource in the
 * process (see bench/README.md for what that costs). Turn this off to avoid that when nothing else
 * enables one (OpenTelemetry's context manager does): handlers then read their context with
 * `getCallContext(call)`, async handler rejections are not recovered, and deadlines are not
 * propagated implicitly. Set it once, before the server starts.
 */
export function setAsyncContext(enabled: boolean): void {
  asyncContext = enabled;
}

/**
 * The context of the server call being handled, or `undefined` outside a weft-wrapped call.
 * Given the handler's `call`, it finds the context from the call itself (works with async context
 * off); without, it reads the async context.
 */
export function getCallContext(call?: { readonly metadata: Metadata }): CallContext | undefined {
  if (call !== undefined) {
    const context = (call.metadata as WithContext)[CONTEXT];
    if (context !== undefined) return context;
  }
  return storage.getStore();
}

/** @internal Records the incoming metadata of a call (first weft layer to see it). */
export function attachMetadata(context: CallContext, metadata: Metadata): void {
  if (context.metadata !== undefined) return;
  context.metadata = metadata;
  (metadata as WithContext)[CONTEXT] = context;
}

/**
 * Runs `fn(...args)` with `context` active. Re-entering the same context is a plain call: when
 * several weft interceptors are stacked, only the outermost pays for `AsyncLocalStorage.run`.
 */
export function runInContext<A extends unknown[]>(
  context: CallContext,
  fn: (...args: A) => void,
  ...args: A
): void {
  if (!asyncContext || storage.getStore() === context) fn(...args);
  else storage.run(context, fn, ...args);
}
