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
   * `@weft/balancing`), or a function of the service name asked once per channel (`undefined`:
   * none for that service). A config from the resolver replaces the channel's `grpc.service_config`
   * option whole, method configs included. A static config naming no policy grpc-js can use throws
   * an OptionError here; a function's result that cannot be used, or a throw, fails that channel's
   * calls with UNAVAILABLE and the reason. Default: none, so each channel's own option (or
   * `pick_first`) applies.
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
 * Why grpc-js could not use `config`, or undefined. Its `loadBalancingConfig` must hold at least one
 * entry grpc-js can parse (a registered policy with a valid config): from a resolver, a list with
 * none makes grpc-js quietly use `pick_first` (grpc-js 1.14's resolving load balancer falls back to
 * its default), which would look like balancing that silently stopped working.
 */
function unusableServiceConfig(config: ServiceConfig): string | undefined {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    return 'must be a grpc-js ServiceConfig object (not the JSON string the grpc.service_config channel option takes)';
  }
  const list = config.loadBalancingConfig ?? [];
  if (!Array.isArray(list)) return 'must have a loadBalancingConfig list (an array), if any';
  if (list.length === 0 || experimental.selectLbConfigFromList(list) !== null) return undefined;
  const why: string[] = [];
  let unregistered = false;
  for (const entry of list) {
    const name = Object.keys(entry)[0] ?? '(empty entry)';
    if (!experimental.isLoadBalancerNameRegistered(name)) {
      unregistered = true;
      why.push(`${name} is not registered`);
      continue;
    }
    try {
      experimental.parseLoadBalancingConfig(entry);
    } catch (error) {
      // grpc-js prefixes the policy's own message, which weft's policies already start with the name.
      why.push((error as Error).message.replace(`${name}: ${name}: `, `${name}: `));
    }
  }
  const hint = unregistered
    ? "; weft's least_request and consistent_hash need registerBalancingPolicies() from @weft/balancing first"
    : '';
  return `names no load balancing policy grpc-js can use, so grpc-js would quietly use pick_first (${why.join('; ')})${hint}`;
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
    let config: ServiceConfig | undefined;
    try {
      config = typeof option === 'function' ? option(this.name) : option;
    } catch (error) {
      // Thrown here it would escape into the etcd watch (a read retried forever, or an event
      // listener's uncaught exception): the channel's calls fail with the reason instead.
      return this.unusable(
        `the serviceConfig option threw: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    if (config === undefined) return null;
    const unusable = unusableServiceConfig(config);
    if (unusable === undefined) return experimental.statusOrFromValue(config);
    return this.unusable(`the serviceConfig option's config ${unusable}`);
  }

  /** What fails the channel's calls with UNAVAILABLE and `problem`, naming the target. */
  private unusable(problem: string): experimental.StatusOr<ServiceConfig> {
    const details = `${this.options.scheme}:///${this.name}: ${problem}`;
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
