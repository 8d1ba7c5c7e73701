import {
  type Deadline,
  Metadata,
  type ServerInterceptingCall,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  type ServerMethodDefinition,
  status,
} from '@grpc/grpc-js';
import { attachMetadata, type CallContext, runInContext } from './call-context';
import { CallCancelledError, serverCallContext } from './server-call';
import type { PartialStatus } from './status';

/** The listener grpc-js hands a layer's `start` (its type is not exported by grpc-js). */
type DownstreamListener = Parameters<ServerInterceptingCallInterface['start']>[0];

/**
 * What one weft server interceptor does to one call: its "stage" of weft's server layer. Stages of
 * neighbouring weft interceptors run in one grpc-js layer (`serverInterceptors()` folds them), so a
 * preset costs one layer per call instead of one per interceptor. Outer stages (earlier in the
 * list) see requests first and responses last, as with separate layers.
 *
 * Unlike a grpc-js listener, only admission (`onReceiveMetadata`) may wait; every other hook is
 * synchronous. That is what lets one layer keep grpc-js's ordering without a queue per stage.
 */
export interface StageHooks {
  /**
   * The request metadata (mutable), before any inner stage or the handler sees it. Return to admit
   * the call; return a promise to admit it once the promise resolves (the call's messages wait
   * meanwhile); refuse it with `call.sendStatusFrom(stage, status)`, synchronously or before the
   * promise settles. A hook that throws or rejects fails the call with INTERNAL.
   */
  onReceiveMetadata?(metadata: Metadata): void | Promise<void>;
  /** A request message, after this stage admitted the call. Don't keep it: it is the caller's. */
  onReceiveMessage?(message: unknown): void;
  onReceiveHalfClose?(): void;
  /**
   * The stream closed: a client cancel, a broken connection, grpc-js's own deadline, and also every
   * normal end after the status went out (grpc-js reports all of them the same way).
   */
  onCancel?(): void;
  /**
   * Runs the downstream (inner stages' events and the handler) inside a scope of the stage's own:
   * the metadata, the half-close and, for client and bidi streams, each request message (a unary or
   * server-streaming request message runs no handler code and is handed over outside the scopes).
   */
  enter?: (<A>(fn: (arg: A) => void, arg: A) => void) | undefined;
  /** Response headers about to go out (mutable). */
  onSendMetadata?(metadata: Metadata): void;
  /** A response message about to go out. */
  onSendMessage?(message: unknown): void;
  /**
   * The status about to go out (trailers mutable). Return it or a replacement to pass it on,
   * `undefined` to swallow it. The first status to leave the layer ends the call: later statuses
   * and messages are dropped.
   */
  onSendStatus?(status: PartialStatus): PartialStatus | undefined;
}

/** A weft server interceptor's part of the layer; `start` runs once per call, when it is created. */
export interface ServerStage {
  /** The hooks for this call (`stage` is this stage's index in `call`), or `undefined` to stay out of it. */
  start(call: WeftServerCall, stage: number): StageHooks | undefined;
}

/** Server interceptors made of stages carry them, so presets can fold neighbours into one layer. */
export interface StagedServerInterceptor extends ServerInterceptor {
  readonly stages: readonly ServerStage[];
}

const INTERNAL: PartialStatus = Object.freeze({
  code: status.INTERNAL,
  details: 'Internal error',
  metadata: null,
});

type Deliver<A> = (listener: DownstreamListener, arg: A) => void;
const deliverMetadata: Deliver<Metadata> = (listener, metadata) => listener.onReceiveMetadata(metadata);
const deliverMessage: Deliver<unknown> = (listener, message) => listener.onReceiveMessage(message);
const deliverHalfClose: Deliver<undefined> = (listener) => listener.onReceiveHalfClose();

/**
 * The longest status message weft's layer sends, in characters. grpc-js percent-encodes it into
 * the `grpc-message` trailer, and a trailer of ~64 KiB or more never reaches a grpc-js client (the
 * call hangs until its deadline): a handler quoting user input must not do that. 4096 characters
 * stay under the limit even when each encodes to 9 bytes.
 */
export const MAX_STATUS_DETAILS = 4096;

/** The first MAX_STATUS_DETAILS - 1 characters and `…`, never splitting a surrogate pair. */
function capDetails(details: string): string {
  let end = MAX_STATUS_DETAILS - 1;
  const last = details.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--; // a lone high surrogate makes grpc-js's encoding throw
  return `${details.slice(0, end)}…`;
}

/**
 * The grpc-js layer weft's server interceptors return: one per group of neighbouring weft
 * interceptors, running their stages in order. It also listens to the layer below it (it is the
 * listener it starts that layer with: no listener object per call). The call's `CallContext` is
 * the async context of everything downstream, and is cancelled when the call is.
 */
