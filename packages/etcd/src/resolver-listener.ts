import { experimental, type ServiceConfig, status } from '@grpc/grpc-js';
import { parseAddress } from './key-layout';

/**
 * What the two etcd resolvers (`etcd:///`, `etcd-leader:///`) share: turning an address into a
 * grpc-js endpoint, and handing grpc-js either endpoints or a reason to fail calls fast.
 */

/** The target's path without its leading slashes: `users` from `etcd:///users`. */
export function targetName(target: experimental.GrpcUri): string {
  return target.path.replace(/^\/+/, '');
}

/** `host:port` or `unix:path` as a grpc-js endpoint; undefined when it is neither. */
export function toEndpoint(address: string): experimental.Endpoint | undefined {
  const parsed = parseAddress(address);
  if (parsed === undefined) return undefined;
  return { addresses: ['path' in parsed ? { path: parsed.path } : { host: parsed.host, port: parsed.port }] };
}

/** Fails the channel's resolution with UNAVAILABLE and `details` (calls fail fast, not queue). */
export function failResolution(listener: experimental.ResolverListener, details: string): void {
  listener(experimental.statusOrFromError({ code: status.UNAVAILABLE, details }), {}, null, '');
}

/**
 * Hands grpc-js `endpoints` with `serviceConfig` (null: the channel's own), or, when there are
 * none, `failure`. With none left after some were
 * reported, an empty list first makes the load balancer drop its subchannels; grpc-js would then
 * queue calls until their deadline, so the failure that follows makes them fail fast instead.
 */
export function reportResolution(
  listener: experimental.ResolverListener,
  endpoints: experimental.Endpoint[],
  serviceConfig: experimental.StatusOr<ServiceConfig> | null,
  hadAddresses: boolean,
  failure: string,
  reason: string,
): void {
  if (endpoints.length > 0) {
    listener(experimental.statusOrFromValue(endpoints), {}, serviceConfig, '');
    return;
  }
  if (hadAddresses) listener(experimental.statusOrFromValue([]), {}, null, reason);
  failResolution(listener, failure);
}
