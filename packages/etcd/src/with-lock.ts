import { status } from '@grpc/grpc-js';
import { GrpcError, getCallContext } from '@weft/core';
import type { Lease, Namespace, Watcher } from 'etcd3';
import { Backoff, describe } from './backoff';
import { checkSegment, normalizePrefix } from './key-layout';

export interface EtcdLocksOptions {
  /** The etcd client (an `Etcd3`, or a `client.namespace(...)`). Required. The caller closes it. */
  client: Namespace;
  /** Key prefix of every lock: lock `name` queues its holders under `<prefix><name>/`. Default `locks/`. */
  prefix?: string;
  /**
   * TTL in seconds of the lease behind each wait and hold: how long the lock stays taken after its
   * holder's process dies. Default 10 (etcd minimum 1).
   */
  ttl?: number;
  /** How long releasing waits for etcd to revoke the lease, in ms; past it the lease expires (`ttl`). Default 2000. */
  releaseTimeoutMs?: number;
  /** First delay before retrying an etcd read that failed during a wait, in ms (doubles, with jitter). Default 100. */
  retryInitialMs?: number;
  /** Cap on that delay, in ms. Default 2000. */
  retryMaxMs?: number;
  /** A release that failed (the lock then frees itself after `ttl`). Default: `console.error`. */
  onError?: (error: Error) => void;
}

export interface WithLockOptions {
  /**
   * Give up waiting at this time (a `Date` or ms since the epoch) with DEADLINE_EXCEEDED. Default:
   * the deadline of the gRPC call being handled (`getCallContext()`), else none.
   */
  deadline?: Date | number;
  /**
   * Give up waiting when this aborts, with CANCELLED (DEADLINE_EXCEEDED if the deadline has passed).
   * Default: the signal of the gRPC call being handled, which aborts when the client cancels.
   */
  signal?: AbortSignal;
}

/** The lock, while `fn` holds it. */
export interface HeldLock {
  /** This holder's key: `<prefix><name>/<lease id in hex>`. */
  readonly key: string;
  /**
   * The key's create revision. It grows with every new holder, so it can fence writes elsewhere
   * ("reject a write stamped with an older revision than the last one seen").
   */
  readonly revision: number;
  /**
   * Aborted if the lock is lost while held: its lease expired because etcd was unreachable for
   * longer than the TTL. Another process may hold the lock from then on.
   */
  readonly signal: AbortSignal;
}

export interface EtcdLocks {
  /**
   * Waits for the lock `name` (one key segment), runs `fn` holding it, and releases it when `fn`'s
   * promise settles, whatever the outcome. Waiting ends with a `GrpcError`: DEADLINE_EXCEEDED past
   * the deadline, CANCELLED when the signal aborts, UNAVAILABLE when the lease is lost (etcd
   * unreachable for longer than the TTL); the wait's key is removed then, so nobody queues behind
   * a waiter that left. Inside a gRPC handler, the call's deadline and cancellation apply without
   * being passed. A holder's process that dies frees the lock after the TTL.
   */
  withLock<T>(name: string, fn: (lock: HeldLock) => T | Promise<T>, options?: WithLockOptions): Promise<T>;
}

type Resolved = Required<EtcdLocksOptions>;

function resolveOptions(options: EtcdLocksOptions): Resolved {
  const o: Resolved = {
    prefix: 'locks/',
    ttl: 10,
    releaseTimeoutMs: 2000,
    retryInitialMs: 100,
    retryMaxMs: 2000,
    onError: (error) => console.error(`weft/etcd: ${error.message}`),
    ...(Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as EtcdLocksOptions),
  };
  if (!Number.isInteger(o.ttl) || o.ttl < 1)
    throw new Error(`weft/etcd: ttl must be an integer >= 1, got ${o.ttl}`);
  o.prefix = normalizePrefix(o.prefix);
  return o;
}

/** A cancel this close to the deadline (ms) is the deadline's (see `onAbort`). */
const DEADLINE_SLACK_MS = 20;