export class WeftServerCall implements ServerInterceptingCallInterface {
  /**
   * A deadline a stage imposed (`serverDeadline`): inner stages and the handler see it in
   * `getDeadline()`. A field of weft's own class, not a method patched onto a call: adding
   * properties to grpc-js's call objects per call slows every access to them (the bench measured it).
   */
  deadline: Deadline | undefined = undefined;
  private readonly hooks: (StageHooks | undefined)[];
  private readonly watchesHeaders: boolean;
  /**
   * Whether request messages are delivered in the call's scopes: only where grpc-js feeds them to
   * a running handler (client and bidi streaming). A unary or server-streaming handler starts at
   * the half-close; its request message only gets stored, so it is handed over bare (each scope
   * is an AsyncLocalStorage frame, two with OpenTelemetry's: a third of a unary call's frames).
   */
  private readonly scopedMessages: boolean;
  private listener: DownstreamListener | undefined = undefined;
  /** While admission runs: the stage deciding. */
  private deciding = 0;
  private admitting = false;
  private pendingMessage: unknown = undefined;
  private hasPendingMessage = false;
  /** Stages `[0, pendingSeenBy)` have already seen the pending message. */
  private pendingSeenBy = 0;
  private pendingHalfClose = false;
  private headersSent = false;
  private silenced = false;
  private ended = false;
  private cancelled = false;

  constructor(
    private readonly next: ServerInterceptingCallInterface,
    readonly context: CallContext,
    stages: readonly ServerStage[],
  ) {
    const hooks: (StageHooks | undefined)[] = new Array(stages.length);
    let watchesHeaders = false;
    for (let i = 0; i < stages.length; i++) {
      const hook = (stages[i] as ServerStage).start(this, i);
      hooks[i] = hook;
      if (hook?.onSendMetadata !== undefined) watchesHeaders = true;
    }
    this.hooks = hooks;
    this.watchesHeaders = watchesHeaders;
    const type = context.method.type;
    this.scopedMessages = type === 'client_stream' || type === 'bidi_stream';
  }

  // --- the call, as the handler (or an inner layer) sees it ---

  start(listener: DownstreamListener): void {
    this.listener = listener;
    this.next.start(this);
  }

  sendMetadata(metadata: Metadata): void {
    if (this.ended || this.silenced) return;
    this.headersSent = true;
    const hooks = this.hooks;
    for (let i = hooks.length - 1; i >= 0; i--) hooks[i]?.onSendMetadata?.(metadata);
    this.next.sendMetadata(metadata);
  }

  sendMessage(message: unknown, callback: () => void): void {
    if (this.ended || this.silenced) return;
    // As grpc-js's own layer does, so stages watching headers see them before the first message.
    if (!this.headersSent && this.watchesHeaders) this.sendMetadata(new Metadata());
    const hooks = this.hooks;
    for (let i = hooks.length - 1; i >= 0; i--) hooks[i]?.onSendMessage?.(message);
    this.next.sendMessage(message, callback);
  }

  sendStatus(status: PartialStatus): void {
    if (!this.silenced) this.sendStatusFrom(this.hooks.length - 1, status);
  }

  /**
   * Drops whatever the downstream (inner layers, the handler) sends from now on, so a stage about
   * to end the call (a deadline that passed) can cancel the handler first without racing it.
   */
  silenceDownstream(): void {
    this.silenced = true;
  }

  /**
   * Ends the call with `status` from stage `stage`: it passes that stage and the ones outside it,
   * not the inner ones (which a refused call never reached). Ignored once a status went out or
   * the call was cancelled (its stream is gone; stages were told through `onCancel`).
   */
  sendStatusFrom(stage: number, status: PartialStatus): void {
    if (this.ended || this.cancelled) return;
    let out: PartialStatus | undefined = status;
    for (let i = stage; i >= 0; i--) {
      const hook = this.hooks[i];
      if (hook?.onSendStatus === undefined) continue;
      out = hook.onSendStatus(out);
      if (out === undefined) return;
    }
    this.ended = true;
    this.context.markStatusSent();
    const details = out.details;
    this.next.sendStatus(
      details !== undefined && details.length > MAX_STATUS_DETAILS
        ? { ...out, details: capDetails(details) }
        : out,
    );
  }

  startRead(): void {
    this.next.startRead();
  }
  getPeer(): string {
    return this.next.getPeer();
  }
  getDeadline(): Deadline {
    return this.deadline ?? this.next.getDeadline();
  }
  getHost(): string {
    return this.next.getHost();
  }
  getAuthContext(): ReturnType<ServerInterceptingCallInterface['getAuthContext']> {
    return this.next.getAuthContext();
  }
  getConnectionInfo(): ReturnType<ServerInterceptingCallInterface['getConnectionInfo']> {
    return this.next.getConnectionInfo();
  }
  getMetricsRecorder(): ReturnType<ServerInterceptingCallInterface['getMetricsRecorder']> {
    return this.next.getMetricsRecorder();
  }

  // --- the listener of the layer below: events on their way to the handler ---

