import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness, type TestServiceClient, testProto, unary } from '../../../test/harness';
import { binary, waitUntil } from '../../../test/harness/servers';
import {
  ETCD_RESOLVER_DEFAULTS,
  type EtcdResolverOptions,
  registerEtcdResolver,
  registerService,
  type ServiceRegistration,
} from '../src/index';
import { type EtcdServer, startEtcd } from './etcd-server';
import { optionErrorOf } from './option-error';

const bin = binary('etcd', 'etcd-server');
const ROUND_ROBIN = { 'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }) };

describe.runIf(bin.run)('etcd:/// resolver (real etcd)', () => {
  let etcd: EtcdServer;
  let client: Etcd3;
  const servers: Harness[] = [];
  const registrations: ServiceRegistration[] = [];
  const channels: grpc.Client[] = [];
  const resolverErrors: string[] = [];
  const children: ChildProcess[] = [];

  const startServer = async () => {
    const server = await startHarness();
    servers.push(server);
    return server;
  };
  const register = (server: Harness) => {
    const registration = registerService({
      client,
      service: 'users',
      address: server.address,
      ttl: 2,
      retryInitialMs: 100,
      onError: () => undefined,
    });
    registrations.push(registration);
    return registration;
  };
  const channel = (target: string, options: grpc.ClientOptions = ROUND_ROBIN): TestServiceClient => {
    const c = new (testProto().weft.test.TestService)(target, grpc.credentials.createInsecure(), options);
    channels.push(c);
    return c;
  };
  /** Registers `server` from a child process (killed with SIGKILL to simulate a crash). */
  const registerInChild = async (server: Harness): Promise<ChildProcess> => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(__dirname, 'fixtures', 'register-child.ts')],
      {
        env: { ...process.env, ETCD_ENDPOINT: etcd.endpoint, ADDRESS: server.address, TTL: '2' },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`registering child exited with ${code}`)));
      child.stdout?.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('registered')) resolve();
      });
    });
    return child;
  };
  /** The registration every test uses (a test that registers `etcd` itself restores it). */
  const registerForTests = () =>
    registerEtcdResolver({
      client,
      retryInitialMs: 100,
      retryMaxMs: 1000,
      onError: (error) => resolverErrors.push(error.message),
    });
  const handled = (server: Harness) => server.handled.get('Unary') ?? 0;
  /** Runs `n` calls and returns how many each server handled. */
  const spread = async (users: TestServiceClient, n = 20) => {
    const before = servers.map(handled);
    for (let i = 0; i < n; i++) {
      const result = await unary(users, { message: `m${i}` });
      expect(result.status.code, result.status.details).toBe(grpc.status.OK);
    }
    return servers.map((s, i) => handled(s) - (before[i] ?? 0));
  };

  beforeAll(async () => {
    etcd = await startEtcd(bin);
    client = etcd.client();
    registerForTests();
  });
  afterAll(async () => {
    for (const c of channels) c.close();
    for (const child of children) child.kill('SIGKILL');
    await Promise.all(registrations.map((r) => r.deregister().catch(() => undefined)));
    await Promise.all(servers.map((s) => s.close()));
    await etcd?.stop();
  });

  describe('one service, instances coming and going', () => {
    let users: TestServiceClient;
    let a: Harness;
    let b: Harness;
    let crashing: ChildProcess;

    it('resolves etcd:///users to the registered instance', async () => {
      a = await startServer();
      crashing = await registerInChild(a);
      users = channel('etcd:///users');
      expect(await spread(users, 5)).toEqual([5]);
    });

    it('spreads calls over a second instance once it registers', async () => {
      b = await startServer();
      await register(b).ready;
      await waitUntil(
        'calls to reach both instances',
        async () => {
          const [toA = 0, toB = 0] = await spread(users, 10);
          return toA > 0 && toB > 0;
        },
        5000,
      );
      const [toA = 0, toB = 0] = await spread(users, 20);
      expect(toA).toBe(10); // round_robin over two ready subchannels alternates
      expect(toB).toBe(10);
    });

    it('moves traffic off an instance whose lease expires (no deregistration) within TTL + margin', async () => {
      const started = Date.now();
      crashing.kill('SIGKILL'); // the keepalive dies with the process; nothing deregisters
      await waitUntil(
        'instance A to stop receiving calls',
        async () => {
          const [toA = 0] = await spread(users, 10);
          return toA === 0;
        },
        2000 * 2 + 3000,
      );
      expect(Date.now() - started).toBeLessThan(7000);
      const [toA = 0, toB = 0] = await spread(users, 10);
      expect([toA, toB]).toEqual([0, 10]);
    });

    it('keeps the last known addresses while etcd is down, then follows changes after it restarts', {
      timeout: 45_000,
    }, async () => {
      await etcd.kill();
      // etcd is gone: the channel keeps calling the instance it knew about.
      const [, toB = 0] = await spread(users, 5);
      expect(toB).toBe(5);
      await etcd.start();
      // A new instance registered after the restart shows up: the watch came back.
      const c = await startServer();
      await register(c).ready;
      await waitUntil(
        'calls to reach the instance registered after the restart',
        async () => {
          const [, , toC = 0] = await spread(users, 10);
          return toC > 0;
        },
        15_000,
      );
      // B's registration survived the restart (same lease, or re-registered after losing it: on a
      // busy machine that can take a moment after C shows up, hence the wait).
      await waitUntil(
        'both registrations in etcd and both instances called',
        async () => {
          const keys = await client.getAll().prefix('/services/users/').keys();
          const [, toB2 = 0, toC2 = 0] = await spread(users, 20);
          return keys.length === 2 && toB2 > 0 && toC2 > 0;
        },
        10_000,
      );
      expect(resolverErrors.some((m) => /watch disconnected|could not read/.test(m))).toBe(true);
    });

    it('stops routing to an instance as soon as it deregisters, and fails fast once none is left', async () => {
      const [regB, regC] = registrations.slice(-2);
      await regB?.deregister();
      await waitUntil(
        'B to stop receiving calls',
        async () => {
          const [, toB = 0] = await spread(users, 5);
          return toB === 0;
        },
        1000,
      ); // a watch event, not a TTL
      await regC?.deregister();
      await waitUntil(
        'calls to fail with the reason',
        async () => {
          const result = await unary(users, { message: 'x' }, { deadline: Date.now() + 1000 });
          return (
            result.status.code === grpc.status.UNAVAILABLE &&
            /no instances of users/.test(result.status.details)
          );
        },
        2000,
      );
    });
  });

  it('fails calls with UNAVAILABLE naming the service when nothing is registered', async () => {
    const nobody = channel('etcd:///nobody');
    const result = await unary(nobody, { message: 'x' }, { deadline: Date.now() + 3000 });
    expect(result.status.code).toBe(grpc.status.UNAVAILABLE);
    expect(result.status.details).toMatch(/no instances of nobody/);
  });

  it('fails calls with UNAVAILABLE when etcd was never reachable', async () => {
    const { Etcd3 } = await import('etcd3');
    const dead = new Etcd3({ hosts: 'http://127.0.0.1:1' });
    try {
      registerEtcdResolver({
        client: dead,
        scheme: 'etcd-dead',
        retryInitialMs: 100,
        onError: () => undefined,
      });
      const users = channel('etcd-dead:///users');
      const result = await unary(users, { message: 'x' }, { deadline: Date.now() + 5000 });
      expect(result.status.code).toBe(grpc.status.UNAVAILABLE);
      expect(result.status.details).toMatch(/etcd unreachable/);
      users.close();
    } finally {
      dead.close();
    }
  });

  it('fails calls naming the expected target when the path is not one service name', async () => {
    const result = await unary(channel('etcd:///a/b'), { message: 'x' }, { deadline: Date.now() + 3000 });
    expect(result.status.code).toBe(grpc.status.UNAVAILABLE);
    expect(result.status.details).toBe('etcd:///a/b: expected etcd:///<service>, got etcd:///a/b');
  });

  it('takes every optional option given as undefined as its default', async () => {
    const server = await startServer();
    const registration = registerService({ client, service: 'undefined-options', address: server.address });
    registrations.push(registration);
    await registration.ready;
    const options = Object.fromEntries(Object.keys(ETCD_RESOLVER_DEFAULTS).map((k) => [k, undefined]));
    try {
      // Scheme `etcd` and prefix `/services/` by default: the registration above is found.
      registerEtcdResolver({ ...options, client });
      const result = await unary(channel('etcd:///undefined-options'), { message: 'x' });
      expect(result.status.code, result.status.details).toBe(grpc.status.OK);
      expect(handled(server)).toBe(1);
    } finally {
      registerForTests();
    }
  });

  it('refuses options that cannot work at setup with an OptionError', () => {
    const refused = (options: Partial<EtcdResolverOptions>) =>
      optionErrorOf(
        () => registerEtcdResolver({ client, ...options } as EtcdResolverOptions),
        registerForTests,
      );
    expect(refused({ client: undefined })).toMatch(/^registerEtcdResolver: option "client" is required/);
    expect(refused({ scheme: 'etcd:' })).toMatch(/option "scheme" must be a URI scheme .*\(got "etcd:"\)/);
    expect(refused({ scheme: '' })).toMatch(/option "scheme" must be a URI scheme/);
    expect(refused({ retryInitialMs: 0 })).toMatch(/option "retryInitialMs" must be a positive number/);
    expect(refused({ retryMaxMs: Number.NaN })).toMatch(/option "retryMaxMs" must be a positive number/);
    expect(refused({ prefix: 1 as never })).toMatch(/option "prefix" must be a string/);
    expect(refused({ onError: 'log' as never })).toMatch(/option "onError" must be a function/);
  });
});
