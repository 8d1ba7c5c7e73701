import type { IKeyValue, Namespace, Watcher } from 'etcd3';
import { Backoff, describe } from './backoff';

export interface SyncedWatchOptions {
  client: Namespace;
  /** Watch exactly this key... */
  key?: string;
  /** ...or every key under this prefix. */
  prefix?: string;
  /** The whole state at `revision`: after the first read and after every resync. */
  onSnapshot(kvs: IKeyValue[], revision: number): void;
  /** One change after the snapshot, in revision order. */
  onEvent(type: 'put' | 'delete', kv: IKeyValue, revision: number): void;
  /**
   * etcd could not be read or the watch broke; a resync is scheduled. `repeated` is true for the
   * second and later failures of one outage, so loggers can report an outage once.
   */
  onError(error: Error, repeated: boolean): void;
  retryInitialMs: number;
  retryMaxMs: number;
}

/**
 * Keeps a local view of a key or prefix: a range read, then a watch from the read's revision + 1
 * so nothing written in between is missed. When the watch stream breaks (etcd restarted or
 * unreachable) or is cancelled (its revision was compacted), the watcher is dropped and the view
 * is rebuilt with a fresh range read and a new watch, retried with backoff. Rebuilding from a
 * snapshot rather than resuming a revision also covers compaction and keys deleted while away;
 * consumers compare revisions to skip what they already have.
 */
export class SyncedWatch {
  private readonly backoff: Backoff;
  private watcher: Watcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private failing = false;
  /** Bumped on every (re)sync so callbacks of an abandoned watcher are ignored. */
  private generation = 0;

  constructor(private readonly o: SyncedWatchOptions) {
    if ((o.key === undefined) === (o.prefix === undefined))
      throw new Error('SyncedWatch needs a key or a prefix');
    this.backoff = new Backoff(o.retryInitialMs, o.retryMaxMs);
  }

  start(): void {
    void this.sync();
  }

  /** Stops watching; no callback runs after this resolves. */
  async close(): Promise<void> {
    this.closed = true;
    this.generation++;
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.dropWatcher();
  }

  private async sync(): Promise<void> {
    this.timer = undefined;
    if (this.closed) return;
    const generation = ++this.generation;
    void this.dropWatcher();
    try {
      const { client, key, prefix } = this.o;
      const range =
        key !== undefined
          ? await client.get(key).exec()
          : await client
              .getAll()
              .prefix(prefix ?? '')
              .exec();
      if (generation !== this.generation) return;
      const revision = Number(range.header.revision);
      this.failing = false;
      this.o.onSnapshot(range.kvs, revision);
      const builder = client.watch();
      if (key !== undefined) builder.key(key);
      else builder.prefix(prefix ?? '');
      const watcher = builder.startRevision(String(revision + 1)).watcher();
      this.watcher = watcher;
      watcher.on('connected', () => {
        if (generation === this.generation) this.backoff.reset();
      });
      watcher.on('put', (kv) => {
        if (generation === this.generation) this.o.onEvent('put', kv, Number(kv.mod_revision));
      });
      watcher.on('delete', (kv) => {
        if (generation === this.generation) this.o.onEvent('delete', kv, Number(kv.mod_revision));
      });
      watcher.on('disconnected', (error) =>
        this.resync(generation, `watch disconnected: ${describe(error)}`),
      );
      watcher.on('error', (error) => this.resync(generation, `watch cancelled: ${describe(error)}`));
    } catch (error) {
      this.resync(generation, `could not read ${this.o.key ?? `${this.o.prefix}*`}: ${describe(error)}`);
    }
  }

  private resync(generation: number, reason: string): void {
    if (generation !== this.generation || this.closed) return;
    this.generation++; // silence the broken watcher now, before the delay
    this.o.onError(new Error(`${reason}; retrying`), this.failing);
    this.failing = true;
    this.timer = setTimeout(() => void this.sync(), this.backoff.next());
  }

  private async dropWatcher(): Promise<void> {
    const watcher = this.watcher;
    this.watcher = undefined;
    if (watcher === undefined) return;
    // Its listeners stay (ours ignore an old generation, and keep 'error' from being unhandled).
    // A watcher that errored is already detached; cancelling a disconnected one just drops it;
    // a connected one waits for etcd's confirmation, which a dying etcd may never send.
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, 1000);
    });
    await Promise.race([watcher.cancel().catch(() => undefined), gaveUp]);
    clearTimeout(timer);
  }
}
