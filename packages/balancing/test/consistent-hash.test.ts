import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testProto } from '../../../test/harness';
import {
  balancingServiceConfig,
  CONSISTENT_HASH,
  ConsistentHashLoadBalancingConfig,
  HashRing,
  hashString,
  registerBalancingPolicies,
  ringPoints,
} from '../src/index';
import {
  balancedClient,
  mapKeys,
  moved,
  type Replica,
  setAddresses,
  startReplicas,
  staticTarget,
  stopReplicas,
  whoAnswers,
} from './replicas';

registerBalancingPolicies();

const POLICY = { consistent_hash: { requestHashHeader: 'x-user-id' } };
const KEYS = Array.from({ length: 1000 }, (_, i) => `user-${i}`);

function tally(owner: Map<string, string>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const name of owner.values()) counts[name] = (counts[name] ?? 0) + 1;
  return counts;
}

// Each mapping of 1000 keys is 1000 real calls: seconds on a busy 2-core machine.
describe('consistent_hash against real servers', { timeout: 60_000 }, () => {
  let replicas: Replica[];
  const clients: grpc.Client[] = [];
  const client = (target: string, policy: object = POLICY) => {
    const c = balancedClient(target, policy);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    replicas = await startReplicas(4);
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await stopReplicas(replicas);
  });

  it('sends a key to the same replica every time while membership is stable', async () => {
    const three = replicas.slice(0, 3);
    const c = client(staticTarget(three));
    const first = await mapKeys(c, KEYS);
    const second = await mapKeys(c, KEYS);
    expect(moved(first, second)).toEqual([]);
    // ...and spreads the keys: each replica owns a fair part of them (256 points each).
    const counts = tally(first);
    for (const r of three) expect(counts[r.name] ?? 0).toBeGreaterThan(200);
    // Any code can compute the same mapping from the addresses, as the README says.
    const byName = new Map(three.map((r) => [`[${r.address}]`, r.name]));
    const ring = new HashRing([...byName.keys()], (name) => ringPoints(name, 256));
    expect(
      KEYS.filter((key) => byName.get(ring.lookup(hashString(key)) as string) !== first.get(key)),
    ).toEqual([]);
    // Another channel (another client process, in effect) maps every key the same way.
    const other = client(staticTarget([...three].reverse()));
    const some = KEYS.slice(0, 300);
    const again = await mapKeys(other, some);
    expect(some.filter((key) => again.get(key) !== first.get(key))).toEqual([]);
  });

  it('moves only about a quarter of the keys, all to the new replica, when a 4th joins', async () => {
    const id = 'join';
    setAddresses(
      id,
      replicas.slice(0, 3).map((r) => r.address),
    );
    const c = client(`test-list:///${id}`);
    const before = await mapKeys(c, KEYS);
    setAddresses(
      id,
      replicas.map((r) => r.address),
    );
    const after = await mapKeys(c, KEYS);
    const changes = moved(before, after);
    // The new replica takes 1/4 of the ring in expectation; 256 points per replica put its real
    // share within a few percent of that. Only keys it took may move.
    expect(changes.length / KEYS.length).toBeGreaterThan(0.15);
    expect(changes.length / KEYS.length).toBeLessThan(0.25 + 0.07);
    expect(new Set(changes.map((m) => m.to))).toEqual(new Set(['r3']));
  });

  it('moves only the keys of a replica that leaves, and spreads them over the others', async () => {
    const id = 'leave';
    setAddresses(
      id,
      replicas.map((r) => r.address),
    );
    const c = client(`test-list:///${id}`);
    const before = await mapKeys(c, KEYS);
    setAddresses(
      id,
      replicas.filter((r) => r.name !== 'r1').map((r) => r.address),
    );
    const after = await mapKeys(c, KEYS);
    const changes = moved(before, after);
    const ofR1 = [...before.values()].filter((name) => name === 'r1').length;
    expect(ofR1).toBeGreaterThan(100);
    expect(changes.length).toBe(ofR1);
    expect(changes.every((m) => m.from === 'r1')).toBe(true);
    // Its keys go to the next points clockwise, which belong to every other replica.
    expect(new Set(changes.map((m) => m.to))).toEqual(new Set(['r0', 'r2', 'r3']));
    // And when it comes back, every key goes back where it was.
    setAddresses(
      id,
      replicas.map((r) => r.address),
    );
    expect(moved(before, await mapKeys(c, KEYS))).toEqual([]);
  });

  it('is selected by the service config a resolver hands out (as an etcd resolver would)', async () => {
    const id = 'from-resolver';
    const three = replicas.slice(0, 3);
    setAddresses(
      id,
      three.map((r) => r.address),
      balancingServiceConfig({ consistent_hash: { requestHashHeader: 'x-user-id' } }),
    );
    // No service config of the channel's own: without the resolver's, grpc-js would use pick_first
    // and send every key to one replica.
    const c = new (testProto().weft.test.TestService)(
      `test-list:///${id}`,
      grpc.credentials.createInsecure(),
    );
    clients.push(c);
    const keys = KEYS.slice(0, 300);
    const first = await mapKeys(c, keys);
    expect(Object.keys(tally(first)).sort()).toEqual(['r0', 'r1', 'r2']);
    expect(moved(first, await mapKeys(c, keys))).toEqual([]);
  });

  it('works with a single endpoint', async () => {
    const c = client(`ipv4:${(replicas[2] as Replica).address}`);
    const owners = await mapKeys(c, KEYS.slice(0, 20));
    expect(new Set(owners.values())).toEqual(new Set(['r2']));
  });

  it('spreads calls without the key at random', async () => {
    const c = client(staticTarget(replicas.slice(0, 3)));
    const seen = new Set<string>();
    for (let i = 0; i < 60 && seen.size < 3; i++) seen.add(await whoAnswers(c));
    expect(seen).toEqual(new Set(['r0', 'r1', 'r2']));
  });

  it('moves the keys of a replica that stops answering to the others, and only those', async () => {
    const spare = await startReplicas(3);
    const c = client(staticTarget(spare));
    try {
      const before = await mapKeys(c, KEYS.slice(0, 300));
      await (spare[0] as Replica).harness.close();
      const after = await mapKeys(c, KEYS.slice(0, 300));
      const changes = moved(before, after);
      expect(changes.length).toBe([...before.values()].filter((name) => name === 'r0').length);
      expect(changes.every((m) => m.from === 'r0' && m.to !== 'r0')).toBe(true);
    } finally {
      await stopReplicas(spare.slice(1));
    }
  });
});

