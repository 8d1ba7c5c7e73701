import { type ChannelOptions, experimental, type ServiceConfig } from '@grpc/grpc-js';
import { check } from '@weft/core';
import type { Namespace } from 'etcd3';
import { failResolution, reportResolution, targetName } from './resolver-listener';

/** The options both etcd resolvers take. */
export interface WatchingResolverOptions {
  /** The etcd client every channel of the scheme reads from. Required. Close channels before it. */
  client: Namespace;
  /** URI scheme to claim: targets look like `<scheme>:///<name>`. */
  scheme?: string;
  /** First retry delay in ms when etcd is unreachable (doubles, with jitter). Default 250. */
  retryInitialMs?: number;
  /** Cap on that delay in ms. Default 5000. */
  retryMaxMs?: number;
  /** etcd unreachable or watch broken (retried). Default: `console.error`, once per outage. */
  onError?: (error: Error, name: string) => void;
}

/** The checks `registerEtcdResolver` and `registerLeaderResolver` run on those options at setup. */
export const WATCHING_RESOLVER_CHECKS = Object.freeze({
  client: (value: unknown) =>
    typeof value === 'object' && value !== null ? undefined : 'is required: an etcd client',
  // RFC 3986: the only schemes grpc-js can parse out of a target.
  scheme: (value: string | undefined) =>
    typeof value === 'string' && /^[A-Za-z][A-Za-z0-9+.-]*$/.test(value)
      ? undefined
      : 'must be a URI scheme (a letter, then letters, digits, +, - or .)',
  retryInitialMs: check.positive,
  retryMaxMs: check.positive,
  onError: check.function,
});

/** What a resolver follows: an etcd watch it closes on `destroy()`. */
export interface ResolverWatch {
  close(): Promise<void>;
}

/** What both etcd watches (`watchInstances`, `watchLeader`) take besides what they follow. */
interface WatchSettings {
  readonly client: Namespace;
  readonly retryInitialMs: number;
  readonly retryMaxMs: number;
  onError(error: Error, repeated: boolean): void;
}

/**
 * The grpc-js side of the two etcd resolvers (`etcd:///<service>`, `etcd-leader:///<election>`):
 * one watch per channel, started on the first `updateResolution()` and closed by `destroy()`, no
 * listener call after `destroy()`, and an address list handed to grpc-js only when it changed.
 * A subclass says what to watch (`startWatch`) and hands what it reads to `report`;
 * `registerWatchingResolver` registers it with its options.
 */
export abstract class WatchingResolver<O extends Readonly<Required<WatchingResolverOptions>>>
  implements experimental.Resolver
{
  /** The target's path: the service or election (`users` from `etcd:///users`). */
  protected readonly name: string;
  /** What the target's path names, for the message a malformed target fails with: `<service>`. */
  protected abstract readonly pathShape: string;
  private watch: ResolverWatch | undefined;
  /** No listener call may follow `destroy()` until `updateResolution()` runs again. */
  private active = false;
  /** What was last handed to grpc-js (`key` as `report` got it), or undefined before any read. */
  private reported: { readonly key: string; readonly hadAddresses: boolean } | undefined;
  /** What `serviceConfig()` gave, asked once per channel. */
  private config: experimental.StatusOr<ServiceConfig> | null | undefined;

  constructor(
    protected readonly options: O,
    private readonly target: experimental.GrpcUri,
    private readonly listener: experimental.ResolverListener,
  ) {
    this.name = targetName(target);
  }

  /** An authority, if the target has one, is ignored: the etcd client decides the cluster. */
  static getDefaultAuthority(target: experimental.GrpcUri): string {
    return targetName(target);
  }

  /**
   * Starts following `name` (with `watchSettings()`); throws when `name` cannot be watched (empty,
   * or with a `/`), and the channel's calls then fail with UNAVAILABLE naming the expected target.
   */
  protected abstract startWatch(): ResolverWatch;

  /** The service config handed to grpc-js with the addresses; null: the channel's own applies. */
  protected serviceConfig(): experimental.StatusOr<ServiceConfig> | null {
    return null;
  }

  updateResolution(): void {
    // The watch pushes every change, so a re-resolution request only needs the watch running.
    if (this.active) return;
    this.active = true;
    try {
      this.watch = this.startWatch();
    } catch {
      const got = experimental.uriToString(this.target);
      process.nextTick(() => this.fail(`expected ${this.options.scheme}:///${this.pathShape}, got ${got}`));
    }
  }

  destroy(): void {
    const watch = this.watch;
    this.active = false;
    this.watch = undefined;
    this.reported = undefined;
    void watch?.close();
  }

  /** The client, the retry delays and the error handler, as both etcd watches take them. */
  protected watchSettings(): WatchSettings {
    const o = this.options;
    return {
      client: o.client,
      retryInitialMs: o.retryInitialMs,
      retryMaxMs: o.retryMaxMs,
      onError: (error, repeated) => {
        if (!repeated) o.onError(error, this.name);
        this.watchFailed(error);
      },
    };
  }

  /**
   * Hands grpc-js `endpoints` (or, with none, `reason`) unless `key` says nothing changed since
   * the last report: a subclass derives `key` from what matters to a channel.
   */
  protected report(key: string, endpoints: experimental.Endpoint[], reason: string): void {
    if (!this.active || key === this.reported?.key) return;
    const hadAddresses = this.reported?.hadAddresses ?? false;
    this.reported = { key, hadAddresses: endpoints.length > 0 };
    const failure = `${this.options.scheme}:///${this.name}: ${reason}`;
    if (this.config === undefined) this.config = this.serviceConfig();
    reportResolution(this.listener, endpoints, this.config, hadAddresses, failure, reason);
  }

  /**
   * etcd is unreachable or the watch broke (it retries): before any read, calls fail with the
   * reason; after one, the last addresses stay (an etcd outage must not take the service down).
   */
  protected watchFailed(error: Error): void {
    if (this.reported === undefined) this.fail(`etcd unreachable: ${error.message}`);
  }

  private fail(details: string): void {
    if (this.active) failResolution(this.listener, `${this.options.scheme}:///${this.name}: ${details}`);
  }
}

/**
 * Makes `options.scheme` resolve through `Resolver` with `options`. Registering the same scheme
 * again replaces the previous registration for channels created afterwards.
 */
export function registerWatchingResolver<O extends Readonly<Required<WatchingResolverOptions>>>(
  options: O,
  Resolver: (new (
    options: O,
    target: experimental.GrpcUri,
    listener: experimental.ResolverListener,
  ) => experimental.Resolver) &
    Pick<typeof WatchingResolver, 'getDefaultAuthority'>,
): void {
  experimental.registerResolver(
    options.scheme,
    class extends Resolver {
      constructor(target: experimental.GrpcUri, listener: experimental.ResolverListener, _: ChannelOptions) {
        super(options, target, listener);
      }
    },
  );
}
