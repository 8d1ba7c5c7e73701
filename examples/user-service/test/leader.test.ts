/** The demo with LEADER_ONLY_METHODS: two replicas, one leader elected in etcd (real etcd). */
import * as grpc from '@grpc/grpc-js';
import { bearerToken } from '@weft/auth';
import { LEADER_TRAILER } from '@weft/etcd';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EtcdServer, startEtcd } from '../../../packages/etcd/test/etcd-server';
import { binary, waitUntil } from '../../../test/harness/servers';
import { demoClientInterceptors } from '../src/client-interceptors';
import { loadConfig } from '../src/config';
import { call, demoTarget, userClient } from '../src/demo-client';
import { DISCOVERY_NAME, type RunningDemo, startDemo } from '../src/demo-server';
import { mintToken, READ_SCOPE, WRITE_SCOPE } from '../src/tokens';

const etcdBin = binary('etcd', 'etcd-server');
const quiet = pino({ level: 'silent' });

describe.runIf(etcdBin.run)('demo with LEADER_ONLY_METHODS', () => {
  let etcd: EtcdServer;
  let leader: RunningDemo;
  let follower: RunningDemo;
  let env: NodeJS.ProcessEnv;
  const clients: grpc.Client[] = [];

  /** A client straight to one replica, with a token and nothing that retries. */
  const direct = (demo: RunningDemo) => {
    const token = mintToken(loadConfig(env).jwt, {
      subject: 'test',
      scope: `${READ_SCOPE} ${WRITE_SCOPE}`,
      ttlSeconds: 600,
    });
    const client = userClient({ address: demo.address, interceptors: [bearerToken(token)] });
    clients.push(client);
    return client;
  };
  const deleteMissing = (client: ReturnType<typeof userClient>) =>
    call(client, 'DeleteUser', { id: 'missing' }).then(
      () => ({ code: grpc.status.OK, details: '', metadata: new grpc.Metadata() }),
      (error: grpc.ServiceError) => error,
    );

  beforeAll(async () => {
    etcd = await startEtcd(etcdBin);
    env = {
      GRPC_PORT: '0',
      METRICS_PORT: '0',
      OTEL_METRICS_PORT: '0',
      ETCD_ENDPOINTS: etcd.endpoint,
      ETCD_CONFIG_KEY: '/config/leader-test',
      LEADER_ONLY_METHODS: 'DeleteUser',
      // 10 s: a handover by resigning (immediate) is then told apart from one by lease expiry
      // (at least ~6.7 s after the last keepalive) even on a busy machine.
      LEADER_TTL: '10',
    };
    const kv = etcd.client();
    leader = await startDemo(loadConfig(env), quiet);
    await waitUntil('a leader', async () => (await kv.election(DISCOVERY_NAME).leader()) === leader.address);
    follower = await startDemo(loadConfig(env), quiet);
    await waitUntil(
      'two candidates',
      async () => (await kv.getAll().prefix(`election/${DISCOVERY_NAME}/`).keys()).length === 2,
    );
  }, 60_000);
  afterAll(async () => {
    for (const c of clients) c.close();
    await leader?.shutdown();
    await follower?.shutdown();
    await etcd?.stop();
  });

  it('refuses LEADER_ONLY_METHODS on the follower with UNAVAILABLE naming the leader', async () => {
    const onFollower = await deleteMissing(direct(follower));
    expect(onFollower.code).toBe(grpc.status.UNAVAILABLE);
    expect(onFollower.metadata.get(LEADER_TRAILER)).toEqual([leader.address]);
    // The leader runs the handler (which finds no such user); other methods run everywhere.
    expect((await deleteMissing(direct(leader))).code).toBe(grpc.status.NOT_FOUND);
    await expect(call(direct(follower), 'GetUser', { id: 'missing' })).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
    });
  });

  it('sends every call to the leader through ADDRESS=etcd-leader:///user-service', async () => {
    const target = demoTarget({ ...env, ADDRESS: `etcd-leader:///${DISCOVERY_NAME}` });
    expect(target).toBe('etcd-leader:///user-service');
    const client = userClient({ address: target, interceptors: demoClientInterceptors({ env }) });
    clients.push(client);
    for (let i = 0; i < 5; i++) expect((await deleteMissing(client)).code).toBe(grpc.status.NOT_FOUND);
  });

  it('hands the leadership to the follower when the leader shuts down', async () => {
    const client = userClient({
      address: demoTarget({ ...env, ADDRESS: `etcd-leader:///${DISCOVERY_NAME}` }),
      interceptors: demoClientInterceptors({ env }),
    });
    clients.push(client);
    const stopped = Date.now();
    await leader.shutdown();
    await waitUntil(
      'the follower to serve DeleteUser',
      async () => (await deleteMissing(direct(follower))).code === grpc.status.NOT_FOUND,
      8000,
    );
    // Resigned, not expired: a lease of 10 s would have taken at least ~6.7 s.
    expect(Date.now() - stopped).toBeLessThan(5000);
    expect((await deleteMissing(client)).code).toBe(grpc.status.NOT_FOUND);
  });

  it('refuses LEADER_ONLY_METHODS without ETCD_ENDPOINTS', () => {
    expect(() => loadConfig({ LEADER_ONLY_METHODS: 'DeleteUser' })).toThrow(/needs ETCD_ENDPOINTS/);
  });
});
