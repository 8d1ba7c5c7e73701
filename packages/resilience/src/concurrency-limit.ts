import { status } from '@grpc/grpc-js';
import { check, resolveOptions, type StagedServerInterceptor, signals, stagedInterceptor } from '@weft/core';
import { type CallKey, callKey, contextSubject, keyFunction, type SubjectLookup } from './call-key';
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

  return stagedInterceptor({
    start(call, stage) {
      const context = call.context;
      let held: string | undefined;
      // Idempotent: grpc-js reports every stream close as a cancel, normal ones after the status too.
      const release = () => {
        if (held === undefined) return;
        const count = (inFlight.get(held) ?? 1) - 1;
        if (count <= 0) inFlight.delete(held);
        else inFlight.set(held, count);
        held = undefined;
      };
      return {
        onReceiveMetadata() {
          const k = keyOf(context);
          const count = inFlight.get(k) ?? 0;
          if (count >= max) {
            if (signals.limitRejection.hasSubscribers) {
              signals.limitRejection.publish({
                method: context.method,
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
            return;
          }
          inFlight.set(k, count + 1);
          held = k;
        },
        onCancel: release,
        onSendStatus(partial) {
          release();
          return partial;
        },
      };
    },
  });
}
