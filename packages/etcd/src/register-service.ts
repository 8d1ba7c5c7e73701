import { randomUUID } from 'node:crypto';
import { check, OptionError, resolveOptions } from '@weft/core';
import type { Lease, Namespace } from 'etcd3';
import { Backoff, describe } from './backoff';
import { DEFAULT_PREFIX, encodeGoEndpoint, encodeRegistration, instanceKey } from './key-layout';

export interface RegisterServiceOptions {
  /** The etcd client (an `Etcd3`, or a `client.namespace(...)`). Required. The caller closes it. */
  client: Namespace;
  /** Service name, one key segment (`users`); clients dial `etcd:///users`. Required. */
  service: string;
  /** `host:port` clients should dial for this instance. Required. */
  address: string;
  /** Lease TTL in seconds: how long a crashed instance stays listed. Default 10 (etcd minimum 1). */
  ttl?: number;
  /** String attributes stored with the address. Default `{}`. */
  metadata?: Record<string, string>;
  /** This instance's key segment. Default a random UUID, so restarts never collide. */
  instanceId?: string;
  /**
   * Key prefix shared with the resolver: the key is `<prefix><service>/<instanceId>`. Default
   * `/services/`. `''` gives Go's usual keys (`<service>/<id>`, Go clients dial `etcd:///<service>`).
   */
  prefix?: string;
  /**
   * What the value holds. `'weft'` (default): weft's document, with `registeredAt`, read by every
   * weft version. `'go-endpoints'`: `{"Op":0,"Addr":...,"Metadata":...}` as etcd's Go
   * `endpoints.Manager` writes it, so Go clients using `clientv3/naming/resolver` find this
   * instance (weft's resolver reads both). It has no room for `metadata`: setting both throws.
   */
  format?: 'weft' | 'go-endpoints';
  /** First delay before re-registering after a failure, in ms (doubles, with jitter). Default 250. */
  retryInitialMs?: number;
  /** Cap on that delay, in ms. Default 5000. */
  retryMaxMs?: number;
  /**
   * How long `deregister()` may take in all, in ms: it settles within this bound even when etcd
   * hangs (then it rejects and the key expires with the lease). Default 2000.
   */
  deregisterTimeoutMs?: number;
  /** Failures that are retried (grant, put, lease lost). Default: `console.error` with the key. */
  onError?: (error: Error) => void;
  /** Called after every successful (re-)registration with the lease id and the put's revision. Default: nothing. */
  onRegistered?: (leaseId: string, revision: number) => void;
}

type Resolved = Readonly<Required<RegisterServiceOptions>>;

/** `registerService()` defaults; `client`, `service` and `address` are required. */
export const REGISTER_SERVICE_DEFAULTS: Readonly<RegisterServiceOptions> = Object.freeze({
  client: undefined as unknown as Namespace,
  service: undefined as unknown as string,
  address: undefined as unknown as string,
  ttl: 10,
  metadata: Object.freeze({}) as Record<string, string>,
  /** A random UUID per registration, so restarts never collide. */
  instanceId: undefined,
  prefix: DEFAULT_PREFIX,
  format: 'weft',
  retryInitialMs: 250,
  retryMaxMs: 5000,
  deregisterTimeoutMs: 2000,
  /** `console.error` with the key. */
  onError: undefined,
  onRegistered: () => undefined,
});

const nonEmpty = (what: string) => (value: string | undefined) =>
  typeof value === 'string' && value.length > 0 ? undefined : `is required: ${what}`;

function resolveRegistration(options: RegisterServiceOptions): Resolved {
  const o = resolveOptions('registerService', REGISTER_SERVICE_DEFAULTS, options, {
    client: (value) =>
      typeof value === 'object' && value !== null ? undefined : 'is required: an etcd client',
    service: nonEmpty('the service name'),
    address: nonEmpty('host:port'),
    ttl: check.positiveInteger,
    metadata: check.object,
    instanceId: check.nonEmptyString,
    prefix: check.string,
    format: check.oneOf('weft', 'go-endpoints'),
    retryInitialMs: check.positive,
    retryMaxMs: check.positive,
    deregisterTimeoutMs: check.positive,
    onError: check.function,
    onRegistered: check.function,
  });
  if (o.format === 'go-endpoints' && Object.keys(o.metadata as object).length > 0)
    // Refused rather than dropped: grpc-go's round_robin panics on a Metadata object (see encodeGoEndpoint).
    throw new OptionError(
      'registerService',
      'metadata',
      "cannot be registered in the 'go-endpoints' format (Go clients would crash on it)",
      o.metadata,
    );
  return Object.freeze({
    ...(o as Required<RegisterServiceOptions>),
    instanceId: o.instanceId ?? randomUUID(),
    onError:
      o.onError ??
      ((error: Error) => console.error(`weft/etcd: registration of ${o.service}: ${error.message}`)),
  });
}

