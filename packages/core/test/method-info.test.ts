import { describe, expect, it } from 'vitest';
import { callType, codeName, methodInfo } from '../src/index';

describe('methodInfo', () => {
  it.each([
    ['/weft.test.TestService/Unary', false, false, 'weft.test.TestService', 'Unary', 'unary'],
    ['/pkg.v1.Svc/Up', true, false, 'pkg.v1.Svc', 'Up', 'client_stream'],
    ['/Svc/Down', false, true, 'Svc', 'Down', 'server_stream'],
    ['/a.b.C/Both', true, true, 'a.b.C', 'Both', 'bidi_stream'],
  ])('parses %s', (path, requestStream, responseStream, service, method, type) => {
    const info = methodInfo({ path, requestStream, responseStream });
    expect(info).toEqual({ path, fullMethod: path.slice(1), service, method, type });
  });

  it('returns the same frozen object for the same path, so per-method work is done once', () => {
    const shape = { path: '/x.Y/Z', requestStream: false, responseStream: false };
    expect(methodInfo(shape)).toBe(methodInfo({ ...shape }));
    expect(Object.isFrozen(methodInfo(shape))).toBe(true);
  });

  it('keeps a path without a service as the method', () => {
    expect(methodInfo({ path: 'odd', requestStream: false, responseStream: false })).toMatchObject({
      service: 'unknown',
      method: 'odd',
    });
  });

  it('names call types like go-grpc-prometheus', () => {
    expect([
      callType(false, false),
      callType(true, false),
      callType(false, true),
      callType(true, true),
    ]).toEqual(['unary', 'client_stream', 'server_stream', 'bidi_stream']);
  });
});

describe('codeName', () => {
  it.each([
    [0, 'OK'],
    [1, 'Canceled'],
    [4, 'DeadlineExceeded'],
    [5, 'NotFound'],
    [8, 'ResourceExhausted'],
    [14, 'Unavailable'],
    [16, 'Unauthenticated'],
    [99, 'Unknown'],
  ])('code %i is %s', (code, name) => {
    expect(codeName(code)).toBe(name);
  });
});
