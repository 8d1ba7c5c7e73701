import { describe, expect, it } from 'vitest';
import { serverAddressOf } from '../src/index';

describe('serverAddressOf', () => {
  // The first five rows are the examples of the OpenTelemetry gRPC conventions (docs/rpc/grpc.md).
  it.each([
    ['grpc.io:50051', { address: 'grpc.io', port: 50051 }],
    ['dns://1.2.3.4/grpc.io:50051', { address: 'grpc.io', port: 50051 }],
    [
      'unix:///run/containerd/containerd.sock',
      { address: '/run/containerd/containerd.sock', port: undefined },
    ],
    ['zk://zookeeper:2181/my-server', { address: 'zk://zookeeper:2181/my-server', port: undefined }],
    [
      'ipv4:198.51.100.123:50051,198.51.100.124:50051',
      { address: 'ipv4:198.51.100.123:50051,198.51.100.124:50051', port: undefined },
    ],
    ['dns:///users.prod:443', { address: 'users.prod', port: 443 }],
    ['dns:users:8080', { address: 'users', port: 8080 }],
    ['localhost', { address: 'localhost', port: undefined }],
    ['127.0.0.1:5000', { address: '127.0.0.1', port: 5000 }],
    ['[::1]:5000', { address: '::1', port: 5000 }],
    ['::1', { address: '::1', port: undefined }],
    ['ipv4:10.0.0.1:7000', { address: '10.0.0.1', port: 7000 }],
    ['ipv6:[::1]:7000', { address: '::1', port: 7000 }],
    ['unix:relative.sock', { address: 'relative.sock', port: undefined }],
    ['etcd:///users', { address: 'etcd:///users', port: undefined }],
    ['xds:///users', { address: 'xds:///users', port: undefined }],
    ['users:99999', { address: 'users:99999', port: undefined }],
  ])('%s', (target, expected) => {
    expect(serverAddressOf(target)).toEqual(expected);
  });

  it('gives nothing for an empty target', () => {
    expect(serverAddressOf('')).toBeUndefined();
  });
});
