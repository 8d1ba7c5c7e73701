import { type ChannelOptions, experimental } from '@grpc/grpc-js';
import type { Namespace } from 'etcd3';
import { DEFAULT_PREFIX, normalizePrefix } from './key-layout';
import { failResolution, reportResolution, targetName, toEndpoint } from './resolver-listener';
import {
  type InstanceWatch,
  type ServiceInstance,
  type UnreadableInstance,
  UnreadableInstanceError,
  watchInstances,
} from './watch-instances';

export interface EtcdResolverOptions {
  /** The etcd client every `etcd:` channel reads from. Required. Close channels before it. */
  client: Namespace;
  /**
   * Key prefix shared with `registerService`: keys are `<prefix><service>/<id>`. Default
   * `/services/`. `''` reads Go's usual `endpoints.NewManager(c, "<service>")` keys.
   */
  prefix?: string;
  /** URI scheme to claim: targets look like `<scheme>:///<service>`. Default `etcd`. */
  scheme?: string;
  /** First retry delay in ms when etcd is unreachable (doubles, with jitter). Default 250. */
  retryInitialMs?: number;
  /** Cap on that delay in ms. Default 5000. */
  retryMaxMs?: number;
  /**
   * etcd unreachable or watch broken (retried), or an `UnreadableInstanceError` naming a key whose
   * value no layout reads (once per key and write). Default: `console.error`, once per outage.
   */
  onError?: (error: Error, service: string) => void;
}

type Resolved = Required<EtcdResolverOptions>;

function resolveOptions(options: EtcdResolverOptions): Resolved {
  return {
    client: options.client,
    prefix: normalizePrefix(options.prefix ?? DEFAULT_PREFIX),
    scheme: options.scheme ?? 'etcd',
    retryInitialMs: options.retryInitialMs ?? 250,
    retryMaxMs: options.retryMaxMs ?? 5000,
    onError:
      options.onError ??
      ((error, service) => console.error(`weft/etcd: resolving ${service}: ${error.message}`)),
  };
}

/** `users` from `etcd:///users` (an authority, if given, is ignored: the client decides the cluster). */
const serviceName = targetName;

/** How many keys are unreadable, and the first few with their reasons. */
function describeUnreadable(unreadable: readonly UnreadableInstance[]): string {
  const shown = unreadable.slice(0, 3).map((u) => `${u.key}: ${u.reason}`);
  const more = unreadable.length > shown.length ? `; and ${unreadable.length - shown.length} more` : '';
  return `${unreadable.length} unreadable (${shown.join('; ')}${more})`;
}

type ResolverConstructor = Parameters<typeof experimental.registerResolver>[1];

function makeResolverClass(o: Resolved): ResolverConstructor {
  return class EtcdResolver implements experimental.Resolver {
    private readonly service: string;
    private watch: InstanceWatch | undefined;
    /** No listener call may follow `destroy()` until `updateResolution()` runs again. */
    private active = false;
    /**
     * Addresses last handed to grpc-js, joined, or `\n` and the failure reason when there were
     * none; a change of `registeredAt` alone is not news.
     */
    private reported: string | undefined;

    constructor(
      private readonly target: experimental.GrpcUri,
      private readonly listener: experimental.ResolverListener,
      _channelOptions: ChannelOptions,
    ) {
      this.service = serviceName(target);
    }

    static getDefaultAuthority(target: experimental.GrpcUri): string {
      return serviceName(target);
    }

    updateResolution(): void {
      // The watch pushes every change, so a re-resolution request only needs the watch running.
      if (this.active) return;
      this.active = true;
      if (this.service.length === 0 || this.service.includes('/')) {
        process.nextTick(() =>
          this.fail(`expected ${o.scheme}:///<service>, got ${experimental.uriToString(this.target)}`),
        );
        return;
      }
      this.watch = watchInstances({
        client: o.client,
        service: this.service,
        prefix: o.prefix,
        retryInitialMs: o.retryInitialMs,
        retryMaxMs: o.retryMaxMs,
        onUpdate: (instances, _revision, unreadable) => this.report(instances, unreadable),
        onError: (error, repeated) => {
          if (!repeated) o.onError(error, this.service);
          // Unreadable values surface in the reason `report` gives when no address is left.
          if (error instanceof UnreadableInstanceError) return;
          // Before any list, calls should fail with the reason; after one, keep the last known
          // addresses (an etcd outage must not take the service down with it).
          if (this.reported === undefined) this.fail(`etcd unreachable: ${error.message}`);
        },
      });
    }

    destroy(): void {
      const watch = this.watch;
      this.active = false;
      this.watch = undefined;
      this.reported = undefined;
      void watch?.close();
    }

    private report(instances: ServiceInstance[], unreadable: readonly UnreadableInstance[]): void {
      if (!this.active) return;
      const endpoints: experimental.Endpoint[] = [];
      const seen = new Set<string>();
      for (const instance of instances) {
        const endpoint = toEndpoint(instance.address);
        if (endpoint === undefined || seen.has(instance.address)) continue;
        seen.add(instance.address);
        endpoints.push(endpoint);
      }
      // With no address, the reason (and so the unreadable keys) is part of what was reported.
      const under = `${o.prefix}${this.service}/`;
      const reason =
        endpoints.length > 0
          ? ''
          : unreadable.length === 0
            ? `no instances of ${this.service} registered under ${under}`
            : `no readable instance of ${this.service} under ${under}: ${describeUnreadable(unreadable)}`;
      const key = endpoints.length > 0 ? [...seen].sort().join(',') : `\n${reason}`;
      if (key === this.reported) return;
      const hadAddresses = this.reported !== undefined && !this.reported.startsWith('\n');
      this.reported = key;
      reportResolution(
        this.listener,
        endpoints,
        hadAddresses,
        `${o.scheme}:///${this.service}: ${reason}`,
        reason,
      );
    }

    private fail(details: string): void {
      if (this.active) failResolution(this.listener, `${o.scheme}:///${this.service}: ${details}`);
    }
  };
}

/**
 * Makes `<scheme>:///<service>` targets (default `etcd:///users`) resolve to the instances
 * registered with `registerService`, following changes through an etcd watch. Registering the
 * same scheme again replaces the previous registration for channels created afterwards.
 */
export function registerEtcdResolver(options: EtcdResolverOptions): void {
  const o = resolveOptions(options);
  experimental.registerResolver(o.scheme, makeResolverClass(o));
}
