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
import { type Deliver, deliverHalfClose, deliverMessage, deliverMetadata, ServerLayer } from './server-layer';
import { fixedStatus, type PartialStatus } from './status';

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

const INTERNAL = fixedStatus(status.INTERNAL, 'Internal error');

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
 * Where a call is in one weft layer: its only state.
 * - `admitting`: the stages' `onReceiveMetadata` run; the downstream has nothing yet.
 * - `open`: every stage admitted; the downstream has the metadata, request events flow.
 * - `responding`: the same, and response headers went out (so none are made up before a message).
 * - `silenced`: a stage about to end the call drops what the downstream sends (`silenceDownstream`).
 * - `ended`: a status left this layer; later messages, statuses and request events are dropped, and
 *   the stream close grpc-js reports after it is the normal end, not a cancel.
 * - `cancelled`: the stream closed before a status left (client cancel, lost connection, grpc-js's
 *   own deadline); everything is dropped.
 *
 * The call's `CallContext` has the call-wide end (`statusSent`, `cancelled`); this state stays per
 * layer because a call can cross several weft layers (an interceptor of your own between two weft
 * interceptors splits them), each with its own admission and its own status passing through.
 */
type ServerCallState = 'admitting' | 'open' | 'responding' | 'silenced' | 'ended' | 'cancelled';

/**
 * The grpc-js layer weft's server interceptors return: one per group of neighbouring weft
 * interceptors, running their stages in order (the stage loop: admission, hooks, scopes; the
 * grpc-js plumbing is `ServerLayer`'s). The call's `CallContext` is the async context of
 * everything downstream, and is cancelled when the call is.
 */
export class WeftServerCall extends ServerLayer {
  /**
   * A deadline a stage imposed (`serverDeadline`): inner stages and the handler see it in
   * `getDeadline()`. A field of weft's own class, not a method patched onto a call: adding
   * properties to grpc-js's call objects per call slows every access to them (the bench measured it).
   */
  deadline: Deadline | undefined = undefined;
  private state: ServerCallState = 'admitting';
  /** While admitting: the stage deciding (the ones before it admitted the call). */
  private deciding = 0;
  private readonly hooks: (StageHooks | undefined)[];
  private readonly watchesHeaders: boolean;
  /**
   * Whether request messages are delivered in the call's scopes: only where grpc-js feeds them to
   * a running handler (client and bidi streaming). A unary or server-streaming handler starts at
   * the half-close; its request message only gets stored, so it is handed over bare (each scope
   * is an AsyncLocalStorage frame, two with OpenTelemetry's: a third of a unary call's frames).
   */
  private readonly scopedMessages: boolean;

