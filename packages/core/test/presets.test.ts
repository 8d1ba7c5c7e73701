import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, startHarness, unary } from '../../../test/harness';
import {
  clientInterceptors,
  observeClient,
  observeServer,
  type StagedServerInterceptor,
  serverInterceptors,
  stagedInterceptor,
} from '../src/index';

/** A server interceptor that records its name when a request passes it. */
function named(name: string, order: string[]): grpc.ServerInterceptor {
  return (_definition, call) =>
    new grpc.ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, mdNext) {
            order.push(name);
            mdNext(metadata);
          },
        });
      },
    });
}

function namedClient(name: string, order: string[]): grpc.Interceptor {
  return (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        order.push(name);
        next(metadata, listener);
      },
    });
}

describe('serverInterceptors', () => {
  let harness: Harness | undefined;
  afterEach(async () => harness?.close());

  it('runs interceptors in the documented order, whatever order they are given in', async () => {
    const order: string[] = [];
    const list = serverInterceptors({
      recovery: named('recovery', order),
      concurrencyLimit: named('concurrency', order),
      rateLimit: named('rateLimit', order),
      auth: named('auth', order),
      peerIdentity: named('peerIdentity', order),
      deadline: named('deadline', order),
      logging: named('logging', order),
      metrics: named('metrics', order),
      tracing: named('tracing', order),
      extra: [named('mine', order)],
    });
    harness = await startHarness({ serverInterceptors: list });
    await unary(harness.client, {});
    expect(order).toEqual([
      'tracing',
      'metrics',
      'logging',
      'deadline',
      'peerIdentity',
      'auth',
      'rateLimit',
      'concurrency',
      'mine',
      'recovery',
    ]);
  });

  it('adds recovery by default and folds neighbouring weft interceptors into one layer', () => {
    const a = observeServer({ start: () => undefined });
    const b = observeServer({ start: () => undefined });
    const folded = serverInterceptors({ metrics: a, logging: b });
    expect(folded).toHaveLength(1);
    // One stage per observer, one for recovery.
    expect((folded[0] as StagedServerInterceptor).stages).toHaveLength(3);
    expect(serverInterceptors({ metrics: a, recovery: false })).toEqual([a]);
    // An interceptor of the user's own splits the layer.
    const mine = named('mine', []);
    const split = serverInterceptors({ metrics: a, logging: b, extra: [mine] });
    expect(split).toHaveLength(3);
    expect(split[1]).toBe(mine);
  });

  it('runs folded stages in the documented order, requests inward and statuses outward', async () => {
    const order: string[] = [];
    const stage = (name: string) =>
      stagedInterceptor({
        start: () => ({
          onReceiveMetadata: () => void order.push(`in:${name}`),
          onSendStatus: (status) => {
            order.push(`out:${name}`);
            return status;
          },
        }),
      });
    const list = serverInterceptors({
      recovery: stage('recovery'),
      rateLimit: stage('rateLimit'),
      auth: stage('auth'),
      deadline: stage('deadline'),
      tracing: stage('tracing'),
    });
    expect(list).toHaveLength(1);
    harness = await startHarness({ serverInterceptors: list });
    await unary(harness.client, {});
    expect(order).toEqual([
      'in:tracing',
      'in:deadline',
      'in:auth',
      'in:rateLimit',
      'in:recovery',
      'out:recovery',
      'out:rateLimit',
      'out:auth',
      'out:deadline',
      'out:tracing',
    ]);
  });
});

describe('clientInterceptors', () => {
  let harness: Harness | undefined;
  afterEach(async () => harness?.close());

  it('runs client interceptors in the documented order', async () => {
    const order: string[] = [];
    const list = clientInterceptors({
      auth: namedClient('auth', order),
      circuitBreaker: namedClient('breaker', order),
      throttle: namedClient('throttle', order),
      retry: namedClient('retry', order),
      deadline: namedClient('deadline', order),
      logging: namedClient('logging', order),
      metrics: namedClient('metrics', order),
      tracing: namedClient('tracing', order),
    });
    harness = await startHarness({ clientInterceptors: list });
    await unary(harness.client, {});
    expect(order).toEqual([
      'tracing',
      'metrics',
      'logging',
      'deadline',
      'retry',
      'breaker',
      'throttle',
      'auth',
    ]);
    expect(clientInterceptors({ metrics: observeClient(), logging: observeClient() })).toHaveLength(1);
  });
});
