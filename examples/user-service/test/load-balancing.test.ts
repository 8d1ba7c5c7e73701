/**
 * The demo as a replica behind load-aware balancing: its load reports (ORCA stream and weft_load_*
 * gauges), the slow-replica settings, LB_POLICY, and three replicas balanced through a real etcd.
 */
import * as grpc from '@grpc/grpc-js';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type DecodedReport, orcaClient } from '../../../packages/balancing/test/orca';
import { type EtcdServer, startEtcd } from '../../../packages/etcd/test/etcd-server';
import { parse, value } from '../../../packages/metrics/test/exposition';
import { binary, waitUntil } from '../../../test/harness/servers';
import { demoClientInterceptors } from '../src/client-interceptors';
import { loadConfig } from '../src/config';
import { call, demoTarget, userClient } from '../src/demo-client';
import { type RunningDemo, startDemo } from '../src/demo-server';
import { checkHealth } from '../src/health-client';
import { lbPolicyFromEnv, USER_KEY_HEADER } from '../src/lb-policy';
import { mintToken } from '../src/tokens';

const quiet = pino({ level: 'silent' });
const etcdBin = binary('etcd', 'etcd-server');
const ORCA = 'xds.service.orca.v3.OpenRcaService';
const PORTS = { GRPC_PORT: '0', METRICS_PORT: '0', OTEL_METRICS_PORT: '0' };

/** The demo's own exposition, parsed. */
async function scrape(demo: RunningDemo) {
  return parse(await demo.registry.metrics());
}

/** UserService calls this replica handled so far (any method, any code). */
async function handledCalls(demo: RunningDemo): Promise<number> {
  return (await scrape(demo))
    .filter(
      (s) => s.name === 'grpc_server_handled_total' && s.labels.grpc_service === 'weft.demo.v1.UserService',
    )
    .reduce((sum, s) => sum + s.value, 0);
}

/** Subscribes to the demo's ORCA stream with no credentials at all, as grpc-js's balancer does. */
function subscribe(demo: RunningDemo, intervalSeconds = 1) {
  const client = orcaClient(demo.address);
  const stream = client.StreamCoreMetrics({ report_interval: { seconds: intervalSeconds, nanos: 0 } });
  const reports: DecodedReport[] = [];
  stream.on('data', (report: DecodedReport) => reports.push(report));
  const ended = new Promise<grpc.StatusObject>((resolve) => stream.on('status', resolve));
  stream.on('error', () => {}); // the status says it
  return { client, stream, reports, ended };
}

