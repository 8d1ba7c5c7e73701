/**
 * The three layouts the resolver reads (weft's documents, etcd's Go `naming/endpoints` documents,
 * the seed's plain `host:port` values), the Go format `registerService` can write, the empty
 * prefix that expresses Go's usual targets, and unreadable values reported with their key.
 */
import * as grpc from '@grpc/grpc-js';
import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness, type TestServiceClient, testProto, unary } from '../../../test/harness';
import { binary, waitUntil } from '../../../test/harness/servers';
import {
  decodeInstance,
  encodeGoEndpoint,
  registerEtcdResolver,
  registerService,
  type ServiceInstance,
  type ServiceRegistration,
  UnreadableInstanceError,
  watchInstances,
} from '../src/index';
import { type EtcdServer, startEtcd } from './etcd-server';

const bin = binary('etcd', 'etcd-server');
const ROUND_ROBIN = { 'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }) };

describe('decodeInstance', () => {
  it.each([
    [
      'a weft document',
      '{"version":1,"address":"10.0.0.7:50051","metadata":{"zone":"a"},"registeredAt":"2025-01-01T00:00:00Z"}',
      { format: 'weft', address: '10.0.0.7:50051', metadata: { zone: 'a' } },
    ],
    [
      'a Go endpoints document',
      '{"Op":0,"Addr":"127.0.0.1:56061","Metadata":null}',
      { format: 'go-endpoints', address: '127.0.0.1:56061', metadata: {} },
    ],
    [
      'a Go endpoints document with metadata (string values kept)',
      '{"Op":0,"Addr":"[::1]:8080","Metadata":{"zone":"b","weight":3}}',
      { format: 'go-endpoints', address: '[::1]:8080', metadata: { zone: 'b' } },
    ],
    [
      'a plain host:port (the seed)',
      '192.168.1.100:8080',
      { format: 'plain', address: '192.168.1.100:8080' },
    ],
    [
      'a plain address with a newline',
      '192.168.1.100:8080\n',
      { format: 'plain', address: '192.168.1.100:8080' },
    ],
    ['a JSON string address', '"10.0.0.1:80"', { format: 'plain', address: '10.0.0.1:80' }],
    ['a unix socket', 'unix:///run/users.sock', { format: 'plain', address: 'unix:///run/users.sock' }],
  ])('reads %s', (_what, raw, expected) => {
    const decoded = decodeInstance(raw);
    expect(decoded.ok ? decoded.instance : decoded.reason).toMatchObject(expected);
  });

  it.each([
    ['a weft document of an unknown version', '{"version":2,"address":"10.0.0.7:1"}', /version 2/],
    ['a weft document without an address', '{"version":1,"metadata":{}}', /without a usable address/],
    ['a Go document with an empty Addr', '{"Op":0,"Addr":"","Metadata":null}', /Addr ""/],
    ['a Go document with Op 1 (Delete)', '{"Op":1,"Addr":"10.0.0.7:1"}', /Op 1/],
    ['some other JSON object', '{"host":"10.0.0.7","port":1}', /neither/],
    ['an address without a port', '10.0.0.7', /not a host:port/],
    ['a port out of range', '10.0.0.7:70000', /not a host:port/],
    ['free text', 'hello world', /not a host:port/],
    ['an empty value', '', /empty/],
  ])('refuses %s with a reason', (_what, raw, reason) => {
    const decoded = decodeInstance(raw);
    expect(decoded.ok).toBe(false);
    if (!decoded.ok) expect(decoded.reason).toMatch(reason);
  });

  it('encodes the Go format byte for byte as endpoints.Manager writes it', () => {
    expect(encodeGoEndpoint('127.0.0.1:56061')).toBe('{"Op":0,"Addr":"127.0.0.1:56061","Metadata":null}');
  });
});

describe.runIf(bin.run)('layouts on a real etcd', () => {
  let etcd: EtcdServer;
  let client: Etcd3;
  const servers: Harness[] = [];
  const channels: grpc.Client[] = [];
  const registrations: ServiceRegistration[] = [];
  const resolverErrors: Error[] = [];

  const served = new Map<string, string>(); // address -> name
  const startServer = async (name: string) => {
    const server = await startHarness({ probe: () => ({ name }) });
    servers.push(server);
    served.set(server.address, name);
    return server;
  };
  const channel = (target: string): TestServiceClient => {
    const c = new (testProto().weft.test.TestService)(target, grpc.credentials.createInsecure(), ROUND_ROBIN);
    channels.push(c);
    return c;
  };
  /** Which servers (by name) `n` calls reached. */
  const reached = async (c: TestServiceClient, n: number) => {
    const names = new Set<string>();
    for (let i = 0; i < n; i++) {
      const result = await unary(c, { message: 'x' }, { deadline: Date.now() + 3000 });
      expect(result.status.code, result.status.details).toBe(grpc.status.OK);
      names.add(result.responses[0]?.context.name ?? '?');
    }
    return [...names].sort();
  };

  beforeAll(async () => {
    etcd = await startEtcd(bin);
    client = etcd.client();
    const onError = (error: Error) => resolverErrors.push(error);
    registerEtcdResolver({ client, scheme: 'layouts', retryInitialMs: 100, onError });
    // Go's usual targets have no leading slash: `endpoints.NewManager(c, "user-service")` writes
    // `user-service/<id>`. An empty prefix reads exactly that.
    registerEtcdResolver({ client, scheme: 'gostyle', prefix: '', retryInitialMs: 100, onError });
  });
  afterAll(async () => {
    for (const c of channels) c.close();
    await Promise.all(registrations.map((r) => r.deregister().catch(() => undefined)));
    await Promise.all(servers.map((s) => s.close()));
    await etcd?.stop();
  });

  it('resolves weft, Go endpoints and plain host:port instances of one service together', async () => {
    const [a, b, c] = [await startServer('weft'), await startServer('go'), await startServer('plain')];
    const weft = registerService({ client, service: 'mixed', address: a.address, instanceId: 'a' });
    registrations.push(weft);
    await weft.ready;
    await client.put('/services/mixed/b').value(`{"Op":0,"Addr":"${b.address}","Metadata":null}`);
    await client.put('/services/mixed/c').value(c.address);

    const seen: ServiceInstance[][] = [];
    const watch = watchInstances({ client, service: 'mixed', onUpdate: (instances) => seen.push(instances) });
    await waitUntil('the instance list', async () => seen.length > 0, 5000);
    await watch.close();
    expect(seen.at(-1)?.map((i) => [i.id, i.format, i.address])).toEqual([
      ['a', 'weft', a.address],
      ['b', 'go-endpoints', b.address],
      ['c', 'plain', c.address],
    ]);

    const mixed = channel('layouts:///mixed');
    await waitUntil('calls to reach all three', async () => (await reached(mixed, 6)).length === 3, 5000);
    expect(await reached(mixed, 6)).toEqual(['go', 'plain', 'weft']);
  });

  it('reads Go-style targets under an empty prefix, without matching a longer name', async () => {
    const [users, admin] = [await startServer('users'), await startServer('users-admin')];
    await client.put('user-service/127.0.0.1:1').value(`{"Op":0,"Addr":"${users.address}","Metadata":null}`);
    // Go's own resolver would pick this one up for etcd:///user-service too (it reads the prefix
    // without a trailing slash); weft must not.
    await client.put('user-service-admin/x').value(`{"Op":0,"Addr":"${admin.address}","Metadata":null}`);
    const c = channel('gostyle:///user-service');
    expect(await reached(c, 6)).toEqual(['users']);
  });

  it('writes the Go endpoints format under an empty prefix when asked', async () => {
    const registration = registerService({
      client,
      service: 'node-users',
      address: '127.0.0.1:50051',
      prefix: '',
      format: 'go-endpoints',
      instanceId: 'n1',
    });
    registrations.push(registration);
    await registration.ready;
    expect(registration.key).toBe('node-users/n1');
    expect(await client.get('node-users/n1').string()).toBe(
      '{"Op":0,"Addr":"127.0.0.1:50051","Metadata":null}',
    );
  });

  it('refuses metadata in the Go format (a Metadata object crashes round_robin Go clients)', () => {
    expect(() =>
      registerService({
        client,
        service: 'x',
        address: '127.0.0.1:1',
        format: 'go-endpoints',
        metadata: { zone: 'a' },
      }),
    ).toThrow(/option "metadata" cannot be registered in the 'go-endpoints' format/);
  });

  it('fails calls naming the count and key of unreadable documents instead of "no instances"', async () => {
    resolverErrors.length = 0;
    await client.put('/services/broken/v2').value('{"version":2,"address":"127.0.0.1:1"}');
    await client.put('/services/broken/empty').value('{"Op":0,"Addr":"","Metadata":null}');
    const broken = channel('layouts:///broken');
    const result = await unary(broken, { message: 'x' }, { deadline: Date.now() + 3000 });
    expect(result.status.code).toBe(grpc.status.UNAVAILABLE);
    expect(result.status.details).toMatch(/2 unreadable/);
    expect(result.status.details).toMatch(/\/services\/broken\/empty: Go endpoints document with Addr ""/);
    expect(result.status.details).not.toMatch(/no instances of broken registered/);
    const reported = resolverErrors.filter((e) => e instanceof UnreadableInstanceError);
    expect(reported.map((e) => (e as UnreadableInstanceError).key).sort()).toEqual([
      '/services/broken/empty',
      '/services/broken/v2',
    ]);

    // A readable instance next to them is used; the unreadable ones are not reported again.
    const ok = await startServer('next-to-broken');
    await client.put('/services/broken/ok').value(ok.address);
    await waitUntil(
      'a call to succeed',
      async () => (await unary(broken, { message: 'x' })).status.code === grpc.status.OK,
      5000,
    );
    expect(resolverErrors.filter((e) => e instanceof UnreadableInstanceError)).toHaveLength(2);
  });
});