  /** @internal */
  onReceiveMetadata(metadata: Metadata): void {
    if (this.cancelled) return;
    attachMetadata(this.context, metadata);
    this.admitting = true;
    this.admitFrom(0, metadata);
  }

  /** Runs admission from stage `from` on; hands the call downstream once every stage admitted it. */
  private admitFrom(from: number, metadata: Metadata): void {
    const hooks = this.hooks;
    for (let i = from; i < hooks.length; i++) {
      const admit = hooks[i]?.onReceiveMetadata;
      if (admit === undefined) continue;
      this.deciding = i;
      let verdict: void | Promise<void>;
      try {
        verdict = admit.call(hooks[i], metadata);
      } catch {
        this.sendStatusFrom(i, INTERNAL);
        return;
      }
      if (this.ended || this.cancelled) return;
      if (verdict !== undefined) {
        verdict.then(
          () => {
            if (!this.ended && !this.cancelled) this.admitFrom(i + 1, metadata);
          },
          () => this.sendStatusFrom(i, INTERNAL),
        );
        return;
      }
    }
    this.admitting = false;
    this.downstream(deliverMetadata, metadata);
    if (this.hasPendingMessage) {
      const message = this.pendingMessage;
      this.pendingMessage = undefined;
      this.hasPendingMessage = false;
      this.receiveMessageFrom(this.pendingSeenBy, message);
    }
    if (this.pendingHalfClose) {
      this.pendingHalfClose = false;
      this.onReceiveHalfClose();
    }
  }

  /** @internal */
  onReceiveMessage(message: unknown): void {
    if (this.cancelled) return;
    if (this.admitting) {
      // Stages that admitted the call, and the one deciding, see it now; the others once admitted.
      const seenBy = this.deciding + 1;
      for (let i = 0; i < seenBy; i++) this.hooks[i]?.onReceiveMessage?.(message);
      this.pendingMessage = message;
      this.hasPendingMessage = true;
      this.pendingSeenBy = seenBy;
      return;
    }
    this.receiveMessageFrom(0, message);
  }

  private receiveMessageFrom(from: number, message: unknown): void {
    if (this.cancelled) return;
    const hooks = this.hooks;
    for (let i = from; i < hooks.length; i++) hooks[i]?.onReceiveMessage?.(message);
    if (this.scopedMessages) this.downstream(deliverMessage, message);
    else this.deliver(deliverMessage, message);
  }

  /** @internal */
  onReceiveHalfClose(): void {
    if (this.cancelled) return;
    if (this.admitting) {
      this.pendingHalfClose = true;
      return;
    }
    const hooks = this.hooks;
    for (let i = 0; i < hooks.length; i++) hooks[i]?.onReceiveHalfClose?.();
    this.downstream(deliverHalfClose, undefined);
  }

  /** @internal */
  onCancel(): void {
    this.cancelled = true;
    const context = this.context;
    // Every stream close arrives here, normal ones included: only a live call is cancelled.
    if (!context.statusSent && !context.cancelled) context.cancel(new CallCancelledError());
    const hooks = this.hooks;
    for (let i = 0; i < hooks.length; i++) hooks[i]?.onCancel?.();
    this.listener?.onCancel();
  }

  /** Hands an event to the downstream inside the call's async context and every stage's scope. */
  private downstream<A>(deliver: Deliver<A>, arg: A): void {
    runInContext(this.context, enterFrom, this, this.hooks, 0, deliver, arg);
  }

  /** @internal For `enterFrom`. */
  deliver<A>(deliver: Deliver<A>, arg: A): void {
    if (this.listener !== undefined) deliver(this.listener, arg);
  }
}

/** Enters the scope of every stage from `index` on (outermost first), then delivers. */
function enterFrom<A>(
  call: WeftServerCall,
  hooks: readonly (StageHooks | undefined)[],
  index: number,
  deliver: Deliver<A>,
  arg: A,
): void {
  for (let i = index; i < hooks.length; i++) {
    const hook = hooks[i];
    if (hook?.enter !== undefined) {
      hook.enter((a: A) => enterFrom(call, hooks, i + 1, deliver, a), arg);
      return;
    }
  }
  call.deliver(deliver, arg);
}

/**
 * A grpc-js server interceptor running `stages` in one layer. Every weft server interceptor is
 * one; `serverInterceptors()` folds neighbours into one.
 */
export function stagedInterceptor(...stages: ServerStage[]): StagedServerInterceptor {
  const frozen = Object.freeze([...stages]);
  const interceptor = (
    definition: ServerMethodDefinition<unknown, unknown>,
    call: ServerInterceptingCallInterface,
  ) =>
    // grpc-js types interceptors as returning its concrete class but only uses the interface.
    new WeftServerCall(
      call,
      serverCallContext(definition, call),
      frozen,
    ) as unknown as ServerInterceptingCall;
  return Object.assign(interceptor, { stages: frozen });
}
