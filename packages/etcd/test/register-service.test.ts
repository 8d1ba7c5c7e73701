import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binary, waitUntil } from '../../../test/harness/servers';
import { type Registration, registerService, type ServiceRegistration } from '../src/index';
import { REGISTER_SERVICE_DEFAULTS } from '../src/register-service';
import { type EtcdServer, sleep, startEtcd } from './etcd-server';

const bin = binary('etcd', 'etcd-server');

describe.runIf(bin.run)('registerService (real etcd)', () => {
  let etcd: EtcdServer;
  let client: Etcd3;
  const registrations: ServiceRegistration[] = [];
  const errors: Error[] = [];
  const register = (options: Partial<Parameters<typeof registerService>[0]> = {}) => {
    const registration = registerService({
      client,
      service: 'users',
      address: '127.0.0.1:50051',
      ttl: 2,
      retryInitialMs: 100,
      onError: (error) => errors.push(error),
      ...options,
    });
    registrations.push(registration);
    return registration;
  };
  const read = async (key: string) => {
    const raw = await client.get(key).string();
    return raw === null ? undefined : (JSON.parse(raw) as Registration);
  };
  const leaseOf = async (key: string) => (await client.get(key).exec()).kvs[0]?.lease;

  beforeAll(async () => {
    etcd = await startEtcd(bin);
    client = etcd.client();
  });
  afterAll(async () => {
    await Promise.all(registrations.map((r) => r.deregister().catch(() => undefined)));
    await etcd?.stop();
  });

  it('writes /services/<service>/<instance-id> with the address under a lease', async () => {
    const registration = register({ metadata: { zone: 'a' }, instanceId: 'one' });
    await registration.ready;
    expect(registration.key).toBe('/services/users/one');
    const doc = await read(registration.key);
    expect(doc).toMatchObject({ version: 1, address: '127.0.0.1:50051', metadata: { zone: 'a' } });
    expect(Number.isNaN(Date.parse(doc?.registeredAt ?? ''))).toBe(false);
    expect(await leaseOf(registration.key)).not.toBe('0');
    expect(registration.registered()).toBe(true);
  });

  it('uses a random instance id and a configurable prefix', async () => {
    const a = register({ prefix: '/apps/prod' });
    const b = register({ prefix: '/apps/prod' });
    await Promise.all([a.ready, b.ready]);
    expect(a.key).toMatch(/^\/apps\/prod\/users\/[0-9a-f-]{36}$/);
    expect(a.key).not.toBe(b.key);
  });

  it('keeps the key alive well past its TTL', async () => {
    const registration = register();
    await registration.ready;
    await sleep(4500); // more than twice the 2 s TTL
    expect(await read(registration.key)).toBeDefined();
  });

  it('deregister() revokes the lease and deletes the key, and resolves closed', async () => {
    const registration = register();
    await registration.ready;
    const lease = await leaseOf(registration.key);
    await registration.deregister();
    await registration.closed;
    expect(await read(registration.key)).toBeUndefined();
    expect(registration.registered()).toBe(false);
    // The lease is gone: etcd answers TTL -1 for an unknown lease.
    expect((await client.leaseClient.leaseTimeToLive({ ID: String(lease) })).TTL).toBe('-1');
    await registration.deregister(); // idempotent
  });

  it('re-registers with a new lease when the lease is revoked behind its back', async () => {
    const registration = register();
    await registration.ready;
    const lease = await leaseOf(registration.key);
    await client.leaseClient.leaseRevoke({ ID: String(lease) });
    // The keepalive (every ttl/3) learns the lease is gone; a new lease and put follow.
    await waitUntil(
      'the key to come back under a new lease',
      async () => {
        const next = await leaseOf(registration.key);
        // The new key can be visible in etcd a moment before the put's answer reaches the client.
        return next !== undefined && next !== lease && registration.registered();
      },
      8000,
    );
    expect(errors.some((e) => /lease lost/.test(e.message))).toBe(true);
  });

  it('registers again after etcd was down longer than the lease could survive', async () => {
    const registration = register({ retryMaxMs: 500 });
    await registration.ready;
    errors.length = 0;
    await etcd.kill();
    await sleep(5000); // > 2 x TTL: the client gives the lease up
    expect(registration.registered()).toBe(false);
    await etcd.start();
    await waitUntil(
      'the key to be written again',
      async () => registration.registered() && (await read(registration.key)) !== undefined,
      10_000,
    );
    expect(errors.some((e) => /lease lost|could not register/.test(e.message))).toBe(true);
  });

  it('deregisterOn(signals, next) deregisters before running next', async () => {
    const registration = register();
    await registration.ready;
    const order: string[] = [];
    const remove = registration.deregisterOn(['SIGUSR2'], async (signal) => {
      order.push(`next ${signal}, key ${(await read(registration.key)) === undefined ? 'gone' : 'present'}`);
    });
    process.emit('SIGUSR2', 'SIGUSR2');
    await registration.closed;
    await waitUntil('next to run', async () => order.length === 1, 2000);
    expect(order).toEqual(['next SIGUSR2, key gone']);
    expect(process.listenerCount('SIGUSR2')).toBe(0);
    remove();
  });

  describe('deregister() when etcd hangs (SIGSTOP: connections open, no answers)', () => {
    /** Rejects within `ms` of the call, or fails the test with how long it took. */
    const settlesWithin = async (registration: ServiceRegistration, ms: number) => {
      const started = Date.now();
      const outcome = await Promise.race([
        registration.deregister().then(
          () => 'resolved',
          (error: Error) => error,
        ),
        sleep(ms + 3000).then(() => 'hung'),
      ]);
      return { outcome, elapsed: Date.now() - started };
    };

    it('rejects within deregisterTimeoutMs while the first lease grant is still unanswered', async () => {
      const hung = etcd.client();
      etcd.pause();
      try {
        const registration = register({ client: hung, deregisterTimeoutMs: 500 });
        const { outcome, elapsed } = await settlesWithin(registration, 500);
        expect(outcome).toBeInstanceOf(Error);
        expect((outcome as Error).message).toMatch(
          /could not deregister .* \(it expires within 2s\): no answer within/,
        );
        expect(elapsed).toBeGreaterThanOrEqual(450);
        await registration.closed;
      } finally {
        etcd.resume();
      }
    });

    it('rejects within deregisterTimeoutMs when etcd stops answering after the registration', async () => {
      const hung = etcd.client();
      const registration = register({ client: hung, deregisterTimeoutMs: 500 });
      await registration.ready;
      etcd.pause();
      try {
        const { outcome, elapsed } = await settlesWithin(registration, 500);
        expect(outcome).toBeInstanceOf(Error);
        expect((outcome as Error).message).toMatch(/could not deregister .* \(it expires within 2s\)/);
        expect(elapsed).toBeLessThan(3000);
      } finally {
        etcd.resume();
      }
      // What becomes of the key is etcd's business now: a revoke it reads after SIGCONT may still
      // apply, or the lease (no longer kept alive) expires within the TTL.
    });
  });

  it('takes every optional option given as undefined as its default', async () => {
    const required = { client, service: 'undefined-options', address: '127.0.0.1:1' };
    const options = Object.fromEntries(Object.keys(REGISTER_SERVICE_DEFAULTS).map((k) => [k, undefined]));
    const registration = registerService({ ...options, ...required });
    try {
      await registration.ready;
      expect(registration.key).toMatch(/^\/services\/undefined-options\/[0-9a-f-]{36}$/);
      const value = JSON.parse((await client.get(registration.key).string()) ?? 'null');
      expect(value).toMatchObject({ version: 1, address: '127.0.0.1:1', metadata: {} });
    } finally {
      await registration.deregister();
    }
  });

  it('rejects a TTL below one second and an empty address', () => {
    expect(() => registerService({ client, service: 'users', address: '127.0.0.1:1', ttl: 0 })).toThrow(
      /ttl/,
    );
    expect(() => registerService({ client, service: 'users', address: '' })).toThrow(/address/);
    expect(() => registerService({ client, service: 'a/b', address: '127.0.0.1:1' })).toThrow(/service name/);
  });
});
