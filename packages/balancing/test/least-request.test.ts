import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LEAST_REQUEST,
  LeastRequestLoadBalancingConfig,
  registerBalancingPolicies,
  serviceConfig,
} from '../src/index';
import {
  balancedClient,
  pacedShares,
  type Replica,
  setAddresses,
  shares,
  startReplicas,
  staticTarget,
  stopReplicas,
  whoAnswers,
} from './replicas';

registerBalancingPolicies();

describe('least_request against real servers', { timeout: 60_000 }, () => {
  let replicas: Replica[];
  const clients: grpc.Client[] = [];

  beforeAll(async () => {
    // r0 takes 150 ms a call, r1 and r2 answer at once.
    replicas = await startReplicas(3, { delayMs: [150, 0, 0] });
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await stopReplicas(replicas);
  });

  const client = (policy: object) => {
    const c = balancedClient(staticTarget(replicas), policy);
    clients.push(c);
    return c;
  };

  it('sends a slow replica far fewer calls than round_robin does', async () => {
    // 300 calls arriving every 4 ms (open loop): round_robin gives each replica a third whatever it
    // costs; least_request sees r0 holding its calls (~150 ms each) and picks it only when both of
    // its draws are r0 (1/9, the floor of two choices with replacement) or r0 happens to be free.
    // Margins leave room for a busy 2-core machine: the expected shares are 1/3 and about 1/8.
    const roundRobin = await pacedShares(client({ round_robin: {} }), 300, 4);
    const leastRequest = await pacedShares(client({ least_request: {} }), 300, 4);
    expect(roundRobin.share('r0')).toBeGreaterThan(0.3);
    expect(leastRequest.share('r0')).toBeLessThan(0.2);
    expect(leastRequest.share('r0')).toBeLessThan(roundRobin.share('r0') - 0.12);
    // The fast replicas split the rest.
    expect(leastRequest.share('r1')).toBeGreaterThan(0.3);
    expect(leastRequest.share('r2')).toBeGreaterThan(0.3);
  });

  it('spreads calls over every replica when they are equally fast', async () => {
    const even = await startReplicas(3);
    const c = balancedClient(staticTarget(even), { least_request: { choiceCount: 3 } });
    try {
      const { share } = await shares(c, 300, 1);
      // One caller: every replica is at 0 in flight at each pick, so the first drawn wins: random.
      for (const name of ['r0', 'r1', 'r2']) expect(share(name)).toBeGreaterThan(0.2);
    } finally {
      c.close();
      await stopReplicas(even);
    }
  });

  it('works with a single endpoint', async () => {
    const one = balancedClient(`ipv4:${(replicas[1] as Replica).address}`, { least_request: {} });
    clients.push(one);
    expect(await Promise.all([whoAnswers(one), whoAnswers(one), whoAnswers(one)])).toEqual([
      'r1',
      'r1',
      'r1',
    ]);
  });

  it('keeps serving when a replica goes away, and fails fast when none is left', async () => {
    const pair = await startReplicas(2);
    const c = balancedClient(staticTarget(pair), { least_request: {} });
    try {
      await shares(c, 20, 2);
      await (pair[0] as Replica).harness.close();
      const after = await shares(c, 40, 2);
      expect(after.share('r1')).toBe(1);
      await (pair[1] as Replica).harness.close();
      const failed = await new Promise<grpc.StatusObject>((resolve) =>
        c.Unary({}, { deadline: Date.now() + 5000 }, () => {}).on('status', resolve),
      );
      expect(failed.code).toBe(grpc.status.UNAVAILABLE);
    } finally {
      c.close();
    }
  });
});

describe('an address list that empties', () => {
  it.each([
    ['least_request', { least_request: {} }],
    ['consistent_hash', { consistent_hash: { requestHashHeader: 'x-user-id' } }],
  ])(
    '%s fails calls fast while it is empty, and serves again when addresses come back',
    async (name, policy) => {
      const [replica] = await startReplicas(1);
      const r = replica as Replica;
      const id = `empties-${name}`;
      setAddresses(id, [r.address]);
      const c = balancedClient(`test-list:///${id}`, policy);
      try {
        expect(await whoAnswers(c, 'k')).toBe('r0');
        setAddresses(id, []);
        const started = Date.now();
        const failed = await new Promise<grpc.StatusObject>((resolve) =>
          c.Unary({}, { deadline: Date.now() + 5000 }, () => {}).on('status', resolve),
        );
        expect(failed.code).toBe(grpc.status.UNAVAILABLE);
        expect(Date.now() - started).toBeLessThan(2500); // not at the 5 s deadline
        setAddresses(id, [r.address]);
        expect(await whoAnswers(c, 'k')).toBe('r0');
      } finally {
        c.close();
        await r.harness.close();
      }
    },
  );
});

describe('least_request config', () => {
  it('defaults choiceCount to 2, reads choice_count, caps it at 10 (gRFC A48)', () => {
    expect(LeastRequestLoadBalancingConfig.createFromJson({}).choiceCount).toBe(2);
    expect(LeastRequestLoadBalancingConfig.createFromJson({ choice_count: 3 }).choiceCount).toBe(3);
    expect(LeastRequestLoadBalancingConfig.createFromJson({ choiceCount: 50 }).choiceCount).toBe(10);
  });

  it.each([[1], [2.5], ['2']])('rejects choiceCount %j', (value) => {
    expect(() => LeastRequestLoadBalancingConfig.createFromJson({ choiceCount: value })).toThrow(
      /choiceCount/,
    );
  });

  it('is selected by name from a service config string', () => {
    expect(JSON.parse(serviceConfig({ least_request: { choiceCount: 2 } }))).toEqual({
      loadBalancingConfig: [{ [LEAST_REQUEST]: { choiceCount: 2 } }],
      methodConfig: [],
    });
    expect(grpc.experimental.isLoadBalancerNameRegistered(LEAST_REQUEST)).toBe(true);
  });
});