/** setTimeout's longest delay; a deadline further away is treated as none. */
const MAX_TIMER_MS = 0x7fffffff;

/**
 * Distributed locks on etcd, usable inside gRPC handlers: `etcdLocks({ client }).withLock(name, fn)`.
 *
 * etcd3's `Lock` only tries once (it fails at once when the lock is taken) and cannot be
 * abandoned, so waiting follows etcd's own mutex protocol instead (Go's `clientv3/concurrency`
 * Mutex, also behind `etcdctl lock`): each waiter puts a key under the lock's prefix on a lease of
 * its own and waits for the key created just before it to go. Waiters are served in arrival order,
 * only one wakes per release, and a Go service locking `<prefix><name>` excludes weft and back.
 */
export function etcdLocks(options: EtcdLocksOptions): EtcdLocks {
  const o = resolveOptions(options);
  const { client } = o;

  const revoke = async (lease: Lease, what: string) => {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        lease.revoke(),
        new Promise<void>((_, reject) => {
          timer = setTimeout(() => reject(new Error('timed out')), o.releaseTimeoutMs);
        }),
      ]);
    } catch (error) {
      o.onError(
        new Error(`could not release ${what} (it frees itself within ${o.ttl}s): ${describe(error)}`),
      );
    } finally {
      clearTimeout(timer);
    }
  };

  async function withLock<T>(
    name: string,
    fn: (lock: HeldLock) => T | Promise<T>,
    options: WithLockOptions = {},
  ): Promise<T> {
    const prefix = `${o.prefix}${checkSegment('lock name', name)}/`;
    const context = getCallContext();
    const deadline = options.deadline ?? context?.deadline ?? Number.POSITIVE_INFINITY;
    const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
    const signal = options.signal ?? context?.signal;
    const what = `lock ${prefix}`;

    // Everything that ends a wait early goes through `stop`: each step races it.
    const stop = new AbortController();
    const stopped = new Promise<never>((_, reject) => {
      stop.signal.addEventListener('abort', () => reject(stop.signal.reason), { once: true });
    });
    stopped.catch(() => undefined);
    const giveUp = (code: status, details: string) => {
      if (!stop.signal.aborted) stop.abort(new GrpcError(code, details));
    };
    const pastDeadline = () =>
      giveUp(status.DEADLINE_EXCEEDED, `deadline exceeded while waiting for ${what}`);
    const onAbort = () => {
      // grpc-js ends a call at its deadline by cancelling it, and its timer may fire a few ms
      // before `Date.now()` reaches the deadline: that cancel is the deadline, not the client.
      if (Date.now() + DEADLINE_SLACK_MS >= deadlineMs) pastDeadline();
      else giveUp(status.CANCELLED, `call cancelled while waiting for ${what}`);
    };
    let timer: NodeJS.Timeout | undefined;
    const remaining = deadlineMs - Date.now();
    if (remaining <= 0) pastDeadline();
    else if (remaining <= MAX_TIMER_MS) timer = setTimeout(pastDeadline, remaining);
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });

    const lease = client.lease(o.ttl);
    const held = new AbortController();
    let state: 'waiting' | 'held' | 'over' = 'waiting';
    lease.on('lost', (error) => {
      const reason = new GrpcError(status.UNAVAILABLE, `${what} lost: ${describe(error)}`);
      if (state === 'waiting') stop.abort(reason);
      else if (state === 'held') held.abort(reason);
    });
    const step = <R>(promise: Promise<R>): Promise<R> => Promise.race([promise, stopped]);

    let key = '';
    let revision = 0;
    try {
      if (stop.signal.aborted) throw stop.signal.reason;
      const leaseId = await step(lease.grant());
      key = `${prefix}${BigInt(leaseId).toString(16)}`;
      const wait: Wait = {
        client,
        step,
        stop: stop.signal,
        backoff: new Backoff(o.retryInitialMs, o.retryMaxMs),
      };
      revision = await enqueue(wait, key, leaseId);
      await waitForTurn(wait, prefix, key, revision, what);
    } catch (error) {
      state = 'over';
      cleanup();
      // Abandon: revoking the lease deletes our key (or makes a put still in flight fail), so
      // nobody waits behind us; a grant still in flight is revoked once it lands.
      void revoke(lease, what);
      throw error instanceof GrpcError
        ? error
        : new GrpcError(status.UNAVAILABLE, `could not wait for ${what}: ${describe(error)}`);
    }

    state = 'held';
    cleanup();
    try {
      return await fn({ key, revision, signal: held.signal });
    } finally {
      state = 'over';
      await revoke(lease, what);
    }

    function cleanup() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  return { withLock };
}

