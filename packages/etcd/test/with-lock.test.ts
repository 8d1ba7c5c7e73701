import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { GrpcError, recovery } from '@weft/core';
import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness, unary } from '../../../test/harness';
import { binary, waitUntil } from '../../../test/harness/servers';
import { type EtcdLocks, etcdLocks } from '../src/index';
import { type EtcdServer, startEtcd } from './etcd-server';

const bin = binary('etcd', 'etcd-server');
const TTL = 2;

/** A promise with its resolve function, to hold a lock until the test lets go. */
function gate() {
  let open: () => void = () => undefined;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened };
}

describe.runIf(bin.run)('withLock (real etcd)', () => {
  let etcd: EtcdServer;
  let client: Etcd3;
  let locks: EtcdLocks;
  let server: Harness;
  const children: ChildProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'weft-locks-'));
  /** What the handler's `withLock` threw, per call. */
  const handlerErrors: unknown[] = [];
  let entered = 0;

  const keys = (name: string) => client.getAll().prefix(`locks/${name}/`).keys();
  const spawnChild = (env: Record<string, string>) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'fixtures', 'lock-child.ts')], {
      env: { ...process.env, ETCD_ENDPOINT: etcd.endpoint, TTL: String(TTL), ...env },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    children.push(child);
    let out = '';
    const said = (word: string) =>
      new Promise<string>((resolve, reject) => {
        const check = () => {
          const line = out.split('\n').find((l) => l.startsWith(word));
          if (line !== undefined) resolve(line);
        };
        child.stdout?.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          check();
        });
        child.once('exit', (code) => {
          check();
          reject(new Error(`lock child exited with ${code} before saying ${word}: ${out}`));
        });
        check();
      });
    return { child, said };
  };
  /** Runs two contenders from the same start and returns the shared log's lines. */
  const contend = async (env: Record<string, string>) => {
    const log = join(dir, `${env.LOCK}.log`);
    writeFileSync(log, '');
    const contenders = [1, 2].map(() => spawnChild({ MODE: 'contend', LOG: log, ROUNDS: '20', ...env }));
    await Promise.all(contenders.map((c) => c.said('ready')));
    for (const c of contenders) c.child.stdin?.write('go\n');
    await Promise.all(contenders.map((c) => c.said('done')));
    return readFileSync(log, 'utf8').trim().split('\n');
  };
  /** Pairs of `<pid> enter` / `<pid> exit` lines that another process's line comes between. */
  const overlaps = (lines: string[]) => {
    let count = 0;
    for (let i = 0; i < lines.length; i += 2) {
      const [pid, what] = (lines[i] ?? '').split(' ');
      if (what !== 'enter' || lines[i + 1] !== `${pid} exit`) count++;
    }
    return count;
  };

  beforeAll(async () => {
    etcd = await startEtcd(bin);
    client = etcd.client();
    // In this process, a TTL far longer than any wait below: a key that goes within the waits
    // was revoked, not left to expire. (Children use TTL, for the crash test.)
    locks = etcdLocks({ client, ttl: 10 });
    // `recovery()` is the weft layer that makes the call's context (deadline, cancel signal)
    // visible to `withLock` inside the handler.
    server = await startHarness({
      serverInterceptors: [recovery()],
      handlers: {
        async Unary(call, callback) {
          try {
            const revision = await locks.withLock(call.request.message, (lock) => {
              entered++;
              return lock.revision;
            });
            callback(null, { message: String(revision), context: {} });
          } catch (error) {
            handlerErrors.push(error);
            callback(error as GrpcError);
          }
        },
      },
    });
  });
  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    await server?.close();
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lets one of two processes at a time into the critical section', { timeout: 60_000 }, async () => {
    const lines = await contend({ LOCK: 'shared' });
    expect(lines).toHaveLength(2 * 2 * 20);
    expect(overlaps(lines)).toBe(0);
    expect(new Set(lines.map((l) => l.split(' ')[0])).size).toBe(2);
    expect(await keys('shared')).toEqual([]); // every hold released its key
  });

  it('(the same check sees overlaps when the processes skip the lock)', { timeout: 60_000 }, async () => {
    const lines = await contend({ LOCK: 'unguarded', NO_LOCK: '1' });
    expect(overlaps(lines)).toBeGreaterThan(0);
  });

  it('answers DEADLINE_EXCEEDED when the lock stays taken past the deadline, and removes the wait', async () => {
    const holding = gate();
    const held = locks.withLock('guarded', () => holding.opened);
    await waitUntil('the holder to hold', async () => (await keys('guarded')).length === 1, 5000);
    const before = entered;
    const errorsBefore = handlerErrors.length;
    const result = await unary(server.client, { message: 'guarded' }, { deadline: Date.now() + 800 });
    expect(result.status.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    // The client's own timer ends its side of the call; the handler gives up on the server's.
    await waitUntil('the handler to give up', async () => handlerErrors.length > errorsBefore, 3000);
    const error = handlerErrors.at(-1);
    expect(error).toBeInstanceOf(GrpcError);
    expect((error as GrpcError).code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect((error as GrpcError).details).toBe('deadline exceeded while waiting for lock locks/guarded/');
    await waitUntil('the waiter key to go', async () => (await keys('guarded')).length === 1, 3000);
    holding.open();
    await held;
    expect(entered).toBe(before);
    expect(await keys('guarded')).toEqual([]);
  });

  it('abandons the wait when the client cancels the call', async () => {
    const holding = gate();
    const held = locks.withLock('cancelled', () => holding.opened);
    await waitUntil('the holder to hold', async () => (await keys('cancelled')).length === 1, 5000);
    const errorsBefore = handlerErrors.length;
    const call = server.client.Unary({ message: 'cancelled' }, () => undefined);
    await waitUntil('the call to queue', async () => (await keys('cancelled')).length === 2, 5000);
    call.cancel();
    await waitUntil('the waiter key to go', async () => (await keys('cancelled')).length === 1, 3000);
    await waitUntil('the handler to give up', async () => handlerErrors.length > errorsBefore, 3000);
    expect((handlerErrors.at(-1) as GrpcError).code).toBe(grpc.status.CANCELLED);
    holding.open();
    await held;
    expect(await keys('cancelled')).toEqual([]);
  });

  it('serves waiters in arrival order, each with a higher revision', async () => {
    const holding = gate();
    const order: string[] = [];
    const first = await new Promise<number>((resolveRevision) => {
      void locks.withLock('queue', (lock) => {
        resolveRevision(lock.revision);
        return holding.opened;
      });
    });
    const waiters = ['a', 'b', 'c'].map(async (name, i) => {
      // Queue one after the other: each waits until the previous one's key is there.
      await waitUntil(`waiter ${name} to be next`, async () => (await keys('queue')).length === i + 1, 5000);
      return locks.withLock('queue', (lock) => {
        order.push(name);
        return lock.revision;
      });
    });
    await waitUntil('three waiters', async () => (await keys('queue')).length === 4, 10_000);
    holding.open();
    const revisions = await Promise.all(waiters);
    expect(order).toEqual(['a', 'b', 'c']);
    expect(revisions[0]).toBeGreaterThan(first);
    expect([...revisions].sort((x, y) => x - y)).toEqual(revisions);
  });

  it('frees a lock within the lease TTL after its holder is killed with SIGKILL', {
    timeout: 20_000,
  }, async () => {
    const holder = spawnChild({ MODE: 'hold', LOCK: 'crash' });
    await holder.said('holding');
    const killed = Date.now();
    holder.child.kill('SIGKILL');
    const revision = await locks.withLock('crash', (lock) => lock.revision);
    expect(revision).toBeGreaterThan(0);
    // etcd expires a lease between TTL and TTL + its check interval (500 ms); allow for a busy machine.
    expect(Date.now() - killed).toBeLessThan((TTL + 3) * 1000);
  });

  it('keeps a wait and a hold through an etcd restart', { timeout: 60_000 }, async () => {
    // `locks` has a longer TTL than the restart takes: leases survive it (etcd renews them on its start).
    const patient = locks;
    const holding = gate();
    let lost = false;
    const held = patient.withLock('restart', (lock) => {
      lock.signal.addEventListener('abort', () => {
        lost = true;
      });
      return holding.opened;
    });
    await waitUntil('the holder to hold', async () => (await keys('restart')).length === 1, 5000);
    const waited = patient.withLock('restart', (lock) => lock.revision);
    await waitUntil('the waiter to queue', async () => (await keys('restart')).length === 2, 5000);
    await etcd.kill();
    await etcd.start();
    await waitUntil('both keys back', async () => (await keys('restart')).length === 2, 15_000);
    holding.open();
    await held;
    expect(await waited).toBeGreaterThan(0);
    expect(lost).toBe(false);
    expect(await keys('restart')).toEqual([]);
  });

  it('aborts lock.signal and fails the wait with UNAVAILABLE when etcd stays away past the lease', {
    timeout: 60_000,
  }, async () => {
    const short = etcdLocks({ client, ttl: 1, onError: () => undefined });
    const lost = new Promise<unknown>((resolve) => {
      void short.withLock('outage', (lock) => {
        lock.signal.addEventListener('abort', () => resolve(lock.signal.reason), { once: true });
        return new Promise<void>((release) => lock.signal.addEventListener('abort', () => release()));
      });
    });
    await waitUntil('the holder to hold', async () => (await keys('outage')).length === 1, 5000);
    const waiting = short.withLock('outage', () => 'ran').catch((error: unknown) => error);
    await waitUntil('the waiter to queue', async () => (await keys('outage')).length === 2, 5000);
    await etcd.kill();
    try {
      const reason = await lost;
      expect(reason).toBeInstanceOf(GrpcError);
      expect((reason as GrpcError).code).toBe(grpc.status.UNAVAILABLE);
      const outcome = await waiting;
      expect(outcome).toBeInstanceOf(GrpcError);
      expect((outcome as GrpcError).code).toBe(grpc.status.UNAVAILABLE);
    } finally {
      await etcd.start();
    }
  });

  it('fails the wait with UNAVAILABLE when etcd cannot be reached', async () => {
    const { Etcd3 } = await import('etcd3');
    const dead = new Etcd3({ hosts: 'http://127.0.0.1:1' });
    try {
      const deadLocks = etcdLocks({ client: dead, ttl: 1 });
      const outcome = await deadLocks
        .withLock('x', () => 'ran', { deadline: Date.now() + 10_000 })
        .catch((error: unknown) => error);
      expect(outcome).toBeInstanceOf(GrpcError);
      expect((outcome as GrpcError).code).toBe(grpc.status.UNAVAILABLE);
    } finally {
      dead.close();
    }
  });
});
