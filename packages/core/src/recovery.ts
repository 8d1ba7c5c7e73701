import { status } from '@grpc/grpc-js';
import { type CallContext, createContextKey, getCallContext } from './call-context';
import type { MethodInfo } from './method-info';
import { check, resolveOptions } from './options';
import {
  type StagedServerInterceptor,
  type StageHooks,
  stagedInterceptor,
  type WeftServerCall,
} from './server-stage';
import type { PartialStatus } from './status';

/** What `onError` receives when grpc-js caught a handler's error itself and kept only its message. */
export class HandlerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HandlerError';
  }
}

export interface RecoveryOptions {
  /**
   * Receives every error a handler threw or rejected with, and the call it broke. Default: one line
   * on stderr with the method and the error's stack. Errors thrown by this callback are swallowed.
   */
  onError?: (error: unknown, call: { method: MethodInfo; context: CallContext }) => void;
  /** Status message sent to the caller. Default `'Internal error'`: never the error's own text. */
  message?: string;
  /**
   * Whether an UNKNOWN status leaving the handler is replaced too. grpc-js sends UNKNOWN with the
   * error's own message when a handler passes a plain `Error` to its callback, which can leak
   * internals. Default `true`.
   */
  maskUnknown?: boolean;
}

/** `recovery()`'s defaults: what an option left out (or given as `undefined`) means. */
export const RECOVERY_DEFAULTS: Readonly<Required<RecoveryOptions>> = Object.freeze({
  /** One line on stderr with the method and the error's stack. */
  onError: (error: unknown, { method }: { method: MethodInfo }) => {
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
    process.stderr.write(`[weft] handler for ${method.fullMethod} failed: ${text}\n`);
  },
  /** Never the error's own text. */
  message: 'Internal error',
  /** grpc-js puts a plain Error's message in UNKNOWN: mask it too. */
  maskUnknown: true,
});

/** Where the recovery layer of a call listens for an async handler failure. */
const recoverKey = createContextKey<{ fail(error: unknown): void }>('weft.recovery');

// grpc-js catches synchronous handler throws and sends UNKNOWN with one of these details.
const GRPC_JS_CAUGHT = 'Unknown error';
const GRPC_JS_CAUGHT_DEBUG = 'Server method handler threw error ';

let rejectionHookInstalled = false;

/** Whether Node would crash on an unhandled rejection (its default `--unhandled-rejections=throw`). */
function rejectionsThrow(): boolean {
  const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  const mode = flags.find((f) => f.startsWith('--unhandled-rejections='))?.split('=')[1];
  return mode === undefined || mode === 'throw' || mode === 'strict';
}

/**
 * Async handlers return promises grpc-js never looks at, so their rejections surface only as
 * process-wide `unhandledRejection` events. Node runs that event in the async context of the
 * rejected promise, which is the call's context: the call's recovery layer answers it. A rejection
 * outside any recovered call keeps Node's default (crash) unless the application has its own hook.
 */
function installRejectionHook(): void {
  if (rejectionHookInstalled) return;
  rejectionHookInstalled = true;
  const hook = (reason: unknown) => {
    const recover = getCallContext()?.get(recoverKey);
    if (recover !== undefined) {
      recover.fail(reason);
      return;
    }
    // Alone on the event, this hook would swallow what Node crashes on by default: rethrow,
    // unless the process chose another --unhandled-rejections mode (warn, none...).
    if (process.listenerCount('unhandledRejection') === 1 && rejectionsThrow()) throw reason;
  };
  process.on('unhandledRejection', hook);
}

/** One call under recovery: its hooks, and what the rejection hook calls for it. */
class RecoveredCall implements StageHooks {
  constructor(
    private readonly o: ResolvedRecovery,
    private readonly call: WeftServerCall,
    private readonly stage: number,
  ) {}

  /** Runs the downstream (inner stages, the handler) and turns what it throws into INTERNAL. */
  enter<A>(fn: (arg: A) => void, arg: A): void {
    try {
      fn(arg);
    } catch (error) {
      this.fail(error);
    }
  }

  onSendStatus(partial: PartialStatus): PartialStatus {
    if (partial.code !== status.UNKNOWN || !shouldMask(partial.details, this.o.maskUnknown)) return partial;
    this.report(new HandlerError(partial.details));
    return { code: status.INTERNAL, details: this.o.message, metadata: partial.metadata };
  }

  fail(error: unknown): void {
    this.report(error);
    // A failure after the status went out is reported only (the layer drops a second status).
    this.call.sendStatusFrom(this.stage, { code: status.INTERNAL, details: this.o.message, metadata: null });
  }

  private report(error: unknown): void {
    const context = this.call.context;
    try {
      this.o.onError(error, { method: context.method, context });
    } catch {
      // A broken error callback must not take the server down with it.
    }
  }
}

type ResolvedRecovery = Readonly<Required<RecoveryOptions>>;

/**
 * A server interceptor that turns a handler that throws or rejects into INTERNAL with a generic
 * message, hands the error to `onError`, and keeps the server serving. Put it innermost (last), so
 * metrics and logging see the INTERNAL it produces.
 */
export function recovery(options?: RecoveryOptions): StagedServerInterceptor {
  const o: ResolvedRecovery = resolveOptions('recovery', RECOVERY_DEFAULTS, options, {
    onError: check.function,
    message: check.string,
    maskUnknown: check.boolean,
  });
  installRejectionHook();
  return stagedInterceptor({
    start(call, stage) {
      const recovered = new RecoveredCall(o, call, stage);
      call.context.set(recoverKey, recovered);
      return recovered;
    },
  });
}

function shouldMask(details: string, maskUnknown: boolean): boolean {
  return maskUnknown || details === GRPC_JS_CAUGHT || details.startsWith(GRPC_JS_CAUGHT_DEBUG);
}
