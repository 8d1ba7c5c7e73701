import { context, ROOT_CONTEXT, TraceFlags, trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { currentTrace } from '../src/index';
import { metadataAttributeKeys } from '../src/options';
import { parsePeer } from '../src/peer-address';
import { setupOtel } from './otel';

setupOtel();

describe('parsePeer', () => {
  it.each([
    ['127.0.0.1:5555', { address: '127.0.0.1', port: 5555 }],
    ['ipv4:10.0.0.1:80', { address: '10.0.0.1', port: 80 }],
    ['::1:5555', { address: '::1', port: 5555 }],
    ['::ffff:127.0.0.1:41000', { address: '::ffff:127.0.0.1', port: 41000 }],
    ['[::1]:5555', { address: '::1', port: 5555 }],
    ['ipv6:[fe80::1]:443', { address: 'fe80::1', port: 443 }],
    ['fe80::1', { address: 'fe80::1', port: undefined }],
    ['10.0.0.1', { address: '10.0.0.1', port: undefined }],
    ['/tmp/grpc.sock', { address: '/tmp/grpc.sock', port: undefined }],
    ['unknown', undefined],
    ['', undefined],
  ])('splits %s', (peer, expected) => {
    expect(parsePeer(peer)).toEqual(expected);
  });
});

describe('metadataAttributeKeys', () => {
  it('lower-cases, trims and de-duplicates keys', () => {
    expect(metadataAttributeKeys([' X-Tenant ', 'x-tenant', 'x-region'])).toEqual([
      ['x-tenant', 'rpc.grpc.request.metadata.x-tenant'],
      ['x-region', 'rpc.grpc.request.metadata.x-region'],
    ]);
  });

  it.each([
    'authorization',
    'proxy-authorization',
    'x-csrf-token',
    'Cookie',
    'x-client-secret',
    'password',
    'apikey',
  ])('refuses %s with a message naming the key', (key) => {
    expect(() => metadataAttributeKeys([key])).toThrow(`refusing to record metadata key "${key}"`);
  });

  it('refuses empty and binary keys', () => {
    expect(() => metadataAttributeKeys([' '])).toThrow(/empty key/);
    expect(() => metadataAttributeKeys(['x-blob-bin'])).toThrow(/binary metadata key "x-blob-bin"/);
  });
});

describe('currentTrace', () => {
  it('is undefined outside any span', () => {
    expect(currentTrace()).toBeUndefined();
    expect(currentTrace(ROOT_CONTEXT)).toBeUndefined();
  });

  it('is undefined for an invalid span context', () => {
    const ctx = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: '0'.repeat(32),
      spanId: '0'.repeat(16),
      traceFlags: 0,
    });
    expect(context.with(ctx, () => currentTrace())).toBeUndefined();
  });

  it('reads the ids and sampling flag of a remote or non-recording span', () => {
    const ctx = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: 'a'.repeat(32),
      spanId: 'b'.repeat(16),
      traceFlags: TraceFlags.NONE,
      isRemote: true,
    });
    expect(context.with(ctx, () => currentTrace())).toEqual({
      traceId: 'a'.repeat(32),
      spanId: 'b'.repeat(16),
      sampled: false,
    });
  });
});
