import { resolveOptions } from '@weft/core';
import type { Namespace } from 'etcd3';
import type { ElectedLeader, LeaderWatch } from './leader-watch';
import { watchLeader } from './leader-watch';
import { toEndpoint } from './resolver-listener';
import {
  registerWatchingResolver,
  WATCHING_RESOLVER_CHECKS,
  WatchingResolver,
  type WatchingResolverOptions,
} from './watching-resolver';

export interface LeaderResolverOptions extends WatchingResolverOptions {
  /** The etcd client every channel of the scheme reads from (the one the candidates use). Required. */
  client: Namespace;
  /** URI scheme to claim: targets look like `<scheme>:///<election>`. Default `etcd-leader`. */
  scheme?: string;
  /** etcd unreachable or watch broken (retried). Default: `console.error`, once per outage. */
  onError?: (error: Error, election: string) => void;
}

type Resolved = Readonly<Required<LeaderResolverOptions>>;

/** `registerLeaderResolver()` defaults; `client` is required. */
export const LEADER_RESOLVER_DEFAULTS: Readonly<LeaderResolverOptions> = Object.freeze({
  client: undefined as unknown as Namespace,
  scheme: 'etcd-leader',
  retryInitialMs: 250,
  retryMaxMs: 5000,
  /** `console.error`, once per outage. */
  onError: undefined,
});

function resolveResolverOptions(options: LeaderResolverOptions): Resolved {
  const o = resolveOptions(
    'registerLeaderResolver',
    LEADER_RESOLVER_DEFAULTS,
    options,
    WATCHING_RESOLVER_CHECKS,
  );
  const onError = (error: Error, election: string) =>
    console.error(`weft/etcd: leader of ${election}: ${error.message}`);
  return Object.freeze({ ...(o as Required<LeaderResolverOptions>), onError: o.onError ?? onError });
}

/** Follows the election `<election>` for one `etcd-leader:///<election>` channel. */
class LeaderResolver extends WatchingResolver<Resolved> {
  protected readonly pathShape = '<election>';

  protected startWatch(): LeaderWatch {
    return watchLeader({
      ...this.watchSettings(),
      name: this.name,
      onChange: (leader) => this.update(leader),
    });
  }

  /** Reports the leader's address; a new leader with an unusable address reports none. */
  private update(leader: ElectedLeader | undefined): void {
    const endpoint = leader === undefined ? undefined : toEndpoint(leader.value);
    // No leader (the old one resigned or its lease expired, the next not elected yet): the old
    // address goes, and calls fail fast with the reason instead of queueing.
    const reason =
      endpoint !== undefined
        ? ''
        : leader === undefined
          ? `no leader elected for ${this.name}`
          : `the leader of ${this.name} announced an address that is not host:port: ${JSON.stringify(leader.value)}`;
    // Keyed by the address ('' for none, whichever the reason): only the address is news.
    if (endpoint === undefined) this.report('', [], reason);
    else this.report(leader?.value ?? '', [endpoint], reason);
  }
}

/**
 * Makes `<scheme>:///<election>` targets (default `etcd-leader:///users`) resolve to the current
 * leader of the etcd election `<election>` only (the candidate with the lowest create revision;
 * its value is the address it campaigned with), following every change through a watch. Calls to
 * leader-only methods then reach the leader without a refusal and a retry; after a failover the
 * channel moves to the new leader as soon as it is elected.
 */
export function registerLeaderResolver(options: LeaderResolverOptions): void {
  registerWatchingResolver(resolveResolverOptions(options), LeaderResolver);
}
