import type { IKeyValue, Namespace } from 'etcd3';
import { DEFAULT_PREFIX, decodeInstance, type InstanceFormat, servicePrefix } from './key-layout';
import { SyncedWatch } from './synced-watch';

/** One registered instance of a service, as read from etcd. */
export interface ServiceInstance {
  /** The instance id (last key segment). */
  readonly id: string;
  readonly key: string;
  readonly address: string;
  readonly metadata: Readonly<Record<string, string>>;
  /** weft documents only; `''` for the Go and plain layouts. */
  readonly registeredAt: string;
  /** The layout the value was written in. */
  readonly format: InstanceFormat;
}

/** A key under the service prefix whose value no layout reads. */
export interface UnreadableInstance {
  readonly key: string;
  /** Why, e.g. `Go endpoints document with Addr "", not a host:port address`. */
  readonly reason: string;
}

/** Reported through `onError` once per key and write: a value under the prefix no layout reads. */
export class UnreadableInstanceError extends Error {
  override readonly name = 'UnreadableInstanceError';
  constructor(
    readonly key: string,
    readonly reason: string,
    /** The key's `mod_revision`. */
    readonly revision: number,
  ) {
    super(`unreadable instance ${key}: ${reason}`);
  }
}

export interface WatchInstancesOptions {
  /** The etcd client. Required. The caller closes it (after `close()`). */
  client: Namespace;
  /** Service name as registered. Required. */
  service: string;
  /** Key prefix shared with `registerService`. Default `/services/`. */
  prefix?: string;
  /**
   * The full instance list, sorted by id, whenever it or the set of unreadable keys changes (and
   * once after the first read), with the keys under the prefix that no layout reads, sorted.
   * While etcd is unreachable nothing is called: the last list stays in force.
   */
  onUpdate: (
    instances: ServiceInstance[],
    revision: number,
    unreadable: readonly UnreadableInstance[],
  ) => void;
  /**
   * etcd unreachable or the watch broken (retried; `repeated` is true after the first failure of
   * an outage), or an `UnreadableInstanceError` once per unreadable key and write.
   * Default: `console.error`, once per outage and once per unreadable write.
   */
  onError?: (error: Error, repeated: boolean) => void;
  /** First retry delay in ms (doubles, with jitter). Default 250. */
  retryInitialMs?: number;
  /** Cap on the retry delay in ms. Default 5000. */
  retryMaxMs?: number;
}

export interface InstanceWatch {
  /** The last list read, or `undefined` before the first successful read. */
  current(): ServiceInstance[] | undefined;
  close(): Promise<void>;
}

/** Follows the instances of one service: a range read, then a watch; see `SyncedWatch`. */
export function watchInstances(options: WatchInstancesOptions): InstanceWatch {
  const prefix = servicePrefix(options.prefix ?? DEFAULT_PREFIX, options.service);
  const onError =
    options.onError ??
    ((error: Error, repeated: boolean) => {
      if (!repeated) console.error(`weft/etcd: instances of ${options.service}: ${error.message}`);
    });
  const byKey = new Map<string, ServiceInstance>();
  /** Unreadable keys with the `mod_revision` already reported, so a resync does not repeat them. */
  const unreadable = new Map<string, { reason: string; revision: string }>();
  let current: ServiceInstance[] | undefined;
  let currentUnreadable = '';

  /** Files `kv` as an instance or as unreadable, reporting each unreadable write once. */
  const read = (kv: IKeyValue) => {
    const key = kv.key.toString();
    const decoded = decodeInstance(kv.value.toString());
    if (decoded.ok) {
      unreadable.delete(key);
      byKey.set(key, { id: key.slice(prefix.length), key, ...decoded.instance });
      return;
    }
    byKey.delete(key);
    const seen = unreadable.get(key);
    unreadable.set(key, { reason: decoded.reason, revision: kv.mod_revision });
    if (seen?.revision !== kv.mod_revision)
      onError(new UnreadableInstanceError(key, decoded.reason, Number(kv.mod_revision)), false);
  };
  const publish = (revision: number) => {
    const next = [...byKey.values()].sort((a, b) => compare(a.key, b.key));
    const bad = [...unreadable]
      .map(([key, { reason }]) => ({ key, reason }))
      .sort((a, b) => compare(a.key, b.key));
    const badKeys = bad.map((u) => `${u.key}\n${u.reason}`).join('\n');
    if (current !== undefined && sameInstances(current, next) && badKeys === currentUnreadable) return;
    current = next;
    currentUnreadable = badKeys;
    options.onUpdate(next, revision, bad);
  };

  const watch = new SyncedWatch({
    client: options.client,
    prefix,
    retryInitialMs: options.retryInitialMs ?? 250,
    retryMaxMs: options.retryMaxMs ?? 5000,
    onError,
    onSnapshot(kvs, revision) {
      byKey.clear();
      const stillThere = new Set(kvs.map((kv) => kv.key.toString()));
      for (const key of unreadable.keys()) if (!stillThere.has(key)) unreadable.delete(key);
      for (const kv of kvs) read(kv);
      publish(revision);
    },
    onEvent(type, kv, revision) {
      if (type === 'put') read(kv);
      else {
        const key = kv.key.toString();
        byKey.delete(key);
        unreadable.delete(key);
      }
      publish(revision);
    },
  });
  watch.start();
  return { current: () => current, close: () => watch.close() };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sameInstances(a: readonly ServiceInstance[], b: readonly ServiceInstance[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((x, i) => {
    const y = b[i];
    return (
      y !== undefined &&
      x.key === y.key &&
      x.address === y.address &&
      x.registeredAt === y.registeredAt &&
      x.format === y.format &&
      JSON.stringify(x.metadata) === JSON.stringify(y.metadata)
    );
  });
}
