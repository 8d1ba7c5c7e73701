/**
 * Per-call options (`weftRetry`, `weftDeadline`, `weftCircuitBreaker`): typed grpc-js `CallOptions`
 * fields that grpc-js hands to client interceptors. Each test makes real calls and checks that the
 * override acts on the call that carries it and on no other.
 */
import * as grpc from '@grpc/grpc-js';
import { localReason } from '@weft/core';
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, startHarness, unary } from '../../../test/harness';
import { circuitBreaker, clientDeadline, deadlineMs, retry, serverDeadline } from '../src/index';

const UNAVAILABLE = { failCode: grpc.status.UNAVAILABLE };

describe('per-call options', () => {
  const harnesses: Harness[] = [];
  const start = async (options: Parameters<typeof startHarness>[0]) => {
    const harness = await startHarness(options);
    harnesses.push(harness);
    return harness;
  };
  afterEach(async () => {
    for (const h of harnesses.splice(0)) await h.close();
  });

  describe('weftRetry', () => {
    it('changes the retry policy of the one call that carries it', async () => {
      const h = await start({
        clientInterceptors: [retry({ maxAttempts: 2, initialBackoff: 1, throttling: false })],
      });
      const attempts = () => h.handled.get('Unary') ?? 0;

      const overridden = await unary(h.client, UNAVAILABLE, { options: { weftRetry: { maxAttempts: 4 } } });
      expect(overridden.status.code).toBe(grpc.status.UNAVAILABLE);
      expect(attempts()).toBe(4);

      const plain = await unary(h.client, UNAVAILABLE);
      expect(plain.status.code).toBe(grpc.status.UNAVAILABLE);
      expect(attempts()).toBe(6); // the client's own policy: 2 attempts

      const off = await unary(h.client, UNAVAILABLE, { options: { weftRetry: false } });
      expect(off.status.code).toBe(grpc.status.UNAVAILABLE);
      expect(attempts()).toBe(7);
    });

    it("fills in over the method's policy, and may retry a method retry() leaves alone", async () => {
      const h = await start({
        clientInterceptors: [
          retry({
            initialBackoff: 1,
            throttling: false,
            methods: { 'weft.test.TestService/Unary': { retryableCodes: [grpc.status.INTERNAL] } },
            nonIdempotent: ['weft.test.TestService/Fail'],
          }),
        ],
      });
      // Unary retries INTERNAL (its method policy) and the call adds attempts: 5 INTERNAL attempts.
      const internal = { failCode: grpc.status.INTERNAL };
      await unary(h.client, internal, { options: { weftRetry: { maxAttempts: 5 } } });
      expect(h.handled.get('Unary')).toBe(5);
      // Fail is never retried by the client's options, but this call says it may be.
      await unary(h.client, UNAVAILABLE, {}, 'Fail');
      expect(h.handled.get('Fail')).toBe(1);
      await unary(h.client, UNAVAILABLE, { options: { weftRetry: { maxAttempts: 2 } } }, 'Fail');
      expect(h.handled.get('Fail')).toBe(3);
    });

    it('rejects a policy that cannot work when the call starts', async () => {
      const h = await start({ clientInterceptors: [retry()] });
      expect(() =>
        h.client.Unary({}, new grpc.Metadata(), { weftRetry: { maxAttempts: 0 } }, () => {}),
      ).toThrow(/weftRetry: option "maxAttempts"/);
    });
  });

  describe('weftCircuitBreaker', () => {
    it('false: the call bypasses an open circuit, and its outcome is not counted', async () => {
      const breaker = circuitBreaker({ minimumCalls: 2, failureRatio: 0.5, cooldownMs: 60_000 });
      const h = await start({ clientInterceptors: [breaker] });
      const bypass = { options: { weftCircuitBreaker: false as const } };

      // Bypassed failures leave the circuit closed: they are not counted.
      for (let i = 0; i < 3; i++) await unary(h.client, UNAVAILABLE, bypass);
      expect(breaker.state('weft.test.TestService/Unary')).toBe('closed');
      expect(h.handled.get('Unary')).toBe(3);

      // Counted failures open it; then a plain call is rejected locally...
      await unary(h.client, UNAVAILABLE);
      await unary(h.client, UNAVAILABLE);
      expect(breaker.state('weft.test.TestService/Unary')).toBe('open');
      const rejected = await unary(h.client, { message: 'plain' });
      expect(rejected.status.code).toBe(grpc.status.UNAVAILABLE);
      expect(localReason(rejected.status.metadata)).toBe('circuit-breaker');
      expect(h.handled.get('Unary')).toBe(5);

      // ...while a bypassing one reaches the server, and its success does not close the circuit.
      const through = await unary(h.client, { message: 'bypass' }, bypass);
      expect(through.status.code).toBe(grpc.status.OK);
      expect(through.responses[0]?.message).toBe('bypass');
      expect(h.handled.get('Unary')).toBe(6);
      expect(breaker.state('weft.test.TestService/Unary')).toBe('open');
    });
  });

  describe('weftDeadline', () => {
    it("timeout: replaces the interceptor's default for that call only", async () => {
      const h = await start({ clientInterceptors: [clientDeadline({ default: 5_000 })] });
      const short = await unary(
        h.client,
        { sleepMs: 2_000 },
        { options: { weftDeadline: { timeout: 50 } } },
        'Sleep',
      );
      expect(short.status.code).toBe(grpc.status.DEADLINE_EXCEEDED);
      const plain = await unary(h.client, { sleepMs: 100 }, {}, 'Sleep');
      expect(plain.status.code).toBe(grpc.status.OK);
    });

    it('propagate: false keeps that outgoing call free of the incoming deadline', async () => {
      // Downstream answers with the deadline its handler got (`Infinity` for none).
      const downstream = await start({
        handlers: {
          Unary(call, callback) {
            callback(null, { message: String(deadlineMs(call.getDeadline())) });
          },
        },
      });
      const toDownstream = downstream.newClient({ interceptors: [clientDeadline()] });
      const seen: Record<string, string | undefined> = {};
      const middle = await start({
        // A weft server layer gives the handler its call context, which propagation reads.
        serverInterceptors: [serverDeadline()],
        handlers: {
          async Unary(_call, callback) {
            const inherited = await unary(toDownstream, {});
            const own = await unary(toDownstream, {}, { options: { weftDeadline: { propagate: false } } });
            seen.inherited = inherited.responses[0]?.message;
            seen.own = own.responses[0]?.message;
            callback(null, {});
          },
        },
      });
      const result = await unary(middle.client, {}, { deadline: Date.now() + 5_000 });
      expect(result.status.code).toBe(grpc.status.OK);
      expect(Number(seen.inherited)).toBeLessThan(Date.now() + 5_000);
      expect(seen.own).toBe('Infinity');
    });
  });
});
