import { status } from '@grpc/grpc-js';
import type { CallContext, StagedServerInterceptor, WeftServerCall } from '@weft/core';
import { check, resolveOptions, signals, stagedInterceptor } from '@weft/core';
import { type CallKey, callKey, contextSubject, keyFunction, type SubjectLookup } from './call-key';
import { HeldCall } from './held-call';
import type { OptionDefaults } from './option-defaults';
import { retryHint } from './rate-limit';

export interface ConcurrencyLimitOptions {
  /** Most calls in flight at once per key. Required, at least 1. */
  max: number;
  /** What the in-flight counters are keyed on (see `CallKey`). Default `'method'`. */
  key?: CallKey;
  /** Names the limit in the status message and the `limitRejection` signal. Default `'concurrency'`. */
  name?: string;
  /**
   * Reads the subject of a call, for `key: 'subject'`. Default `contextSubject`: the subject the
   * authentication layer put on the call's context (`subjectKey` of `@weft/core`, which
   * `@weft/auth`'s `jwtAuth` sets). A call without a subject is keyed on its peer's host instead.
   */
  subject?: SubjectLookup;
  /**
   * The retry hint (`grpc-retry-pushback-ms`, `retry-after`) sent with a rejection, in ms; `0` sends
   * none. Default `100`: a slot usually frees within a typical call's latency.
   */
  retryAfterMs?: number;
}

/** `concurrencyLimit()`'s defaults (`max` has none: it is required). */
export const CONCURRENCY_LIMIT_DEFAULTS: OptionDefaults<ConcurrencyLimitOptions, 'max'> = Object.freeze({
  max: undefined,
  key: 'method',
  name: 'concurrency',
  subject: contextSubject,
  retryAfterMs: 100,
});

/**
 * A server interceptor that caps the calls in flight per key and answers the excess with
 * RESOURCE_EXHAUSTED before the handler runs. A slot is taken when the call's metadata arrives and
 * given back exactly once, when the call ends: its status goes out, or it is cancelled (client
 * cancel, deadline, broken connection). Counters of idle keys are deleted, so memory follows the
 * calls in flight, not the keys ever seen.
 */
export function concurrencyLimit(options: ConcurrencyLimitOptions): StagedServerInterceptor {
  const resolved = resolveOptions('concurrencyLimit', CONCURRENCY_LIMIT_DEFAULTS, options, {
    max: (v) => (v === undefined ? 'is required' : check.positiveInteger(v)),
    key: callKey,
    subject: check.function,
    retryAfterMs: check.nonNegative,
  });
  const { key, name, subject, retryAfterMs } = resolved;
  const max = resolved.max as number; // required: the check above throws without it
  const { keyClass, keyOf } = keyFunction(name, key, subject);
  const inFlight = new Map<string, number>();
  const details = `concurrency limit "${name}" reached (${max} in flight)`;

  const limiter: Limiter = {
    inFlight,
    max,
    keyOf,
    reject(call, stage) {
      if (signals.limitRejection.hasSubscribers) {
        signals.limitRejection.publish({
          method: call.context.method,
          limiter: 'concurrency',
          rule: name,
          keyClass,
        });
      }
      call.sendStatusFrom(stage, {
        code: status.RESOURCE_EXHAUSTED,
        details,
        metadata: retryAfterMs > 0 ? retryHint(retryAfterMs) : null,
      });
    },
  };
  return stagedInterceptor({ start: (call, stage) => new SlotCall(limiter, call, stage) });
}

/** What every call through one `concurrencyLimit()` shares. */
interface Limiter {
  readonly inFlight: Map<string, number>;
  readonly max: number;
  readonly keyOf: (context: CallContext) => string;
  reject(call: WeftServerCall, stage: number): void;
}

/** One call under `concurrencyLimit`: takes a slot when its metadata arrives, gives it back once. */
class SlotCall extends HeldCall {
  /** The key whose slot this call holds. */
  private held: string | undefined = undefined;

  constructor(
    private readonly limiter: Limiter,
    private readonly call: WeftServerCall,
    private readonly stage: number,
  ) {
    super();
  }

  onReceiveMetadata(): void {
    const { inFlight, max } = this.limiter;
    const k = this.limiter.keyOf(this.call.context);
    const count = inFlight.get(k) ?? 0;
    if (count >= max) {
      this.limiter.reject(this.call, this.stage);
      return;
    }
    inFlight.set(k, count + 1);
    this.held = k;
  }

  protected release(): void {
    const held = this.held;
    if (held === undefined) return;
    const inFlight = this.limiter.inFlight;
    const count = (inFlight.get(held) ?? 1) - 1;
    if (count <= 0) inFlight.delete(held);
    else inFlight.set(held, count);
    this.held = undefined;
  }
}
