/**
 * gRFC A66 per-attempt and per-call client instruments, and A96's retry metrics, with weft's
 * retry making the attempts: the call-level interceptor outside retry, `.attempt` inside it, as
 * clientInterceptors() orders them.
 */
import * as grpc from '@grpc/grpc-js';
import { clientInterceptors } from '@weft/core';
import { grpcOtelClientMetrics } from '@weft/metrics';
import { clientDeadline, retry } from '@weft/resilience';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { counterAt, histogramAt, testMeters } from '../packages/metrics/test/grpc-otel';
import { type Harness, startHarness, unary } from './harness';

const FAIL = 'weft.test.TestService/Fail';
const UNARY = 'weft.test.TestService/Unary';

// clientDeadline and retry's per-attempt timeout copy the call options for the calls below them:
// the attempt level must still find the call it belongs to (it found none before, and counted each
// call as one more attempt).
describe.each([
  ['retry alone', false],
  ['with clientDeadline and a per-attempt timeout', true],
])('gRFC A66 attempts and A96 retry metrics through weft retry (%s)', (_name, withDeadlines) => {
  const meters = testMeters();
  const backoffMs = 20;
  let harness: Harness;
  let target: string;
  beforeAll(async () => {
    harness = await startHarness();
    target = `dns:///${harness.address}`;
    const metrics = grpcOtelClientMetrics({
      meterProvider: meters.meterProvider,
      target: harness.address,
      retryMetrics: true,
    });
    const client = harness.newClient({
      interceptors: clientInterceptors({
        metrics,
        attemptMetrics: metrics.attempt,
        deadline: withDeadlines ? clientDeadline({ default: 5000 }) : undefined,
        // random() near 1: each retry waits almost the whole bound. Timers round down to the ms and
        // count from the event loop's cached time, which can be a few ms before the real time the
        // backoff started: the floor per retry is (bound - 5) ms.
        retry: retry({
          initialBackoff: backoffMs,
          maxBackoff: backoffMs,
          throttling: false,
          random: () => 0.999,
          perAttemptTimeout: withDeadlines ? 4000 : undefined,
        }),
      }),
    });
    const failed = await unary(client, { failCode: grpc.status.UNAVAILABLE }, {}, 'Fail');
    expect(failed.status.code).toBe(grpc.status.UNAVAILABLE);
    await unary(client, { message: 'ok' });
  });
  afterAll(() => harness.close());

  it('counts each attempt retry made, and the call once', async () => {
    expect(harness.handled.get('Fail')).toBe(3); // the server saw three attempts
    const m = await meters.collect();
    const base = { 'grpc.method': FAIL, 'grpc.target': target };
    const unavailable = { ...base, 'grpc.status': 'UNAVAILABLE' };
    expect(counterAt(m.get('grpc.client.attempt.started'), base)).toBe(3);
    expect(histogramAt(m.get('grpc.client.attempt.duration'), unavailable)?.count).toBe(3);
    expect(
      histogramAt(m.get('grpc.client.attempt.sent_total_compressed_message_size'), unavailable)?.count,
    ).toBe(3);
    expect(histogramAt(m.get('grpc.client.call.duration'), unavailable)?.count).toBe(1);
    // The call lasted at least its two backoffs; each attempt far less than the call.
    const call = histogramAt(m.get('grpc.client.call.duration'), unavailable);
    expect(call?.sum).toBeGreaterThanOrEqual((2 * (backoffMs - 5)) / 1000);
  });

  it('records A96 retries (2) and the time without an attempt, and no 0 retries for a call that needed none', async () => {
    const m = await meters.collect();
    const retries = m.get('grpc.client.call.retries');
    expect(histogramAt(retries, { 'grpc.method': FAIL, 'grpc.target': target })).toMatchObject({
      count: 1,
      sum: 2,
    });
    expect(histogramAt(retries, { 'grpc.method': UNARY, 'grpc.target': target })).toBeUndefined();
    const delay = histogramAt(m.get('grpc.client.call.retry_delay'), {
      'grpc.method': FAIL,
      'grpc.target': target,
    });
    expect(delay?.sum).toBeGreaterThanOrEqual((2 * (backoffMs - 5)) / 1000);
    expect(delay?.buckets.boundaries).toHaveLength(41);
    expect(
      histogramAt(m.get('grpc.client.call.retries'), { 'grpc.method': FAIL, 'grpc.target': target })?.buckets
        .boundaries,
    ).toEqual([1, 2, 3, 4, 5]);
    // weft makes no hedges or transparent retries: the instruments exist and stay empty.
    expect(m.get('grpc.client.call.hedges')?.dataPoints ?? []).toEqual([]);
    expect(m.get('grpc.client.call.transparent_retries')?.dataPoints ?? []).toEqual([]);
  });

  // A96's table (grpc/proposal A96-retry-otel-stats.md), without its bucket sentence.
  const A96: [string, string, string, number[]][] = [
    [
      'grpc.client.call.retries',
      '{retry}',
      'Number of retries during the client call. If there were no retries, 0 is not reported.',
      [1, 2, 3, 4, 5],
    ],
    [
      'grpc.client.call.transparent_retries',
      '{transparent_retry}',
      'Number of transparent retries during the client call. If there were no transparent retries, 0 is not reported.',
      [1, 2, 3, 4, 5, 10],
    ],
    [
      'grpc.client.call.hedges',
      '{hedge}',
      'Number of hedges during the client call. If there were no hedges, 0 is not reported.',
      [1, 2, 3, 4, 5],
    ],
    [
      'grpc.client.call.retry_delay',
      's',
      'Total time of delay while there is no active attempt during the client call.',
      [],
    ],
  ];
  it.each(A96)('creates %s as gRFC A96 defines it', (name, unit, description, buckets) => {
    const made = meters.created.get(name);
    expect(made?.kind).toBe('histogram');
    expect(made?.options?.unit).toBe(unit);
    expect(made?.options?.description).toBe(description);
    const advice = made?.options?.advice?.explicitBucketBoundaries;
    if (buckets.length > 0) expect(advice).toEqual(buckets);
    else expect(advice).toHaveLength(41); // A66's latency buckets
  });

  it('records a call without retries as one attempt', async () => {
    const m = await meters.collect();
    const ok = { 'grpc.method': UNARY, 'grpc.target': target, 'grpc.status': 'OK' };
    expect(
      counterAt(m.get('grpc.client.attempt.started'), { 'grpc.method': UNARY, 'grpc.target': target }),
    ).toBe(1);
    expect(histogramAt(m.get('grpc.client.attempt.duration'), ok)?.count).toBe(1);
    expect(histogramAt(m.get('grpc.client.call.duration'), ok)?.count).toBe(1);
  });
});

describe('gRFC A66 call and attempt interceptors folded into one layer (no retry between them)', () => {
  it('counts each call once as one attempt', async () => {
    const meters = testMeters();
    const metrics = grpcOtelClientMetrics({ meterProvider: meters.meterProvider, target: 'users:1' });
    const interceptors = clientInterceptors({ metrics, attemptMetrics: metrics.attempt });
    expect(interceptors).toHaveLength(1); // the preset folded both observers into one layer
    const harness = await startHarness({ clientInterceptors: interceptors });
    try {
      await unary(harness.client, { message: 'a' });
      await unary(harness.client, { message: 'b' });
      const m = await meters.collect();
      const base = { 'grpc.method': UNARY, 'grpc.target': 'dns:///users:1' };
      expect(counterAt(m.get('grpc.client.attempt.started'), base)).toBe(2);
      expect(
        histogramAt(m.get('grpc.client.attempt.duration'), { ...base, 'grpc.status': 'OK' })?.count,
      ).toBe(2);
      expect(histogramAt(m.get('grpc.client.call.duration'), { ...base, 'grpc.status': 'OK' })?.count).toBe(
        2,
      );
    } finally {
      await harness.close();
    }
  });
});
