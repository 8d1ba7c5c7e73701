import {
  experimental,
  type LoadBalancingConfig as GrpcLoadBalancingConfig,
  type ServiceConfig,
} from '@grpc/grpc-js';
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

/**
 * grpc-js's `weighted_round_robin` (gRFC A58) knobs, with the proto's field names as grpc-js reads
 * them; durations as strings such as `'10s'` or `'0.5s'`. Defaults in the README.
 */
export interface WeightedRoundRobinConfig {
  enable_oob_load_report?: boolean;
  oob_load_reporting_period?: string;
  blackout_period?: string;
  weight_expiration_period?: string;
  weight_update_period?: string;
  error_utilization_penalty?: number;
}

/** One entry of a service config's `loadBalancingConfig` list. */
export type LoadBalancingConfig =
  | { readonly least_request: LeastRequestConfig }
  | { readonly consistent_hash: ConsistentHashConfig }
  | { readonly weighted_round_robin: WeightedRoundRobinConfig }
  | { readonly round_robin: Record<string, never> }
  | { readonly pick_first: { readonly shuffleAddressList?: boolean } };

/**
 * A service config selecting `policy`, as grpc-js's `ServiceConfig` object: what a resolver hands
 * its listener (e.g. an etcd resolver choosing the policy for its target). Registers weft's
 * policies first, so the channel can always parse it.
 */
export function balancingServiceConfig(policy: LoadBalancingConfig): ServiceConfig {
  registerBalancingPolicies();
  return { loadBalancingConfig: [policy as GrpcLoadBalancingConfig], methodConfig: [] };
}

/**
 * The `grpc.service_config` channel option selecting `policy`, e.g.
 * `{ 'grpc.service_config': serviceConfig({ least_request: {} }) }`. Registers weft's policies
 * first, so the channel can always parse it.
 */
export function serviceConfig(policy: LoadBalancingConfig): string {
  return JSON.stringify(balancingServiceConfig(policy));
}
