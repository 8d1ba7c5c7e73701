/** The demo with ETCD_ENDPOINTS: registration, discovery over two replicas, live limits (real etcd). */
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EtcdServer, startEtcd } from '../../../packages/etcd/test/etcd-server';
import { binary, waitUntil } from '../../../test/harness/servers';
import { demoClientInterceptors } from '../src/client-interceptors';
import { loadConfig } from '../src/config';
import { call, demoTarget, userClient } from '../src/demo-client';
import { type RunningDemo, startDemo } from '../src/demo-server';

const etcdBin = binary('etcd', 'etcd-server');
const quiet = pino({ level: 'silent' });

async function handled(demo: RunningDemo): Promise<number> {
  return (await demo.registry.metrics())
    .split('\n')
    .filter((l) => l.startsWith('grpc_server_handled_total{') && l.includes('GetUser'))
    .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
}

describe.runIf(etcdBin.run)('demo with etcd', () => {
  let etcd: EtcdServer;
  let replicas: RunningDemo[];
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    etcd = await startEtcd(etcdBin);
    env = {
      GRPC_PORT: '0',
      METRICS_PORT: '0',
      OTEL_METRICS_PORT: '0',
      ETCD_ENDPOINTS: etcd.endpoint,
      ETCD_CONFIG_KEY: '/config/demo-test',
    };
    replicas = [await startDemo(loadConfig(env), quiet), await startDemo(loadConfig(env), quiet)];
    const client = etcd.client();
    await waitUntil(
      'both replicas registered',
      async () => (await client.getAll().prefix('/services/user-service/').keys()).length === 2,
    );
  }, 60_000);
  afterAll(async () => {
    for (const demo of replicas ?? []) await demo.shutdown();
    await etcd?.stop();
  });

  it('spreads the demo client calls over both replicas found through etcd', async () => {
    const target = demoTarget(env);
    expect(target).toBe('etcd:///user-service');
    const client = userClient({ address: target, interceptors: demoClientInterceptors() });
    const before = await Promise.all(replicas.map(handled));
    for (let i = 0; i < 20; i++) {
      await expect(call(client, 'GetUser', { id: 'missing' })).rejects.toMatchObject({
        code: grpc.status.NOT_FOUND,
      });
    }
    client.close();
    const after = await Promise.all(replicas.map(handled));
    const served = after.map((n, i) => n - (before[i] ?? 0));
    // round_robin alternates once both connections are up; the very first calls may go to one.
    expect(served.reduce((a, b) => a + b, 0)).toBe(20);
    for (const n of served) expect(n).toBeGreaterThanOrEqual(7);
  });

  it('applies limits written to etcd live, and refuses an invalid document', async () => {
    const kv = etcd.client();
    await kv.put('/config/demo-test').value(JSON.stringify({ rateLimitRps: 0.001, rateLimitBurst: 1 }));
    const client = userClient({ address: demoTarget(env), interceptors: demoClientInterceptors() });
    const codes = async () => {
      const out: number[] = [];
      for (let i = 0; i < 4; i++) {
        out.push(
          await call(client, 'GetUser', { id: 'missing' }).then(
            () => 0,
            (e: grpc.ServiceError) => e.code,
          ),
        );
      }
      return out;
    };
    await waitUntil(
      'the new limit',
      async () => (await codes()).includes(grpc.status.RESOURCE_EXHAUSTED),
      10_000,
    );
    await kv.put('/config/demo-test').value(JSON.stringify({ rateLimitRps: -5 }));
    await new Promise((resolve) => setTimeout(resolve, 500));
    // The refused document changed nothing: the strict limit is still in force.
    expect(await codes()).toContain(grpc.status.RESOURCE_EXHAUSTED);
    client.close();
  });

  it('deregisters on shutdown before it stops serving', async () => {
    const kv = etcd.client();
    const extra = await startDemo(loadConfig(env), quiet);
    await waitUntil(
      'three replicas',
      async () => (await kv.getAll().prefix('/services/user-service/').keys()).length === 3,
    );
    await extra.shutdown();
    expect((await kv.getAll().prefix('/services/user-service/').keys()).length).toBe(2);
  });
});