export interface ServiceRegistration {
  /** The etcd key of this instance: `<prefix><service>/<instanceId>`. */
  readonly key: string;
  readonly instanceId: string;
  /** Resolves on the first successful registration (retrying until then), or on `deregister()`; never rejects. */
  readonly ready: Promise<void>;
  /** Resolves once `deregister()` has finished, whatever its outcome. */
  readonly closed: Promise<void>;
  /** Whether the key is currently written under a live lease, as far as this process knows. */
  registered(): boolean;
  /**
   * Stops keeping the registration alive, revokes the lease and deletes the key, so clients stop
   * picking this instance before the server stops taking calls. Idempotent. Settles within
   * `deregisterTimeoutMs` whatever etcd does: rejects if etcd could not be told in time (etcd
   * down, hung or partitioned); the key then still disappears when the lease expires (`ttl`).
   * Catch it, log it and go on shutting down.
   */
  deregister(): Promise<void>;
  /**
   * Deregisters when one of `signals` arrives, then runs `next` (typically
   * `server.tryShutdown(...)`). Without `next`, the signal is raised again once deregistered so its
   * default action (exit) happens, unless other listeners handle it. Returns a function that
   * removes the listeners.
   */
  deregisterOn(
    signals?: readonly NodeJS.Signals[],
    next?: (signal: NodeJS.Signals) => void | Promise<void>,
  ): () => void;
}

/**
 * Registers one instance of `service` in etcd under a lease kept alive in the background; when the
 * lease is lost (etcd down longer than the TTL, lease expired or revoked elsewhere) a new lease is
 * granted and the key written again, retrying with backoff until it works or `deregister()`.
 */
export function registerService(options: RegisterServiceOptions): ServiceRegistration {
  const o = resolveRegistration(options);
  const key = instanceKey(o.prefix, o.service, o.instanceId);
  const backoff = new Backoff(o.retryInitialMs, o.retryMaxMs);
  let lease: Lease | undefined;
  let live = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  let markClosed: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => {
    markClosed = resolve;
  });

  const retry = (failed: Lease, error: unknown) => {
    // One retry per lease: a failed grant both emits 'lost' and rejects the put.
    if (stopped || lease !== failed) return;
    lease = undefined;
    live = false;
    failed.release();
    o.onError(error instanceof Error ? error : new Error(describe(error)));
    timer = setTimeout(register, backoff.next());
  };

  function register(): void {
    timer = undefined;
    if (stopped) return;
    const current = o.client.lease(o.ttl);
    lease = current;
    current.on('lost', (error) =>
      retry(current, new Error(`lease lost, re-registering: ${describe(error)}`)),
    );
    const value =
      o.format === 'go-endpoints'
        ? encodeGoEndpoint(o.address)
        : encodeRegistration({
            version: 1,
            address: o.address,
            metadata: o.metadata,
            registeredAt: new Date().toISOString(),
          });
    current
      .put(key)
      .value(value)
      .exec()
      .then(
        async (put) => {
          if (stopped || lease !== current) return;
          live = true;
          backoff.reset();
          markReady();
          try {
            o.onRegistered(await current.grant(), Number(put.header.revision));
          } catch (error) {
            o.onError(new Error(`onRegistered threw: ${describe(error)}`));
          }
        },
        (error: unknown) => retry(current, new Error(`could not register ${key}: ${describe(error)}`)),
      );
  }

  let deregistering: Promise<void> | undefined;
  const deregister = (): Promise<void> => {
    deregistering ??= (async () => {
      stopped = true;
      live = false;
      if (timer !== undefined) clearTimeout(timer);
      const current = lease;
      lease = undefined;
      markReady();
      // One budget for the whole deregistration. The deadline bounds each etcd call, but a revoke
      // first waits for a grant still in flight, which has no deadline: with etcd hung (stopped,
      // partitioned) that wait never ends, so a timer bounds the lot.
      const options = { deadline: Date.now() + o.deregisterTimeoutMs };
      const steps = (async () => {
        // Revoking deletes the key with it; the delete covers a key left under an older lease
        // that this process already gave up on but etcd still holds.
        if (current !== undefined) await current.revoke(options);
        await o.client.delete().key(key).options(options).exec();
      })();
      steps.catch(() => undefined); // still running after a timeout: its late failure is moot
      let bound: NodeJS.Timeout | undefined;
      const timedOut = new Promise<never>((_, reject) => {
        bound = setTimeout(
          () => reject(new Error(`no answer within deregisterTimeoutMs (${o.deregisterTimeoutMs} ms)`)),
          o.deregisterTimeoutMs,
        );
      });
      try {
        await Promise.race([steps, timedOut]);
      } catch (error) {
        current?.release();
        throw new Error(`could not deregister ${key} (it expires within ${o.ttl}s): ${describe(error)}`);
      } finally {
        clearTimeout(bound);
        markClosed();
      }
    })();
    return deregistering;
  };

  const deregisterOn: ServiceRegistration['deregisterOn'] = (signals = ['SIGTERM', 'SIGINT'], next) => {
    const remove = () => {
      for (const signal of signals) process.removeListener(signal, onSignal);
    };
    const onSignal = (signal: NodeJS.Signals) => {
      remove();
      deregister()
        .catch((error: unknown) => o.onError(error instanceof Error ? error : new Error(describe(error))))
        .then(async () => {
          if (next !== undefined) await next(signal);
          else if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
        })
        .catch((error: unknown) => o.onError(error instanceof Error ? error : new Error(describe(error))));
    };
    for (const signal of signals) process.on(signal, onSignal);
    return remove;
  };

  register();
  return {
    key,
    instanceId: o.instanceId,
    ready,
    closed,
    registered: () => live,
    deregister,
    deregisterOn,
  };
}
