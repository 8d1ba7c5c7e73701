import type { IKeyValue, Namespace } from 'etcd3';
import { DEFAULT_PREFIX, decodeRegistration, servicePrefix } from './key-layout';
import { SyncedWatch } from './synced-watch';

/** One registered instance of a service, as read from etcd. */
export interface ServiceInstance {
  /** The instance id (last key segment). */
  readonly id: string;
  readonly key: string;
  readonly address: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly registeredAt: string;
}

export interface WatchInstancesOptions {
  /** The etcd client. Required. The caller closes it (after `close()`). */
  client: Namespace;
  /** Service name as registered. Required. */
  service: string;
  /** Key prefix shared with `registerService`. Default `/services/`. */
  prefix?: string;
  /**
   * The full instance list, sorted by id, whenever it changes (and once after the first read).
   * While etcd is unreachable nothing is called: the last list stays in force.
   */
  onUpdate: (instances: ServiceInstance[], revision: number) => void;
  /** etcd unreachable or the watch broken (retried). Default: `console.error`, once per outage. */
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
  let current: ServiceInstance[] | undefined;

  const toInstance = (kv: IKeyValue): ServiceInstance | undefined => {
    const key = kv.key.toString();
    const registration = decodeRegistration(kv.value.toString());
    if (registration === undefined) return undefined;
    const { address, metadata, registeredAt } = registration;
    return { id: key.slice(prefix.length), key, address, metadata, registeredAt };
  };
  const publish = (revision: number) => {
    const next = [...byKey.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    if (current !== undefined && sameInstances(current, next)) return;
    current = next;
    options.onUpdate(next, revision);
  };

  const watch = new SyncedWatch({
    client: options.client,
    prefix,
    retryInitialMs: options.retryInitialMs ?? 250,
    retryMaxMs: options.retryMaxMs ?? 5000,
    onError,
    onSnapshot(kvs, revision) {
      byKey.clear();
      for (const kv of kvs) {
        const instance = toInstance(kv);
        if (instance !== undefined) byKey.set(instance.key, instance);
      }
      publish(revision);
    },
    onEvent(type, kv, revision) {
      const key = kv.key.toString();
      const instance = type === 'put' ? toInstance(kv) : undefined;
      if (instance === undefined) byKey.delete(key);
      else byKey.set(key, instance);
      publish(revision);
    },
  });
  watch.start();
  return { current: () => current, close: () => watch.close() };
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
      JSON.stringify(x.metadata) === JSON.stringify(y.metadata)
    );
  });
}