  constructor(
    next: ServerInterceptingCallInterface,
    readonly context: CallContext,
    stages: readonly ServerStage[],
  ) {
    super(next);
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

  /** Whether the downstream may still send: nothing silenced or ended the call. */
  private downstreamLive(): boolean {
    const state = this.state;
    return state === 'open' || state === 'responding' || state === 'admitting';
  }

  // --- responses: what the downstream (inner layers, the handler) sends ---

  sendMetadata(metadata: Metadata): void {
    if (!this.downstreamLive()) return;
    if (this.state === 'open') this.state = 'responding';
    const hooks = this.hooks;
    for (let i = hooks.length - 1; i >= 0; i--) hooks[i]?.onSendMetadata?.(metadata);
    this.next.sendMetadata(metadata);
  }

  sendMessage(message: unknown, callback: () => void): void {
    if (!this.downstreamLive()) return;
    // As grpc-js's own layer does, so stages watching headers see them before the first message.
    if (this.state === 'open' && this.watchesHeaders) this.sendMetadata(new Metadata());
    const hooks = this.hooks;
    for (let i = hooks.length - 1; i >= 0; i--) hooks[i]?.onSendMessage?.(message);
    this.next.sendMessage(message, callback);
  }

  sendStatus(status: PartialStatus): void {
    if (this.downstreamLive()) this.sendStatusFrom(this.hooks.length - 1, status);
  }

  override getDeadline(): Deadline {
    return this.deadline ?? super.getDeadline();
  }

  /**
   * Drops whatever the downstream (inner layers, the handler) sends from now on, so a stage about
   * to end the call (a deadline that passed) can cancel the handler first without racing it.
   */
  silenceDownstream(): void {
    if (this.state !== 'ended' && this.state !== 'cancelled') this.state = 'silenced';
  }

  /**
   * Ends the call with `status` from stage `stage`: it passes that stage and the ones outside it,
   * not the inner ones (which a refused call never reached). Ignored once a status went out or
   * the call was cancelled (its stream is gone; stages were told through `onCancel`).
   */
  sendStatusFrom(stage: number, status: PartialStatus): void {
    if (this.state === 'ended' || this.state === 'cancelled') return;
    let out: PartialStatus | undefined = status;
    for (let i = stage; i >= 0; i--) {
      const hook = this.hooks[i];
      if (hook?.onSendStatus === undefined) continue;
      out = hook.onSendStatus(out);
      if (out === undefined) return;
    }
    this.state = 'ended';
    this.context.markStatusSent();
    const details = out.details;
    this.next.sendStatus(
      details !== undefined && details.length > MAX_STATUS_DETAILS
        ? { ...out, details: capDetails(details) }
        : out,
    );
  }

  // --- requests: the layer below's events, on their way to the handler ---

  /** @internal */
  onReceiveMetadata(metadata: Metadata): void {
    if (this.state !== 'admitting') return;
    attachMetadata(this.context, metadata);
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
      // Refused (or silenced, or cancelled) while deciding: the downstream never hears of the call.
      if (this.state !== 'admitting') return;
      if (verdict !== undefined) {
        verdict.then(
          () => {
            if (this.state === 'admitting') this.admitFrom(i + 1, metadata);
          },
          () => this.sendStatusFrom(i, INTERNAL),
        );
        return;
      }
    }
    this.state = 'open';
    this.downstream(deliverMetadata, metadata);
  }

  /** @internal */
  onReceiveMessage(message: unknown): void {
    if (!this.receiving()) return;
    const hooks = this.hooks;
    for (let i = 0; i < hooks.length; i++) hooks[i]?.onReceiveMessage?.(message);
    if (this.scopedMessages) this.downstream(deliverMessage, message);
    else this.deliver(deliverMessage, message);
  }

  /** @internal */
  onReceiveHalfClose(): void {
    if (!this.receiving()) return;
    const hooks = this.hooks;
    for (let i = 0; i < hooks.length; i++) hooks[i]?.onReceiveHalfClose?.();
    this.downstream(deliverHalfClose, undefined);
  }

  /**
   * Whether a request event goes to the stages and the downstream: only while the call is open.
   *
   * None arrives while admitting (so nothing is buffered): grpc-js pulls request events, one per
   * `startRead()`, and only the downstream calls `startRead()` through this layer. grpc-js's
   * handlers first do so once they have the metadata (server.ts: unary and server-streaming
   * handlers from their `onReceiveMetadata`, client-streaming and bidi ones from the stream they
   * build there), and this layer holds the metadata back until every stage admitted the call;
   * grpc-js's own layers (`ServerInterceptingCall`) only forward `startRead()`. A layer below this
   * one that reads on its own is the only way: the call then fails with INTERNAL from the stage
   * deciding, instead of the handler getting a message before its metadata.
   */
  private receiving(): boolean {
    const state = this.state;
    if (state === 'open' || state === 'responding') return true;
    if (state === 'admitting') this.sendStatusFrom(this.deciding, INTERNAL);
    return false;
  }

  /** @internal */
  onCancel(): void {
    // Every stream close arrives here, the normal one after a status included.
    if (this.state !== 'ended') this.state = 'cancelled';
    const context = this.context;
    // Only a live call is cancelled (and only then is an error, with its stack, created).
    if (!context.ended) context.cancel(new CallCancelledError());
    const hooks = this.hooks;
    for (let i = 0; i < hooks.length; i++) hooks[i]?.onCancel?.();
    this.cancelAbove();
  }

  /** Hands an event to the downstream inside the call's async context and every stage's scope. */
  private downstream<A>(deliver: Deliver<A>, arg: A): void {
    runInContext(this.context, enterFrom, this, this.hooks, 0, deliver, arg);
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
