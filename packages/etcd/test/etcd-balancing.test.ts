/**
 * Load-aware balancing over etcd discovery: `registerEtcdResolver({ serviceConfig })` hands every
 * `etcd:///` channel a policy with its addresses, and each policy of `@weft/balancing` (and
 * grpc-js's weighted_round_robin on `loadReporting()`'s ORCA reports) works over instances that
 * real grpc-js servers registered in a real etcd with `registerService`.
 */
import * as grpc from '@grpc/grpc-js';
import { balancingServiceConfig, type LoadBalancingConfig, type LoadReporting } from '@weft/balancing';
import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestServiceClient, testProto, unary } from '../../../test/harness';
import { binary, waitUntil } from '../../../test/harness/servers';
import {
  mapKeys,
  moved,
  pacedShares,
  type Replica,
  type ReplicaOptions,
  shares,
  startReplicas,
  startReportingReplicas,
  stopReplicas,
  whoAnswers,
} from '../../balancing/test/replicas';
import {
  type EtcdResolverOptions,
  registerEtcdResolver,
  registerService,
  type ServiceRegistration,
} from '../src/index';
import { type EtcdServer, startEtcd } from './etcd-server';
import { optionErrorOf } from './option-error';

const bin = binary('etcd', 'etcd-server');

// grpc-js's weighted_round_robin with A58's periods shortened (blackout 10 s, weights every 1 s,
// reports every 10 s by default) so that the weights settle within a test.
const WEIGHTED: LoadBalancingConfig = {
  weighted_round_robin: {
    enable_oob_load_report: true,
    blackout_period: '0s',
    weight_update_period: '0.1s',
    oob_load_reporting_period: '0.1s',
  },
};

/** One scheme per policy, each registered with that policy as its static `serviceConfig`. */
const SCHEMES: Record<string, LoadBalancingConfig> = {
  'etcd-rr': { round_robin: {} },
  'etcd-lr': { least_request: {} },
  'etcd-ch': { consistent_hash: { requestHashHeader: 'x-user-id' } },
  'etcd-wrr': WEIGHTED,
};
const ROUND_ROBIN_OPTION = {
  'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
};
const KEYS = Array.from({ length: 1000 }, (_, i) => `user-${i}`);

const owners = (mapping: Map<string, string>) => new Set(mapping.values());

