import { check, resolveOptions } from '@weft/core';
import type { IKeyValue, Namespace } from 'etcd3';
import { describe } from './backoff';
import { SyncedWatch } from './synced-watch';

/** A validated config value and the etcd revision (`mod_revision` of the key) it was written at. */
export interface ConfigSnapshot<T> {
  readonly value: T;
  readonly revision: number;
}

/** A document at the config key that was refused; the previous value stays in force. */
export class InvalidConfigError extends Error {
  override readonly name = 'InvalidConfigError';
  constructor(
    message: string,
    readonly key: string,
    /** Revision of the refused document (the delete's revision if the key was deleted). */
    readonly revision: number,
    override readonly cause?: unknown,
  ) {
    super(message);
  }
}

export interface WatchConfigOptions<T> {
  /** The etcd client. Required. The caller closes it (after `close()`). */
  client: Namespace;
  /** Key holding the JSON document. Required. */
  key: string;
  /** Validates the parsed JSON and returns the typed value; throws to refuse it. Required. */
  parse: (json: unknown) => T;
  /** Every applied value, the first one included (then `previous` is undefined). Default: nothing. */
  onChange?: (current: ConfigSnapshot<T>, previous: ConfigSnapshot<T> | undefined) => void;
  /**
   * Refused documents (`InvalidConfigError`: bad JSON, `parse` threw, key deleted) and etcd
   * failures (retried). Default: `console.error`, connection failures once per outage.
   */
  onError?: (error: Error) => void;
  /** First retry delay in ms when etcd is unreachable (doubles, with jitter). Default 250. */
  retryInitialMs?: number;
  /** Cap on that delay in ms. Default 5000. */
  retryMaxMs?: number;
}

export interface ConfigWatch<T> {
  /** The value in force, or `undefined` until a valid document has been read. */
  current(): ConfigSnapshot<T> | undefined;
  /**
   * Resolves with the first valid value. It waits (retrying) while etcd is unreachable, the key is
   * missing or the document is invalid; it rejects only if `close()` comes first.
   */
  readonly ready: Promise<ConfigSnapshot<T>>;
  /** Stops watching; no callback runs afterwards. */
  close(): Promise<void>;
}

/**
 * Follows a JSON config document in etcd: reads it, validates it with `parse`, and applies every
 * later write. A document that fails validation is refused and reported, and the previous value
 * stays in force; so does the last value while etcd is unreachable or if the key is deleted.
 */
/** `watchConfig()` defaults; `client`, `key` and `parse` are required. */
export const WATCH_CONFIG_DEFAULTS: Readonly<WatchConfigOptions<unknown>> = Object.freeze({
  client: undefined as unknown as Namespace,
  key: undefined as unknown as string,
  parse: undefined as unknown as (json: unknown) => unknown,
  onChange: () => undefined,
  /** `console.error`, connection failures once per outage. */
  onError: undefined,
  retryInitialMs: 250,
  retryMaxMs: 5000,
});

export function watchConfig<T>(given: WatchConfigOptions<T>): ConfigWatch<T> {
  const options = resolveOptions(
    'watchConfig',
    WATCH_CONFIG_DEFAULTS as Readonly<WatchConfigOptions<T>>,
    given,
    {
      client: (value) =>
        typeof value === 'object' && value !== null ? undefined : 'is required: an etcd client',
      key: (value) =>
        typeof value === 'string' && value.length > 0 ? undefined : 'is required: the config key',
      parse: (value) => (typeof value === 'function' ? undefined : 'is required: a validating function'),
      onChange: check.function,
      onError: check.function,
      retryInitialMs: check.positive,
      retryMaxMs: check.positive,
    },
  );
  const { key, parse } = options;
  const onChange = options.onChange as NonNullable<WatchConfigOptions<T>['onChange']>;
  const report =
    options.onError ?? ((error: Error) => console.error(`weft/etcd: config ${key}: ${error.message}`));
  let current: ConfigSnapshot<T> | undefined;
  /** The last revision looked at, valid or not, so a resync does not report it twice. */
  let seen = 0;
  /** Whether the key existed at `seen`, so a deletion is reported once. */
  let present = false;
  let closed = false;
  let settle: { resolve(s: ConfigSnapshot<T>): void; reject(e: Error): void } | undefined;
  const ready = new Promise<ConfigSnapshot<T>>((resolve, reject) => {
    settle = { resolve, reject };
  });
  ready.catch(() => undefined); // rejected only by close(); callers awaiting it still see it

  const keeping = () => (current === undefined ? 'no value yet' : `keeping revision ${current.revision}`);

  const apply = (kv: IKeyValue, revision: number) => {
    if (closed || revision <= seen) return;
    seen = revision;
    present = true;
    let value: T;
    try {
      value = parse(JSON.parse(kv.value.toString()));
    } catch (error) {
      report(
        new InvalidConfigError(
          `refused the document at revision ${revision} (${keeping()}): ${describe(error)}`,
          key,
          revision,
          error,
        ),
      );
      return;
    }
    const previous = current;
    current = { value, revision };
    settle?.resolve(current);
    settle = undefined;
    try {
      onChange(current, previous);
    } catch (error) {
      report(new Error(`onChange threw for revision ${revision}: ${describe(error)}`));
    }
  };

  const deleted = (revision: number) => {
    if (closed || revision <= seen || !present) return;
    seen = revision;
    present = false;
    report(
      new InvalidConfigError(`the key was deleted at revision ${revision} (${keeping()})`, key, revision),
    );
  };

  const watch = new SyncedWatch({
    client: options.client,
    key,
    retryInitialMs: options.retryInitialMs as number,
    retryMaxMs: options.retryMaxMs as number,
    onError(error, repeated) {
      if (options.onError !== undefined || !repeated) report(error);
    },
    onSnapshot(kvs, revision) {
      const kv = kvs[0];
      if (kv !== undefined) apply(kv, Number(kv.mod_revision));
      else deleted(revision); // deleted while the watch was away (reported once)
    },
    onEvent(type, kv, revision) {
      if (type === 'put') apply(kv, revision);
      else deleted(revision);
    },
  });
  watch.start();

  return {
    current: () => current,
    ready,
    async close() {
      closed = true;
      settle?.reject(new Error(`weft/etcd: config watch on ${key} closed before a valid value was read`));
      settle = undefined;
      await watch.close();
    },
  };
}
