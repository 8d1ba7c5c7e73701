import { type ChannelOptions, experimental } from '@grpc/grpc-js';
import type { Namespace } from 'etcd3';
import type { ElectedLeader, LeaderWatch } from './leader-watch';
import { watchLeader } from './leader-watch';
import { failResolution, reportResolution, targetName, toEndpoint } from './resolver-listener';

export interface LeaderResolverOptions {
  /** The etcd client every channel of the scheme reads from (the one the candidates use). Required. */
  client: Namespace;
  /** URI scheme to claim: targets look like `<scheme>:///<election>`. Default `etcd-leader`. */
  scheme?: string;
  /** First retry delay in ms when etcd is unreachable (doubles, with jitter). Default 250. */
  retryInitialMs?: number;
  /** Cap on that delay in ms. Default 5000. */
  retryMaxMs?: number;
  /** etcd unreachable or watch broken (retried). Default: `console.error`, once per outage. */
  onError?: (error: Error, election: string) => void;
}

type Resolved = Required<LeaderResolverOptions>;

function resolveOptions(options: LeaderResolverOptions): Resolved {
  return {
    client: options.client,
    scheme: options.scheme ?? 'etcd-leader',
    retryInitialMs: options.retryInitialMs ?? 250,
    retryMaxMs: options.retryMaxMs ?? 5000,
    onError:
      options.onError ??
      ((error, election) => console.error(`weft/etcd: leader of ${election}: ${error.message}`)),
  };
}

const electionName = targetName;

type ResolverConstructor = Parameters<typeof experimental.registerResolver>[1];

function makeResolverClass(o: Resolved): ResolverConstructor {
  return class LeaderResolver implements experimental.Resolver {
    private readonly election: string;
    private watch: LeaderWatch | undefined;
    private active = false;
    /** The address last handed to grpc-js ('' for none). */
    private reported: string | undefined;

    constructor(
      private readonly target: experimental.GrpcUri,
      private readonly listener: experimental.ResolverListener,
      _channelOptions: ChannelOptions,
    ) {
      this.election = electionName(target);
    }

    static getDefaultAuthority(target: experimental.GrpcUri): string {
      return electionName(target);
    }

    updateResolution(): void {
      // The watch pushes every change: a re-resolution request only needs it running.
      if (this.active) return;
      this.active = true;
      try {
        this.watch = watchLeader({
          client: o.client,
          name: this.election,
          retryInitialMs: o.retryInitialMs,
          retryMaxMs: o.retryMaxMs,
          onChange: (leader) => this.report(leader),
          onError: (error, repeated) => {
            if (!repeated) o.onError(error, this.election);
            // Keep the last leader through an etcd outage; before any read, fail with the reason.
            if (this.reported === undefined) this.fail(`etcd unreachable: ${error.message}`);
          },
        });
      } catch {
        process.nextTick(() =>
          this.fail(`expected ${o.scheme}:///<election>, got ${experimental.uriToString(this.target)}`),
        );
      }
    }

    destroy(): void {
      const watch = this.watch;
      this.active = false;
      this.watch = undefined;
      this.reported = undefined;
      void watch?.close();
    }

    private report(leader: ElectedLeader | undefined): void {
      if (!this.active) return;
      const endpoint = leader === undefined ? undefined : toEndpoint(leader.value);
      const address = endpoint === undefined ? '' : (leader?.value ?? '');
      if (address === this.reported) return;
      const hadLeader = this.reported !== undefined && this.reported !== '';
      this.reported = address;
      // No leader (the old one resigned or its lease expired, the next not elected yet): the old
      // address goes, and calls fail fast with the reason instead of queueing.
      const reason =
        endpoint !== undefined
          ? ''
          : leader === undefined
            ? `no leader elected for ${this.election}`
            : `the leader of ${this.election} announced an address that is not host:port: ${JSON.stringify(leader.value)}`;
      const endpoints = endpoint === undefined ? [] : [endpoint];
      reportResolution(
        this.listener,
        endpoints,
        hadLeader,
        `${o.scheme}:///${this.election}: ${reason}`,
        reason,
      );
    }

    private fail(details: string): void {
      if (this.active) failResolution(this.listener, `${o.scheme}:///${this.election}: ${details}`);
    }
  };
}

/**
 * Makes `<scheme>:///<election>` targets (default `etcd-leader:///users`) resolve to the current
 * leader of the etcd election `<election>` only (the candidate with the lowest create revision;
 * its value is the address it campaigned with), following every change through a watch. Calls to
 * leader-only methods then reach the leader without a refusal and a retry; after a failover the
 * channel moves to the new leader as soon as it is elected.
 */
export function registerLeaderResolver(options: LeaderResolverOptions): void {
  const o = resolveOptions(options);
  experimental.registerResolver(o.scheme, makeResolverClass(o));
}