describe.runIf(bin.run)('balancing over etcd:/// (real etcd, real servers)', { timeout: 60_000 }, () => {
  let etcd: EtcdServer;
  let client: Etcd3;
  /** Three equally fast replicas, registered under several services by the tests. */
  let even: Replica[];
  const replicaSets: Replica[][] = [];
  const registrations: ServiceRegistration[] = [];
  const channels: grpc.Client[] = [];
  const reporters: LoadReporting[] = [];

  const resolver = (options: Omit<EtcdResolverOptions, 'client'>) =>
    registerEtcdResolver({ client, retryInitialMs: 100, onError: () => undefined, ...options });
  /** Registers each replica under `service` and waits until every key is written. */
  const register = async (replicas: readonly Replica[], service: string) => {
    const added = replicas.map((r) =>
      registerService({ client, service, address: r.address, ttl: 5, onError: () => undefined }),
    );
    registrations.push(...added);
    await Promise.all(added.map((r) => r.ready));
    return added;
  };
  const channel = (target: string, options?: grpc.ClientOptions): TestServiceClient => {
    const c = new (testProto().weft.test.TestService)(target, grpc.credentials.createInsecure(), options);
    channels.push(c);
    return c;
  };
  const start = async (count: number, options?: ReplicaOptions) => {
    const replicas = await startReplicas(count, options);
    replicaSets.push(replicas);
    return replicas;
  };
  /** Which replica answered each of `n` calls one after another, each with its own x-user-id. */
  let call = 0;
  const answers = async (c: TestServiceClient, n: number) => {
    const seen: string[] = [];
    for (let i = 0; i < n; i++) seen.push(await whoAnswers(c, `k${call++}`));
    return seen;
  };
  /** Waits until calls have reached each of `names` (all connected), and no other replica. */
  const reachesAll = async (c: TestServiceClient, names: readonly string[]) => {
    const seen = new Set<string>();
    await waitUntil(
      `calls to reach ${names.join(', ')}`,
      async () => {
        for (const name of await answers(c, 10)) seen.add(name);
        return names.every((name) => seen.has(name));
      },
      10_000,
    );
    expect([...seen].sort()).toEqual([...names].sort());
  };

  beforeAll(async () => {
    etcd = await startEtcd(bin);
    client = etcd.client();
    resolver({}); // etcd:///: no serviceConfig, each channel's own option (or pick_first) applies
    for (const [scheme, policy] of Object.entries(SCHEMES)) {
      resolver({ scheme, serviceConfig: balancingServiceConfig(policy) });
    }
    even = await start(3);
    await register(even, 'spread');
  });

  afterAll(async () => {
    for (const c of channels) c.close();
    for (const r of reporters) r.close();
    await Promise.all(registrations.map((r) => r.deregister().catch(() => undefined)));
    await Promise.all(replicaSets.map(stopReplicas));
    await etcd?.stop();
  });

  describe('the serviceConfig option', () => {
    it("applies the resolver's policy to a channel without one: round_robin, where the channel alone uses pick_first", async () => {
      const spread = channel('etcd-rr:///spread');
      await reachesAll(spread, ['r0', 'r1', 'r2']);
      // Every subchannel is ready: round_robin takes them in turn.
      const { counts } = await shares(spread, 30, 1);
      expect([...counts.values()]).toEqual([10, 10, 10]);
      // The same instances through etcd:/// (no serviceConfig) and no channel option: pick_first.
      const plain = channel('etcd:///spread');
      const alone = await shares(plain, 30, 1);
      expect(alone.counts.size).toBe(1);
    });

    it("replaces the channel's grpc.service_config whole, its method configs included", async () => {
      const own = {
        'grpc.service_config': JSON.stringify({
          loadBalancingConfig: [{ pick_first: {} }],
          methodConfig: [{ name: [{ service: 'weft.test.TestService', method: 'Sleep' }], timeout: '0.2s' }],
        }),
      };
      const sleep = (c: TestServiceClient) => unary(c, { message: 'x', sleepMs: 600 }, {}, 'Sleep');
      // Without a config from the resolver the channel's own applies: pick_first, and (once
      // connected) its 0.2 s timeout on Sleep...
      const channelOnly = channel('etcd:///spread', own);
      expect(new Set(await answers(channelOnly, 30)).size).toBe(1);
      expect((await sleep(channelOnly)).status.code).toBe(grpc.status.DEADLINE_EXCEEDED);
      // ...with one, none of it does: no timeout, and round_robin instead of pick_first.
      const resolverWins = channel('etcd-rr:///spread', own);
      expect((await sleep(resolverWins)).status.code).toBe(grpc.status.OK);
      await reachesAll(resolverWins, ['r0', 'r1', 'r2']);
    });

    it('takes a function of the service; undefined leaves the channel its own option', async () => {
      const asked: string[] = [];
      resolver({
        scheme: 'etcd-fn',
        serviceConfig: (service) => {
          asked.push(service);
          return service === 'spread' ? balancingServiceConfig({ round_robin: {} }) : undefined;
        },
      });
      await register(even, 'spread-too');
      await reachesAll(channel('etcd-fn:///spread'), ['r0', 'r1', 'r2']);
      // spread-too gets no config from the resolver: the channel's option spreads, none is pick_first.
      await reachesAll(channel('etcd-fn:///spread-too', ROUND_ROBIN_OPTION), ['r0', 'r1', 'r2']);
      const plain = channel('etcd-fn:///spread-too');
      expect(new Set(await answers(plain, 30)).size).toBe(1);
      // Asked once per channel, with the service name.
      expect(asked.sort()).toEqual(['spread', 'spread-too', 'spread-too']);
    });

    it('refuses at setup, with an OptionError saying why, a config grpc-js would quietly replace by pick_first', () => {
      const refused = (serviceConfig: unknown) =>
        optionErrorOf(
          () =>
            registerEtcdResolver({ client, scheme: 'etcd-refused', serviceConfig } as EtcdResolverOptions),
          () => undefined,
        );
      const config = (...loadBalancingConfig: object[]) => ({ loadBalancingConfig, methodConfig: [] });
      expect(refused(config({ no_such_policy: {} }))).toBe(
        'registerEtcdResolver: option "serviceConfig" names no load balancing policy grpc-js can use, so ' +
          'grpc-js would quietly use pick_first (no_such_policy is not registered); ' +
          "weft's least_request and consistent_hash need registerBalancingPolicies() from @weft/balancing " +
          'first (got an object)',
      );
      // A registered policy with a config it refuses says what its parser said.
      expect(refused(config({ least_request: { choiceCount: 1 } }))).toBe(
        'registerEtcdResolver: option "serviceConfig" names no load balancing policy grpc-js can use, so ' +
          'grpc-js would quietly use pick_first (least_request: choiceCount must be an integer >= 2 (got 1)) ' +
          '(got an object)',
      );
      // The channel option's JSON string is not what a resolver hands grpc-js.
      expect(refused(JSON.stringify(config({ round_robin: {} })))).toMatch(
        /option "serviceConfig" must be a grpc-js ServiceConfig object \(not the JSON string/,
      );
      expect(refused({ loadBalancingConfig: { round_robin: {} } })).toMatch(
        /option "serviceConfig" must have a loadBalancingConfig list/,
      );
      // grpc-js takes the first entry it can use, as it does from a channel option.
      expect(refused(config({ no_such_policy: {} }, { round_robin: {} }))).toBe('registered');
    });

    it('fails the calls of a channel whose function result cannot be used (or throws), fast, saying why', async () => {
      resolver({
        scheme: 'etcd-fn-bad',
        serviceConfig: (service) => {
          if (service === 'spread')
            return { loadBalancingConfig: [{ no_such_policy: {} }], methodConfig: [] };
          throw new Error(`no config for ${service}`);
        },
      });
      const failure = async (target: string) => {
        const started = Date.now();
        const result = await unary(channel(target), { message: 'x' }, { deadline: Date.now() + 5000 });
        expect(Date.now() - started).toBeLessThan(2500); // not queued until the deadline
        expect(result.status.code).toBe(grpc.status.UNAVAILABLE);
        return result.status.details;
      };
      expect(await failure('etcd-fn-bad:///spread')).toBe(
        "etcd-fn-bad:///spread: the serviceConfig option's config names no load balancing policy grpc-js " +
          'can use, so grpc-js would quietly use pick_first (no_such_policy is not registered); ' +
          "weft's least_request and consistent_hash need registerBalancingPolicies() from @weft/balancing first",
      );
      expect(await failure('etcd-fn-bad:///spread-too')).toBe(
        'etcd-fn-bad:///spread-too: the serviceConfig option threw: no config for spread-too',
      );
    });
  });

  describe('each policy through etcd', () => {
    it('least_request: a replica taking 150 ms a call gets a small share of paced calls, round_robin a third', async () => {
      const replicas = await start(3, { delayMs: [150, 0, 0] });
      await register(replicas, 'least');
      const roundRobin = channel('etcd-rr:///least');
      const leastRequest = channel('etcd-lr:///least');
      await reachesAll(roundRobin, ['r0', 'r1', 'r2']);
      await reachesAll(leastRequest, ['r0', 'r1', 'r2']);
      // 300 calls arriving every 4 ms whatever the answers do (open loop). The expected shares of
      // r0 are 1/3 and about 1/8 (1/9 is the floor of two choices); margins for a busy machine.
      const rr = await pacedShares(roundRobin, 300, 4);
      const lr = await pacedShares(leastRequest, 300, 4);
      expect(rr.share('r0')).toBeGreaterThan(0.3);
      expect(lr.share('r0')).toBeLessThan(0.2);
      expect(lr.share('r1')).toBeGreaterThan(0.3);
      expect(lr.share('r2')).toBeGreaterThan(0.3);
    });

    it('consistent_hash by x-user-id: keys stay put, a 4th replica takes ~1/4 of them, a leaving one gives back only its own', async () => {
      const replicas = await start(4);
      const [r0, r1, r2, r3] = replicas as [Replica, Replica, Replica, Replica];
      const [, leaving] = await register([r0, r1, r2], 'hash');
      const c = channel('etcd-ch:///hash');
      const first = await mapKeys(c, KEYS);
      expect(moved(first, await mapKeys(c, KEYS))).toEqual([]);
      expect(owners(first)).toEqual(new Set(['r0', 'r1', 'r2']));

      // A 4th instance registers: the watch puts it on every channel's ring.
      await register([r3], 'hash');
      await waitUntil(
        'r3 to own keys',
        async () => owners(await mapKeys(c, KEYS.slice(0, 100))).has('r3'),
        5000,
      );
      const joined = await mapKeys(c, KEYS);
      const toR3 = moved(first, joined);
      expect(toR3.length / KEYS.length).toBeGreaterThan(0.15);
      expect(toR3.length / KEYS.length).toBeLessThan(0.25 + 0.07);
      expect(new Set(toR3.map((m) => m.to))).toEqual(new Set(['r3']));

      // r1 deregisters (its server still runs: only etcd says it left).
      const ofR1 = KEYS.filter((key) => joined.get(key) === 'r1');
      expect(ofR1.length).toBeGreaterThan(100);
      await leaving?.deregister();
      await waitUntil(
        'r1 to own no key',
        async () => !owners(await mapKeys(c, ofR1.slice(0, 50))).has('r1'),
        5000,
      );
      const left = await mapKeys(c, KEYS);
      const fromR1 = moved(joined, left);
      expect(fromR1.map((m) => m.key).sort()).toEqual([...ofR1].sort());
      expect(new Set(fromR1.map((m) => m.to))).toEqual(new Set(['r0', 'r2', 'r3']));
    });

    it('weighted_round_robin: a replica reporting high utilization (ORCA, out of band) gets a small share', async () => {
      // As if each call cost r0 9 ms of its capacity and the others 1 ms: weight = qps /
      // utilization is 1/0.009 for r0 against 1/0.001, so r0's share tends to 1/19.
      const { replicas, reporters: reporting } = await startReportingReplicas([9, 1, 1]);
      replicaSets.push(replicas);
      reporters.push(...reporting);
      await register(replicas, 'weighted');
      const weighted = channel('etcd-wrr:///weighted');
      const roundRobin = channel('etcd-rr:///weighted');
      await reachesAll(weighted, ['r0', 'r1', 'r2']);
      // Warm-up: every replica gets a QPS to report and the channel time to weigh them.
      await pacedShares(weighted, 300, 3);
      const { share } = await pacedShares(weighted, 300, 3);
      expect(share('r0')).toBeLessThan(0.15);
      expect(share('r1')).toBeGreaterThan(0.3);
      expect(share('r2')).toBeGreaterThan(0.3);
      // The same replicas and reports without the policy: r0 gets its third.
      await reachesAll(roundRobin, ['r0', 'r1', 'r2']);
      expect((await pacedShares(roundRobin, 150, 3)).share('r0')).toBeGreaterThan(0.3);
    });
  });

  describe.each(Object.keys(SCHEMES))('%s', (scheme) => {
    it('serves with a single instance registered', async () => {
      const [only] = await start(1);
      await register([only as Replica], `single-${scheme}`);
      expect(new Set(await answers(channel(`${scheme}:///single-${scheme}`), 10))).toEqual(new Set(['r0']));
    });

    it('sends no call to an instance that deregisters, and keeps serving on the others', async () => {
      const service = `leaving-${scheme}`;
      const [, r1] = await register(even, service);
      const c = channel(`${scheme}:///${service}`);
      await reachesAll(c, ['r0', 'r1', 'r2']);
      await r1?.deregister(); // its server still runs: only etcd says it left
      await waitUntil('r1 to get no call', async () => !(await answers(c, 20)).includes('r1'), 3000);
      // Every call succeeds (answers throws otherwise), none reaches r1, both others serve.
      expect(new Set(await answers(c, 60))).toEqual(new Set(['r0', 'r2']));
    });
  });
});
