import type { IKeyValue, Namespace } from 'etcd3';
import { checkSegment } from './key-layout';
import { SyncedWatch } from './synced-watch';

/**
 * Where an election lives: etcd3's `client.election(name)` keeps its candidates under
 * `election/<name>/<lease id>` (relative to the client's namespace), each value the candidate's
 * announcement. The leader is the candidate with the lowest create revision: the same rule as
 * Go's `clientv3/concurrency` election, so a Go service campaigning on the prefix
 * `election/<name>` takes part in the same election.
 */
export function electionPrefix(name: string): string {
  return `election/${checkSegment('election name', name)}/`;
}

/** The current leader of an election, as read from etcd. */
export interface ElectedLeader {
  /** The value the leader campaigned with: in weft, the address clients dial. */
  readonly value: string;
  /** Its key under the election prefix. */
  readonly key: string;
  /** The lease that keeps it (decimal string, as etcd3 reports lease ids). */
  readonly lease: string;
  readonly createRevision: number;
}

export interface WatchLeaderOptions {
  client: Namespace;
  /** The election's name. */
  name: string;
  /** The leader after every change (and after the first read); `undefined` when nobody campaigns. */
  onChange(leader: ElectedLeader | undefined): void;
  onError(error: Error, repeated: boolean): void;
  retryInitialMs: number;
  retryMaxMs: number;
}

export interface LeaderWatch {
  /** The last leader read; `undefined` before the first read or with no candidate. */
  current(): ElectedLeader | undefined;
  /** Whether etcd has been read at least once. */
  synced(): boolean;
  close(): Promise<void>;
}

/**
 * Follows who leads an election: every candidate key under the prefix (a range read, then a watch;
 * see `SyncedWatch`, which rebuilds the view after an etcd restart), the lowest create revision
 * winning. While etcd is unreachable the last leader stays in force.
 */
export function watchLeader(o: WatchLeaderOptions): LeaderWatch {
  const prefix = electionPrefix(o.name);
  const candidates = new Map<string, ElectedLeader>();
  let current: ElectedLeader | undefined;
  let synced = false;

  const toCandidate = (kv: IKeyValue): ElectedLeader => ({
    value: kv.value.toString(),
    key: kv.key.toString(),
    lease: String(kv.lease),
    createRevision: Number(kv.create_revision),
  });
  const publish = () => {
    let next: ElectedLeader | undefined;
    for (const candidate of candidates.values()) {
      if (next === undefined || candidate.createRevision < next.createRevision) next = candidate;
    }
    const first = !synced;
    synced = true;
    if (!first && next?.key === current?.key && next?.value === current?.value) return;
    current = next;
    o.onChange(next);
  };

  const watch = new SyncedWatch({
    client: o.client,
    prefix,
    retryInitialMs: o.retryInitialMs,
    retryMaxMs: o.retryMaxMs,
    onError: o.onError,
    onSnapshot(kvs) {
      candidates.clear();
      for (const kv of kvs) candidates.set(kv.key.toString(), toCandidate(kv));
      publish();
    },
    onEvent(type, kv) {
      if (type === 'put') candidates.set(kv.key.toString(), toCandidate(kv));
      else candidates.delete(kv.key.toString());
      publish();
    },
  });
  watch.start();
  return { current: () => current, synced: () => synced, close: () => watch.close() };
}