/** Milliseconds `fn` took. */
async function timed(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

describe('the demo reports its load', () => {
  let demo: RunningDemo | undefined;
  afterEach(async () => {
    await demo?.shutdown();
    demo = undefined;
  });

  it('serves the ORCA stream without a token, and keeps it open past the default and maximum deadlines', async () => {
    demo = await startDemo(
      loadConfig({ ...PORTS, DEFAULT_DEADLINE_MS: '200', MAX_DEADLINE_MS: '300' }),
      quiet,
    );
    const orca = subscribe(demo);
    let status: grpc.StatusObject | undefined;
    void orca.ended.then((s) => (status = s));
    // The first report at once, the second a second later: 700 ms after MAX_DEADLINE_MS would have
    // ended the stream, and with no token it would have been refused before the first.
    await waitUntil('two load reports', async () => orca.reports.length >= 2 || status !== undefined);
    expect(status).toBeUndefined();
    expect(orca.reports[0]).toMatchObject({ cpu_utilization: expect.any(Number), eps: expect.any(Number) });
    orca.stream.cancel();
    orca.client.close();
  });

  it('exports the reports as weft_load_* gauges on its metrics endpoint', async () => {
    demo = await startDemo(loadConfig(PORTS), quiet);
    const client = userClient({ address: demo.address, interceptors: demoClientInterceptors() });
    for (let i = 0; i < 10; i++) await call(client, 'GetUser', { id: 'missing' }).catch(() => {});
    client.close();
    const running = demo;
    // The reports are measured every second: wait for one that saw the calls.
    await waitUntil('a report with the calls', async () => {
      const body = await (await fetch(running.metricsUrl)).text();
      return (value(parse(body), 'weft_load_calls_per_second') ?? 0) > 0;
    });
    const samples = await scrape(demo);
    for (const name of [
      'weft_load_cpu_utilization',
      'weft_load_application_utilization',
      'weft_load_event_loop_utilization',
      'weft_load_in_flight_calls',
      'weft_load_errors_per_second',
    ]) {
      expect(value(samples, name), name).toBeGreaterThanOrEqual(0);
    }
  });

  it('ends the ORCA streams when it drains, instead of waiting out the grace period for them', async () => {
    demo = await startDemo(loadConfig({ ...PORTS, SHUTDOWN_GRACE_SECONDS: '5' }), quiet);
    const orca = subscribe(demo);
    await waitUntil('the first report', async () => orca.reports.length >= 1);
    const running = demo;
    demo = undefined;
    const ms = await timed(() => running.shutdown());
    // UNAVAILABLE, not OK: after an OK grpc-js's ORCA client would never subscribe on that subchannel again.
    expect(await orca.ended).toMatchObject({
      code: grpc.status.UNAVAILABLE,
      details: 'load reporting closed (server shutting down)',
    });
    expect(ms).toBeLessThan(2500); // the grace period is 5 s
    orca.client.close();
  });
});

describe('the slow-replica settings', () => {
  let demo: RunningDemo | undefined;
  afterEach(async () => {
    await demo?.shutdown();
    demo = undefined;
  });

  /** Wall and process CPU time of one UserService call, and the wall time of a health check. */
  async function measure(env: NodeJS.ProcessEnv) {
    demo = await startDemo(loadConfig({ ...PORTS, ...env }), quiet);
    const client = userClient({ address: demo.address, interceptors: demoClientInterceptors() });
    await call(client, 'GetUser', { id: 'warm-up' }).catch(() => {}); // connection, token, caches
    const cpuBefore = process.cpuUsage();
    const wall = await timed(() => call(client, 'GetUser', { id: 'missing' }).catch(() => {}));
    const cpu = process.cpuUsage(cpuBefore);
    client.close();
    const health = await timed(() => checkHealth(demo?.address as string));
    return { wall, cpuMs: (cpu.user + cpu.system) / 1000, health };
  }

  it('HANDLER_DELAY_MS holds each UserService call that long without spending CPU; health stays fast', async () => {
    const { wall, cpuMs, health } = await measure({ HANDLER_DELAY_MS: '600' });
    expect(wall).toBeGreaterThanOrEqual(600);
    expect(cpuMs).toBeLessThan(300);
    expect(health).toBeLessThan(600);
  });

  it('HANDLER_CPU_MS burns that much CPU in each UserService call', async () => {
    const { wall, cpuMs } = await measure({ HANDLER_CPU_MS: '300' });
    expect(cpuMs).toBeGreaterThanOrEqual(280);
    // The burn counts this thread's CPU time where Node has it (22+): one thread cannot spend 300
    // ms of CPU in less wall time. Node 20 counts the process's, to which the test runner's other
    // threads add, so there the wall time can be shorter.
    if ('threadCpuUsage' in process) expect(wall).toBeGreaterThanOrEqual(300);
  });

  it.each([
    [{ HANDLER_DELAY_MS: '-1' }, 'HANDLER_DELAY_MS must be a non-negative integer, got "-1"'],
    [{ HANDLER_DELAY_MS: '2s' }, 'HANDLER_DELAY_MS must be a non-negative integer, got "2s"'],
    [{ HANDLER_DELAY_MS: '60001' }, 'HANDLER_DELAY_MS must be at most 60000 (a minute), got "60001"'],
    [
      { HANDLER_CPU_MS: '1001' },
      'HANDLER_CPU_MS must be at most 1000 (a busy loop blocks the whole process, health checks included), got "1001"',
    ],
  ])('refuses %o at startup', (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('LB_POLICY: round_robin by default, one of four names, anything else refused', () => {
    expect(lbPolicyFromEnv({})).toBe('round_robin');
    for (const name of ['round_robin', 'least_request', 'weighted_round_robin', 'consistent_hash'])
      expect(lbPolicyFromEnv({ LB_POLICY: name })).toBe(name);
    expect(() => lbPolicyFromEnv({ LB_POLICY: 'random' })).toThrow(
      'LB_POLICY must be one of round_robin, least_request, weighted_round_robin, consistent_hash; got "random"',
    );
  });
});

describe.runIf(etcdBin.run)('LB_POLICY over three replicas found through etcd', () => {
  let etcd: EtcdServer;
  let replicas: RunningDemo[];
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    etcd = await startEtcd(etcdBin);
    env = { ...PORTS, ETCD_ENDPOINTS: etcd.endpoint, ETCD_CONFIG_KEY: '/config/lb-test' };
    // The third replica is the slow one, as in docker-compose.yml (a delay here: this test process
    // is every replica, and a CPU burn would slow all three).
    replicas = [
      await startDemo(loadConfig(env), quiet),
      await startDemo(loadConfig(env), quiet),
      await startDemo(loadConfig({ ...env, HANDLER_DELAY_MS: '150' }), quiet),
    ];
    const kv = etcd.client();
    await waitUntil(
      'three replicas registered',
      async () => (await kv.getAll().prefix('/services/user-service/').keys()).length === 3,
    );
  }, 60_000);
  afterAll(async () => {
    for (const demo of replicas ?? []) await demo.shutdown();
    await etcd?.stop();
  });

  const token = mintToken(loadConfig({}).jwt, { subject: 'lb-test', scope: 'users:read', ttlSeconds: 600 });

  /** A client of `etcd:///user-service` with LB_POLICY=`policy`, as the load generator makes it. */
  function client(policy: string) {
    const policyEnv = { ...env, LB_POLICY: policy };
    const target = demoTarget(policyEnv);
    expect(target).toBe('etcd:///user-service');
    return userClient({
      address: target,
      // The demo client's own interceptors (throttle, breaker, retry...), as the load generator has them.
      interceptors: demoClientInterceptors({ env: { ...policyEnv, TOKEN: token } }),
      policy: lbPolicyFromEnv(policyEnv),
    });
  }

  const userMetadata = (user: string) => {
    const md = new grpc.Metadata();
    md.set(USER_KEY_HEADER, user);
    return md;
  };

  /** Calls per replica while `fn` runs. */
  async function served(fn: () => Promise<void>): Promise<number[]> {
    const before = await Promise.all(replicas.map(handledCalls));
    await fn();
    const after = await Promise.all(replicas.map(handledCalls));
    return after.map((n, i) => n - (before[i] ?? 0));
  }

  it('consistent_hash: every call of one user reaches one replica; many users reach them all', async () => {
    const c = client('consistent_hash');
    const alice = await served(async () => {
      for (let i = 0; i < 12; i++)
        await call(c, 'GetUser', { id: 'missing' }, userMetadata('alice')).catch(() => {});
    });
    expect(alice.filter((n) => n > 0)).toEqual([12]);
    const many = await served(async () => {
      await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          call(c, 'GetUser', { id: 'missing' }, userMetadata(`user-${i}`)).catch(() => {}),
        ),
      );
    });
    expect(many.reduce((a, b) => a + b, 0)).toBe(60);
    expect(many.filter((n) => n > 0)).toHaveLength(3);
    c.close();
  });

  it("least_request: the slow replica gets fewer than round robin's third of the calls", async () => {
    const c = client('least_request');
    await call(c, 'GetUser', { id: 'warm-up' }).catch(() => {});
    const shares = await served(async () => {
      // Paced arrivals, one every 5 ms: calls pile up on the slow replica (150 ms each) and
      // least_request draws around it. (Waves of concurrent calls would not show it: within a wave
      // every replica holds calls until the fast ones answer.)
      const calls: Promise<unknown>[] = [];
      for (let i = 0; i < 60; i++) {
        calls.push(call(c, 'GetUser', { id: 'missing' }).catch(() => {}));
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await Promise.all(calls);
    });
    expect(shares.reduce((a, b) => a + b, 0)).toBe(60);
    expect(shares[2]).toBeLessThan(20);
    c.close();
  });

  it("weighted_round_robin: the client subscribes to every replica's load reports, and none refuses it", async () => {
    const c = client('weighted_round_robin');
    await call(c, 'GetUser', { id: 'missing' }).catch(() => {});
    const orcaStarted = async (demo: RunningDemo) =>
      (await scrape(demo))
        .filter((s) => s.name === 'grpc_server_started_total' && s.labels.grpc_service === ORCA)
        .reduce((sum, s) => sum + s.value, 0);
    await waitUntil('an ORCA stream on every replica', async () =>
      (await Promise.all(replicas.map(orcaStarted))).every((n) => n >= 1),
    );
    for (const demo of replicas) {
      // The streams are open: none ended (refused without a token, or cut by a deadline).
      const ended = (await scrape(demo)).filter(
        (s) => s.name === 'grpc_server_handled_total' && s.labels.grpc_service === ORCA && s.value > 0,
      );
      expect(ended).toEqual([]);
    }
    c.close();
  });
});
