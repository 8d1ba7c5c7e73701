import { experimental, type ServiceConfig, status } from '@grpc/grpc-js';
import { check, resolveOptions } from '@weft/core';
import type { Namespace } from 'etcd3';
import { DEFAULT_PREFIX, normalizePrefix } from './key-layout';
import { toEndpoint } from './resolver-listener';
import {
  type InstanceWatch,
  type ServiceInstance,
  type UnreadableInstance,
  UnreadableInstanceError,
  watchInstances,
} from './watch-instances';
import {
  registerWatchingResolver,
  WATCHING_RESOLVER_CHECKS,
  WatchingResolver,
  type WatchingResolverOptions,
} from './watching-resolver';

export interface EtcdResolverOptions extends WatchingResolverOptions {
  /** The etcd client every `etcd:` channel reads from. Required. Close channels before it. */
  client: Namespace;
  /**
   * Key prefix shared with `registerService`: keys are `<prefix><service>/<id>`. Default
   * `/services/`. `''` reads Go's usual `endpoints.NewManager(c, "<service>")` keys.
   */
  prefix?: string;
  /** URI scheme to claim: targets look like `<scheme>:///<service>`. Default `etcd`. */
  scheme?: string;
  /**
   * etcd unreachable or watch broken (retried), or an `UnreadableInstanceError` naming a key whose
   * value no layout reads (once per key and write). Default: `console.error`, once per outage.
   */
  onError?: (error: Error, service: string) => void;
  /**
   * The service config every `etcd:///<service>` channel gets with its addresses (grpc-js's
   * `ServiceConfig`, e.g. `balancingServiceConfig({ weighted_round_robin: {...} })` from
   * `@weft/balancing`), or a function of the service name (`undefined`: none for that service).
   * A config from the resolver replaces the channel's `grpc.service_config` option whole, method
   * configs included. Default: none, so each channel's own option (or `pick_first`) applies.
   */
  serviceConfig?: ServiceConfig | ((service: string) => ServiceConfig | undefined);
}

type Resolved = Readonly<Required<EtcdResolverOptions>>;

/** `registerEtcdResolver()` defaults; `client` is required. */
export const ETCD_RESOLVER_DEFAULTS: Readonly<EtcdResolverOptions> = Object.freeze({
  client: undefined as unknown as Namespace,
  prefix: DEFAULT_PREFIX,
  scheme: 'etcd',
  retryInitialMs: 250,
  retryMaxMs: 5000,
  /** `console.error`, once per outage. */
  onError: undefined,
  /** None: each channel's `grpc.service_config` option applies. */
  serviceConfig: undefined,
});

/**
 * Why grpc-js could not use `config`, or undefined: its `loadBalancingConfig` must name at least one
 * registered policy (a channel would otherwise fail every call with "All load balancer options in
 * service config are not compatible").
 */
function unusableServiceConfig(config: ServiceConfig): string | undefined {
  if (typeof config !== 'object' || config === null) return 'must be a grpc-js ServiceConfig object';
  const list = config.loadBalancingConfig ?? [];
  if (list.length === 0 || experimental.selectLbConfigFromList(list) !== null) return undefined;
  const names = list.map((entry) => Object.keys(entry)[0]).join(', ');
  return `names no load balancing policy grpc-js has registered (${names}); weft's least_request and consistent_hash need registerBalancingPolicies() from @weft/balancing first`;
}

function resolveResolverOptions(options: EtcdResolverOptions): Resolved {
  const o = resolveOptions('registerEtcdResolver', ETCD_RESOLVER_DEFAULTS, options, {
    ...WATCHING_RESOLVER_CHECKS,
    prefix: check.string,
    serviceConfig: (value: EtcdResolverOptions['serviceConfig']) =>
      value === undefined || typeof value === 'function' ? undefined : unusableServiceConfig(value),
  });
  const onError = (error: Error, service: string) =>
    console.error(`weft/etcd: resolving ${service}: ${error.message}`);
  return Object.freeze({
    ...(o as Required<EtcdResolverOptions>),
    prefix: normalizePrefix(o.prefix as string),
    onError: o.onError ?? onError,
  });
}

/** How many keys are unreadable, and the first few with their reasons. */
function describeUnreadable(unreadable: readonly UnreadableInstance[]): string {
  const shown = unreadable.slice(0, 3).map((u) => `${u.key}: ${u.reason}`);
  const more = unreadable.length > shown.length ? `; and ${unreadable.length - shown.length} more` : '';
  return `${unreadable.length} unreadable (${shown.join('; ')}${more})`;
}

/** Follows `<prefix><service>/` for one `etcd:///<service>` channel. */
class EtcdResolver extends WatchingResolver<Resolved> {
  protected readonly pathShape = '<service>';

  protected override serviceConfig(): experimental.StatusOr<ServiceConfig> | null {
    const option = this.options.serviceConfig;
    const config = typeof option === 'function' ? option(this.name) : option;
    if (config === undefined) return null;
    const unusable = unusableServiceConfig(config);
    if (unusable === undefined) return experimental.statusOrFromValue(config);
    const details = `${this.options.scheme}:///${this.name}: the serviceConfig option's config ${unusable}`;
    return experimental.statusOrFromError({ code: status.UNAVAILABLE, details });
  }

  protected startWatch(): InstanceWatch {
    return watchInstances({
      ...this.watchSettings(),
      prefix: this.options.prefix,
      service: this.name,
      onUpdate: (instances, _revision, unreadable) => this.update(instances, unreadable),
    });
  }

  protected override watchFailed(error: Error): void {
    // Unreadable values surface in the reason `update` gives when no address is left.
    if (!(error instanceof UnreadableInstanceError)) super.watchFailed(error);
  }

  /** Reports the instances' addresses; a change of `registeredAt` alone is not news. */
  private update(instances: ServiceInstance[], unreadable: readonly UnreadableInstance[]): void {
    const endpoints: experimental.Endpoint[] = [];
    const seen = new Set<string>();
    for (const instance of instances) {
      const endpoint = toEndpoint(instance.address);
      if (endpoint === undefined || seen.has(instance.address)) continue;
      seen.add(instance.address);
      endpoints.push(endpoint);
    }
    // With no address, the reason (and so the unreadable keys) is part of what was reported.
    const under = `${this.options.prefix}${this.name}/`;
    const reason =
      endpoints.length > 0
        ? ''
        : unreadable.length === 0
          ? `no instances of ${this.name} registered under ${under}`
          : `no readable instance of ${this.name} under ${under}: ${describeUnreadable(unreadable)}`;
    this.report(endpoints.length > 0 ? [...seen].sort().join(',') : `\n${reason}`, endpoints, reason);
  }
}

/**
 * Makes `<scheme>:///<service>` targets (default `etcd:///users`) resolve to the instances
 * registered with `registerService`, following changes through an etcd watch. Registering the
 * same scheme again replaces the previous registration for channels created afterwards.
 */
export function registerEtcdResolver(options: EtcdResolverOptions): void {
  registerWatchingResolver(resolveResolverOptions(options), EtcdResolver);
}