describe('consistent_hash config', () => {
  it('needs requestHashHeader, lower-cases it, refuses -bin keys', () => {
    expect(() => ConsistentHashLoadBalancingConfig.createFromJson({})).toThrow(
      /requestHashHeader is required/,
    );
    expect(() =>
      ConsistentHashLoadBalancingConfig.createFromJson({ requestHashHeader: 'x-key-bin' }),
    ).toThrow(/-bin/);
    const config = ConsistentHashLoadBalancingConfig.createFromJson({ request_hash_header: 'X-User-Id' });
    expect(config.requestHashHeader).toBe('x-user-id');
    expect(config.virtualNodes).toBe(256);
    expect(config.toJsonObject()).toEqual({
      [CONSISTENT_HASH]: { requestHashHeader: 'x-user-id', virtualNodes: 256 },
    });
  });

  it.each([[0], [4097], [1.5], ['8']])('rejects virtualNodes %j', (value) => {
    expect(() =>
      ConsistentHashLoadBalancingConfig.createFromJson({ requestHashHeader: 'k', virtualNodes: value }),
    ).toThrow(/virtualNodes/);
  });
});

describe('HashRing', () => {
  const names = ['10.0.0.1:50051', '10.0.0.2:50051', '10.0.0.3:50051', '10.0.0.4:50051'];
  const ring = (members: string[], nodes = 256) => new HashRing(members, (m) => ringPoints(m, nodes));
  const hashes = Array.from({ length: 20_000 }, (_, i) => Math.floor((i / 20_000) * 0x1_0000_0000));

  it('gives each member about 1/n of the circle', () => {
    const r = ring(names);
    const counts = new Map<string, number>();
    for (const h of hashes) counts.set(r.lookup(h) as string, (counts.get(r.lookup(h) as string) ?? 0) + 1);
    for (const name of names) expect((counts.get(name) ?? 0) / hashes.length).toBeCloseTo(0.25, 1);
  });

  it('a joining member takes keys only for itself, about 1/n of them', () => {
    const three = ring(names.slice(0, 3));
    const four = ring(names);
    let movedCount = 0;
    for (const h of hashes) {
      const a = three.lookup(h);
      const b = four.lookup(h);
      if (a !== b) {
        movedCount++;
        expect(b).toBe(names[3]);
      }
    }
    expect(movedCount / hashes.length).toBeGreaterThan(0.18);
    expect(movedCount / hashes.length).toBeLessThan(0.32);
  });

  it('wraps around: a hash past the last point belongs to the first point', () => {
    const r = new HashRing(['a', 'b'], (m) => Uint32Array.of(m === 'a' ? 100 : 200));
    expect(r.lookup(50)).toBe('a');
    expect(r.lookup(100)).toBe('a');
    expect(r.lookup(150)).toBe('b');
    expect(r.lookup(201)).toBe('a');
    expect(new HashRing([], () => new Uint32Array()).lookup(1)).toBeUndefined();
  });
});
