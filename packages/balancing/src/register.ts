import { experimental } from '@grpc/grpc-js';
import {
  CONSISTENT_HASH,
  type ConsistentHashConfig,
  ConsistentHashLoadBalancer,
  ConsistentHashLoadBalancingConfig,
} from './consistent-hash';
import {
  LEAST_REQUEST,
  type LeastRequestConfig,
  LeastRequestLoadBalancer,
  LeastRequestLoadBalancingConfig,
} from './least-request';

/**
 * Registers `least_request` and `consistent_hash` with grpc-js (its experimental
 * `registerLoadBalancerType`), so service configs can name them. Registration is process-wide and
 * idempotent; call it once before creating the channels that use them. Channels created before
 * cannot use them: grpc-js rejects a service config naming an unknown policy.
 */
export function registerBalancingPolicies(): void {
  if (typeof experimental?.registerLoadBalancerType !== 'function') {
    throw new Error('@weft/balancing needs @grpc/grpc-js 1.14 (its experimental load balancer API)');
  }
  experimental.registerLoadBalancerType(
    LEAST_REQUEST,
    LeastRequestLoadBalancer,
    LeastRequestLoadBalancingConfig,
  );
  experimental.registerLoadBalancerType(
    CONSISTENT_HASH,
    ConsistentHashLoadBalancer,
    ConsistentHashLoadBalancingConfig,
  );
}

/** One entry of a service config's `loadBalancingConfig` list. */
export type LoadBalancingConfig =
  | { readonly least_request: LeastRequestConfig }
  | { readonly consistent_hash: ConsistentHashConfig }
  | { readonly round_robin: Record<string, never> }
  | { readonly pick_first: Record<string, unknown> }
  | { readonly weighted_round_robin: Record<string, unknown> };

/**
 * The `grpc.service_config` channel option selecting `policy`, e.g.
 * `{ 'grpc.service_config': serviceConfig({ least_request: {} }) }`. Registers weft's policies
 * first, so the channel can always parse it.
 */
export function serviceConfig(policy: LoadBalancingConfig): string {
  registerBalancingPolicies();
  return JSON.stringify({ loadBalancingConfig: [policy] });
}