/** What the steps of one wait share: each etcd call races `stop` through `step`. */
interface Wait {
  readonly client: Namespace;
  step<R>(promise: Promise<R>): Promise<R>;
  readonly stop: AbortSignal;
  readonly backoff: Backoff;
}

/**
 * Puts the waiter's key unless it exists (a retried attempt whose put landed) and returns its
 * create revision: its place in the queue. etcd unreachable: retried until the wait is stopped
 * (deadline, signal, or the lease's loss).
 */
async function enqueue({ client, step, stop, backoff }: Wait, key: string, leaseId: string): Promise<number> {
  for (;;) {
    try {
      const put = await step(
        client
          .if(key, 'Create', '==', 0)
          .then(client.put(key).value('').lease(leaseId))
          .else(client.get(key))
          .commit(),
      );
      const existing = put.responses[0]?.response_range?.kvs[0];
      return put.succeeded ? Number(put.header.revision) : Number(existing?.create_revision);
    } catch {
      if (stop.aborted) throw stop.reason;
      await step(delay(backoff.next(), stop));
    }
  }
}

/**
 * Waits until no key created before ours is left under `prefix`, one predecessor at a time (the
 * newest first, so a release wakes only the next waiter), then checks ours is still there.
 */
async function waitForTurn(
  { client, step, stop, backoff }: Wait,
  prefix: string,
  key: string,
  revision: number,
  what: string,
): Promise<void> {
  for (;;) {
    if (stop.aborted) throw stop.reason;
    try {
      const before = await step(
        client
          .getAll()
          .prefix(prefix)
          .maxCreateRevision(String(revision - 1))
          .sort('Create', 'Descend')
          .limit(1)
          .exec(),
      );
      const predecessor = before.kvs[0];
      if (predecessor === undefined) {
        // Ours is the oldest key. A lease that expired during an etcd outage takes the key with
        // it before the 'lost' event reaches us: check it is still there.
        const mine = await step(client.get(key).exec());
        if (mine.kvs.length === 0) throw new GrpcError(status.UNAVAILABLE, `${what}: the wait's key expired`);
        return;
      }
      backoff.reset();
      await step(waitForDelete(client, predecessor.key.toString(), Number(before.header.revision) + 1, stop));
    } catch (error) {
      if (stop.aborted) throw stop.reason;
      if (error instanceof GrpcError) throw error;
      await step(delay(backoff.next(), stop));
    }
  }
}

/** Resolves after `ms`, or at once when `stop` aborts (the caller's race has moved on then). */
function delay(ms: number, stop: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      stop.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    stop.addEventListener('abort', done, { once: true });
  });
}

/**
 * Resolves when `key` is deleted at or after `fromRevision`, when the watch breaks (the caller
 * reads again), or when `stop` aborts (the watcher is cancelled then, not left behind).
 */
async function waitForDelete(
  client: Namespace,
  key: string,
  fromRevision: number,
  stop: AbortSignal,
): Promise<void> {
  const watcher: Watcher = await client
    .watch()
    .key(key)
    .startRevision(String(fromRevision))
    .only('delete')
    .create();
  try {
    await new Promise<void>((resolve) => {
      const done = () => {
        stop.removeEventListener('abort', done);
        resolve();
      };
      watcher.once('delete', done);
      watcher.once('error', done);
      if (stop.aborted) done();
      else stop.addEventListener('abort', done, { once: true });
    });
  } finally {
    watcher.cancel().catch(() => undefined);
  }
}
