import type { Metadata, status } from '@grpc/grpc-js';
import { type Context, context, type Span, SpanStatusCode } from '@opentelemetry/api';
import { type CallReporter, EMIT_NEW, EMIT_OLD, type Emit, rpcStatusCode } from '@weft/core';
import type { ResolvedOptions } from './options';
import {
  ATTR_ERROR_TYPE,
  ATTR_EXCEPTION_MESSAGE,
  ATTR_EXCEPTION_TYPE,
  ATTR_RPC_GRPC_STATUS_CODE,
  ATTR_RPC_MESSAGE_ID,
  ATTR_RPC_MESSAGE_TYPE,
  ATTR_RPC_STATUS_CODE,
  RPC_MESSAGE_TYPE_VALUE_RECEIVED,
  RPC_MESSAGE_TYPE_VALUE_SENT,
} from './semconv';

/**
 * One call's span, as an observer reporter: `enter` runs the rest of the call with the span active,
 * `finish` records the status and ends the span, once.
 */
export class SpanReporter implements CallReporter {
  private ended = false;

  constructor(
    readonly span: Span,
    /** The context the call runs in: the parent's, with this span set. */
    readonly ctx: Context,
    /** Which conventions to emit (`EMIT_OLD`, `EMIT_NEW` bits). */
    private readonly emit: Emit,
  ) {}

  enter<A>(fn: (arg: A) => void, arg: A): void {
    // context.with passes `arg` through: no closure per event.
    context.with(this.ctx, fn, undefined, arg);
  }

  protected finish(code: status, details: string, error: boolean): void {
    if (this.ended) return;
    this.ended = true;
    const span = this.span;
    if (span.isRecording()) {
      const name = rpcStatusCode(code);
      if (this.emit & EMIT_OLD) span.setAttribute(ATTR_RPC_GRPC_STATUS_CODE, code);
      if (this.emit & EMIT_NEW) span.setAttribute(ATTR_RPC_STATUS_CODE, name);
      if (error) {
        const type = name;
        span.setAttribute(ATTR_ERROR_TYPE, type);
        span.setStatus({ code: SpanStatusCode.ERROR, message: details });
        span.addEvent('exception', { [ATTR_EXCEPTION_TYPE]: type, [ATTR_EXCEPTION_MESSAGE]: details });
      }
    }
    span.end();
  }
}

/** Records the allow-listed metadata keys (string values only) as span attributes. */
export function recordMetadata(
  span: Span,
  metadata: Metadata,
  keys: ResolvedOptions['metadataAttributes'],
): void {
  for (const [key, attribute] of keys) {
    const values = metadata.get(key);
    if (values.length === 0) continue;
    const strings: string[] = [];
    for (const value of values) if (typeof value === 'string') strings.push(value);
    if (strings.length > 0) span.setAttribute(attribute, strings);
  }
}

/** Adds one `message` event (option `messageEvents`); `id` counts from 1 per direction. */
export function addMessageEvent(span: Span, received: boolean, id: number): void {
  span.addEvent('message', {
    [ATTR_RPC_MESSAGE_TYPE]: received ? RPC_MESSAGE_TYPE_VALUE_RECEIVED : RPC_MESSAGE_TYPE_VALUE_SENT,
    [ATTR_RPC_MESSAGE_ID]: id,
  });
}

/** A span reporter class (server or client); the mixin below needs its constructor shape only. */
// biome-ignore lint/suspicious/noExplicitAny: a mixin's base constructor must take `any[]` (TypeScript's rule).
type SpanReporterClass = new (...args: any[]) => SpanReporter;

/**
 * Adds one `message` event per message (option `messageEvents`) to a span reporter class: a
 * subclass, so calls without the option skip the hooks; one mixin for both sides. Typed as the
 * base: the observer finds the hooks at run time, and callers need nothing more.
 */
export function withMessageEvents<B extends SpanReporterClass>(Base: B): B {
  return class WithMessageEvents extends Base {
    private received = 0;
    private sent = 0;

    onReceiveMessage(): void {
      this.received += 1;
      addMessageEvent(this.span, true, this.received);
    }

    onSendMessage(): void {
      this.sent += 1;
      addMessageEvent(this.span, false, this.sent);
    }
  };
}
