import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, METHODS, SHAPES, startHarness, unary } from '../../../test/harness';
import { type MethodInfo, type MethodMatcher, not, selector, toPredicate } from '../src/index';

const info = (path: string, type: MethodInfo['type'] = 'unary'): MethodInfo => ({
  path,
  fullMethod: path.slice(1),
  service: path.slice(1, path.lastIndexOf('/')),
  method: path.slice(path.lastIndexOf('/') + 1),
  type,
});

describe('toPredicate', () => {
  it.each<[string, MethodMatcher, MethodInfo, boolean]>([
    ['full method', { fullMethod: 'a.B/C' }, info('/a.B/C'), true],
    ['full method given as path', { fullMethod: '/a.B/C' }, info('/a.B/C'), true],
    ['other method', { fullMethod: 'a.B/C' }, info('/a.B/D'), false],
    ['service list', { service: ['x.Y', 'a.B'] }, info('/a.B/D'), true],
    ['type', { type: 'bidi_stream' }, info('/a.B/D', 'bidi_stream'), true],
    ['type mismatch', { type: ['unary'] }, info('/a.B/D', 'server_stream'), false],
    ['all fields must match', { service: 'a.B', type: 'unary' }, info('/a.B/D', 'bidi_stream'), false],
    ['predicate', (m: MethodInfo) => m.method.startsWith('Get'), info('/a.B/GetX'), true],
    ['not', not({ service: 'grpc.health.v1.Health' }), info('/grpc.health.v1.Health/Check'), false],
  ])('%s', (_name, matcher, method, expected) => {
    expect(toPredicate(matcher)(method)).toBe(expected);
  });
});

describe('selector', () => {
  let harness: Harness | undefined;
  afterEach(async () => harness?.close());

  const rejectAll: grpc.ServerInterceptor = (_definition, call) =>
    new grpc.ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata() {
            call.sendStatus({ code: grpc.status.PERMISSION_DENIED, details: 'selected' });
          },
        });
      },
    });

  it('applies a server interceptor only to matching methods, on every call shape', async () => {
    harness = await startHarness({
      serverInterceptors: [selector(rejectAll, { type: ['server_stream', 'bidi_stream'] })],
    });
    const codes: Record<string, number> = {};
    for (const [shape, run] of Object.entries(SHAPES))
      codes[shape] = (await run(harness.client, {})).status.code;
    expect(codes).toEqual({
      unary: grpc.status.OK,
      server_stream: grpc.status.PERMISSION_DENIED,
      client_stream: grpc.status.OK,
      bidi_stream: grpc.status.PERMISSION_DENIED,
    });
  });

  it('applies a client interceptor only to matching methods', async () => {
    const tagged: string[] = [];
    const tag: grpc.Interceptor = (options, nextCall) => {
      tagged.push(options.method_definition.path);
      return new grpc.InterceptingCall(nextCall(options));
    };
    harness = await startHarness({ clientInterceptors: [selector(tag, { fullMethod: METHODS.fail })] });
    await unary(harness.client, {});
    await unary(harness.client, {}, {}, 'Fail');
    await unary(harness.client, {});
    expect(tagged).toEqual([METHODS.fail]);
  });
});
