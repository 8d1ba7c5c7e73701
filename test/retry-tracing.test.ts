/** Retries show on the client span: tracing outside retry, as clientInterceptors() orders them. */
import * as grpc from '@grpc/grpc-js';
import { clientInterceptors } from '@weft/core';
import { retry } from '@weft/resilience';
import { clientTracing } from '@weft/tracing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupOtel, type TestOtel } from '../packages/tracing/test/otel';
import { type Harness, startHarness, unary } from './harness';

describe('retry events on the client span', () => {
  let harness: Harness;
  let otel: TestOtel;
  beforeAll(async () => {
    otel = setupOtel();
    harness = await startHarness({
      clientInterceptors: clientInterceptors({
        tracing: clientTracing({ tracerProvider: otel.provider }),
        retry: retry({ initialBackoff: 5, maxBackoff: 10 }),
      }),
    });
  });
  afterAll(() => harness.close());

  it('adds one retry event per retry to the call span, with the code that caused it', async () => {
    otel.reset();
    const result = await unary(harness.client, { failCode: grpc.status.UNAVAILABLE }, {}, 'Fail');
    expect(result.status.code).toBe(grpc.status.UNAVAILABLE);
    expect(harness.handled.get('Fail')).toBe(3);
    const spans = otel.spans().filter((s) => s.name === 'weft.test.TestService/Fail');
    expect(spans).toHaveLength(1);
    const retries = spans[0]?.events.filter((e) => e.name === 'retry') ?? [];
    expect(retries.map((e) => e.attributes?.['rpc.retry.attempt'])).toEqual([2, 3]);
    expect(retries.every((e) => e.attributes?.['rpc.grpc.status_code'] === grpc.status.UNAVAILABLE)).toBe(
      true,
    );
  });
});
